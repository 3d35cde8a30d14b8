"""Scoring every item for many users at once: the RBMRecommender's top-k lists.

The scores come from the model alone (its parameters, its training ratings and its
bias model), so lists built here cannot depend on held-out ratings
(:func:`harmonium.ratings.evaluation.ranking_metrics`).
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium.models.rating_rbm import expected_grid, expected_ratings, hidden_means
from harmonium.tasks._recommend_conditional import implicit_args

__all__ = ["expected_pairs", "score_grid", "top_k", "top_k_lists"]

# grid elements (users x items x levels) computed at once
_GRID_ELEMENTS = 2**24


def expected_pairs(est, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The RBM's expected ratings of known (user, item) index pairs, shape (n,)."""
    pair = (u, i) if est.orientation == "user" else (i, u)
    case, unit = (torch.from_numpy(a).to(est.device) for a in pair)
    levels = torch.from_numpy(est.levels_)
    expected = expected_ratings(est.rbm_, est._cases, case, unit, levels, implicit_args(est))
    return expected.cpu().numpy().astype(np.float64)


def top_k_lists(scores: np.ndarray, k: int) -> list[np.ndarray]:
    """Column indices of the ``k`` best finite scores of each row, best first.

    Parameters
    ----------
    scores : numpy.ndarray, shape (m, n)
        ``-inf`` marks columns that may not be listed.

    Returns
    -------
    list of numpy.ndarray of int64, each of length <= k
        Ties keep column order.
    """
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:k]
        out.append(order[np.isfinite(row[order])])
    return out


def _rated_mask(by_user, u: np.ndarray, n_items: int) -> np.ndarray:
    """Boolean (len(u), n_items): which items each user index (-1: none) rated.

    ``by_user`` is ``(ptr, items)``: the training items grouped by user (CSR).
    """
    ptr, items = by_user
    known = np.flatnonzero(u >= 0)
    counts = ptr[u[known] + 1] - ptr[u[known]]
    rows = np.repeat(known, counts)
    starts = np.repeat(ptr[u[known]] - np.r_[0, np.cumsum(counts)[:-1]], counts)
    mask = np.zeros((len(u), n_items), dtype=bool)
    mask[rows, items[starts + np.arange(len(rows))]] = True
    return mask


@torch.no_grad()
def score_grid(est, u: np.ndarray) -> np.ndarray:
    """Ranking score of every known item for user indices ``u`` (distinct, -1 unknown).

    Known users get the RBM's expected ratings (their predictions), unknown ones the
    bias model's ``mu + b_i``, which ranks better than the shrunk item means that
    ``predict`` gives such users (see :meth:`harmonium.ratings.BiasModel.recommend_many`).

    Returns
    -------
    numpy.ndarray of float64, shape (len(u), n_items)
    """
    table, rbm = est._ratings, est.rbm_
    n_items = len(table.items)
    out = np.empty((len(u), n_items))
    out[u < 0] = est.bias_.global_mean + est.bias_.item
    known = np.flatnonzero(u >= 0)
    if len(known) == 0:
        return out
    levels = torch.from_numpy(est.levels_).to(est.device)
    step = max(1, _GRID_ELEMENTS // (n_items * len(est.levels_)))
    if est.orientation == "item":  # cases are items: their hidden means, once
        h_items = hidden_means(rbm, est._cases, torch.arange(n_items, device=est.device),
                               implicit_args(est))
    for start in range(0, len(known), step):
        rows = known[start : start + step]
        who = torch.from_numpy(u[rows]).to(est.device)
        if est.orientation == "user":
            h = hidden_means(rbm, est._cases, who, implicit_args(est))
            grid = expected_grid(rbm, h, torch.arange(n_items, device=est.device), levels,
                                 cases_are_rows=True)
        else:
            grid = expected_grid(rbm, h_items, who, levels, cases_are_rows=False)
        out[rows] = grid.cpu().numpy()
    return out


def top_k(est, users, k: int, exclude_rated: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(item ids, scores)`` of the ``k`` best items for each user id, best first."""
    table = est._ratings
    u = table.users.index(users)
    distinct, inverse = np.unique(u, return_inverse=True)
    order = np.argsort(table.u, kind="stable")
    by_user = (np.r_[0, np.cumsum(np.bincount(table.u, minlength=len(table.users)))],
               table.i[order])
    results: list = [None] * len(distinct)
    step = max(1, _GRID_ELEMENTS // max(1, len(table.items) * len(est.levels_)))
    for start in range(0, len(distinct), step):
        part = distinct[start : start + step]
        scores = score_grid(est, part)
        if exclude_rated:
            scores[_rated_mask(by_user, part, len(table.items))] = -np.inf
        for j, order in enumerate(top_k_lists(scores, k)):
            results[start + j] = (table.items.ids[order], scores[j, order])
    return [results[j] for j in inverse.reshape(-1)]
