"""MNIST from files you already have: ``mnist.npz`` or the original IDX files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "read_idx"]

_IDX_DTYPES = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the original MNIST format), gzipped or not.

    Parameters
    ----------
    path : str or PathLike
        E.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        Shape and dtype as the file's header says (images: (n, 28, 28) uint8).

    Raises
    ------
    ValueError
        If the file is not a well-formed IDX file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} is a damaged gzip file ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated (header incomplete)")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path} holds {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (f"{stem}-ubyte", f"{stem}-ubyte.gz", f"{stem.replace('-idx', '.idx')}-ubyte",
                 f"{stem.replace('-idx', '.idx')}-ubyte.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {stem}-ubyte[.gz] in {folder}")


def load_mnist(path: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from ``mnist.npz`` or from a folder with the original IDX files.

    Parameters
    ----------
    path : str or PathLike
        ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or a folder
        holding ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]`` and the
        ``t10k-`` test files.
    split : {"train", "test"}

    Returns
    -------
    images : numpy.ndarray, shape (n, 28, 28), uint8
    labels : numpy.ndarray, shape (n,), int64
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    if path.is_dir():
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(_find_idx(path, f"{prefix}-images-idx3"))
        labels = read_idx(_find_idx(path, f"{prefix}-labels-idx1"))
    elif path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                images, labels = data[f"x_{split}"], data[f"y_{split}"]
        except KeyError as exc:
            raise ValueError(f"{path} has no array {exc}: expected an MNIST npz") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable .npz file ({exc})") from None
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(
            f"{path}: expected images (n, h, w) and labels (n,), got {images.shape} and "
            f"{labels.shape}"
        )
    return images, labels.astype(np.int64)
