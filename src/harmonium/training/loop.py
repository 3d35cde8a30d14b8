"""The one training loop: data -> batches -> step -> transforms -> optimiser -> state.

Every trainer of harmonium (``fit``, ``fit_boltzmann``, ``fine_tune``, the
recommender, and through ``fit`` the greedy DBN stack and the scikit-learn
estimators) describes what is particular to it as a *task* and hands it to
:func:`train`, which owns what they share: the shuffled mini-batches drawn from the
caller's generator, the gradient transforms and their state, the optimiser and the
scheduler, the progress bar (counting samples), the per-epoch history, the check that
training has not diverged, the CUDA synchronisation before timing, callbacks, and
atomic checkpoints from which a run resumes bit for bit.

A task is an object with:

``model`` : torch.nn.Module
    What is trained; its ``state_dict`` goes into checkpoints.
``step(batch, *, generator) -> info``
    Write the gradient of the loss on one mini-batch into the parameters' ``.grad``
    (overwriting it) and return what the transforms may need about the batch.
``after_update() -> None``
    Called after each optimiser step (move parameters back into their domain).
``begin_epoch(epoch, epochs) -> None`` and ``end_epoch() -> dict``
    Per-epoch hooks; ``end_epoch`` returns the epoch's metrics.
``state_dict() -> dict`` and ``load_state_dict(state)``
    The task's own state besides the model (a training method's persistent chains).

Subclassing :class:`Task` gives the hooks and the state methods as no-ops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from harmonium.io import load, save
from harmonium.training.history import History
from harmonium.training.transforms import Chain

__all__ = ["CHECKPOINT_FORMAT", "Loop", "Task", "TrainingDiverged", "train"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "harmonium.fit-checkpoint"


class TrainingDiverged(ValueError):
    """Raised when a parameter becomes NaN or infinite; nothing is saved."""


class Task:
    """Defaults of the task protocol (see the module docstring): no hooks, no state.

    A task sets ``model`` and ``kind`` (the name checked on resume) and defines
    ``step``; it overrides the hooks it needs.
    """

    def after_update(self) -> None:
        """Nothing to do after an optimiser step."""

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Nothing to prepare before an epoch."""

    def end_epoch(self) -> dict:
        """No metrics of the task's own."""
        return {}

    def state_dict(self) -> dict:
        """No state besides the model."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


@dataclass
class Loop:
    """How to run the loop: everything but the task and the data.

    Attributes
    ----------
    epochs, batch_size : int
        Passes over the data (a resumed run continues up to ``epochs``) and rows per
        mini-batch (the last one of an epoch may be smaller).
    optimizer : torch.optim.Optimizer
        Over the task's trainable parameters.
    generator : torch.Generator
        Source of the batch order and of every draw the task makes.
    transforms : Chain
        Gradient transforms run between the step and the optimiser.
    scheduler : torch lr scheduler, optional
        Stepped after every epoch, or after every update with ``per_update_schedule``.
    callbacks : list of callables
        ``callback(epoch, record, model)`` after each epoch; returning ``True`` stops.
    progress : bool
        Show a bar counting samples.
    description : str
        The bar's label.
    checkpoint, resume : path or None, bool or path
        Checkpoint written atomically after every epoch; ``resume=True`` continues
        from it when it exists, a path resumes from that file.
    divergence_hint : str
        The remedy named when parameters become non-finite.
    """

    epochs: int
    batch_size: int
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    transforms: Chain = field(default_factory=Chain)
    scheduler: object = None
    per_update_schedule: bool = False
    callbacks: list[Callable] = field(default_factory=list)
    progress: bool = True
    description: str = "epoch"
    checkpoint: str | Path | None = None
    resume: bool | str | Path = False
    divergence_hint: str = "lower the learning rate or the momentum"


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


def _checkpoint(loop: Loop, task, epoch: int, transform_state, history) -> dict:
    opt = loop.optimizer.state_dict()
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": dict(task.model.state_dict()),
        "task": {"type": task.kind, "state": task.state_dict()},
        "transforms": transform_state,
        "optimizer": {"state": _str_keys(opt["state"]), "param_groups": opt["param_groups"]},
        "scheduler": None if loop.scheduler is None else loop.scheduler.state_dict(),
        "generator": loop.generator.get_state(),
        "history": history.records,
    }


def _restore(path, loop: Loop, task) -> tuple[int, dict, History]:
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a harmonium training checkpoint")
    if ckpt["task"]["type"] != task.kind:
        raise ValueError(
            f"{path} was written by method {ckpt['task']['type']}, "
            f"but training was started with {task.kind}"
        )
    model_state = task.model.state_dict()
    for name, saved in ckpt["model"].items():
        if name in model_state and saved.shape != model_state[name].shape:
            raise ValueError(f"{path} holds a {name} tensor of shape {tuple(saved.shape)}, "
                             f"the model has {tuple(model_state[name].shape)}")
    try:
        task.model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise ValueError(f"{path} does not match the model: {exc}") from None
    task.load_state_dict(ckpt["task"]["state"])
    opt = ckpt["optimizer"]
    state = {int(k): v for k, v in opt["state"].items()}
    loop.optimizer.load_state_dict({"state": state, "param_groups": opt["param_groups"]})
    if loop.scheduler is not None and ckpt["scheduler"] is not None:
        loop.scheduler.load_state_dict(ckpt["scheduler"])
    loop.generator.set_state(ckpt["generator"])
    return int(ckpt["epoch"]), ckpt["transforms"], History(list(ckpt["history"]))


def _start(loop: Loop, task, history: History | None):
    """Epoch to start at, transform state and history: fresh, or from the checkpoint."""
    resume_from = loop.checkpoint if loop.resume is True else (loop.resume or None)
    if resume_from is not None and Path(resume_from).is_file():
        start, transform_state, history = _restore(resume_from, loop, task)
        log.info("resumed from %s at epoch %d", resume_from, start)
        return start, transform_state, history
    if loop.resume is not True and resume_from is not None:
        raise FileNotFoundError(f"no checkpoint to resume from at {resume_from}")
    return 0, loop.transforms.init(task.model), History() if history is None else history


def _check_finite(model, epoch: int, hint: str) -> None:
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: {name} became NaN or infinite; "
                f"{hint}. Nothing was saved for this epoch."
            )


def _batches(tensors: tuple[torch.Tensor, ...], loop: Loop):
    """Mini-batches of rows in the order of a permutation drawn from the generator."""
    n, size = tensors[0].shape[0], loop.batch_size
    perm = torch.randperm(n, generator=loop.generator, device=loop.generator.device)
    perm = perm.to(tensors[0].device)
    if len(tensors) == 1:
        (x,) = tensors
        for s in range(0, n, size):
            yield x.index_select(0, perm[s : s + size])
    else:
        for s in range(0, n, size):
            idx = perm[s : s + size]
            yield tuple(t.index_select(0, idx) for t in tensors)


def _epoch(loop: Loop, task, tensors, transform_state, bar):
    """One pass over the data; returns the transform state after it.

    The per-update calls are looked up once: at small batches the step's fixed Python
    cost is a visible share of its time.
    """
    transforms = loop.transforms if loop.transforms else None
    step, after_update, optimizer_step = task.step, task.after_update, loop.optimizer.step
    schedule = loop.scheduler.step if loop.per_update_schedule else None
    generator, model, single = loop.generator, task.model, len(tensors) == 1
    for batch in _batches(tensors, loop):
        info = step(batch, generator=generator)
        if transforms is not None:
            transform_state = transforms.update(model, transform_state, info)
        optimizer_step()
        if schedule is not None:
            schedule()
        after_update()
        bar.update((batch if single else batch[0]).shape[0])
    return transform_state


def train(task, data, loop: Loop, *, history: History | None = None) -> History:
    """Run ``loop`` on ``task`` over ``data``; returns the per-epoch history.

    Parameters
    ----------
    task : training task
        See the module docstring.
    data : torch.Tensor or tuple of torch.Tensor, each (n_samples, ...)
        Rows to batch (a tuple is batched row-aligned, e.g. inputs and labels), on the
        model's device.
    loop : Loop
    history : History, optional
        Appended to (epochs are numbered after its records); a resumed run takes the
        checkpoint's history instead.

    Returns
    -------
    History
    """
    tensors = data if isinstance(data, tuple) else (data,)
    n = tensors[0].shape[0]
    start, transform_state, history = _start(loop, task, history)
    bar = tqdm(total=(loop.epochs - start) * n, unit="sample", unit_scale=True,
               disable=not loop.progress, dynamic_ncols=True)
    try:
        for epoch in range(start, loop.epochs):
            bar.set_description(f"{loop.description} {epoch + 1}/{loop.epochs}")
            task.begin_epoch(epoch, loop.epochs)
            tic = time.perf_counter()
            transform_state = _epoch(loop, task, tensors, transform_state, bar)
            device = tensors[0].device
            if device.type == "cuda":  # the epoch's kernels are queued, not yet run
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - tic
            _check_finite(task.model, epoch + 1, loop.divergence_hint)
            if loop.scheduler is not None and not loop.per_update_schedule:
                loop.scheduler.step()
            record = {"epoch": len(history) + 1, "seconds": seconds,
                      "samples_per_s": n / seconds, **task.end_epoch()}
            history.records.append(record)
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                             if k not in ("epoch", "seconds") and isinstance(v, float)})
            log.info("%s %d: %s", loop.description, epoch + 1, record)
            if loop.checkpoint is not None:
                save(_checkpoint(loop, task, epoch + 1, transform_state, history),
                     loop.checkpoint)
            if any([cb(epoch + 1, record, task.model) is True for cb in loop.callbacks]):
                break
    finally:
        bar.close()
    return history


def as_callbacks(callbacks: Iterable[Callable]) -> list[Callable]:
    """Validate callbacks: each must be callable ``(epoch, record, model)``."""
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables (epoch, record, model), got {cb!r}")
    return callbacks
