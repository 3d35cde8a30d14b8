"""Collaborative filtering with RBMs (Salakhutdinov, Mnih and Hinton 2007).

:class:`RBMRecommender` is the user-facing estimator: it maps arbitrary user and item
ids to indices, validates ratings, trains a softmax-visible RBM
(:mod:`harmonium.models.rating_rbm`) by contrastive divergence with a growing number
of Gibbs steps, predicts expected ratings, ranks items and saves itself with its id
maps. ``orientation="user"`` is the paper's model (one RBM per user, items visible);
``orientation="item"`` is the transposed I-RBM (one RBM per item, users visible).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from harmonium._numerics import check_positive_int, generator_device
from harmonium.io import savable
from harmonium.models.rating_rbm import (
    RatingBatch,
    cd_loss,
    hidden_inputs,
    make_rating_rbm,
    rating_probabilities,
)
from harmonium.models.rbm import RBM

__all__ = ["RBMRecommender", "rating_metrics"]

log = logging.getLogger(__name__)

ORIENTATIONS = ("user", "item")
# pseudo-ratings at the global mean that shrink the item-mean fallback
ITEM_MEAN_DAMPING = 5.0
_ID_KINDS = "iuUf"  # integer, unsigned, str, float id arrays stay typed; others are objects
_USER_COLUMNS = ("user", "userId", "user_id", "userid")
_ITEM_COLUMNS = ("item", "movieId", "item_id", "itemId", "movie", "movie_id")


# ----- ids --------------------------------------------------------------------------
def _narrow(values: list) -> np.ndarray:
    """Ids as the tightest array that keeps their values: int64, float64, str or object."""
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


def _as_ids(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):  # pandas Series / Index
        x = x.to_numpy()
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"{name} must be a 1-D array-like of ids, got {type(x).__name__}")
    if isinstance(x, np.ndarray) and x.dtype.kind in _ID_KINDS:
        arr = x
    else:
        arr = _narrow(list(x))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite ids")
    return arr


def _encode(ids: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids and the index of each entry, ``(uniques, inverse)``."""
    if ids.dtype != object:
        uniques, inverse = np.unique(ids, return_inverse=True)
        return uniques, inverse.reshape(-1)
    lookup: dict = {}
    try:
        inverse = np.fromiter((lookup.setdefault(v, len(lookup)) for v in ids), np.int64, len(ids))
    except TypeError as exc:
        raise TypeError(f"{name} must be hashable ids: {exc}") from None
    return _narrow(list(lookup)), inverse


class _IdMap:
    """Id <-> index lookup for one side (users or items)."""

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

    def extended(self, values: np.ndarray) -> _IdMap:
        """This map with the unknown ``values`` appended (in first-seen order)."""
        new = [v for v in dict.fromkeys(values.tolist()) if v not in self._index]
        if not new:
            return self
        return _IdMap(_narrow(self.ids.tolist() + new))

    def to_json(self, name: str) -> list:
        values = self.ids.tolist()
        for v in values:
            ok = isinstance(v, (str, int)) or (isinstance(v, float) and math.isfinite(v))
            if not ok:
                raise TypeError(
                    f"cannot save {name} id {v!r} of type {type(v).__name__}: model files "
                    "keep int, float, str and bool ids"
                )
        return values


# ----- input parsing ----------------------------------------------------------------
def _columns(table, items, ratings):
    """Split a table (pandas DataFrame, or an object with users/items/ratings) into columns."""
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

    def pick(candidates, what):
        for c in candidates:
            if c in names:
                return table[c]
        raise ValueError(f"the table has no {what} column (looked for {candidates}): {names}")

    return pick(_USER_COLUMNS, "user"), pick(_ITEM_COLUMNS, "item"), pick(("rating",), "rating")


def _as_ratings(ratings, n: int) -> np.ndarray:
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


def _parse(users, items, ratings):
    users, items, ratings = _columns(users, items, ratings)
    u, i = _as_ids(users, "users"), _as_ids(items, "items")
    if len(u) != len(i):
        raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
    if len(u) == 0:
        raise ValueError("no ratings: expected at least one (user, item, rating)")
    return u, i, _as_ratings(ratings, len(u))


def _scale_from(scale, ratings: np.ndarray) -> np.ndarray:
    """Rating levels, shape (k,), from ``(low, high[, step])`` or inferred from data."""
    if scale is None:
        low, high = float(ratings.min()), float(ratings.max())
        if np.all(ratings == np.round(ratings)):
            step = 1.0
        elif np.all(2 * ratings == np.round(2 * ratings)):
            step = 0.5
        else:
            raise ValueError(
                "cannot infer the rating scale (ratings are not whole or half stars): "
                "pass rating_scale=(low, high, step)"
            )
    else:
        if len(scale) not in (2, 3):
            raise ValueError(f"rating_scale must be (low, high) or (low, high, step), got {scale}")
        low, high = float(scale[0]), float(scale[1])
        step = float(scale[2]) if len(scale) == 3 else 1.0
        if not (step > 0 and high > low):
            raise ValueError(f"rating_scale needs low < high and step > 0, got {scale}")
    k = round((high - low) / step) + 1
    if k < 2:
        raise ValueError(
            f"all ratings equal {low}: pass rating_scale=(low, high, step) to give the scale"
        )
    if abs(low + (k - 1) * step - high) > 1e-6 * step:
        raise ValueError(f"rating_scale ({low}, {high}, {step}): high - low is not a multiple "
                         "of step")
    return low + step * np.arange(k)


def _levels_of(ratings: np.ndarray, levels: np.ndarray) -> np.ndarray:
    step = levels[1] - levels[0]
    pos = (ratings - levels[0]) / step
    idx = np.round(pos)
    bad = (np.abs(pos - idx) > 1e-6) | (idx < 0) | (idx >= len(levels))
    if bad.any():
        j = int(bad.argmax())
        raise ValueError(
            f"rating {ratings[j]} at row {j} is outside the scale {levels[0]:g}..{levels[-1]:g} "
            f"in steps of {step:g}"
        )
    return idx.astype(np.int64)


def _check_unique_pairs(u: np.ndarray, i: np.ndarray, users, items) -> None:
    key = u.astype(np.int64) * max(1, int(i.max()) + 1) + i
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(dup):
        a, b = order[dup[0]], order[dup[0] + 1]
        raise ValueError(
            f"duplicate rating for (user {users[a]!r}, item {items[a]!r}) at rows {a} and {b}: "
            "RBMRecommender rejects duplicates; keep one rating per pair (e.g. "
            "harmonium.datasets.load_ratings_csv(..., duplicates='latest'))"
        )


# ----- metrics ----------------------------------------------------------------------
def rating_metrics(users, y_true, y_pred, *, k: int = 10, threshold: float = 4.0) -> dict:
    """RMSE, MAE and mean precision/recall at ``k`` of held-out ratings.

    Precision and recall follow the usual protocol for explicit ratings: for each user,
    rank their held-out items by predicted rating; an item is relevant when its true
    rating is ``>= threshold``, recommended when it is in the top ``k`` and its
    predicted rating is ``>= threshold``. Users with nothing recommended are left out
    of the precision mean (undefined there), users with nothing relevant out of recall.

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
    _, u = _encode(_as_ids(users, "users"), "users")
    t = _as_ratings(y_true, len(u))
    p = _as_ratings(y_pred, len(u))
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


# ----- the sparse case index --------------------------------------------------------
class _Cases:
    """Ratings grouped by case (CSR): the units and levels each case rated."""

    def __init__(self, case: np.ndarray, unit: np.ndarray, level: np.ndarray, n_cases: int,
                 device):
        order = np.argsort(case, kind="stable")
        counts = np.bincount(case, minlength=n_cases)
        self.ptr = torch.from_numpy(np.r_[0, np.cumsum(counts)]).to(device)
        self.counts = torch.from_numpy(counts).to(device)
        self.unit = torch.from_numpy(unit[order]).to(device)
        self.level = torch.from_numpy(level[order]).to(device)

    def batch(self, cases: torch.Tensor) -> RatingBatch:
        """The ratings of ``cases`` (indices, shape (b,)) as a :class:`RatingBatch`."""
        lengths = self.counts[cases]
        pos = torch.repeat_interleave(torch.arange(len(cases), device=cases.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        idx = self.ptr[cases][pos] + torch.arange(len(pos), device=cases.device) - first[pos]
        return RatingBatch(len(cases), pos, self.unit[idx], self.level[idx])


def _index_tensor(index: np.ndarray, n: int) -> torch.Tensor:
    """Indices in ``[0, n)`` as the narrowest integer tensor that holds them all."""
    for dtype, limit in ((torch.uint8, 2**8), (torch.int16, 2**15), (torch.int32, 2**31)):
        if n <= limit:
            return torch.from_numpy(index).to(dtype)
    return torch.from_numpy(index).to(torch.int64)


# ----- the estimator ----------------------------------------------------------------
@savable
class RBMRecommender:
    """RBM collaborative filtering (Salakhutdinov, Mnih and Hinton 2007).

    Each case (a user, or an item when ``orientation="item"``) is an RBM whose visible
    units are the softmax units of the things it rated (k rating levels); unrated
    ones are absent. All cases share the weights ``W[unit, level, hidden]``, the
    visible biases ``b[unit, level]`` and the hidden biases. Training is CD with a
    growing number of Gibbs steps, momentum and weight decay on mini-batches of cases;
    the negative phase reconstructs only the rated units.

    Parameters
    ----------
    n_hidden : int
        Number of binary hidden units.
    orientation : {"item", "user"}
        ``"item"`` (default): one RBM per item with users as visible units (the I-RBM,
        the more accurate one on MovieLens; see docs/recommender.md). ``"user"``: the
        paper's one RBM per user with items as visible units.
    rating_scale : (low, high) or (low, high, step), optional
        The rating levels; inferred from the training ratings when omitted (whole
        stars, or half stars if any rating is a half star).
    epochs : int
        Passes over the cases in :meth:`fit`.
    batch_size : int
        Cases per mini-batch.
    learning_rate, momentum, weight_decay : float
        SGD with momentum (gradients averaged over the cases of a batch); the step
        decays linearly to zero over the epochs of a call; weight decay (L2) on the
        weights only.
    cd_steps : sequence of int
        Gibbs steps T during training, in equal shares of the epochs (paper: 1, 3, 5, 9).
    weight_std : float
        Standard deviation of the initial weights.
    dtype : torch.dtype
        Parameter dtype (float32 default).
    device : torch.device or str, optional
        Where to train and predict (default CPU). 100M ratings fit one GPU: only a
        mini-batch of cases is ever expanded.

    Attributes
    ----------
    rbm_ : harmonium.RBM
        The shared RBM, ``Categorical(n_units, k)`` visible, ``Bernoulli(n_hidden)``
        hidden, weight ``(n_units, k, n_hidden)`` (units are items for ``"user"``,
        users for ``"item"``).
    levels_ : numpy.ndarray, shape (k,)
        Rating value of each level.
    users_, items_ : numpy.ndarray
        Known ids in index order.
    global_mean_ : float
        Mean training rating (fallback for unknown items).
    history_ : list of dict
        Per epoch: ``epoch``, ``cd_steps``, ``seconds`` and ``val_rmse`` if validating.

    Notes
    -----
    Unknown ids at prediction time never raise: an unknown user with a known item
    gets the item's mean rating (shrunk toward the global mean by
    ``ITEM_MEAN_DAMPING`` = 5 pseudo-ratings); an unknown item gets the global mean.
    Duplicate (user, item) pairs in :meth:`fit` raise ``ValueError`` (the model keeps
    no policy of its own; the loaders can keep the latest); in :meth:`partial_fit` a
    pair already known is re-rated (the new rating replaces the old one).

    Examples
    --------
    >>> rec = RBMRecommender(n_hidden=50, epochs=30)  # doctest: +SKIP
    >>> rec.fit(users, items, ratings)                 # doctest: +SKIP
    >>> rec.predict(["alice"], ["Heat (1995)"])         # doctest: +SKIP
    >>> ids, scores = rec.recommend("alice", k=10)      # doctest: +SKIP
    """

    def __init__(
        self,
        n_hidden: int = 100,
        *,
        orientation: str = "item",
        rating_scale=None,
        epochs: int = 40,
        batch_size: int = 100,
        learning_rate: float = 0.2,
        momentum: float = 0.9,
        weight_decay: float = 0.001,
        cd_steps=(1, 3, 5, 9),
        weight_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        self.n_hidden = check_positive_int(n_hidden, "n_hidden")
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be 'user' or 'item', got {orientation!r}")
        self.orientation = orientation
        self.rating_scale = None if rating_scale is None else tuple(rating_scale)
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        for name, value in (("learning_rate", learning_rate), ("weight_std", weight_std)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.learning_rate, self.momentum = float(learning_rate), float(momentum)
        self.weight_decay, self.weight_std = float(weight_decay), float(weight_std)
        self.cd_steps = tuple(check_positive_int(t, "cd_steps") for t in cd_steps)
        if not self.cd_steps:
            raise ValueError("cd_steps must hold at least one number of Gibbs steps")
        self.dtype = dtype
        self.device = torch.device("cpu" if device is None else device)
        self.history_: list[dict] = []

    # ----- state --------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "rbm_"):
            raise ValueError("this RBMRecommender is not fitted yet: call fit first")

    @property
    def users_(self) -> np.ndarray:
        self._check_fitted()
        return self._users.ids

    @property
    def items_(self) -> np.ndarray:
        self._check_fitted()
        return self._items.ids

    def _case_unit(self, u, i):
        return (u, i) if self.orientation == "user" else (i, u)

    def _set_data(self, users: _IdMap, items: _IdMap, u, i, level) -> None:
        """Store the training ratings (index arrays) and derived statistics."""
        self._users, self._items = users, items
        self._u, self._i, self._level = u, i, level
        r = self.levels_[level]
        self.global_mean_ = float(r.mean())
        n = np.bincount(i, minlength=len(items))
        s = np.bincount(i, r, minlength=len(items))
        self._item_mean = (s + ITEM_MEAN_DAMPING * self.global_mean_) / (n + ITEM_MEAN_DAMPING)
        n_cases = len(users) if self.orientation == "user" else len(items)
        case, unit = self._case_unit(u, i)
        self._cases = _Cases(case, unit, level, n_cases, self.device)

    def _init_visible_bias(self, unit: np.ndarray, level: np.ndarray, n_units: int):
        """Log base rates of each unit's levels (paper's initialisation), shape (n, k)."""
        k = len(self.levels_)
        counts = np.bincount(unit * k + level, minlength=n_units * k).reshape(n_units, k)
        p = (counts + 1.0) / (counts.sum(1, keepdims=True) + k)
        return torch.as_tensor(np.log(p), dtype=self.dtype, device=self.device)

    # ----- fitting ------------------------------------------------------------------
    def fit(
        self,
        users,
        items=None,
        ratings=None,
        *,
        validation_data=None,
        generator: torch.Generator | None = None,
        progress: bool = True,
    ) -> RBMRecommender:
        """Train on (user, item, rating) triples.

        Parameters
        ----------
        users, items : array-like, shape (n,)
            Ids of any hashable type (ints, strings, ...).
        ratings : array-like, shape (n,)
            Ratings on the scale (``rating_scale`` or inferred).
            Alternatively pass one table as ``users``: a pandas DataFrame with user,
            item and rating columns (``user``/``userId``, ``item``/``movieId``,
            ``rating``) or the result of :func:`harmonium.datasets.load_movielens`.
        validation_data : tuple (users, items, ratings), optional
            Held-out ratings whose RMSE is shown on the progress bar and stored in
            ``history_`` after every epoch.
        generator : torch.Generator, optional
            Randomness (initial weights, batches, Gibbs sampling); on the model's
            device (``torch.Generator(device="cuda")`` for a GPU model).
        progress : bool
            Show a progress bar.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Empty input, NaN ratings, ratings off the scale, duplicate pairs.
        """
        u_raw, i_raw, r = _parse(users, items, ratings)
        self.levels_ = _scale_from(self.rating_scale, r)
        level = _levels_of(r, self.levels_)
        user_ids, u = _encode(u_raw, "users")
        item_ids, i = _encode(i_raw, "items")
        _check_unique_pairs(u, i, u_raw, i_raw)
        self._set_data(_IdMap(user_ids), _IdMap(item_ids), u, i, level)
        _, unit = self._case_unit(u, i)
        n_units = len(item_ids) if self.orientation == "user" else len(user_ids)
        rbm = make_rating_rbm(n_units, len(self.levels_), self.n_hidden)
        rbm = rbm.to(dtype=self.dtype, device=self.device)
        with torch.no_grad():
            rbm.weight.copy_(self._random_weights(rbm.weight.shape, generator))
            rbm.visible.params[0].copy_(self._init_visible_bias(unit, level, n_units))
        self.rbm_ = rbm
        self.history_ = []
        val = None if validation_data is None else _parse(*validation_data)
        cases = torch.arange(self._cases.counts.shape[0], device=self.device)
        self._train(cases, self.epochs, val, generator, progress, schedule=self.cd_steps)
        return self

    def partial_fit(
        self,
        users,
        items=None,
        ratings=None,
        *,
        epochs: int = 1,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> RBMRecommender:
        """Add new ratings and train on the cases they touch.

        New users and items are added to the id maps (new visible units start from
        small random weights and their rating base rates). A (user, item) pair that is
        already known takes the new rating. An unfitted model is fitted instead.

        Parameters
        ----------
        users, items, ratings : array-like, shape (n,)
            As in :meth:`fit`; ratings must lie on the fitted scale.
        epochs : int
            Passes over the touched cases, with the last of ``cd_steps`` Gibbs steps.

        Returns
        -------
        self
        """
        if not hasattr(self, "rbm_"):
            return self.fit(users, items, ratings, generator=generator, progress=progress)
        epochs = check_positive_int(epochs, "epochs")
        u_raw, i_raw, r = _parse(users, items, ratings)
        new_level = _levels_of(r, self.levels_)
        users_map, items_map = self._users.extended(u_raw), self._items.extended(i_raw)
        nu, ni = users_map.index(u_raw), items_map.index(i_raw)
        _check_unique_pairs(nu, ni, u_raw, i_raw)
        # merge: drop old ratings of re-rated pairs, append the new ones
        width = len(items_map)
        old_key, new_key = self._u * width + self._i, nu * width + ni
        keep = ~np.isin(old_key, new_key)
        u = np.r_[self._u[keep], nu]
        i = np.r_[self._i[keep], ni]
        level = np.r_[self._level[keep], new_level]
        old_units = self.rbm_.n_visible
        self._set_data(users_map, items_map, u, i, level)
        _, unit = self._case_unit(u, i)
        n_units = len(items_map) if self.orientation == "user" else len(users_map)
        if n_units > old_units:
            self._grow(n_units, unit, level, generator)
        touched = np.unique(self._case_unit(nu, ni)[0])
        touched = torch.from_numpy(touched).to(self.device)
        self._train(touched, epochs, None, generator, progress, schedule=self.cd_steps[-1:])
        return self

    def _grow(self, n_units: int, unit: np.ndarray, level: np.ndarray, generator) -> None:
        rbm, old = self.rbm_, self.rbm_.n_visible
        k, n_hidden = len(self.levels_), self.n_hidden
        extra = self._random_weights((n_units - old, k, n_hidden), generator)
        weight = torch.cat([rbm.weight.detach(), extra])
        bias = self._init_visible_bias(unit, level, n_units)
        bias[:old] = rbm.visible.bias.detach()
        self.rbm_ = RBM._from_state({
            "visible": {"type": "Categorical", "params": bias.unsqueeze(0)},
            "hidden": {"type": "Bernoulli", "params": rbm.hidden.params.detach().clone()},
            "weight": weight,
        })

    def _random_weights(self, shape, generator) -> torch.Tensor:
        """N(0, weight_std^2) draws on the model's device (the generator's, if given)."""
        w = torch.randn(shape, generator=generator, dtype=self.dtype,
                        device=generator_device(generator, self.device))
        return (w * self.weight_std).to(self.device)

    def _train(self, cases, epochs, val, generator, progress, schedule) -> None:
        rbm = self.rbm_
        opt = torch.optim.SGD(
            [
                {"params": [rbm.weight], "weight_decay": self.weight_decay},
                {"params": [rbm.visible.params, rbm.hidden.params], "weight_decay": 0.0},
            ],
            lr=self.learning_rate,
            momentum=self.momentum,
        )
        bar = tqdm(range(epochs), desc="RBM recommender", unit="epoch", disable=not progress)
        for epoch in bar:
            steps = schedule[min(len(schedule) - 1, epoch * len(schedule) // epochs)]
            for group in opt.param_groups:  # linear decay to zero over the epochs
                group["lr"] = self.learning_rate * (1 - epoch / epochs)
            start = time.perf_counter()
            perm = cases[torch.randperm(len(cases), generator=generator,
                                        device=generator_device(generator, cases.device))
                         .to(cases.device)]
            for chunk in perm.split(self.batch_size):
                loss = cd_loss(rbm, self._cases.batch(chunk), steps, generator=generator)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            record = {"epoch": len(self.history_) + 1, "cd_steps": steps,
                      "seconds": time.perf_counter() - start}
            if val is not None:
                pred = self.predict(val[0], val[1])
                record["val_rmse"] = float(np.sqrt(np.mean((pred - val[2]) ** 2)))
                bar.set_postfix(T=steps, val_rmse=f"{record['val_rmse']:.4f}")
            else:
                bar.set_postfix(T=steps)
            log.info("epoch %(epoch)d: %(seconds).2fs", record)
            self.history_.append(record)

    # ----- prediction ---------------------------------------------------------------
    @torch.no_grad()
    def _hidden_means(self, cases: torch.Tensor) -> torch.Tensor:
        """Mean-field ``p(h = 1 | v)`` of cases (indices), shape (len(cases), n_hidden)."""
        parts = [
            self.rbm_.hidden.mean_from_inputs(hidden_inputs(self.rbm_, self._cases.batch(c)))
            for c in cases.split(4096)
        ]
        return torch.cat(parts)

    @torch.no_grad()
    def _expected(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Expected ratings of known (user, item) index pairs, shape (n,)."""
        case, unit = self._case_unit(u, i)
        distinct, local = np.unique(case, return_inverse=True)
        h = self._hidden_means(torch.from_numpy(distinct).to(self.device))
        probs = rating_probabilities(
            self.rbm_, h, torch.from_numpy(local.reshape(-1)).to(self.device),
            torch.from_numpy(unit).to(self.device),
        )
        levels = torch.as_tensor(self.levels_, dtype=probs.dtype, device=probs.device)
        return (probs @ levels).cpu().numpy().astype(np.float64)

    def predict(self, users, items) -> np.ndarray:
        """Expected rating ``sum_s s p(v = s | mean-field h)`` of each (user, item).

        Parameters
        ----------
        users, items : array-like, shape (n,)
            Ids; unknown ones get the documented fallback (never an error): an unknown
            user gets the item's damped mean, an unknown item the global mean.

        Returns
        -------
        numpy.ndarray, shape (n,)
            Predictions inside the rating scale.
        """
        self._check_fitted()
        u_raw, i_raw = _as_ids(users, "users"), _as_ids(items, "items")
        if len(u_raw) != len(i_raw):
            raise ValueError(
                f"users and items must have the same length, got {len(u_raw)} and {len(i_raw)}"
            )
        u, i = self._users.index(u_raw), self._items.index(i_raw)
        out = np.full(len(u), self.global_mean_)
        known_item = i >= 0
        out[known_item] = self._item_mean[i[known_item]]
        both = known_item & (u >= 0)
        if both.any():
            out[both] = self._expected(u[both], i[both])
        return out

    def recommend(self, user, k: int = 10, *, exclude_rated: bool = True):
        """The ``k`` items with the highest predicted rating for ``user``.

        Parameters
        ----------
        user : hashable
            A user id; an unknown user gets the items with the highest damped mean.
        k : int
            Number of items (fewer if fewer are available).
        exclude_rated : bool
            Leave out items the user rated in the training data.

        Returns
        -------
        ids : numpy.ndarray, shape (k,)
            Item ids, best first.
        scores : numpy.ndarray, shape (k,)
            Their predicted ratings.
        """
        self._check_fitted()
        k = check_positive_int(k, "k")
        u = int(self._users.index(_as_ids([user], "user"))[0])
        n_items = len(self._items)
        if u < 0:
            scores = self._item_mean.copy()
        else:
            scores = self._expected(np.full(n_items, u), np.arange(n_items))
            if exclude_rated:
                scores[self._i[self._u == u]] = -np.inf
        order = np.argsort(-scores, kind="stable")[:k]
        order = order[np.isfinite(scores[order])]
        return self._items.ids[order], scores[order]

    def evaluate(self, users, items, ratings, *, k: int = 10, threshold: float = 4.0) -> dict:
        """:func:`rating_metrics` of this model's predictions on held-out ratings."""
        u, i, r = _parse(users, items, ratings)
        return rating_metrics(u, r, self.predict(u, i), k=k, threshold=threshold)

    # ----- saving -------------------------------------------------------------------
    def _to_state(self) -> dict:
        self._check_fitted()
        return {
            "config": {
                "n_hidden": self.n_hidden,
                "orientation": self.orientation,
                "rating_scale": None if self.rating_scale is None else list(self.rating_scale),
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "momentum": self.momentum,
                "weight_decay": self.weight_decay,
                "cd_steps": list(self.cd_steps),
                "weight_std": self.weight_std,
            },
            "levels": self.levels_.tolist(),
            "users": self._users.to_json("user"),
            "items": self._items.to_json("item"),
            "ratings": {
                "user": _index_tensor(self._u, len(self._users)),
                "item": _index_tensor(self._i, len(self._items)),
                "level": _index_tensor(self._level, len(self.levels_)),
            },
            "rbm": self.rbm_._to_state(),
            "history": self.history_,
        }

    @classmethod
    def _from_state(cls, state: dict) -> RBMRecommender:
        rbm = RBM._from_state(state["rbm"])
        obj = cls(**state["config"], dtype=rbm.weight.dtype, device=rbm.weight.device)
        obj.levels_ = np.asarray(state["levels"], dtype=np.float64)
        r = state["ratings"]
        obj._set_data(
            _IdMap(_narrow(state["users"])), _IdMap(_narrow(state["items"])),
            r["user"].cpu().numpy().astype(np.int64), r["item"].cpu().numpy().astype(np.int64),
            r["level"].cpu().numpy().astype(np.int64),
        )
        obj.rbm_ = rbm
        obj.history_ = list(state.get("history", []))
        return obj

    def __repr__(self) -> str:
        return (f"RBMRecommender(n_hidden={self.n_hidden}, orientation={self.orientation!r}, "
                f"epochs={self.epochs})")
