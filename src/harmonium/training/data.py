"""Training data as rows to batch: tensors, memmaps and ``.npy`` files, datasets, streams.

Every trainer reads its data through :func:`as_source`, which accepts

- a tensor, array or nested list (validated and converted once, kept in memory);
- the path of a ``.npy`` file or a NumPy memmap, never loaded whole: each mini-batch
  reads its rows and converts them on the fly (a path is read with ``os.pread``, so
  the process's resident memory stays bounded; a memmap's touched pages count as
  the process's resident memory until the kernel reclaims them);
- a map-style ``torch.utils.data.Dataset`` (``len`` and integer indexing; items are
  collated with ``default_collate``);
- a stream of batches: a ``DataLoader``, an ``IterableDataset`` (its samples are read
  in chunks of 1,024), any re-iterable object yielding arrays of rows, or a
  :class:`Stream` wrapping a function that returns a fresh iterator.

Shuffling is exact and reproducible from the loop's generator. Map-style data (the
first three kinds) is batched in the order of one ``torch.randperm(n)`` per epoch.
A stream cannot be indexed, so it is cut into consecutive *windows* of ``window``
rows (rounded up to whole batches) and each window is batched in the order of a
``torch.randperm`` of its rows: rows never leave their window. With a window at least
as large as the data (the default is 65,536 rows) a stream is batched exactly like
the same rows held in memory, so the trained parameters are the same.

A :class:`Position` records how far an epoch has got (the generator state before the
current window's permutation, where the window starts, how many of its rows were
batched), so a checkpoint written mid-epoch resumes with the same batches. Under
``torch.distributed`` every rank draws the same permutation and reads its own slice
of each global batch (:func:`harmonium.parallel.shard_rows`); a stream is read whole
by every rank.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from harmonium import parallel

__all__ = ["Position", "Rows", "Stream", "as_source", "epoch_batches", "in_memory",
           "sample_rows"]

DEFAULT_WINDOW = 65536
_CHUNK = 1024  # samples per read from an IterableDataset


def _rows_of(batch) -> tuple[torch.Tensor, ...]:
    """A batch as a tuple of row-aligned tensors (one per field)."""
    fields = batch if isinstance(batch, (tuple, list)) else (batch,)
    out = tuple(f if isinstance(f, torch.Tensor) else torch.as_tensor(np.asarray(f))
                for f in fields)
    if any(f.dim() == 0 or f.shape[0] != out[0].shape[0] for f in out):
        raise ValueError("each batch of a stream must hold arrays of rows with one length, "
                         f"got shapes {[tuple(f.shape) for f in out]}")
    return out


def _unwrap(fields: tuple):
    return fields[0] if len(fields) == 1 else fields


class Rows:
    """Map-style data: ``n_rows`` rows fetched by index and prepared per batch.

    Parameters
    ----------
    n_rows : int
    fetch : callable
        ``fetch(index) -> batch`` for a ``torch.int64`` index tensor of rows.
    prepare : callable, optional
        Applied to each fetched batch (validation, dtype and device).
    """

    def __init__(self, n_rows: int, fetch: Callable, prepare: Callable | None = None):
        self.n_rows, self.fetch, self.prepare = int(n_rows), fetch, prepare
        #: ``take(index)``: rows ``index`` of the data, prepared (one call per batch)
        self.take = fetch if prepare is None else (lambda index: prepare(fetch(index)))

    def map(self, fn: Callable) -> Rows:
        """The same rows with ``fn`` applied to every prepared batch."""
        return Rows(self.n_rows, self.take, fn)

    def with_labels(self, labels: torch.Tensor) -> Rows:
        """Rows of ``(batch, labels[index])``; ``labels`` is held in memory."""
        if labels.shape[0] != self.n_rows:
            raise ValueError(f"labels must have {self.n_rows} entries, one per sample, "
                             f"got {labels.shape[0]}")
        return Rows(self.n_rows, lambda i: (self.take(i), labels[i.to(labels.device)]))

    def windows(self, start: int, batch_size: int):
        """The one window of map-style data: ``(0, n_rows, take)``."""
        yield 0, self.n_rows, self.take


class Stream:
    """Batches read in order from a re-iterable source, shuffled within windows.

    Parameters
    ----------
    source : iterable or callable
        A re-iterable object (``DataLoader``, list of arrays, ``IterableDataset``) or
        a function returning a fresh iterator; each item is an array of rows or a
        tuple of row-aligned arrays (e.g. inputs and labels).
    window : int
        Rows per shuffling window (rounded up to whole mini-batches).
    prepare : callable, optional
        Applied to each batch taken from a window.
    """

    def __init__(self, source, window: int = DEFAULT_WINDOW, prepare: Callable | None = None):
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        if isinstance(source, IterableDataset):
            source = DataLoader(source, batch_size=_CHUNK)
        if not callable(source) and iter(source) is source:
            raise TypeError("a one-shot iterator cannot be read once per epoch: pass a "
                            "list, a DataLoader, or Stream(function returning an iterator)")
        self.source, self.window, self.prepare = source, window, prepare
        self.n_rows: int | None = None  # known after one pass

    def _open(self) -> Iterator:
        return iter(self.source() if callable(self.source) else self.source)

    def map(self, fn: Callable) -> Stream:
        """The same stream with ``fn`` applied to every prepared batch."""
        prepare = fn if self.prepare is None else (lambda b: fn(self.prepare(b)))
        return Stream(self.source, self.window, prepare)

    def count_rows(self) -> int:
        """The number of rows, reading the stream once if no pass has counted them."""
        if self.n_rows is None:
            self.n_rows = sum(_rows_of(batch)[0].shape[0] for batch in self._open())
        return self.n_rows

    def _taker(self, rows: tuple[torch.Tensor, ...]):
        def take(index):
            batch = _unwrap(tuple(f.index_select(0, index.to(f.device)) for f in rows))
            return batch if self.prepare is None else self.prepare(batch)
        return take

    def windows(self, start: int, batch_size: int):
        """``(first row, rows, take)`` of each window from row ``start`` of the stream."""
        size = math.ceil(self.window / batch_size) * batch_size
        pending, count, seen = [], 0, 0
        for batch in self._open():
            fields = _rows_of(batch)
            pending.append(fields)
            count += fields[0].shape[0]
            while count >= size:
                rows = tuple(torch.cat(f) for f in zip(*pending, strict=True))
                window = tuple(f[:size] for f in rows)
                pending, count = [tuple(f[size:] for f in rows)], count - size
                if seen >= start:
                    yield seen, size, self._taker(window)
                seen += size
        if count:
            rows = tuple(torch.cat(f) for f in zip(*pending, strict=True))
            if seen >= start:
                yield seen, count, self._taker(rows)
        self.n_rows = seen + count


@dataclass
class Position:
    """How far an epoch has got; see the module docstring.

    Attributes
    ----------
    window_state : torch.Tensor or None
        The generator state just before the current window's permutation (``None``:
        the epoch has not started).
    window_start : int
        Rows of the data before the current window.
    taken : int
        Rows of the current window already batched (by all ranks together).
    """

    window_state: torch.Tensor | None = None
    window_start: int = 0
    taken: int = 0

    def to_state(self) -> dict:
        return {"window_state": self.window_state, "window_start": self.window_start,
                "taken": self.taken}

    @classmethod
    def from_state(cls, state: dict | None) -> Position:
        if not state:
            return cls()
        return cls(state["window_state"], int(state["window_start"]), int(state["taken"]))


def epoch_batches(source, batch_size: int, generator: torch.Generator, position: Position):
    """One epoch's mini-batches, continuing from ``position`` (updated as they go).

    Yields
    ------
    (batch, rows)
        This rank's part of the next global batch and the global batch's row count.
    """
    resume = position.window_state is not None
    sharded = parallel.world()[1] > 1
    for start, size, take in source.windows(position.window_start if resume else 0,
                                            batch_size):
        if resume:  # the window's permutation again, then the generator as it was
            now = generator.get_state()
            generator.set_state(position.window_state)
        else:
            position.window_state, position.window_start = generator.get_state(), start
            position.taken = 0
        perm = torch.randperm(size, generator=generator, device=generator.device)
        if resume:
            generator.set_state(now)
            resume = False
        for s in range(position.taken, size, batch_size):
            index = perm[s : s + batch_size]
            position.taken = s + index.shape[0]
            yield take(parallel.shard_rows(index) if sharded else index), index.shape[0]


def _tensor_rows(tensors: tuple[torch.Tensor, ...]) -> Rows:
    device = tensors[0].device
    if len(tensors) == 1:
        (x,) = tensors
        return Rows(x.shape[0], lambda index: x.index_select(0, index.to(device)))

    def fetch(index):
        index = index.to(device)
        return tuple(t.index_select(0, index) for t in tensors)
    return Rows(tensors[0].shape[0], fetch)


def _array_rows(array: np.ndarray, prepare) -> Rows:
    def fetch(index):
        return torch.from_numpy(np.ascontiguousarray(array[index.cpu().numpy()]))
    return Rows(array.shape[0], fetch, prepare)


def _npy_rows(path, prepare) -> Rows:
    """Rows of a C-order ``.npy`` file read with ``os.pread``: nothing is mapped, so
    the process's resident memory does not grow with the file (the kernel's page
    cache does the caching)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if fortran or dtype.hasobject or len(shape) < 2 or shape[0] == 0:
        raise ValueError(f"{path} must hold a C-order numeric array of shape (n_samples, "
                         f"...) with n_samples >= 1, got shape {shape}")
    row_shape, row_bytes = shape[1:], dtype.itemsize * math.prod(shape[1:])
    fd = os.open(path, os.O_RDONLY)

    def fetch(index):
        rows = index.cpu().numpy()
        out = np.empty((len(rows), *row_shape), dtype=dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        for j, r in enumerate(rows):
            flat[j] = np.frombuffer(os.pread(fd, row_bytes, offset + int(r) * row_bytes),
                                    np.uint8)
        return torch.from_numpy(out)
    rows = Rows(shape[0], fetch, prepare)
    weakref.finalize(rows, os.close, fd)
    return rows


def _dataset_rows(dataset: Dataset, prepare) -> Rows:
    getitems = getattr(dataset, "__getitems__", None)

    def fetch(index):
        items = getitems(index.tolist()) if getitems else [dataset[i] for i in index.tolist()]
        batch = default_collate(items)
        return _unwrap(tuple(batch)) if isinstance(batch, (list, tuple)) else batch
    return Rows(len(dataset), fetch, prepare)


def as_source(data, prepare: Callable, *, name: str = "data"):
    """``data`` as :class:`Rows` or a :class:`Stream` whose batches pass ``prepare``.

    Parameters
    ----------
    data : see the module docstring
        In-memory data (tensor, array, list, or a tuple of row-aligned ones) is
        prepared whole, once; every other kind batch by batch.
    prepare : callable
        ``prepare(batch) -> batch``: validation and conversion to the model's dtype and
        device (a tuple batch for tuple data).
    name : str
        How errors name the data.

    Returns
    -------
    Rows or Stream
    """
    if isinstance(data, (Rows, Stream)):
        return data.map(prepare)
    if isinstance(data, (str, os.PathLike)):
        if not str(data).endswith(".npy"):
            raise ValueError(f"{name} as a path must name a .npy file, got {str(data)!r}")
        return _npy_rows(data, prepare)
    if isinstance(data, np.memmap):
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(f"{name} must have shape (n_samples, n_features) with "
                             f"n_samples >= 1, got {data.shape}")
        return _array_rows(data, prepare)
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if not hasattr(data, "__len__") or len(data) == 0:
            raise ValueError(f"{name} must be a non-empty Dataset with a length")
        return _dataset_rows(data, prepare)
    if not in_memory(data):
        return Stream(data, prepare=prepare)
    prepared = prepare(data)
    return _tensor_rows(prepared if isinstance(prepared, tuple) else (prepared,))


def in_memory(data) -> bool:
    """Whether :func:`as_source` would hold ``data`` in memory (prepared whole)."""
    if isinstance(data, (Rows, Stream, str, os.PathLike, np.memmap, Dataset)):
        return False
    if isinstance(data, list) and data and isinstance(data[0], (tuple, np.ndarray, torch.Tensor)):
        # a list of 2-d arrays, or of tuples of row-aligned arrays, is a list of batches
        pair = isinstance(data[0], tuple)
        first = data[0][0] if pair else data[0]
        return not (isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim >= 2 - pair)
    return not (callable(data) or (hasattr(data, "__iter__") and not isinstance(
        data, (list, tuple, np.ndarray, torch.Tensor))))


def sample_rows(source, size: int):
    """``size`` evenly spaced rows of map-style data, or the first ``size`` of a stream
    (no randomness); shape (<= size, ...)."""
    if isinstance(source, Rows):
        n = source.n_rows
        index = torch.arange(n) if size >= n else torch.linspace(0, n - 1, size).round().long()
        return source.take(index)
    _, rows, take = next(source.windows(0, size))
    return take(torch.arange(min(rows, size)))
