"""Evaluation protocols: which ratings to hold out, each deterministic from a seed.

- ``"random"``: a random ``test_fraction`` of the ratings (per rating);
- ``"temporal"``: the newest ``test_fraction`` of each user's ratings, by timestamp
  (the Netflix Prize's probe set, and what a deployed model faces: it predicts the
  future from the past); every user keeps at least one training rating, and the items
  first rated in the held-out period are new to the model;
- ``"users"``: leave users out, a random ``test_fraction`` of the users with all their
  ratings (cold-start users: what the model does for someone it has never seen).

Each function returns sorted row indices ``(train, test)`` that partition the rows.
The same functions draw validation splits from a training part
(:meth:`harmonium.RBMRecommender.fit` with ``validation=``).
"""

from __future__ import annotations

import numpy as np

from harmonium.ratings.ids import as_ids, encode

__all__ = ["PROTOCOLS", "random_split", "split_ratings", "temporal_split", "users_split"]

PROTOCOLS = ("random", "temporal", "users")


def _check_fraction(test_fraction) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
            0 < test_fraction < 1):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    return float(test_fraction)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be an int >= 0, got {seed!r}")
    return np.random.default_rng(int(seed))


def _halves(test: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def random_split(n: int, test_fraction: float = 0.1, *, seed: int = 0):
    """Hold out ``round(test_fraction * n)`` random rows of ``n`` (at least one).

    Returns
    -------
    train, test : numpy.ndarray of int64
        Sorted row indices.
    """
    test_fraction = _check_fraction(test_fraction)
    if n < 2:
        raise ValueError(f"a split needs at least 2 ratings, got {n}")
    n_test = min(n - 1, max(1, round(test_fraction * n)))
    return _halves(_rng(seed).permutation(n)[:n_test], n)


def temporal_split(users, timestamps, test_fraction: float = 0.1, *, seed: int = 0):
    """Hold out the newest ``test_fraction`` of each user's ratings.

    A user with ``n_u`` ratings loses ``round(test_fraction * n_u)`` of them (rounding
    half up), but never all: at least one stays in training. Ratings with equal
    timestamps are ordered at random (from ``seed``), not by their position in the file.

    Parameters
    ----------
    users : array-like, shape (n,)
        User id of each rating.
    timestamps : array-like of numbers, shape (n,)

    Returns
    -------
    train, test : numpy.ndarray of int64
        Sorted row indices.
    """
    test_fraction = _check_fraction(test_fraction)
    _, u = encode(as_ids(users, "users"), "users")
    try:
        t = np.asarray(timestamps, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("timestamps must be numbers") from None
    if t.shape != u.shape or not np.isfinite(t).all():
        raise ValueError(f"the temporal protocol needs one finite timestamp per rating: got "
                         f"{t.shape} for {len(u)} ratings")
    if len(u) < 2:
        raise ValueError(f"a split needs at least 2 ratings, got {len(u)}")
    order = np.lexsort((_rng(seed).random(len(u)), t, u))  # by user, then time
    counts = np.bincount(u)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank = np.arange(len(u)) - np.repeat(starts, counts)  # position within the user
    n_test = np.minimum(counts - 1, np.floor(test_fraction * counts + 0.5).astype(np.int64))
    held = rank >= np.repeat(counts - n_test, counts)
    return _halves(order[held], len(u))


def users_split(users, test_fraction: float = 0.1, *, seed: int = 0):
    """Hold out all ratings of ``round(test_fraction * n_users)`` random users (>= 1).

    Returns
    -------
    train, test : numpy.ndarray of int64
        Sorted row indices.
    """
    test_fraction = _check_fraction(test_fraction)
    _, u = encode(as_ids(users, "users"), "users")
    n_users = int(u.max()) + 1 if len(u) else 0
    if n_users < 2:
        raise ValueError(f"leaving users out needs at least 2 users, got {n_users}")
    n_test = min(n_users - 1, max(1, round(test_fraction * n_users)))
    left_out = _rng(seed).permutation(n_users)[:n_test]
    return _halves(np.flatnonzero(np.isin(u, left_out)), len(u))


def split_ratings(protocol: str, users, timestamps=None, *, test_fraction: float = 0.1,
                  seed: int = 0):
    """The ``(train, test)`` row indices of one of :data:`PROTOCOLS`.

    Parameters
    ----------
    protocol : {"random", "temporal", "users"}
    users : array-like, shape (n,)
        User id of each rating.
    timestamps : array-like, shape (n,), optional
        Required by ``"temporal"``.
    test_fraction : float in (0, 1)
    seed : int

    Returns
    -------
    train, test : numpy.ndarray of int64
    """
    if protocol == "random":
        return random_split(len(as_ids(users, "users")), test_fraction, seed=seed)
    if protocol == "temporal":
        if timestamps is None:
            raise ValueError("the temporal protocol needs timestamps (a timestamp column)")
        return temporal_split(users, timestamps, test_fraction, seed=seed)
    if protocol == "users":
        return users_split(users, test_fraction, seed=seed)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
