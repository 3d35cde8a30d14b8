"""Data-parallel training with ``torch.distributed``: one replica per process.

Every process (rank) holds the whole model and trains on its share of each global
mini-batch; the share is a contiguous slice of the batch's rows
(``torch.tensor_split`` into ``world_size`` parts), and persistent chains are
sharded the same way. Three things make a step on ``W`` ranks equal to the
single-process step on the concatenated batch, up to the order of floating-point sums:

- gradients are written as *sums over the local rows divided by the global row
  count* (:func:`global_rows`) and summed across ranks by one all-reduce
  (:func:`all_reduce_gradients_`);
- batch statistics the transforms use (centering offsets) are global means
  (:func:`batch_mean`);
- random draws are the single process's draws: every rank keeps the same generator
  state, draws for the global rows and keeps its own slice (:func:`draw_rows`).
  This costs ``W`` times the random numbers of a rank's own rows, and keeps results
  independent of the number of processes.

With no process group (or a group of one), every function here is the identity or
the plain single-process operation, bit for bit.

Launch with ``torchrun``; :func:`init_from_env` joins the group that ``torchrun``
describes in the environment (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import NamedTuple

import torch
import torch.distributed as dist

from harmonium.precision import draw_bits

__all__ = ["RowShard", "all_reduce_gradients_", "all_sum", "batch_mean", "broadcast_",
           "broadcast_generator_", "coin_uniforms_like", "current_shard", "draw_rows",
           "gather_rows", "global_rows", "init_from_env", "is_main", "local_rows",
           "row_shard", "shard_rows", "standard_normal", "uniform_like", "world"]


class RowShard(NamedTuple):
    """This rank's rows of a tensor split across ranks: ``[offset, offset + local)``
    of ``total``."""

    offset: int
    local: int
    total: int


_ROWS: contextvars.ContextVar[RowShard | None] = contextvars.ContextVar("rows", default=None)


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0)."""
    return world()[0] == 0


def init_from_env(device: torch.device | str = "cpu") -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1 in the environment).

    Uses NCCL for CUDA devices and gloo otherwise; a CUDA rank takes the GPU of its
    ``LOCAL_RANK``. Returns whether this process is part of a group of several.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_world_size() > 1


def row_shard(total: int) -> RowShard:
    """This rank's slice of ``total`` rows (``torch.tensor_split``'s sizes)."""
    rank, size = world()
    base, extra = divmod(total, size)
    local = base + (rank < extra)
    return RowShard(rank * base + min(rank, extra), local, total)


def shard_rows(index: torch.Tensor) -> torch.Tensor:
    """This rank's part of a global batch's row indices."""
    rank, size = world()
    return index if size == 1 else torch.tensor_split(index, size)[rank]


@contextlib.contextmanager
def draw_rows(shard: RowShard):
    """Within this block, row-shaped random draws are this rank's slice of the global
    draw (:func:`uniform_like`, :func:`standard_normal`); a no-op in a single process."""
    if world()[1] == 1:
        yield
        return
    token = _ROWS.set(shard)
    try:
        yield
    finally:
        _ROWS.reset(token)


def current_shard() -> RowShard | None:
    """The rows of the data-parallel step being run (``None`` in a single process)."""
    return _ROWS.get()


def _full_rows(shape) -> tuple[torch.Size, RowShard | None]:
    shard = _ROWS.get()
    if shard is None:
        return torch.Size(shape), None
    if shape[0] != shard.local:
        raise RuntimeError(f"a random draw of {shape[0]} rows inside a data-parallel step "
                           f"whose shard has {shard.local}: the method is not data-parallel")
    return torch.Size((shard.total, *shape[1:])), shard


def uniform_like(x: torch.Tensor, generator) -> torch.Tensor:
    """Uniforms in [0, 1) shaped like ``x`` (``torch.rand``'s stream), drawn in place of
    ``x``'s values; under :func:`draw_rows`, this rank's rows of the global draw."""
    shape, shard = _full_rows(x.shape)
    if shard is None:
        return x.uniform_(generator=generator)
    full = torch.empty(shape, dtype=x.dtype, device=x.device).uniform_(generator=generator)
    return x.copy_(full.narrow(0, shard.offset, shard.local))


def coin_uniforms_like(x: torch.Tensor, generator) -> torch.Tensor:
    """Uniforms in [0, 1) for Bernoulli decisions ``u < p``, shaped like ``x``, in place.

    :func:`uniform_like` (``torch.rand``'s stream, 24 bits each), unless a precision
    policy with ``draw_bits=15`` is in use (:func:`harmonium.precision.draw_bits`):
    then four 15-bit uniforms come from each 64-bit word of the generator, a quarter
    of its serial work, and ``P(u < p)`` is ``p`` rounded up to a multiple of
    ``2**-15``. Under :func:`draw_rows`, this rank's rows of the global draw.
    """
    if draw_bits() is None:
        return uniform_like(x, generator)
    shape, shard = _full_rows(x.shape)
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    words.random_(generator=generator)  # 63 random bits: 15 in each 16-bit lane
    lanes = words.view(torch.int16)[:n].view(shape).bitwise_and_(0x7FFF)
    if shard is not None:
        lanes = lanes.narrow(0, shard.offset, shard.local)
    return x.copy_(lanes).mul_(2.0**-15)


def standard_normal(shape, generator, *, dtype, device) -> torch.Tensor:
    """``torch.randn(shape)``; under :func:`draw_rows`, this rank's rows of the global draw."""
    full, shard = _full_rows(shape)
    z = torch.randn(full, generator=generator, dtype=dtype, device=device)
    return z if shard is None else z.narrow(0, shard.offset, shard.local)


def global_rows(*local: int) -> tuple[int, ...]:
    """Row counts summed over ranks (one all-reduce); the counts themselves in a single
    process."""
    if world()[1] == 1:
        return local
    counts = torch.tensor(local, dtype=torch.int64, device=_device())
    dist.all_reduce(counts)
    return tuple(int(c) for c in counts.tolist())


def _device() -> torch.device:
    backend = dist.get_backend()
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else \
        torch.device("cpu")


def all_sum(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over ranks (in place); ``x`` itself in a single process."""
    if world()[1] > 1:
        dist.all_reduce(x)
    return x


def batch_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over the rows of the global batch of which ``x`` holds this rank's rows.

    Parameters
    ----------
    x : torch.Tensor, shape (local_rows, ...)

    Returns
    -------
    torch.Tensor, shape (...)
    """
    if world()[1] == 1:
        return x.mean(0)
    (total,) = global_rows(x.shape[0])
    return all_sum(x.sum(0)).div_(total)


def all_reduce_gradients_(params) -> None:
    """Sum the parameters' ``.grad`` over ranks, in one flat all-reduce."""
    if world()[1] == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    start = 0
    for g in grads:
        g.copy_(flat[start:start + g.numel()].view_as(g))
        start += g.numel()


def broadcast_(tensors) -> None:
    """Overwrite ``tensors`` on every rank with rank 0's values."""
    if world()[1] == 1:
        return
    for t in tensors:
        dist.broadcast(t, 0)


def broadcast_generator_(generator: torch.Generator) -> None:
    """Give every rank rank 0's generator state (the same batches and draws)."""
    if world()[1] == 1:
        return
    state = [generator.get_state()]
    dist.broadcast_object_list(state, 0)
    generator.set_state(state[0])


def gather_rows(local: torch.Tensor, total: int) -> torch.Tensor:
    """The whole tensor whose rows are sharded by :func:`row_shard` (every rank gets it)."""
    if world()[1] == 1:
        return local
    shard = row_shard(total)
    full = local.new_zeros((total, *local.shape[1:]))
    full.narrow(0, shard.offset, shard.local).copy_(local)
    return all_sum(full)  # every row is written by one rank and zero elsewhere


def local_rows(full: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a whole tensor (:func:`row_shard`)."""
    shard = row_shard(full.shape[0])
    return full.narrow(0, shard.offset, shard.local)
