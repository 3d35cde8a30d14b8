"""Leak-free ranking metrics and per-group rating errors of a recommender.

**Ranking** (precision@k, recall@k, nDCG@k, MAP@k) is computed from top-k lists that
the model produced from training information only: every item it knows, minus those
the user rated in training, ranked by predicted score. The held-out ratings decide
only which listed items count as hits (relevant: true rating ``>= threshold``). The
protocol that ranks only each user's held-out items (the older
:func:`~harmonium.ratings.rating_metrics` precision) tells the model which items the
user rated, a leak that inflates precision many times over.

**Groups** split the errors by what the model knew: held-out items it has ratings for
("known items") or not ("new items"), users it has never seen ("new users"), and known
users with fewer training ratings than the median known user ("light users") or at
least as many ("heavy users").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harmonium._numerics import check_positive_int
from harmonium.ratings.columns import as_ratings, parse_ratings
from harmonium.ratings.ids import IdMap, as_ids, encode

__all__ = ["GROUPS", "error_groups", "evaluate_recommender", "ranking_metrics"]

GROUPS = ("known items", "new items", "new users", "light users", "heavy users")


def _errors(err: np.ndarray) -> dict:
    if len(err) == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "n": 0}
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "n": len(err)}


def ranking_metrics(recommended: Callable, users, items, ratings, *, k: int = 10,
                    threshold: float = 4.0) -> dict:
    """Mean precision@k, recall@k, nDCG@k and MAP@k over users with a relevant item.

    Parameters
    ----------
    recommended : callable
        ``recommended(users, k)`` -> list of item-id arrays, best first, one per user
        of ``users`` (an array of distinct ids, shape (m,)): the model's top-k lists.
        It receives no held-out information, so the lists cannot depend on it.
    users, items : array-like, shape (n,)
        The held-out (user, item) pairs.
    ratings : array-like, shape (n,)
        Their true ratings; an item is relevant when its rating is ``>= threshold``.
    k : int
    threshold : float

    Returns
    -------
    dict
        ``precision@k`` (hits in the top k / k), ``recall@k`` (hits / relevant items),
        ``ndcg@k`` (binary gains, discount ``1 / log2(rank + 1)``, normalised by the
        best possible list), ``map@k`` (mean over users of the sum of precision at
        each hit's rank / ``min(k, relevant)``), and ``users`` (how many were scored).
        Relevant held-out items the model does not know stay in the denominators.
    """
    k = check_positive_int(k, "k")
    u, i, r = parse_ratings(users, items, ratings)
    relevant = r >= threshold
    ids, uu = encode(u[relevant], "users")
    if len(ids) == 0:
        return {f"{m}@{k}": 0.0 for m in ("precision", "recall", "ndcg", "map")} | {"users": 0}
    lists = list(recommended(ids, k))
    if len(lists) != len(ids):
        raise ValueError(f"recommended(users, k) must return one list per user: got "
                         f"{len(lists)} for {len(ids)} users")
    wanted = [set() for _ in ids]
    for a, b in zip(uu.tolist(), i[relevant].tolist(), strict=True):
        wanted[a].add(b)
    discount = 1 / np.log2(np.arange(2, k + 2))
    out = np.zeros((len(ids), 4))
    for row, (top, rel) in enumerate(zip(lists, wanted, strict=True)):
        hits = np.array([item in rel for item in list(top)[:k]], dtype=bool)
        n_best = min(k, len(rel))
        at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        out[row] = (hits.sum() / k, hits.sum() / len(rel),
                    (discount[: len(hits)] * hits).sum() / discount[:n_best].sum(),
                    at[hits].sum() / n_best)
    means = out.mean(0)
    return {f"precision@{k}": float(means[0]), f"recall@{k}": float(means[1]),
            f"ndcg@{k}": float(means[2]), f"map@{k}": float(means[3]), "users": len(ids)}


def error_groups(users, items, y_true, y_pred, *, train_users, train_items) -> dict:
    """RMSE, MAE and count of held-out predictions per group of :data:`GROUPS`.

    Parameters
    ----------
    users, items : array-like, shape (n,)
        The held-out pairs.
    y_true, y_pred : array-like, shape (n,)
    train_users, train_items : array-like, shape (m,)
        The (user, item) pairs of the training ratings: what the model knew.

    Returns
    -------
    dict
        Group name -> ``{"rmse", "mae", "n"}`` (NaN errors for an empty group).
    """
    u, i = as_ids(users, "users"), as_ids(items, "items")
    err = as_ratings(y_pred, len(u)) - as_ratings(y_true, len(u))
    user_ids, tu = encode(as_ids(train_users, "users"), "users")
    item_ids, _ = encode(as_ids(train_items, "items"), "items")
    counts = np.bincount(tu, minlength=len(user_ids))
    uq = IdMap(user_ids).index(u)
    new_item = IdMap(item_ids).index(i) < 0
    n_u = np.where(uq >= 0, counts[np.maximum(uq, 0)], 0)
    light = (uq >= 0) & (n_u < np.median(counts))
    masks = (~new_item, new_item, uq < 0, light, (uq >= 0) & ~light)
    return {name: _errors(err[m]) for name, m in zip(GROUPS, masks, strict=True)}


def evaluate_recommender(model, users, items, ratings, *, train_users, train_items,
                         k: int = 10, threshold: float = 4.0) -> dict:
    """RMSE, MAE, leak-free ranking metrics and per-group errors of a fitted model.

    Parameters
    ----------
    model : object
        With ``predict(users, items)`` and ``recommend_many(users, k)`` (top-k item
        ids per user, from training information only), like
        :class:`harmonium.RBMRecommender` and :class:`~harmonium.ratings.BiasModel`.
    users, items, ratings : array-like, shape (n,)
        Held-out ratings.
    train_users, train_items : array-like, shape (m,)
        The training pairs (for the groups).
    k, threshold
        As in :func:`ranking_metrics`.

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``n``, the metrics of :func:`ranking_metrics` and
        ``groups`` (:func:`error_groups`).
    """
    u, i, r = parse_ratings(users, items, ratings)
    pred = np.asarray(model.predict(u, i), dtype=np.float64)
    out = _errors(pred - r)
    out.update(ranking_metrics(lambda who, kk: [ids for ids, _ in model.recommend_many(who, kk)],
                               u, i, r, k=k, threshold=threshold))
    out["groups"] = error_groups(u, i, r, pred, train_users=train_users,
                                 train_items=train_items)
    return out
