"""Model selection for the RBMRecommender: validation splits and early stopping.

``fit(..., validation="temporal")`` holds out the newest tenth of each user's training
ratings (``"random"``: a random tenth; a number: that fraction, at random), drawn by the
same functions as the evaluation protocols (:mod:`harmonium.ratings.splits`), trains on
the rest, records the validation RMSE after every epoch, stops once it has not improved
for ``patience`` epochs and keeps the parameters of the best epoch (``best_epoch_``).
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium._numerics import check_positive_int
from harmonium.models.rating_init import add_units, init_rating_rbm
from harmonium.ratings.columns import find_columns, parse_ratings
from harmonium.ratings.scale import level_indices, rating_levels
from harmonium.ratings.splits import split_ratings
from harmonium.ratings.table import RatingTable
from harmonium.tasks._recommend_conditional import grow_implicit, implicit_cases, init_implicit
from harmonium.tasks._recommend_task import train_recommender

__all__ = ["VALIDATION_FRACTION", "EarlyStopping", "StopAt", "partial_update",
           "select_validation", "table_timestamps", "train_fresh", "validation_split"]

# share of the training ratings held out by validation="random" or "temporal"
VALIDATION_FRACTION = 0.1


def table_timestamps(table, timestamps, n: int) -> np.ndarray | None:
    """The timestamps given, or those of a RatingsData or table passed as ``users``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,), or None when there are none
    """
    if timestamps is None:
        timestamps = getattr(table, "timestamps", None)
    columns = getattr(table, "columns", None)
    if timestamps is None and columns is not None:
        names = list(columns)
        found = find_columns(names, "the table")
        if "timestamp" in found:
            timestamps = table[names[found["timestamp"]]]
    if timestamps is None:
        return None
    if hasattr(timestamps, "to_numpy"):
        timestamps = timestamps.to_numpy()
    try:
        t = np.asarray(timestamps, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("timestamps must be numbers (e.g. seconds since 1970)") from None
    if t.shape != (n,) or not np.isfinite(t).all():
        raise ValueError(f"timestamps must be {n} finite numbers, one per rating, got shape "
                         f"{t.shape}")
    return t


def validation_split(validation, users: np.ndarray, timestamps, generator: torch.Generator):
    """``(train, validation)`` row indices drawn from the training ratings.

    Parameters
    ----------
    validation : {"random", "temporal"} or float in (0, 1)
        The protocol (with :data:`VALIDATION_FRACTION`), or a random fraction.
    users : numpy.ndarray, shape (n,)
    timestamps : numpy.ndarray, shape (n,), or None
        Required by ``"temporal"``.
    generator : torch.Generator
        The split's seed is drawn from it (so ``fit``'s generator fixes the split).
    """
    if isinstance(validation, str):
        if validation not in ("random", "temporal"):
            raise ValueError(f"validation must be 'random', 'temporal' or a fraction in "
                             f"(0, 1), got {validation!r}")
        protocol, fraction = validation, VALIDATION_FRACTION
    elif isinstance(validation, (int, float)) and not isinstance(validation, bool):
        protocol, fraction = "random", validation
    else:
        raise TypeError(f"validation must be 'random', 'temporal' or a fraction in (0, 1), "
                        f"got {type(validation).__name__}")
    if protocol == "temporal" and timestamps is None:
        raise ValueError("validation='temporal' needs timestamps: pass timestamps= or a "
                         "table with a timestamp column")
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                             device=generator.device))
    return split_ratings(protocol, users, timestamps, test_fraction=fraction, seed=seed)


class EarlyStopping:
    """Loop callback: keep the parameters of the epoch with the lowest ``val_rmse``.

    Parameters
    ----------
    patience : int
        Stop after this many epochs without a new best.

    Attributes
    ----------
    best_epoch : int or None
        The (1-based) epoch of the lowest validation RMSE so far.
    """

    def __init__(self, patience: int):
        self.patience = check_positive_int(patience, "patience")
        self.best_epoch, self.best_rmse, self._best = None, float("inf"), None

    def __call__(self, epoch: int, record: dict, model) -> bool:
        rmse = record.get("val_rmse", float("nan"))
        if rmse < self.best_rmse:
            self.best_epoch, self.best_rmse = epoch, rmse
            self._best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.best_epoch is not None and epoch - self.best_epoch >= self.patience

    def restore(self, model) -> int | None:
        """Load the best epoch's parameters into ``model``; returns that epoch (or None)."""
        if self._best is not None:
            model.load_state_dict(self._best)
        return self.best_epoch


def select_validation(users, items, ratings, validation, timestamps, patience, validation_data,
                      generator):
    """What ``fit`` trains on, validates on and stops with.

    Returns
    -------
    train : tuple (users, items, ratings) of arrays
        The ratings to train on (all of them unless ``validation`` is set).
    val : tuple (users, items, ratings) or None
        Ratings whose RMSE is recorded each epoch.
    stopping : EarlyStopping or None
        Set with ``validation`` (not with ``validation_data``, which is reported only).
    """
    u, i, r = parse_ratings(users, items, ratings)
    times = table_timestamps(users, timestamps, len(r))
    if validation is None:
        val = None if validation_data is None else parse_ratings(*validation_data)
        return (u, i, r), val, None
    stopping = EarlyStopping(patience)
    train, held = validation_split(validation, u, times, generator)
    return (u[train], i[train], r[train]), (u[held], i[held], r[held]), stopping


def partial_update(est, triples, epochs: int, generator, progress: bool) -> None:
    """Add the ratings ``triples`` (users, items, ratings) to a fitted model and train
    ``epochs`` passes over the cases they touch (see ``RBMRecommender.partial_fit``)."""
    u_raw, i_raw, r = triples
    table = est._ratings.updated(u_raw, i_raw, level_indices(r, est.levels_))
    est._set_data(table)
    case, unit, _, n_units = table.grouped(est.orientation)
    if n_units > est.rbm_.n_visible:  # new visible units for new ids
        est.rbm_ = add_units(est.rbm_, unit, table.level, n_units,
                             weight_std=est.weight_std, generator=generator)
        grow_implicit(est, n_units)
    est._implicit = implicit_cases(est, table)
    touched = torch.from_numpy(np.unique(case[-len(r):])).to(est.device)  # new rows
    train_recommender(est, touched, epochs, est.cd_steps[-1:], generator=generator,
                      progress=progress)


class StopAt:
    """Loop callback: stop after a given epoch (refitting to a chosen epoch)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def __call__(self, epoch: int, record: dict, model) -> bool:
        return epoch >= self.epoch

    def restore(self, model) -> int:
        """Nothing to restore: the last epoch is the chosen one; returns it."""
        return self.epoch


def train_fresh(est, triples, val, stopping, *, implicit, generator, progress,
                checkpoint=None, resume=False) -> int | None:
    """Initialise ``est`` for the ratings ``triples`` (users, items, ratings) and train
    it from scratch; returns the epoch ``stopping`` kept (None without it)."""
    u_raw, i_raw, r = triples
    est.levels_ = rating_levels(est.rating_scale, r)
    est._set_data(RatingTable.from_ids(u_raw, i_raw, level_indices(r, est.levels_)))
    _, unit, _, n_units = est._ratings.grouped(est.orientation)
    est.rbm_ = init_rating_rbm(
        unit, est._ratings.level, n_units, len(est.levels_), est.n_hidden,
        weight_std=est.weight_std, generator=generator, dtype=est.dtype, device=est.device,
        n_factors=est.factors)
    init_implicit(est, implicit, n_units)
    est.history_ = []
    cases = torch.arange(est._cases.counts.shape[0], device=est.device)
    return train_recommender(est, cases, est.epochs, est.cd_steps, validation=val,
                             generator=generator, progress=progress, checkpoint=checkpoint,
                             resume=resume, stopping=stopping)
