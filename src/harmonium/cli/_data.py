"""Data sets named on the command line: ``digits``, an MNIST ``.npz``, a ``.npy`` or ``.csv``.

One function, :func:`load_data`, reads every such name for the ``rbm``, ``dbn`` and
``memory`` commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["DATA_HELP", "Data", "is_image_set", "load_data", "load_rows"]

DATA_HELP = "'digits' (bundled 8x8), an mnist.npz, or a .npy / .csv file with one sample per row"


class Data(NamedTuple):
    """Samples of a data set and its labels, when it has them.

    Attributes
    ----------
    samples : numpy.ndarray
        Images of shape (n, height, width) with values in [0, 1] for ``digits`` (8x8)
        and MNIST (28x28); (n, n_features) as stored for a ``.npy`` / ``.csv`` file.
    labels : numpy.ndarray of int64, shape (n,), or None
        Class labels of ``digits`` and MNIST; None for array files.
    """

    samples: np.ndarray
    labels: np.ndarray | None


def is_image_set(spec: str) -> bool:
    """Whether ``spec`` names a labelled image set (``digits`` or an MNIST ``.npz``)."""
    return spec == "digits" or Path(spec).suffix.lower() == ".npz"


def load_data(spec: str, n: int | None = None) -> Data:
    """The data set named by ``spec``.

    Parameters
    ----------
    spec : str
        ``digits`` (scikit-learn's bundled 8x8 digits), a path to ``mnist.npz`` (the
        training split), or a ``.npy`` / ``.csv`` array file.
    n : int, optional
        Keep only the first ``n`` samples (before any conversion).

    Returns
    -------
    Data
        Images scaled to [0, 1] (digits / 16, MNIST / 255) with their labels, or the
        array of the file (see :func:`harmonium.datasets.load_array`) without labels.

    Raises
    ------
    FileNotFoundError, ValueError
        From the loaders: missing, empty or unreadable files.
    """
    try:
        return _load(spec, slice(None, n))
    except EOFError:  # numpy's word for an empty or cut-off .npy file
        raise ValueError(f"{spec}: the file is empty or cut off") from None


def _load(spec: str, keep: slice) -> Data:
    from harmonium import datasets

    if spec == "digits":
        images, labels = datasets.load_digits()
        return Data(images[keep].reshape(-1, 8, 8), labels[keep])
    if is_image_set(spec):
        images, labels = datasets.load_mnist(spec)
        return Data(images[keep] / 255.0, labels[keep])
    return Data(datasets.load_array(spec)[keep], None)


def load_rows(spec: str) -> np.ndarray:
    """The samples of :func:`load_data`, one flattened row each: (n_samples, n_features)."""
    samples = load_data(spec).samples
    return samples.reshape(len(samples), -1)
