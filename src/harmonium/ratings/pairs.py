"""Repeated (user, item) pairs: the one check shared by the loaders and the recommender."""

from __future__ import annotations

import numpy as np

__all__ = ["DUPLICATE_POLICIES", "latest_per_pair"]

DUPLICATE_POLICIES = ("error", "latest")


def latest_per_pair(
    u: np.ndarray,
    i: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    *,
    timestamps: np.ndarray | None = None,
    duplicates: str = "error",
    source: str = "",
    hint: str = "pass duplicates='latest' to keep the latest",
) -> np.ndarray:
    """Rows that hold one rating per (user, item) pair: reject repeats or keep the latest.

    Parameters
    ----------
    u, i : numpy.ndarray of int, shape (n,)
        User and item indices (non-negative) of each row.
    users, items : numpy.ndarray, shape (n,)
        The ids of each row, named in the error message.
    timestamps : numpy.ndarray of int, shape (n,), optional
        Decides which row of a repeated pair is the latest; without them (and between
        equal times) the later row is.
    duplicates : {"error", "latest"}
        Raise on a repeated pair, or keep its latest row.
    source : str
        Prefix of the error message (a file name, say).
    hint : str
        What the error message advises.

    Returns
    -------
    numpy.ndarray of int64, shape (m,)
        Rows to keep, ascending (all ``n`` rows when no pair repeats).

    Raises
    ------
    ValueError
        If a pair repeats and ``duplicates="error"``, naming the pair and two of its rows;
        or if ``duplicates`` is not a known policy.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be 'error' or 'latest', got {duplicates!r}")
    n = len(u)
    key = u.astype(np.int64) * (int(i.max()) + 1 if n else 1) + i
    time = np.zeros(n, np.int64) if timestamps is None else timestamps
    order = np.lexsort((np.arange(n), time, key))  # by pair, then time, then row
    last = np.r_[key[order][1:] != key[order][:-1], True]
    if last.all():
        return np.arange(n)
    if duplicates == "error":
        j = int(np.flatnonzero(~last)[0])
        a, b = sorted((int(order[j]), int(order[j + 1])))
        user, item = users[a : a + 1].tolist()[0], items[a : a + 1].tolist()[0]
        raise ValueError(
            f"{source}duplicate rating for (user {user!r}, item {item!r}) at rows {a} and {b}; "
            f"{hint}"
        )
    return np.sort(order[last])
