"""User and item ids: validation, typed arrays, and id <-> index maps.

Ids may be any hashable values. Arrays of ids keep the tightest type that holds them
(int64, float64, str), and fall back to object arrays for mixed or other ids.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["IdMap", "as_ids", "encode", "index_tensor", "narrow"]

_ID_KINDS = "iuUf"  # integer, unsigned, str, float id arrays stay typed; others are objects


def narrow(values: list) -> np.ndarray:
    """Ids as the tightest array that keeps their values: int64, float64, str or object.

    Parameters
    ----------
    values : list, length n

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    kinds = {type(v) for v in values}
    if kinds and all(issubclass(k, (int, np.integer)) and not issubclass(k, bool) for k in kinds):
        return np.array(values, dtype=np.int64)
    if kinds and all(issubclass(k, str) for k in kinds):
        return np.array(values, dtype=str)
    if kinds and all(issubclass(k, (float, np.floating)) for k in kinds):
        return np.array(values, dtype=np.float64)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def as_ids(x, name: str) -> np.ndarray:
    """A 1-D array of ids from an array-like, tensor or pandas Series.

    Parameters
    ----------
    x : array-like, shape (n,)
    name : str
        What the ids are, for error messages (``"users"``, ``"items"``).

    Returns
    -------
    numpy.ndarray, shape (n,)

    Raises
    ------
    TypeError
        If ``x`` is a string or not a sequence.
    ValueError
        If ``x`` is not 1-D, or holds NaN or infinite float ids.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):  # pandas Series / Index
        x = x.to_numpy()
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"{name} must be a 1-D array-like of ids, got {type(x).__name__}")
    if isinstance(x, np.ndarray) and x.dtype.kind in _ID_KINDS:
        arr = x
    else:
        arr = narrow(list(x))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite ids")
    return arr


def encode(ids: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids and the index of each entry.

    Parameters
    ----------
    ids : numpy.ndarray, shape (n,)
    name : str
        What the ids are, for error messages.

    Returns
    -------
    uniques : numpy.ndarray, shape (m,)
        Sorted for typed arrays, in first-seen order for object arrays.
    inverse : numpy.ndarray of int64, shape (n,)
        ``uniques[inverse] == ids``.
    """
    if ids.dtype != object:
        uniques, inverse = np.unique(ids, return_inverse=True)
        return uniques, inverse.reshape(-1).astype(np.int64)
    lookup: dict = {}
    try:
        inverse = np.fromiter((lookup.setdefault(v, len(lookup)) for v in ids), np.int64, len(ids))
    except TypeError as exc:
        raise TypeError(f"{name} must be hashable ids: {exc}") from None
    return narrow(list(lookup)), inverse


def index_tensor(index: np.ndarray, n: int) -> torch.Tensor:
    """Indices in ``[0, n)`` as the narrowest integer tensor that holds them all.

    uint8 up to 256 values, then int16, int32, int64 (the dtypes safetensors stores).

    Parameters
    ----------
    index : numpy.ndarray of int, shape (m,)
    n : int
        Number of possible values.

    Returns
    -------
    torch.Tensor, shape (m,)
    """
    for dtype, limit in ((torch.uint8, 2**8), (torch.int16, 2**15), (torch.int32, 2**31)):
        if n <= limit:
            return torch.from_numpy(index).to(dtype)
    return torch.from_numpy(index).to(torch.int64)


class IdMap:
    """Id <-> index lookup for one side (users or items).

    Parameters
    ----------
    ids : numpy.ndarray, shape (n,)
        Distinct ids in index order.
    """

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self._index = {v: i for i, v in enumerate(ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, values: np.ndarray) -> np.ndarray:
        """Index of each id, -1 where unknown, shape (n,)."""
        get = self._index.get
        try:
            return np.fromiter((get(v, -1) for v in values.tolist()), np.int64, len(values))
        except TypeError as exc:
            raise TypeError(f"ids must be hashable: {exc}") from None

    def extended(self, values: np.ndarray) -> IdMap:
        """This map with the unknown ``values`` appended (in first-seen order)."""
        new = [v for v in dict.fromkeys(values.tolist()) if v not in self._index]
        if not new:
            return self
        return IdMap(narrow(self.ids.tolist() + new))

    def to_json(self, name: str) -> list:
        """The ids as a JSON list; ``TypeError`` for ids other than int, float, str, bool."""
        values = self.ids.tolist()
        for v in values:
            ok = isinstance(v, (str, int)) or (isinstance(v, float) and math.isfinite(v))
            if not ok:
                raise TypeError(
                    f"cannot save {name} id {v!r} of type {type(v).__name__}: model files "
                    "keep int, float, str and bool ids"
                )
        return values
