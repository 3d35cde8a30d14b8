"""The conditional RBM's extra parts (Salakhutdinov, Mnih and Hinton 2007, section 4).

With ``RBMRecommender(conditional=True)`` every hidden unit also receives
``sum_i r_i D[i, :]``, where ``r`` flags the units a case rated: its training ratings
plus pairs whose rating is unknown (``fit(..., implicit=(users, items))``, e.g. the
pairs to be predicted, as in the Netflix Prize where the qualifying pairs were known).
``D`` (``implicit_weight_``, shape (n_units, n_hidden)) starts at zero and learns by
the CD rule ``(<h>_data - <h>_recon) r`` with the same weight decay as ``W``.
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium.io import state_value
from harmonium.models.rating_rbm import RatingCases

__all__ = ["ConditionalParams", "grow_implicit", "implicit_args", "implicit_cases",
           "implicit_state", "init_implicit", "restore_implicit"]

_OWNER = "RBMRecommender"


class ConditionalParams(torch.nn.Module):
    """What the training loop optimises for a conditional model: the RBM and ``D``."""

    def __init__(self, rbm, implicit_weight: torch.nn.Parameter):
        super().__init__()
        self.rbm = rbm
        self.implicit = implicit_weight


def _pairs(est, table) -> tuple[np.ndarray, np.ndarray]:
    """(case, unit) index pairs flagged in ``r``: training pairs and the extra ones."""
    case, unit, _, n_units = table.grouped(est.orientation)
    eu, ei = est._implicit_pairs
    extra_case, extra_unit = (eu, ei) if est.orientation == "user" else (ei, eu)
    key = np.unique(np.r_[case * n_units + unit, extra_case * n_units + extra_unit])
    return key // n_units, key % n_units


def implicit_cases(est, table) -> RatingCases | None:
    """The flagged units of every case (levels all 0), or None for a plain model."""
    if not est.conditional:
        return None
    case, unit = _pairs(est, table)
    n_cases = table.grouped(est.orientation)[2]
    return RatingCases(case, unit, np.zeros_like(unit), n_cases, est.device)


def implicit_args(est):
    """``(D, cases)`` for the hidden means of a conditional model, else None."""
    return None if est._implicit is None else (est.implicit_weight_, est._implicit)


def init_implicit(est, implicit, n_units: int) -> None:
    """Zero ``D`` and the extra (user, item) pairs of ``implicit`` with known ids."""
    est._implicit_pairs = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    est.implicit_weight_ = None
    if not est.conditional:
        if implicit is not None:
            raise ValueError("implicit pairs need a conditional model "
                             "(RBMRecommender(conditional=True))")
        return
    if implicit is not None:
        if not isinstance(implicit, (tuple, list)) or len(implicit) != 2:
            raise TypeError("implicit must be a (users, items) pair of id arrays")
        u, i = est._ratings.lookup(*implicit)
        known = (u >= 0) & (i >= 0)  # pairs with an unknown id cannot be flagged
        est._implicit_pairs = (u[known], i[known])
    c = est.rbm_.hidden.bias
    est.implicit_weight_ = torch.nn.Parameter(c.new_zeros(n_units, est.n_hidden))
    est._implicit = implicit_cases(est, est._ratings)


def grow_implicit(est, n_units: int) -> None:
    """Append zero rows to ``D`` for new units."""
    if est.implicit_weight_ is not None and n_units > est.implicit_weight_.shape[0]:
        d = est.implicit_weight_.detach()
        est.implicit_weight_ = torch.nn.Parameter(torch.cat(
            [d, d.new_zeros(n_units - d.shape[0], d.shape[1])]))


def implicit_state(est) -> dict:
    """``D`` and the extra pairs, for the model file (empty for a plain model)."""
    if est.implicit_weight_ is None:
        return {}
    eu, ei = est._implicit_pairs
    return {"implicit_weight": est.implicit_weight_.detach(),
            "implicit_pairs": {"user": torch.from_numpy(eu), "item": torch.from_numpy(ei)}}


def restore_implicit(est, state: dict) -> None:
    """Load ``D`` and the extra pairs of a conditional model, each checked."""
    n_users, n_items = len(est._ratings.users), len(est._ratings.items)
    n_units = n_items if est.orientation == "user" else n_users
    d = state_value(state, "implicit_weight", torch.Tensor, owner=_OWNER)
    pairs = state_value(state, "implicit_pairs", dict, owner=_OWNER)
    if tuple(d.shape) != (n_units, est.n_hidden) or not d.dtype.is_floating_point or not (
            torch.isfinite(d).all()):
        raise ValueError(f"the {_OWNER}'s implicit_weight must be finite floats of shape "
                         f"({n_units}, {est.n_hidden}), got {tuple(d.shape)}")
    out = []
    for key, n in (("user", n_users), ("item", n_items)):
        t = state_value(pairs, key, torch.Tensor, owner=f"{_OWNER} implicit_pairs")
        if t.dtype.is_floating_point or t.dim() != 1 or (len(t) and (
                t.min() < 0 or t.max() >= n)):
            raise ValueError(f"the {_OWNER}'s implicit {key} indices must be integers in "
                             f"[0, {n})")
        out.append(t.cpu().numpy().astype(np.int64))
    if len(out[0]) != len(out[1]):
        raise ValueError(f"the {_OWNER}'s implicit pairs must have as many users as items")
    est._implicit_pairs = tuple(out)
    est.implicit_weight_ = torch.nn.Parameter(d.to(est.rbm_.hidden.bias))
    est._implicit = implicit_cases(est, est._ratings)
