"""Saving and loading an RBMRecommender's data: ids, levels, indices and bias model, checked."""

from __future__ import annotations

import math

import numpy as np
import torch

from harmonium.io import state_value
from harmonium.models.rating_factored import FactoredRatingRBM
from harmonium.models.rbm import RBM
from harmonium.ratings.bias import Biases
from harmonium.ratings.ids import IdMap, narrow
from harmonium.ratings.table import RatingTable
from harmonium.tasks._recommend_conditional import implicit_state, init_implicit, restore_implicit

__all__ = ["bias_state", "recommender_state", "restore_recommender", "saved_biases",
           "saved_levels", "saved_table"]

_OWNER = "RBMRecommender"
_INT64_MAX = 2**63 - 1


def saved_levels(state: dict, n_levels: int) -> np.ndarray:
    """The rating value of each of the ``n_levels`` levels, finite numbers, shape (k,)."""
    levels = state_value(state, "levels", list, owner=_OWNER)
    if len(levels) != n_levels or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in levels):
        raise ValueError(f"the {_OWNER} state's 'levels' must be {n_levels} finite numbers "
                         f"(one per softmax state), got {str(levels)[:60]}")
    return np.asarray(levels, dtype=np.float64)


def _saved_ids(state: dict, key: str) -> IdMap:
    ids = state_value(state, key, list, owner=_OWNER)
    for v in ids:
        ok = isinstance(v, str) or (isinstance(v, int) and abs(v) <= _INT64_MAX) or (
            isinstance(v, float) and math.isfinite(v))
        if not ok:
            raise ValueError(f"the {_OWNER} state's {key!r} holds an id {str(v)[:40]} that is "
                             "not a str, a 64-bit int or a finite float")
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"the {_OWNER} state's {key!r} must be distinct ids, at least one")
    return IdMap(narrow(ids))


def _saved_index(ratings: dict, key: str, n: int, m: int | None) -> np.ndarray:
    index = state_value(ratings, key, torch.Tensor, owner=f"{_OWNER} ratings")
    if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool \
            or index.dim() != 1 or (m is not None and len(index) != m) or len(index) == 0:
        raise ValueError(f"the {_OWNER} ratings' {key!r} must be a non-empty 1-d integer "
                         f"tensor{'' if m is None else f' of length {m}'}, got "
                         f"{index.dtype} of shape {tuple(index.shape)}")
    index = index.cpu().numpy().astype(np.int64)
    if index.min() < 0 or index.max() >= n:
        raise ValueError(f"the {_OWNER} ratings' {key!r} must lie in [0, {n})")
    return index


def saved_table(state: dict, n_levels: int, n_units: int, orientation: str) -> RatingTable:
    """The training ratings, each index in range, matching the RBM's ``n_units``."""
    users, items = _saved_ids(state, "users"), _saved_ids(state, "items")
    expected = len(items) if orientation == "user" else len(users)
    if expected != n_units:
        raise ValueError(f"the {_OWNER}'s RBM has {n_units} visible units for {expected} "
                         f"{'items' if orientation == 'user' else 'users'}")
    ratings = state_value(state, "ratings", dict, owner=_OWNER)
    u = _saved_index(ratings, "user", len(users), None)
    i = _saved_index(ratings, "item", len(items), len(u))
    level = _saved_index(ratings, "level", n_levels, len(u))
    return RatingTable(users, items, u, i, level)


def bias_state(biases: Biases) -> dict:
    """The bias model as a state: the global mean, float64 offset tensors and the
    unknown-user item means."""
    return {"global_mean": float(biases.global_mean),
            "user": torch.from_numpy(np.ascontiguousarray(biases.user, dtype=np.float64)),
            "item": torch.from_numpy(np.ascontiguousarray(biases.item, dtype=np.float64)),
            "item_mean": torch.from_numpy(np.ascontiguousarray(biases.cold_user_means(),
                                                               dtype=np.float64))}


def saved_biases(state: dict, n_users: int, n_items: int) -> Biases | None:
    """The saved bias model, or None for a file written before it (refit it then)."""
    if "bias" not in state:
        return None
    bias = state_value(state, "bias", dict, owner=_OWNER)
    mu = state_value(bias, "global_mean", float, owner=f"{_OWNER} bias")
    offsets = []
    # "item_mean" (the unknown-user prediction) came later: older files predict mu + b_i
    keys = ("user", "item", "item_mean") if "item_mean" in bias else ("user", "item")
    for key in keys:
        n = n_users if key == "user" else n_items
        t = state_value(bias, key, torch.Tensor, owner=f"{_OWNER} bias")
        if not t.dtype.is_floating_point or tuple(t.shape) != (n,) or not (
                math.isfinite(mu) and torch.isfinite(t).all()):
            raise ValueError(f"the {_OWNER} bias model's {key!r} values must be {n} finite "
                             f"floats and its global mean finite, got {t.dtype} of shape "
                             f"{tuple(t.shape)}")
        offsets.append(t.cpu().numpy().astype(np.float64))
    return Biases(mu, *offsets)


def recommender_state(est, config: tuple) -> dict:
    """An RBMRecommender's state: config, levels, ratings, RBM, bias model, history."""
    state = {
        "config": {name: getattr(est, name) for name in config},
        "levels": est.levels_.tolist(),
        **est._ratings.to_state(len(est.levels_)),
        "rbm": est.rbm_._to_state(),
        "bias": bias_state(est.bias_),
        "history": est.history_,
        **implicit_state(est),
    }
    if est.best_epoch_ is not None:
        state["best_epoch"] = int(est.best_epoch_)
    return state


def restore_recommender(cls, state: dict, config_keys: tuple):
    """The RBMRecommender saved by :func:`recommender_state`, each part checked.

    Files written before the bias model get it refitted from the stored ratings (the
    same ALS on the same table, so the same offsets); files written before early
    stopping get ``best_epoch_ = None``.
    """
    config = state_value(state, "config", dict, owner=_OWNER)
    kind = FactoredRatingRBM if config.get("factors") is not None else RBM
    rbm = kind._from_state(state_value(state, "rbm", dict, owner=_OWNER))
    if not set(config) <= set(config_keys) or len(rbm.visible.shape) != 2:
        raise ValueError(f"the {_OWNER} state needs a config with keys among {config_keys} "
                         "and an RBM with (units, levels) visible units")
    if config.get("factors") is not None and rbm.n_factors != config["factors"]:
        raise ValueError(f"the {_OWNER}'s factored RBM has rank {rbm.n_factors}, its config "
                         f"says factors={config['factors']}")
    bias = rbm.hidden.bias
    obj = cls(**config, dtype=bias.dtype, device=bias.device)
    n_units, n_levels = rbm.visible.shape
    obj.levels_ = saved_levels(state, n_levels)
    table = saved_table(state, n_levels, n_units, obj.orientation)
    obj._set_data(table, saved_biases(state, len(table.users), len(table.items)))
    obj.rbm_ = rbm
    if obj.conditional:
        restore_implicit(obj, state)
    else:
        init_implicit(obj, None, n_units)
    obj.history_ = list(state_value(state, "history", list, owner=_OWNER)
                        if "history" in state else [])
    if "best_epoch" in state:
        best = state_value(state, "best_epoch", int, owner=_OWNER)
        if best < 1:
            raise ValueError(f"the {_OWNER} state's 'best_epoch' must be >= 1, got {best}")
        obj.best_epoch_ = best
    return obj
