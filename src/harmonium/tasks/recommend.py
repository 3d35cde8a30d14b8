"""Collaborative filtering with RBMs (Salakhutdinov, Mnih and Hinton 2007).

:class:`RBMRecommender` is the user-facing estimator: it maps arbitrary user and item
ids to indices (:mod:`harmonium.ratings`), validates ratings, trains a softmax-visible
RBM (:mod:`harmonium.models.rating_rbm`) by contrastive divergence with a growing
number of Gibbs steps, predicts expected ratings, ranks items and saves itself with its
id maps. ``orientation="user"`` is the paper's model (one RBM per user, items visible);
``orientation="item"`` is the transposed I-RBM (one RBM per item, users visible).
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium._numerics import check_positive_int, seeded_generator
from harmonium.io import savable
from harmonium.models.rating_rbm import RatingCases
from harmonium.ratings.bias import BIAS_REG, BiasModel, fit_biases
from harmonium.ratings.columns import parse_ratings
from harmonium.ratings.evaluation import evaluate_recommender
from harmonium.ratings.ids import as_ids
from harmonium.ratings.table import RatingTable
from harmonium.tasks._recommend_config import checked_settings
from harmonium.tasks._recommend_fit import StopAt, partial_update, select_validation, train_fresh
from harmonium.tasks._recommend_rank import expected_pairs, top_k
from harmonium.tasks._recommend_state import recommender_state, restore_recommender

__all__ = ["ITEM_MEAN_DAMPING", "RBMRecommender"]


# the damping of the item-mean fallback of versions before the bias model (kept for
# old imports; the fallback is now the fitted bias model, harmonium.ratings.bias)
ITEM_MEAN_DAMPING = 5.0
# constructor arguments saved in model files (dtype and device come from the weights)
_CONFIG = ("n_hidden", "orientation", "rating_scale", "epochs", "batch_size",
           "learning_rate", "momentum", "weight_decay", "cd_steps", "weight_std", "bias_reg",
           "conditional", "factors")


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
    bias_reg : (float, float)
        ``(reg_u, reg_i)`` of the fallback bias model (:mod:`harmonium.ratings.bias`):
        pseudo-ratings shrinking the user and item offsets (default (15, 10)).
    conditional : bool
        The paper's conditional RBM (section 4): hidden units also see which units each
        case rated, through ``implicit_weight_`` ``D`` (n_units, n_hidden); with
        ``fit(..., implicit=...)`` that includes pairs whose rating is unknown.
    factors : int, optional
        The paper's factored RBM (section 5): ``W = A B`` with ``A`` of shape
        (n_units, k, factors) and ``B`` (factors, n_hidden); ``rbm_`` is then a
        :class:`~harmonium.models.rating_factored.FactoredRatingRBM`. With or without
        ``conditional``, in both orientations.
    dtype : torch.dtype
        Parameter dtype (float32 default).
    device : torch.device or str, optional
        Where to train and predict (default CPU). 100M ratings fit one GPU: only a
        mini-batch of cases is ever expanded.

    Attributes
    ----------
    rbm_ : harmonium.RBM or FactoredRatingRBM
        The shared RBM, ``Categorical(n_units, k)`` visible, ``Bernoulli(n_hidden)``
        hidden, weight ``(n_units, k, n_hidden)`` (units are items for ``"user"``,
        users for ``"item"``), or its factors.
    levels_ : numpy.ndarray, shape (k,)
        Rating value of each level.
    users_, items_ : numpy.ndarray
        Known ids in index order.
    global_mean_ : float
        Mean training rating (the fallback when both ids are unknown).
    bias_ : harmonium.ratings.bias.Biases
        The fitted bias model ``mu + b_u + b_i`` over the known users and items: the
        fallback for pairs the RBM cannot score (an unknown item gets ``mu + b_u``, an
        unknown user the item's shrunk mean rating, ``bias_.item_mean``);
        :attr:`baseline_` wraps it as an estimator.
    history_ : list of dict
        Per epoch: ``epoch``, ``cd_steps``, ``seconds`` and ``val_rmse`` if validating.
    best_epoch_ : int or None
        The epoch kept by ``fit(validation=...)`` (lowest validation RMSE), else None.

    validation_ : tuple (users, items, ratings) or None
        The validation split of ``fit(validation=...)`` (in memory only, not saved):
        ratings the model did not train on, e.g. for :func:`harmonium.ratings.blend`.

    Examples
    --------
    >>> rec = RBMRecommender(n_hidden=50).fit(users, items, ratings)  # doctest: +SKIP
    >>> rec.predict(["alice"], ["Heat (1995)"]), rec.recommend("alice", k=10)  # doctest: +SKIP
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
        bias_reg=BIAS_REG,
        conditional: bool = False,
        factors: int | None = None,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        settings = checked_settings(
            n_hidden=n_hidden, orientation=orientation, rating_scale=rating_scale,
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            momentum=momentum, weight_decay=weight_decay, cd_steps=cd_steps,
            weight_std=weight_std, factors=factors)
        for name, value in settings.items():
            setattr(self, name, value)
        self.bias_reg, self.dtype = BiasModel(bias_reg).reg, dtype
        self.conditional, self.implicit_weight_, self._implicit = bool(conditional), None, None
        self.device = torch.device("cpu" if device is None else device)
        self.history_: list[dict] = []
        self.best_epoch_, self.validation_ = None, None

    def _check_fitted(self):
        if not hasattr(self, "rbm_"):
            raise ValueError("this RBMRecommender is not fitted yet: call fit first")

    @property
    def users_(self) -> np.ndarray:
        self._check_fitted()
        return self._ratings.users.ids

    @property
    def items_(self) -> np.ndarray:
        self._check_fitted()
        return self._ratings.items.ids

    @property
    def baseline_(self) -> BiasModel:
        """The fitted fallback bias model as an estimator (``predict(users, items)``)."""
        self._check_fitted()
        t, scale = self._ratings, (self.levels_[0], self.levels_[-1])
        return BiasModel.from_biases(t.users, t.items, self.bias_, scale, rated=(t.u, t.i))

    def _set_data(self, table: RatingTable, biases=None) -> None:
        """Store the training ratings, their bias model (fitted unless given), the index."""
        self._ratings = table
        if biases is None:
            biases = fit_biases(table.u, table.i, self.levels_[table.level], len(table.users),
                                len(table.items), reg=self.bias_reg)
        self.bias_, self.global_mean_ = biases, biases.global_mean
        case, unit, n_cases, _ = table.grouped(self.orientation)
        self._cases = RatingCases(case, unit, table.level, n_cases, self.device)

    def fit(
        self,
        users,
        items=None,
        ratings=None,
        *,
        validation=None,
        timestamps=None,
        patience: int = 5,
        refit: bool = False,
        validation_data=None,
        implicit=None,
        generator: torch.Generator | None = None,
        progress: bool = True,
        checkpoint=None,
        resume=False,
    ) -> RBMRecommender:
        """Train on (user, item, rating) triples, optionally choosing the epoch on validation.

        Parameters
        ----------
        users, items : array-like, shape (n,)
            Ids of any hashable type (ints, strings, ...).
        ratings : array-like, shape (n,)
            Ratings on the scale (``rating_scale`` or inferred). Or pass one table as
            ``users``: a pandas DataFrame with user, item and rating columns (names in
            :data:`harmonium.ratings.RATING_COLUMNS`, e.g. ``userId``, ``movieId``,
            ``rating``) or a :class:`harmonium.ratings.RatingsData`.
        validation : {"temporal", "random"} or float, optional
            Model selection: hold out the newest tenth of each user's ratings
            (``"temporal"``), a random tenth (``"random"``) or a random fraction (a
            number in (0, 1)), train on the rest, and keep the parameters of the epoch
            with the lowest validation RMSE (stored as ``best_epoch_``), stopping
            after ``patience`` epochs without a new best. The held-out ratings are not
            part of the fitted model.
        timestamps : array-like, shape (n,), optional
            Time of each rating, for ``validation="temporal"`` (taken from a
            RatingsData's ``timestamps`` or a table's timestamp column otherwise).
        patience : int
            Epochs without a better validation RMSE before stopping.
        refit : bool
            After choosing the epoch, train afresh on all the ratings (validation
            split included) for that many epochs of the same schedule; ``history_``
            then holds the refit's epochs and ``validation_`` is None.
        validation_data : tuple (users, items, ratings), optional
            Held-out ratings whose RMSE is shown on the progress bar and stored in
            ``history_`` after every epoch (reported only; no early stopping).
        implicit : tuple (users, items), optional
            Conditional models only: more pairs flagged as rated (rating unknown), e.g.
            the pairs to predict; pairs with an id unseen in training are ignored.
        generator : torch.Generator, optional
            Randomness (initial weights, batches, Gibbs sampling); on the model's
            device (``torch.Generator(device="cuda")`` for a GPU model).
        progress : bool
            Show a progress bar.
        checkpoint, resume : path, bool or path
            As in :func:`harmonium.fit`: a checkpoint written atomically after every
            epoch, and resuming from it (with the same data and settings) bit for bit.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Empty input, NaN ratings, ratings off the scale, duplicate (user, item)
            pairs (the model picks none; the loaders can keep the latest).
        """
        generator = seeded_generator(generator, self.device)
        (u_raw, i_raw, r), val, stopping = select_validation(
            users, items, ratings, validation, timestamps, patience, validation_data, generator)
        run = {"implicit": implicit, "generator": generator, "progress": progress}
        self.best_epoch_ = train_fresh(self, (u_raw, i_raw, r), val, stopping, **run,
                                       checkpoint=checkpoint, resume=resume)
        self.validation_ = None if stopping is None else val
        if refit and self.best_epoch_ is not None:
            train_fresh(self, parse_ratings(users, items, ratings), None,
                        StopAt(self.best_epoch_), **run)
            self.validation_ = None
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
        partial_update(self, parse_ratings(users, items, ratings),
                       check_positive_int(epochs, "epochs"),
                       seeded_generator(generator, self.device), progress)
        return self

    def predict(self, users, items) -> np.ndarray:
        """Expected rating ``sum_s s p(v = s | mean-field h)`` of each (user, item).

        Parameters
        ----------
        users, items : array-like, shape (n,)
            Ids; unknown ones never raise: the fitted bias model (:attr:`bias_`) scores
            them, an unknown item with ``mu + b_u`` (the user's shrunk offset), an
            unknown user with the item's mean rating shrunk toward ``mu``
            (:func:`~harmonium.ratings.shrunk_item_means`), both unknown with ``mu``.

        Returns
        -------
        numpy.ndarray, shape (n,)
            Predictions inside the rating scale.
        """
        self._check_fitted()
        u, i = self._ratings.lookup(users, items)
        out = np.clip(self.bias_.predict(u, i), self.levels_[0], self.levels_[-1])
        both = (i >= 0) & (u >= 0)
        if both.any():
            out[both] = expected_pairs(self, u[both], i[both])
        return out

    def recommend(self, user, k: int = 10, *, exclude_rated: bool = True):
        """The ``k`` items with the highest predicted rating for ``user``.

        Parameters
        ----------
        user : hashable
            A user id; an unknown user gets the items with the highest ``b_i``, scored
            ``mu + b_i`` (a better ranking for such users than the shrunk item means
            :meth:`predict` gives them; see
            :meth:`harmonium.ratings.BiasModel.recommend_many`).
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
        return self.recommend_many(as_ids([user], "user"), k, exclude_rated=exclude_rated)[0]

    def recommend_many(self, users, k: int = 10, *, exclude_rated: bool = True) -> list:
        """:meth:`recommend` for many users, scoring all items of a block of users at once.

        Parameters
        ----------
        users : array-like, shape (m,)
            User ids (unknown ones get the bias model's ranking).
        k : int
        exclude_rated : bool

        Returns
        -------
        list of (ids, scores)
            One pair of arrays of shape (<= k,) per user, as :meth:`recommend` returns.
        """
        self._check_fitted()
        k = check_positive_int(k, "k")
        return top_k(self, as_ids(users, "users"), k, exclude_rated)

    def evaluate(self, users, items, ratings, *, k: int = 10, threshold: float = 4.0) -> dict:
        """Errors, leak-free ranking metrics and per-group errors on held-out ratings.

        :func:`harmonium.ratings.evaluation.evaluate_recommender` with this model's
        training pairs: ``rmse``, ``mae``, ``n``, ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``map@k`` (top-k lists over all items the user did not rate in
        training, built without the held-out ratings), ``users`` and ``groups``
        (known / new items, new users, light / heavy users).
        """
        self._check_fitted()
        t = self._ratings
        return evaluate_recommender(self, users, items, ratings, k=k, threshold=threshold,
                                    train_users=t.users.ids[t.u], train_items=t.items.ids[t.i])

    def _to_state(self) -> dict:
        self._check_fitted()
        return recommender_state(self, _CONFIG)

    @classmethod
    def _from_state(cls, state: dict) -> RBMRecommender:
        return restore_recommender(cls, state, _CONFIG)

    def __repr__(self) -> str:
        return (f"RBMRecommender(n_hidden={self.n_hidden}, orientation={self.orientation!r}, "
                f"epochs={self.epochs})")
