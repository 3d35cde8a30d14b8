"""Rating data as parallel columns: the accepted column names and input parsing.

One table of column names serves every reader: the headers of rating files
(:func:`harmonium.ratings.load_ratings_csv`) and the columns of tables passed to
:meth:`harmonium.RBMRecommender.fit` (pandas DataFrames). Names match case-insensitively.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from harmonium.ratings.ids import as_ids

__all__ = ["RATING_COLUMNS", "RatingsData", "as_ratings", "find_columns", "parse_ratings"]

# role -> accepted column names (lower case), the preferred name first
RATING_COLUMNS = {
    "user": ("user", "userid", "user_id"),
    "item": ("item", "itemid", "item_id", "movieid", "movie_id", "movie"),
    "rating": ("rating", "score", "stars"),
    "timestamp": ("timestamp", "time", "date"),
}
REQUIRED = ("user", "item", "rating")


class RatingsData(NamedTuple):
    """Explicit ratings as parallel columns (what :class:`harmonium.RBMRecommender` fits).

    Attributes
    ----------
    users, items : numpy.ndarray, shape (n,)
        Ids: int64 when every id in the file is an integer, else str.
    ratings : numpy.ndarray of float64, shape (n,)
    timestamps : numpy.ndarray of int64, shape (n,), or None
    titles : dict or None
        Item id -> title (MovieLens), when known.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray | None = None
    titles: dict | None = None


def find_columns(names: Sequence, source: str) -> dict[str, int]:
    """Position of each role's column among ``names``, by :data:`RATING_COLUMNS`.

    Parameters
    ----------
    names : sequence
        Column names (any case; non-strings never match).
    source : str
        What holds the columns, for the error message (``"the table"``).

    Returns
    -------
    dict
        Role (``"user"``, ``"item"``, ``"rating"``, and ``"timestamp"`` when present)
        -> position in ``names``; the first accepted name present wins.

    Raises
    ------
    ValueError
        If the user, item or rating column is missing.
    """
    lowered = [str(n).strip().lower() for n in names]
    found = {}
    for role, accepted in RATING_COLUMNS.items():
        hits = [lowered.index(a) for a in accepted if a in lowered]
        if hits:
            found[role] = hits[0]
    missing = [role for role in REQUIRED if role not in found]
    if missing:
        looked = "; ".join(f"{role}: {', '.join(RATING_COLUMNS[role])}" for role in missing)
        raise ValueError(
            f"{source} has no {' or '.join(missing)} column (looked for {looked}; any case), "
            f"got {list(names)}"
        )
    return found


def _split_table(table, items, ratings) -> tuple:
    """Users, items and ratings from three columns, a RatingsData-like object or a table."""
    if items is not None or ratings is not None:
        if items is None or ratings is None:
            raise TypeError("pass users, items and ratings together, or one table")
        return table, items, ratings
    if all(hasattr(table, a) for a in ("users", "items", "ratings")):
        return table.users, table.items, table.ratings
    columns = getattr(table, "columns", None)
    if columns is None:
        raise TypeError(
            "expected users, items and ratings arrays, or a table with user, item and "
            f"rating columns; got a single {type(table).__name__}"
        )
    names = list(columns)
    found = find_columns(names, "the table")
    return tuple(table[names[found[role]]] for role in REQUIRED)


def as_ratings(ratings, n: int) -> np.ndarray:
    """Ratings as a finite float64 array of length ``n``.

    Parameters
    ----------
    ratings : array-like, tensor or pandas Series, shape (n,)
    n : int
        Expected length.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)

    Raises
    ------
    TypeError
        Non-numeric ratings.
    ValueError
        Wrong shape, NaN or infinite ratings.
    """
    if isinstance(ratings, torch.Tensor):
        ratings = ratings.detach().cpu().numpy()
    if hasattr(ratings, "to_numpy"):
        ratings = ratings.to_numpy()
    try:
        r = np.asarray(ratings, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("ratings must be numbers") from None
    if r.ndim != 1 or len(r) != n:
        raise ValueError(f"ratings must be 1-D with one rating per (user, item): got {r.shape}")
    bad = ~np.isfinite(r)
    if bad.any():
        raise ValueError(f"ratings contain NaN or infinite values (first at row {bad.argmax()})")
    return r


def parse_ratings(users, items=None, ratings=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (users, items, ratings) columns from arrays or one table.

    Parameters
    ----------
    users : array-like, shape (n,), or a table
        User ids; or, with ``items`` and ``ratings`` omitted, a pandas DataFrame with
        user, item and rating columns (names from :data:`RATING_COLUMNS`) or an object
        with ``users``, ``items`` and ``ratings`` attributes (:class:`RatingsData`).
    items : array-like, shape (n,), optional
    ratings : array-like, shape (n,), optional

    Returns
    -------
    users, items : numpy.ndarray, shape (n,)
    ratings : numpy.ndarray of float64, shape (n,)

    Raises
    ------
    TypeError, ValueError
        Missing columns, mismatched lengths, no ratings, bad ids or ratings.
    """
    users, items, ratings = _split_table(users, items, ratings)
    u, i = as_ids(users, "users"), as_ids(items, "items")
    if len(u) != len(i):
        raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
    if len(u) == 0:
        raise ValueError("no ratings: expected at least one (user, item, rating)")
    return u, i, as_ratings(ratings, len(u))
