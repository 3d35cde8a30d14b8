"""``harmonium.fit``: mini-batch training of an RBM with resumable checkpoints."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from harmonium._numerics import check_positive_int, seeded_generator
from harmonium.training.data import as_source, sample_rows
from harmonium.training.gradient import rbm_gradient_step
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, as_callbacks, train
from harmonium.training.methods import CD
from harmonium.training.monitor import epoch_metrics, monitor_subset
from harmonium.training.sgd import MomentumSGD
from harmonium.training.transforms import L1, Chain, Sparsity, WeightDecay, chain

__all__ = ["RBMTask", "check_training_data", "fit"]


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


class RBMTask(Task):
    """The training task of an RBM (see :mod:`harmonium.training.loop`).

    Parameters
    ----------
    rbm : harmonium.RBM
    method : training method
        Negative phase (:class:`~harmonium.CD`, :class:`~harmonium.PCD`, ...).
    monitor : (train subset, held-out subset or None), optional
        Data the end-of-epoch metrics are computed on.
    """

    def __init__(self, rbm, method, monitor=None):
        self.model, self.method, self.monitor = rbm, method, monitor
        self.kind = type(method).__name__
        self.after_update = rbm.project_  # parameters back into their domains

    def step(self, batch, *, generator):
        return rbm_gradient_step(self.model, batch, self.method, generator=generator)

    def end_epoch(self) -> dict:
        return {} if self.monitor is None else epoch_metrics(self.model, *self.monitor)

    def state_dict(self) -> dict:
        return self.method.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.method.load_state_dict(state)


def _remedy(rbm) -> str:
    """What to tell a user whose training diverged."""
    hint = "lower the learning rate or the momentum"
    if rbm.visible.mean_bounds is None:  # real-valued visible units: the data's scale
        hint += ("; for real-valued visible units standardise the data first (zero mean, "
                 "unit variance per feature)")
    return hint


def _deprecated_penalties(l1, sparsity, sparsity_cost) -> tuple[list, list]:
    """Transforms for ``fit``'s deprecated ``sparsity`` and ``l1`` keywords (with warnings).

    Returns the ones that go before the method's transforms (the sparsity penalty, a
    gradient of the loss itself) and the ones after weight decay (L1), as ``fit``
    ordered them before these keywords became transforms.
    """
    before, after = [], []
    if sparsity is not None or sparsity_cost is not None:
        warnings.warn("fit(sparsity=..., sparsity_cost=...) is deprecated: pass "
                      "transforms=[Sparsity(target, cost)] from harmonium.training.transforms",
                      DeprecationWarning, stacklevel=3)
        if sparsity is None:
            raise ValueError("sparsity_cost needs a sparsity target")
        before.append(Sparsity(sparsity, 0.1 if sparsity_cost is None else sparsity_cost))
    if l1 is not None:
        warnings.warn("fit(l1=...) is deprecated: pass transforms=[L1(coef)] from "
                      "harmonium.training.transforms", DeprecationWarning, stacklevel=3)
        after.append(L1(l1))
    return before, after


def _transforms(method, transforms, weight_decay: float, deprecated) -> Chain:
    """The gradient transforms in order: the method's own, weight decay, then the user's."""
    before, after = deprecated
    decay = [WeightDecay(weight_decay)] if weight_decay else []
    return chain(*before, *getattr(method, "transforms", ()), *decay, *after, *transforms)


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
    transforms: Iterable = (),
    optimizer=None,
    scheduler=None,
    generator: torch.Generator | None = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
    validation_data=None,
    monitor: int = 256,
    checkpoint: str | Path | None = None,
    resume: bool | str | Path = False,
    checkpoint_every: int | None = None,
    precision=None,
    l1: float | None = None,
    sparsity: float | None = None,
    sparsity_cost: float | None = None,
) -> History:
    """Train an RBM by stochastic gradient ascent on the log-likelihood.

    Each mini-batch: the method supplies negative-phase samples, the gradient of
    ``mean F(v_data) - mean F(v_model)`` lands in ``.grad``, the gradient transforms
    run (the method's own, such as centering; then weight decay; then ``transforms``),
    the optimiser steps, and ``rbm.project_()`` moves parameters back
    into their domain. At the end of each epoch: parameters are checked for NaN/inf
    (:class:`~harmonium.training.loop.TrainingDiverged`, nothing saved), the scheduler
    steps, metrics are computed, the checkpoint (if any) is written and callbacks run.
    The loop itself is :func:`harmonium.training.loop.train`, shared by every trainer.

    Parameters
    ----------
    rbm : harmonium.RBM
        Trained in place.
    data : array-like, memmap, .npy path, Dataset, DataLoader or iterable of batches
        Training data, shape (n_samples, *visible.shape), in the visible support
        (two-state units also take values in between, read as probabilities; see
        :func:`check_training_data`). Anything but in-memory data is read batch by
        batch and never loaded whole (see :mod:`harmonium.training.data`).
    method : training method, default ``CD(1)``
        :class:`~harmonium.CD`, :class:`~harmonium.PCD`, or any object following the
        protocol of :mod:`harmonium.training.methods`.
    epochs : int
        Total number of passes over the data (a resumed run continues up to it).
    batch_size : int
        Mini-batch size; the last batch of an epoch may be smaller.
    lr, momentum : float
        Learning rate (> 0) and momentum (in [0, 1)) of the default optimiser
        (:class:`~harmonium.training.sgd.MomentumSGD`, the recurrence of
        ``torch.optim.SGD``).
    weight_decay : float
        L2 penalty on the weights only (not the biases): a shorthand for the transform
        :class:`~harmonium.training.transforms.WeightDecay`.
    transforms : iterable of gradient transforms
        Modifiers of the gradient, applied in order after the method's own and weight
        decay (see :mod:`harmonium.training.transforms`: ``L1``, ``Sparsity``,
        ``FreezeParameter``, ``Centering``, or any object with ``init`` and ``update``).
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
        Number of (evenly spaced) samples the metrics use (the first ones of a
        stream); 0 turns them off.
    checkpoint : path, optional
        Written (atomically) at the end of every epoch with everything needed to
        resume bit for bit: parameters, method state (chains), optimiser and
        scheduler state, RNG state, epoch and history.
    resume : bool or path
        ``True`` resumes from ``checkpoint`` when that file exists; a path resumes
        from that file.
    checkpoint_every : int, optional
        Also write the checkpoint every this many updates, with the position in the
        epoch: a resumed run continues mid-epoch exactly as if uninterrupted.
    precision : None, str or harmonium.precision.Precision
        Precision of the weight products (``"bf16"``, ``"fp16"``, ``"tf32"``;
        default float32): see :mod:`harmonium.precision`. Parameters, gradients,
        optimiser state and samples keep the model's dtype; a precision the hardware
        has no fast products in falls back to float32 with a warning.
    l1, sparsity, sparsity_cost : float, optional
        Deprecated: pass ``transforms=[L1(l1)]`` or
        ``transforms=[Sparsity(sparsity, sparsity_cost)]``.

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
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    monitor = check_positive_int(monitor, "monitor", minimum=0)
    lr = _check_number(lr, "lr", strict=True)
    momentum = _check_number(momentum, "momentum")
    if momentum >= 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    chained = _transforms(method, transforms, _check_number(weight_decay, "weight_decay"),
                          _deprecated_penalties(l1, sparsity, sparsity_cost))
    source = as_source(data, lambda batch: check_training_data(rbm, batch, "data"))
    held_out = None if validation_data is None else check_training_data(
        rbm, validation_data, "validation_data"
    )
    generator = seeded_generator(generator, rbm.weight.device)
    optimizer = _make_optimizer(rbm, optimizer, lr, momentum)
    watched = None
    if monitor:
        watched = (sample_rows(source, monitor),
                   None if held_out is None else monitor_subset(held_out, monitor))
    loop = Loop(epochs, batch_size, optimizer, generator, chained,
                scheduler=_make_scheduler(scheduler, optimizer),
                callbacks=as_callbacks(callbacks), progress=progress,
                checkpoint=checkpoint, resume=resume, checkpoint_every=checkpoint_every,
                divergence_hint=_remedy(rbm), precision=precision)
    return train(RBMTask(rbm, method, watched), source, loop)
