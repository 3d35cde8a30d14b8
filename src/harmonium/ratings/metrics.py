"""Accuracy of predicted ratings: RMSE, MAE, precision and recall at k."""

from __future__ import annotations

import numpy as np

from harmonium._numerics import check_positive_int
from harmonium.ratings.columns import as_ratings
from harmonium.ratings.ids import as_ids, encode

__all__ = ["rating_metrics"]


def rating_metrics(users, y_true, y_pred, *, k: int = 10, threshold: float = 4.0) -> dict:
    """RMSE, MAE and mean precision/recall at ``k`` of held-out ratings.

    Precision and recall follow the usual protocol for explicit ratings: for each user,
    rank their held-out items by predicted rating; an item is relevant when its true
    rating is ``>= threshold``, recommended when it is in the top ``k`` and its
    predicted rating is ``>= threshold``. Users with nothing recommended are left out
    of the precision mean (undefined there), users with nothing relevant out of recall.

    Ranking only the held-out items tells the ranking which items each user rated:
    these precision and recall are optimistic. The leak-free ones rank every item the
    user did not rate in training (:func:`harmonium.ratings.ranking_metrics`,
    :meth:`harmonium.RBMRecommender.evaluate`).

    Parameters
    ----------
    users : array-like, shape (n,)
        User id of each held-out rating.
    y_true, y_pred : array-like, shape (n,)
        True and predicted ratings.
    k : int
        Cut-off.
    threshold : float
        Rating at or above which an item counts as relevant.

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``precision@k``, ``recall@k`` (floats) and ``n``.
    """
    k = check_positive_int(k, "k")
    _, u = encode(as_ids(users, "users"), "users")
    t = as_ratings(y_true, len(u))
    p = as_ratings(y_pred, len(u))
    if len(u) == 0:
        raise ValueError("no ratings to evaluate")
    err = p - t
    order = np.lexsort((-p, u))  # by user, then predicted rating descending
    u_s, t_s, p_s = u[order], t[order], p[order]
    starts = np.flatnonzero(np.r_[True, u_s[1:] != u_s[:-1]])
    rank = np.arange(len(u_s)) - np.repeat(starts, np.diff(np.r_[starts, len(u_s)]))
    top = (rank < k) & (p_s >= threshold)
    relevant = t_s >= threshold
    n_top = np.bincount(u_s, top)
    n_hit = np.bincount(u_s, top & relevant)
    n_rel = np.bincount(u_s, relevant)
    precision = n_hit[n_top > 0] / n_top[n_top > 0]
    recall = n_hit[n_rel > 0] / n_rel[n_rel > 0]
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        f"precision@{k}": float(precision.mean()) if len(precision) else 0.0,
        f"recall@{k}": float(recall.mean()) if len(recall) else 0.0,
        "n": len(u),
    }
