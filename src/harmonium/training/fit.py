"""``harmonium.fit``: mini-batch training of an RBM with resumable checkpoints."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from harmonium._numerics import check_positive_int
from harmonium.io import load, save
from harmonium.training.gradient import compute_gradients
from harmonium.training.history import History
from harmonium.training.methods import CD
from harmonium.training.monitor import epoch_metrics, monitor_subset
from harmonium.training.sgd import MomentumSGD

__all__ = ["check_training_data", "fit"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "harmonium.fit-checkpoint"


def check_training_data(rbm, data, name: str = "data") -> torch.Tensor:
    """Validate training data and return it on the model's device and dtype.

    Two-state visible units (Bernoulli, Spin) also accept values between their two
    states, read as probabilities (grey-level images scaled to [0, 1], as Hinton's
    MNIST recipes and scikit-learn do); every other unit type needs values in its
    support (see :meth:`harmonium.RBM.check_visible`).

    Returns
    -------
    torch.Tensor, shape (n_samples, *visible.shape)
    """
    return rbm.check_visible(data, name, probabilities=True)


def _check_number(value, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    bad = value <= minimum if strict else value < minimum
    if bad or not math.isfinite(value):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def _make_optimizer(rbm, optimizer, lr: float, momentum: float) -> torch.optim.Optimizer:
    if optimizer is None:
        return MomentumSGD(rbm.parameters(), lr=lr, momentum=momentum)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        opt = optimizer(rbm.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer factory must return a torch optimizer, got {opt!r}")
        return opt
    raise TypeError(
        "optimizer must be None, a torch.optim.Optimizer or a callable params -> optimizer, "
        f"got {type(optimizer).__name__}"
    )


def _make_scheduler(scheduler, optimizer):
    if scheduler is None or (hasattr(scheduler, "step") and hasattr(scheduler, "state_dict")):
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer)
    raise TypeError(
        "scheduler must be None, a torch lr scheduler or a callable optimizer -> scheduler"
    )


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


def _checkpoint(epoch, rbm, method, optimizer, scheduler, generator, history) -> dict:
    opt = optimizer.state_dict()
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": rbm._to_state(),
        "method": {"type": type(method).__name__, "state": method.state_dict()},
        "optimizer": {"state": _str_keys(opt["state"]), "param_groups": opt["param_groups"]},
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "generator": generator.get_state(),
        "history": history.records,
    }


def _restore(path, rbm, method, optimizer, scheduler, generator) -> tuple[int, History]:
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a harmonium training checkpoint")
    if ckpt["method"]["type"] != type(method).__name__:
        raise ValueError(
            f"{path} was written by method {ckpt['method']['type']}, "
            f"but fit was called with {type(method).__name__}"
        )
    model = ckpt["model"]
    with torch.no_grad():
        for name, param in (
            ("visible", rbm.visible.params),
            ("hidden", rbm.hidden.params),
            ("weight", rbm.weight),
        ):
            saved = model[name] if name == "weight" else model[name]["params"]
            if saved.shape != param.shape:
                raise ValueError(
                    f"{path} holds a {name} tensor of shape {tuple(saved.shape)}, "
                    f"the model has {tuple(param.shape)}"
                )
            param.copy_(saved)
    method.load_state_dict(ckpt["method"]["state"])
    opt = ckpt["optimizer"]
    state = {int(k): v for k, v in opt["state"].items()}
    optimizer.load_state_dict({"state": state, "param_groups": opt["param_groups"]})
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    generator.set_state(ckpt["generator"])
    return int(ckpt["epoch"]), History(list(ckpt["history"]))


def fit(
    rbm,
    data,
    method=None,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.05,
    momentum: float = 0.5,
    weight_decay: float = 0.0,
    l1: float = 0.0,
    sparsity: float | None = None,
    sparsity_cost: float = 0.1,
    optimizer=None,
    scheduler=None,
    generator: torch.Generator | None = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
    validation_data=None,
    monitor: int = 256,
    checkpoint: str | Path | None = None,
    resume: bool | str | Path = False,
) -> History:
    """Train an RBM by stochastic gradient ascent on the log-likelihood.

    Each mini-batch: the method supplies negative-phase samples, the gradient of
    ``mean F(v_data) - mean F(v_model)`` lands in ``.grad`` (then the method's
    optional ``adjust_gradients(rbm)`` hook runs, e.g. centering), weight decay and L1 are
    added to the weights' gradient, the optimiser steps, and ``rbm.project_()`` moves
    parameters back into their domain. At the end of each epoch: the scheduler steps,
    metrics are computed, callbacks run and the checkpoint (if any) is written.

    Parameters
    ----------
    rbm : harmonium.RBM
        Trained in place.
    data : array-like, shape (n_samples, *visible.shape)
        Training data in the visible support (two-state units also take values in
        between, read as probabilities; see :func:`check_training_data`).
    method : training method, default ``CD(1)``
        :class:`~harmonium.CD`, :class:`~harmonium.PCD`, or any object following the
        protocol of :mod:`harmonium.training.methods`.
    epochs : int
        Total number of passes over the data (a resumed run continues up to it).
    batch_size : int
        Mini-batch size; the last batch of an epoch may be smaller.
    lr, momentum : float
        Learning rate and momentum of the default optimiser
        (:class:`~harmonium.training.sgd.MomentumSGD`, the recurrence of
        ``torch.optim.SGD``).
    weight_decay, l1 : float
        L2 and L1 penalties on the weights only (not the biases).
    sparsity : float, optional
        Target mean activation of Bernoulli hidden units, with penalty weight
        ``sparsity_cost``.
    optimizer : None, torch.optim.Optimizer or callable
        An optimiser over ``rbm.parameters()``, or a factory ``params -> optimizer``
        (``lr``/``momentum`` are then ignored).
    scheduler : None, torch lr scheduler or callable
        Stepped once per epoch; a callable receives the optimiser.
    generator : torch.Generator, optional
        All randomness (shuffling, sampling). Default: a freshly seeded one.
    callbacks : iterable of callables
        ``callback(epoch, metrics, rbm)`` after each epoch; returning ``True`` stops.
    progress : bool
        Show a tqdm bar with epoch, samples/s and metrics.
    validation_data : array-like, optional
        Held-out data for ``val_pseudo_ll`` and ``free_energy_gap``.
    monitor : int
        Number of (evenly spaced) samples the metrics use; 0 turns them off.
    checkpoint : path, optional
        Written (atomically) at the end of every epoch with everything needed to
        resume bit for bit: parameters, method state (chains), optimiser and
        scheduler state, RNG state, epoch and history.
    resume : bool or path
        ``True`` resumes from ``checkpoint`` when that file exists; a path resumes
        from that file.

    Returns
    -------
    History
        Per-epoch metrics.

    Examples
    --------
    >>> import torch, harmonium
    >>> from harmonium.units import Bernoulli
    >>> data = (torch.rand(200, 16) < 0.3).float()
    >>> rbm = harmonium.RBM(Bernoulli(16), Bernoulli(8))
    >>> hist = harmonium.fit(rbm, data, harmonium.PCD(50), epochs=2, batch_size=50,
    ...                      generator=torch.Generator().manual_seed(0), progress=False)
    >>> len(hist)
    2
    """
    method = CD(1) if method is None else method
    if not callable(getattr(method, "negative", None)):
        raise TypeError(f"method must have a negative(...) method like CD or PCD, got {method!r}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    monitor = check_positive_int(monitor, "monitor", minimum=0)
    lr = _check_number(lr, "lr", strict=True)
    momentum = _check_number(momentum, "momentum")
    weight_decay = _check_number(weight_decay, "weight_decay")
    l1 = _check_number(l1, "l1")
    penalty = None
    if sparsity is not None:
        if rbm.hidden.mean_bounds != (0.0, 1.0):
            raise ValueError("a sparsity target needs hidden units with means in [0, 1] "
                             "such as Bernoulli units")
        if not 0.0 < _check_number(sparsity, "sparsity", strict=True) < 1.0:
            raise ValueError(f"sparsity must be in (0, 1), got {sparsity}")
        penalty = (float(sparsity), _check_number(sparsity_cost, "sparsity_cost"))
    x = check_training_data(rbm, data, "data")
    held_out = None if validation_data is None else check_training_data(
        rbm, validation_data, "validation_data"
    )
    callbacks = list(callbacks)
    if generator is None:
        generator = torch.Generator(device=rbm.weight.device)
        generator.seed()
    optimizer = _make_optimizer(rbm, optimizer, lr, momentum)
    scheduler = _make_scheduler(scheduler, optimizer)

    history, start = History(), 0
    resume_from = checkpoint if resume is True else (resume or None)
    if resume_from is not None and Path(resume_from).is_file():
        start, history = _restore(resume_from, rbm, method, optimizer, scheduler, generator)
        log.info("resumed from %s at epoch %d", resume_from, start)
    elif resume is not True and resume_from is not None:
        raise FileNotFoundError(f"no checkpoint to resume from at {resume_from}")

    n = x.shape[0]
    train_mon = monitor_subset(x, monitor) if monitor else None
    held_mon = monitor_subset(held_out, monitor) if monitor and held_out is not None else None
    weight = rbm.weight
    adjust = getattr(method, "adjust_gradients", None)
    bar = tqdm(
        total=(epochs - start) * n,
        unit="sample",
        unit_scale=True,
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for epoch in range(start, epochs):
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            tic = time.perf_counter()
            perm = torch.randperm(n, generator=generator, device=generator.device)
            perm = perm.to(x.device)
            for s in range(0, n, batch_size):
                v = x.index_select(0, perm[s : s + batch_size])
                compute_gradients(rbm, v, method, generator=generator, sparsity=penalty)
                if adjust is not None:
                    adjust(rbm)
                if weight_decay:
                    weight.grad.add_(weight.detach(), alpha=weight_decay)
                if l1:
                    weight.grad.add_(weight.detach().sign(), alpha=l1)
                optimizer.step()
                rbm.project_()
                bar.update(v.shape[0])
            if weight.is_cuda:  # the epoch's kernels are queued, not yet run
                torch.cuda.synchronize(weight.device)
            seconds = time.perf_counter() - tic
            if scheduler is not None:
                scheduler.step()
            record = {"epoch": epoch + 1, "seconds": seconds, "samples_per_s": n / seconds}
            if train_mon is not None:
                record.update(epoch_metrics(rbm, train_mon, held_mon))
            history.records.append(record)
            bar.set_postfix(
                {k: f"{v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds")}
            )
            log.info("epoch %d: %s", epoch + 1, record)
            if checkpoint is not None:
                save(
                    _checkpoint(epoch + 1, rbm, method, optimizer, scheduler, generator, history),
                    checkpoint,
                )
            if any([cb(epoch + 1, record, rbm) is True for cb in callbacks]):
                break
    finally:
        bar.close()
    return history
