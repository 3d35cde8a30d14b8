"""Greedy layer-wise pretraining of a deep belief net (Hinton, Osindero and Teh 2006).

RBM 1 is trained on the data with :func:`harmonium.fit`; RBM ``l + 1`` is trained on the
hidden activities of RBM ``l`` given its training data (the mean activities or a binary
sample of them), and so on up. The top RBM of a labelled DBN sees the penultimate
activities joined with the one-hot labels. Each layer can be checkpointed (and resumed)
through ``fit``'s own checkpoints; the whole DBN is also saved after every layer.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from harmonium._numerics import seeded_generator
from harmonium.io import save
from harmonium.models.dbn import DBN
from harmonium.training.data import Rows, as_source, in_memory
from harmonium.training.fit import fit
from harmonium.training.history import History
from harmonium.training.methods import CD

__all__ = ["ACTIVATIONS", "fit_greedy"]

log = logging.getLogger(__name__)

ACTIVATIONS = ("means", "samples")


def _per_layer(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must be one value or {n} values (one per RBM), "
                             f"got {len(value)}")
        return list(value)
    return [value] * n


def _plan(dbn: DBN, method, epochs, checkpoint):
    """Per-layer methods and epochs, and the checkpoint folder (created)."""
    n_rbms = len(dbn.rbms)
    methods = method if isinstance(method, (list, tuple)) else [
        copy.deepcopy(CD(1) if method is None else method) for _ in range(n_rbms)
    ]
    folder = None if checkpoint is None else Path(checkpoint)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return _per_layer(methods, n_rbms, "method"), _per_layer(epochs, n_rbms, "epochs"), folder


def _fit_greedy_streamed(dbn: DBN, data, labels, *, method, epochs, activations, generator,
                         progress, checkpoint, **fit_kwargs) -> list[History]:
    """:func:`fit_greedy` on data read batch by batch: RBM ``l`` trains on the mean
    activities of the trained RBMs below it, computed per mini-batch."""
    if activations != "means":
        raise ValueError("activations='samples' draws one sample per training row and "
                         "needs in-memory data; use activations='means' with streamed data")
    source = as_source(data, lambda batch: dbn.check_input(batch, "data"))
    n_rbms = len(dbn.rbms)
    if labels is not None:
        if not isinstance(source, Rows):
            raise ValueError("a labelled DBN needs map-style data (array, memmap, .npy, "
                             "Dataset) beside its labels")
        y = dbn.check_labels(labels, source.n_rows, "labels")
        source = source.with_labels(y)
    methods, epochs, folder = _plan(dbn, method, epochs, checkpoint)
    generator = seeded_generator(generator, dbn.rbms[0].weight.device)
    histories = []
    for i, rbm in enumerate(tqdm(dbn.rbms, desc="layers", disable=not progress)):
        top_labelled = bool(dbn.n_labels) and i == n_rbms - 1
        below = dbn.rbms[:i]

        @torch.no_grad()
        def features(batch, below=below, top_labelled=top_labelled):
            x, y = batch if labels is not None else (batch, None)
            for lower in below:
                x = lower.mean_h_from_v(x)
            return torch.cat([x, dbn.labels_one_hot(y)], 1) if top_labelled else x
        ckpt = None if folder is None else folder / f"layer{i + 1}.safetensors"
        histories.append(fit(rbm, source.map(features), methods[i], epochs=epochs[i],
                             generator=generator, progress=progress, checkpoint=ckpt,
                             resume=ckpt is not None, **fit_kwargs))
        if folder is not None:
            save(dbn, folder / "dbn.safetensors")
    return histories


def fit_greedy(
    dbn: DBN,
    data,
    labels=None,
    *,
    method=None,
    epochs=10,
    activations: str = "means",
    generator: torch.Generator | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    **fit_kwargs,
) -> list[History]:
    """Train the RBMs of ``dbn`` bottom-up, each on the activities of the one below.

    Parameters
    ----------
    dbn : DBN
        Trained in place.
    data : array-like, memmap, .npy path, Dataset, DataLoader or iterable of batches
        Training data, shape (n_samples, n_visible), in [0, 1] for Bernoulli visible
        units. In-memory data is passed up the stack once per layer; anything else
        is read per mini-batch and passed up through the trained layers on the fly
        (see :mod:`harmonium.training.data`).
    labels : array-like of int, shape (n_samples,), optional
        Class labels; required exactly when ``dbn.n_labels > 0`` (they train the top
        RBM jointly with the penultimate features).
    method : training method or list of them, default ``CD(1)``
        ``CD(k)`` / ``PCD(...)`` as for :func:`harmonium.fit`; a single object is a
        template copied for every layer (fresh chains each), a list gives one per RBM.
    epochs : int or list of int
        Epochs per RBM (one value for all, or one per RBM).
    activations : {"means", "samples"}
        What the next RBM trains on: the mean hidden activities ``E[h | v]`` or one
        binary sample of them (drawn once per layer).
    generator : torch.Generator, optional
        All randomness (shuffling, sampling, the activity samples).
    progress : bool
        Show a bar over the layers and ``fit``'s bar within each layer.
    checkpoint : str or Path, optional
        A folder (created if missing): ``layer<l>.safetensors`` holds ``fit``'s resumable
        checkpoint of RBM ``l`` (an interrupted run resumes where it stopped, finished
        layers are restored), ``dbn.safetensors`` the whole DBN after each layer.
    **fit_kwargs
        Passed to :func:`harmonium.fit` for every layer (``lr``, ``batch_size``,
        ``momentum``, ``weight_decay``, ``sparsity``, ...).

    Returns
    -------
    list of History
        One per RBM, bottom first.
    """
    if not isinstance(dbn, DBN):
        raise TypeError(f"fit_greedy needs a harmonium.DBN, got {type(dbn).__name__}")
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    if "resume" in fit_kwargs:
        raise TypeError("fit_greedy resumes from its checkpoint folder by itself: "
                        "do not pass resume")
    n_rbms = len(dbn.rbms)
    if dbn.n_labels and labels is None:
        raise ValueError(f"this DBN has {dbn.n_labels} label units: pass labels")
    if labels is not None and not dbn.n_labels:
        raise ValueError("labels given, but the DBN has no label units (n_labels=0)")
    if not in_memory(data):
        return _fit_greedy_streamed(dbn, data, labels, method=method, epochs=epochs,
                                    activations=activations, generator=generator,
                                    progress=progress, checkpoint=checkpoint, **fit_kwargs)
    x = dbn.check_input(data, "data")
    if dbn.n_labels:
        y = dbn.labels_one_hot(dbn.check_labels(labels, x.shape[0], "labels"))
    methods, epochs, folder = _plan(dbn, method, epochs, checkpoint)
    generator = seeded_generator(generator, x.device)

    histories = []
    for i, rbm in enumerate(tqdm(dbn.rbms, desc="layers", disable=not progress)):
        is_top_labelled = dbn.n_labels and i == n_rbms - 1
        train = torch.cat([x, y], 1) if is_top_labelled else x
        log.info("greedy layer %d/%d: RBM %s on %s", i + 1, n_rbms,
                 tuple(rbm.weight.shape), tuple(train.shape))
        ckpt = None if folder is None else folder / f"layer{i + 1}.safetensors"
        histories.append(fit(rbm, train, methods[i], epochs=epochs[i], generator=generator,
                             progress=progress, checkpoint=ckpt, resume=ckpt is not None,
                             **fit_kwargs))
        if folder is not None:
            save(dbn, folder / "dbn.safetensors")
        if i < n_rbms - 1:
            with torch.no_grad():
                x = rbm.mean_h_from_v(x)
                if activations == "samples":
                    x = torch.bernoulli(x, generator=generator)
    return histories
