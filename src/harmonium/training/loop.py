"""The one training loop: data -> batches -> step -> transforms -> optimiser -> state.

Every trainer of harmonium (``fit``, ``fit_boltzmann``, ``fine_tune``, the
recommender, and through ``fit`` the greedy DBN stack and the scikit-learn
estimators) describes what is particular to it as a *task* and hands it to
:func:`train`, which owns what they share: the shuffled mini-batches drawn from the
caller's generator (from any source of :mod:`harmonium.training.data`, in memory or
streamed), the gradient transforms and their state, the optimiser and the scheduler,
the progress bar (counting samples), the per-epoch history, the check that training
has not diverged, the CUDA synchronisation before timing, callbacks, atomic
checkpoints (also mid-epoch, with the position in the epoch) from which a run resumes
bit for bit, and data-parallel training under ``torch.distributed``
(:mod:`harmonium.parallel`: each rank steps on its slice of the global batch, one
all-reduce sums the gradients, rank 0 writes the checkpoints).

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

from harmonium import parallel
from harmonium.io import load, save
from harmonium.precision import use_precision
from harmonium.training.data import Position, Rows, Stream, as_source, epoch_batches
from harmonium.training.history import History
from harmonium.training.transforms import Chain

__all__ = ["CHECKPOINT_FORMAT", "Loop", "Task", "TrainingDiverged", "train"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "harmonium.fit-checkpoint"


#: largest magnitude a weight (a coupling) may reach before training counts as diverged:
#: a parameter still finite but this large means energy gaps of a million nats
MAX_COUPLING = 1e6


class TrainingDiverged(ValueError):
    """Raised when a parameter becomes NaN or infinite, or a weight exceeds
    :data:`MAX_COUPLING` in magnitude; nothing is saved."""


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
    checkpoint_every : int, optional
        Also write the checkpoint every this many updates within an epoch (with the
        position in the epoch, so a resumed run continues mid-epoch).
    divergence_hint : str
        The remedy named when parameters become non-finite.
    precision : None, str or harmonium.precision.Precision
        The weight products' precision for the run (:mod:`harmonium.precision`);
        parameters, gradients and optimiser state keep the model's dtype.
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
    checkpoint_every: int | None = None
    divergence_hint: str = "lower the learning rate or the momentum"
    precision: object = None


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


def _checkpoint(loop: Loop, task, epoch: int, position: Position | None, transform_state,
                history) -> dict:
    """Everything a resumed run needs; collective under ``torch.distributed`` (sharded
    task state is gathered), so every rank calls it and rank 0 saves it."""
    opt = loop.optimizer.state_dict()
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "position": None if position is None else position.to_state(),
        "model": dict(task.model.state_dict()),
        "task": {"type": task.kind, "state": task.state_dict()},
        "transforms": transform_state,
        "optimizer": {"state": _str_keys(opt["state"]), "param_groups": opt["param_groups"]},
        "scheduler": None if loop.scheduler is None else loop.scheduler.state_dict(),
        "generator": loop.generator.get_state(),
        "history": history.records,
    }


def _save(loop: Loop, task, epoch: int, position, transform_state, history) -> None:
    ckpt = _checkpoint(loop, task, epoch, position, transform_state, history)
    if parallel.is_main():
        save(ckpt, loop.checkpoint)


def _restore(path, loop: Loop, task) -> dict:
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
    opt = ckpt["optimizer"]
    state = {int(k): v for k, v in opt["state"].items()}
    loop.optimizer.load_state_dict({"state": state, "param_groups": opt["param_groups"]})
    if loop.scheduler is not None and ckpt["scheduler"] is not None:
        loop.scheduler.load_state_dict(ckpt["scheduler"])
    loop.generator.set_state(ckpt["generator"])
    return ckpt


class _Run:
    """Where a run starts: epoch, position within it, transform state, history, and
    the task state still to load (after the first epoch's ``begin_epoch``)."""

    def __init__(self, loop: Loop, task, history: History | None):
        resume_from = loop.checkpoint if loop.resume is True else (loop.resume or None)
        self.task_state = None
        if resume_from is not None and Path(resume_from).is_file():
            ckpt = _restore(resume_from, loop, task)
            log.info("resumed from %s at epoch %d", resume_from, ckpt["epoch"])
            self.epoch, self.transform_state = int(ckpt["epoch"]), ckpt["transforms"]
            self.position = Position.from_state(ckpt.get("position"))
            self.history, self.task_state = History(list(ckpt["history"])), ckpt["task"]["state"]
            return
        if loop.resume is not True and resume_from is not None:
            raise FileNotFoundError(f"no checkpoint to resume from at {resume_from}")
        self.epoch, self.position = 0, Position()
        self.transform_state = loop.transforms.init(task.model)
        self.history = History() if history is None else history
        parallel.broadcast_([*task.model.parameters(), *task.model.buffers()])
        parallel.broadcast_generator_(loop.generator)

    def begin_epoch(self, task, epoch: int, epochs: int) -> None:
        task.begin_epoch(epoch, epochs)
        if self.task_state is not None:
            task.load_state_dict(self.task_state)
            self.task_state = None


def _check_diverged(model, epoch: int, hint: str) -> None:
    """Raise :class:`TrainingDiverged` on a non-finite parameter or a runaway coupling."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: {name} became NaN or infinite; "
                f"{hint}. Nothing was saved for this epoch."
            )
        if name.rsplit(".", 1)[-1] == "weight" and p.numel():
            largest = float(p.detach().abs().max())
            if largest > MAX_COUPLING:
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch}: {name} reached {largest:.4g}, "
                    f"above {MAX_COUPLING:.0e} (couplings that large make every unit's "
                    f"conditional deterministic); {hint}. Nothing was saved for this epoch."
                )


def _epoch(loop: Loop, task, source, run: _Run, bar) -> int:
    """One pass over the data from ``run.position``; returns the rows batched.

    The per-update calls are looked up once: at small batches the step's fixed Python
    cost is a visible share of its time.
    """
    transforms = loop.transforms if loop.transforms else None
    step, after_update, optimizer_step = task.step, task.after_update, loop.optimizer.step
    schedule = loop.scheduler.step if loop.per_update_schedule else None
    generator, model, every = loop.generator, task.model, loop.checkpoint_every
    reduce = parallel.world()[1] > 1
    params = list(model.parameters()) if reduce else None
    rows_done = updates = 0
    for batch, rows in epoch_batches(source, loop.batch_size, generator, run.position):
        if reduce:
            with parallel.draw_rows(parallel.row_shard(rows)):
                info = step(batch, generator=generator)
            parallel.all_reduce_gradients_(params)
        else:
            info = step(batch, generator=generator)
        if transforms is not None:
            run.transform_state = transforms.update(model, run.transform_state, info)
        optimizer_step()
        if schedule is not None:
            schedule()
        after_update()
        bar.update(rows)
        rows_done, updates = rows_done + rows, updates + 1
        if every and loop.checkpoint is not None and updates % every == 0:
            _save(loop, task, run.epoch, run.position, run.transform_state, run.history)
    return rows_done


def _epochs(loop: Loop, task, source, run: _Run, bar) -> None:
    """The epochs from ``run.epoch`` to ``loop.epochs`` (or a callback's stop)."""
    while run.epoch < loop.epochs:
        epoch = run.epoch
        bar.set_description(f"{loop.description} {epoch + 1}/{loop.epochs}")
        run.begin_epoch(task, epoch, loop.epochs)
        tic = time.perf_counter()
        rows = _epoch(loop, task, source, run, bar)
        device = next(iter(task.model.parameters())).device
        if device.type == "cuda":  # the epoch's kernels are queued, not yet run
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - tic
        _check_diverged(task.model, epoch + 1, loop.divergence_hint)
        if loop.scheduler is not None and not loop.per_update_schedule:
            loop.scheduler.step()
        record = {"epoch": len(run.history) + 1, "seconds": seconds,
                  "samples_per_s": rows / seconds, **task.end_epoch()}
        run.history.records.append(record)
        run.epoch, run.position = epoch + 1, Position()
        if bar.total is None and source.n_rows is not None:
            bar.total = (loop.epochs - epoch) * source.n_rows
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                         if k not in ("epoch", "seconds") and isinstance(v, float)})
        log.info("%s %d: %s", loop.description, epoch + 1, record)
        if loop.checkpoint is not None:
            _save(loop, task, epoch + 1, None, run.transform_state, run.history)
        if any([cb(epoch + 1, record, task.model) is True for cb in loop.callbacks]):
            break


def train(task, data, loop: Loop, *, history: History | None = None) -> History:
    """Run ``loop`` on ``task`` over ``data``; returns the per-epoch history.

    Parameters
    ----------
    task : training task
        See the module docstring.
    data : torch.Tensor, tuple of torch.Tensor, or a source of :mod:`harmonium.training.data`
        Rows to batch (a tuple is batched row-aligned, e.g. inputs and labels), on the
        model's device; or :class:`~harmonium.training.data.Rows` /
        :class:`~harmonium.training.data.Stream` preparing each batch.
    loop : Loop
    history : History, optional
        Appended to (epochs are numbered after its records); a resumed run takes the
        checkpoint's history instead.

    Returns
    -------
    History
    """
    source = data if isinstance(data, (Rows, Stream)) else \
        as_source(data, lambda d: d, name="data")
    run = _Run(loop, task, history)
    n = source.n_rows
    bar = tqdm(total=None if n is None else (loop.epochs - run.epoch) * n - run.position.taken,
               unit="sample", unit_scale=True, dynamic_ncols=True,
               disable=not (loop.progress and parallel.is_main()))
    try:
        with use_precision(task.model, loop.precision):
            _epochs(loop, task, source, run, bar)
    finally:
        bar.close()
    if run.task_state is not None:  # resumed from a finished run: its final state
        task.load_state_dict(run.task_state)
    return run.history


def as_callbacks(callbacks: Iterable[Callable]) -> list[Callable]:
    """Validate callbacks: each must be callable ``(epoch, record, model)``."""
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables (epoch, record, model), got {cb!r}")
    return callbacks
