"""Discriminative fine-tuning of a pretrained deep belief net by backpropagation.

The DBN is unrolled into a ``torch.nn.Sequential`` initialised from its pretrained
weights (:meth:`harmonium.DBN.to_sequential`) and trained on labelled data with the
cross-entropy of a softmax output (Hinton and Salakhutdinov 2006). The trained network
becomes ``dbn.classifier``; the generative RBM weights are left untouched.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harmonium import parallel
from harmonium._numerics import check_positive_int, seeded_generator
from harmonium.models.dbn import DBN
from harmonium.training.data import Rows, as_source
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, train

__all__ = ["FineTuneTask", "fine_tune", "train_classifier"]


def _check_rate(value, name: str, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value!r}")
    return float(value)


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (net(x).argmax(1) == y).float().mean().item()


class FineTuneTask(Task):
    """Training task of the unrolled classifier (see :mod:`harmonium.training.loop`).

    Keeps the epoch's running loss and accuracy on the device (no host
    synchronisation inside the epoch).
    """

    kind = "FineTune"

    def __init__(self, net: nn.Module, validation=None):
        self.model, self.validation = net, validation
        self.loss_fn = nn.CrossEntropyLoss()

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        p = next(self.model.parameters())
        self.total = torch.zeros((), dtype=p.dtype, device=p.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=p.device)
        self.seen = 0
        self.model.train()

    def step(self, batch, *, generator):
        x, y = batch
        self.model.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        shard = parallel.current_shard()  # data-parallel: this rank's share of the mean
        (loss if shard is None else loss * (shard.local / shard.total)).backward()
        self.total += loss.detach() * y.shape[0]
        self.correct += (logits.detach().argmax(1) == y).sum()
        self.seen += y.shape[0]
        return None

    def end_epoch(self) -> dict:
        self.model.eval()
        seen = parallel.all_sum(torch.tensor(float(self.seen), device=self.total.device))
        record = {"loss": parallel.all_sum(self.total).item() / seen.item(),
                  "accuracy": parallel.all_sum(self.correct).item() / seen.item()}
        if self.validation is not None:
            record["val_accuracy"] = _accuracy(self.model, *self.validation)
        return record

    def state_dict(self) -> dict:
        """The epoch's running sums (a checkpoint may be written mid-epoch)."""
        return {"total": self.total, "correct": self.correct, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.correct = state["total"].clone(), state["correct"].clone()
        self.seen = int(state["seen"])


def _labelled_source(dbn: DBN, data, labels, n_classes):
    """``(inputs, labels)`` batches of ``data`` (and ``labels``), and the class count."""
    if dbn.n_labels:
        n_classes = dbn.n_labels
    if labels is not None:
        source = as_source(data, lambda batch: dbn.check_input(batch, "data"))
        if not isinstance(source, Rows):
            raise ValueError("a stream of batches carries its own labels: pass batches of "
                             "(inputs, labels) and labels=None")
        if n_classes is None:
            y_raw = torch.as_tensor(labels)
            n_classes = max(int(y_raw.max().item()) + 1, 2) if y_raw.numel() else 2
        y = dbn.check_labels(labels, source.n_rows, "labels", n_classes=n_classes)
        return source.with_labels(y), n_classes
    if n_classes is None:
        raise ValueError("labels=None reads (inputs, labels) batches from the data: pass "
                         "n_classes for an unlabelled DBN")

    def prepare(batch):
        if not isinstance(batch, tuple) or len(batch) != 2:
            raise ValueError("with labels=None the data must hold pairs (inputs, labels)")
        x = dbn.check_input(batch[0], "data")
        return x, dbn.check_labels(batch[1], x.shape[0], "labels", n_classes=n_classes)
    return as_source(data, prepare), n_classes


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
    data : array-like, memmap, .npy path, Dataset, DataLoader or iterable of batches
        Inputs, shape (n_samples, n_visible) (see :mod:`harmonium.training.data`).
    labels : array-like of int, shape (n_samples,), or None
        Classes in ``[0, n_classes)``; ``None`` when ``data`` yields pairs
        ``(inputs, labels)`` (a tuple of arrays, a Dataset of pairs, a stream of pair
        batches; then ``n_classes`` is needed for an unlabelled DBN).
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
        Show a bar counting samples.

    Returns
    -------
    History
        Per epoch: ``loss`` and ``accuracy`` (mean training cross-entropy and accuracy of
        the mini-batches, each measured just before its update),
        ``val_accuracy`` (with validation data), ``seconds``, ``samples_per_s``.
    """
    if not isinstance(dbn, DBN):
        raise TypeError(f"fine_tune needs a harmonium.DBN, got {type(dbn).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = _check_rate(lr, "lr", strict=True)
    weight_decay = _check_rate(weight_decay, "weight_decay", strict=False)
    source, n_classes = _labelled_source(dbn, data, labels, n_classes)
    val = None
    if validation_data is not None:
        xv = dbn.check_input(validation_data[0], "validation data")
        val = (xv, dbn.check_labels(validation_data[1], xv.shape[0], "validation labels",
                                    n_classes=n_classes))
    generator = seeded_generator(generator, dbn.rbms[0].weight.device)
    net = dbn.to_sequential(None if dbn.n_labels else n_classes, generator=generator)
    history = train_classifier(net, source, val, epochs=epochs, batch_size=batch_size, lr=lr,
                               weight_decay=weight_decay, generator=generator,
                               progress=progress)
    dbn.classifier = net
    return history


def train_classifier(net: nn.Module, source, validation, *, epochs: int, batch_size: int,
                     lr: float, weight_decay: float, generator: torch.Generator,
                     progress: bool) -> History:
    """Adam on the softmax cross-entropy of ``net``, ``lr`` decayed to 0 along a cosine.

    The shared engine of :func:`fine_tune` (and of the DBM's fine-tuning); arguments are
    already validated. ``source`` yields ``(inputs, labels)`` batches, ``validation`` is
    ``(x_val, y_val)`` or None. Returns the per-epoch :class:`History`.
    """
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n_rows = source.n_rows if isinstance(source, Rows) else source.count_rows()
    steps = epochs * math.ceil(n_rows / batch_size)  # the schedule spans every update
    loop = Loop(epochs, batch_size, optimizer, generator,
                scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps),
                per_update_schedule=True, progress=progress, description="fine-tuning",
                divergence_hint="lower the fine-tuning learning rate")
    return train(FineTuneTask(net, validation), source, loop)
