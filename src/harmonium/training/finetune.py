"""Discriminative fine-tuning of a pretrained deep belief net by backpropagation.

The DBN is unrolled into a ``torch.nn.Sequential`` initialised from its pretrained
weights (:meth:`harmonium.DBN.to_sequential`) and trained on labelled data with the
cross-entropy of a softmax output (Hinton and Salakhutdinov 2006). The trained network
becomes ``dbn.classifier``; the generative RBM weights are left untouched.
"""

from __future__ import annotations

import logging
import math
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from harmonium._numerics import check_positive_int
from harmonium.models.dbn import DBN
from harmonium.training.history import History

__all__ = ["fine_tune"]

log = logging.getLogger(__name__)


def _check_rate(value, name: str, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value!r}")
    return float(value)


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (net(x).argmax(1) == y).float().mean().item()


def fine_tune(
    dbn: DBN,
    data,
    labels,
    *,
    epochs: int = 20,
    batch_size: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    n_classes: int | None = None,
    validation_data=None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> History:
    """Train the unrolled DBN as a classifier (Adam on the softmax cross-entropy).

    The learning rate decays from ``lr`` to 0 along a cosine over all the updates.

    Parameters
    ----------
    dbn : DBN
        Pretrained (:func:`harmonium.fit_greedy`); ``dbn.classifier`` is set.
    data : array-like, shape (n_samples, n_visible)
    labels : array-like of int, shape (n_samples,)
        Classes in ``[0, n_classes)``.
    epochs, batch_size : int
    lr : float
        Adam learning rate.
    weight_decay : float
        L2 penalty (Adam's ``weight_decay``).
    n_classes : int, optional
        Output width of an unlabelled DBN (default ``max(labels) + 1``); a labelled DBN
        uses its ``n_labels``.
    validation_data : (array-like, array-like), optional
        ``(x_val, y_val)`` whose accuracy is recorded after each epoch.
    generator : torch.Generator, optional
        Source of the batch order (and of the output weights of an unlabelled DBN).
    progress : bool
        Show a bar over the epochs.

    Returns
    -------
    History
        Per epoch: ``loss`` and ``accuracy`` (mean training cross-entropy and accuracy of
        the mini-batches, each measured just before its update),
        ``val_accuracy`` (with validation data), ``seconds``.
    """
    if not isinstance(dbn, DBN):
        raise TypeError(f"fine_tune needs a harmonium.DBN, got {type(dbn).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = _check_rate(lr, "lr", strict=True)
    weight_decay = _check_rate(weight_decay, "weight_decay", strict=False)
    x = dbn.check_input(data, "data")
    if dbn.n_labels:
        n_classes = dbn.n_labels
    elif n_classes is None:
        y_raw = torch.as_tensor(labels)
        n_classes = max(int(y_raw.max().item()) + 1, 2) if y_raw.numel() else 2
    y = dbn.check_labels(labels, x.shape[0], "labels", n_classes=n_classes)
    val = None
    if validation_data is not None:
        xv = dbn.check_input(validation_data[0], "validation data")
        val = (xv, dbn.check_labels(validation_data[1], xv.shape[0], "validation labels",
                                    n_classes=n_classes))
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.seed()
    net = dbn.to_sequential(None if dbn.n_labels else n_classes, generator=generator)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = x.shape[0]
    steps = epochs * math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.CrossEntropyLoss()
    history = History()
    for epoch in tqdm(range(epochs), desc="fine-tuning", disable=not progress):
        tic = time.perf_counter()
        perm = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
        # running sums stay on the device: no host synchronisation inside the epoch
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        net.train()
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size]
            optimizer.zero_grad()
            logits = net(x[idx])
            loss = loss_fn(logits, y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach() * idx.numel()
            correct += (logits.detach().argmax(1) == y[idx]).sum()
        net.eval()
        loss_mean, accuracy = total.item() / n, correct.item() / n
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - tic,
                  "loss": loss_mean, "accuracy": accuracy}
        if val is not None:
            record["val_accuracy"] = _accuracy(net, *val)
        history.records.append(record)
        log.info("fine-tuning epoch %d: %s", epoch + 1, record)
    dbn.classifier = net
    return history
