"""Blending predictors: linear stacking with weights fitted on validation ratings.

The Netflix Prize's lesson (and the paper's, which blended its RBMs with SVD): models
that err differently average to a better one. :func:`blend` fits

    r(u, i) ~ w_0 + sum_j w_j p_j(u, i)

by least squares on ratings that none of the models trained on (a validation split:
``RBMRecommender.fit(validation=...)`` keeps its split as ``validation_``), and
returns a :class:`Blend` that predicts like its parts.

Typical use::

    rec = RBMRecommender().fit(train, validation="temporal")
    mixed = blend([rec, rec.baseline_], *rec.validation_)
    mixed.predict(users, items)
"""

from __future__ import annotations

import numpy as np

from harmonium.ratings.columns import parse_ratings

__all__ = ["Blend", "blend", "fit_blend"]


def fit_blend(predictions, ratings) -> np.ndarray:
    """Least-squares weights ``(w_0, w_1, ..., w_m)`` of an intercept and m predictions.

    Parameters
    ----------
    predictions : array-like, shape (n, m)
        Column j holds predictor j's predictions of the n ratings.
    ratings : array-like, shape (n,)

    Returns
    -------
    numpy.ndarray of float64, shape (m + 1,)
        Intercept first (the minimum-norm solution when columns are collinear).
    """
    x = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"predictions must be (n, m) and ratings (n,) with n >= 1, got "
                         f"{x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("predictions and ratings must be finite")
    weights, *_ = np.linalg.lstsq(np.c_[np.ones(len(y)), x], y, rcond=None)
    return weights


class Blend:
    """A fitted linear blend of predictors (see :func:`blend`).

    Parameters
    ----------
    models : sequence
        Objects with ``predict(users, items)`` -> shape (n,).
    weights : numpy.ndarray, shape (len(models) + 1,)
        Intercept, then one weight per model.
    clip : (float, float), optional
        Clip predictions to this rating range.

    Attributes
    ----------
    weights_ : numpy.ndarray, shape (len(models) + 1,)
    """

    def __init__(self, models, weights, clip=None):
        self.models = list(models)
        self.weights_ = np.asarray(weights, dtype=np.float64)
        if self.weights_.shape != (len(self.models) + 1,):
            raise ValueError(f"a blend of {len(self.models)} models needs "
                             f"{len(self.models) + 1} weights, got {self.weights_.shape}")
        self.clip = clip

    def predict(self, users, items) -> np.ndarray:
        """``w_0 + sum_j w_j p_j(users, items)``, shape (n,), clipped if ``clip``."""
        parts = np.stack([np.asarray(m.predict(users, items), dtype=np.float64)
                          for m in self.models], axis=1)
        out = self.weights_[0] + parts @ self.weights_[1:]
        return out if self.clip is None else np.clip(out, *self.clip)

    def __repr__(self) -> str:
        names = ", ".join(type(m).__name__ for m in self.models)
        return f"Blend([{names}], weights={np.round(self.weights_, 4).tolist()})"


def blend(models, users, items=None, ratings=None, *, clip="auto") -> Blend:
    """Fit a linear blend of ``models`` on validation ratings.

    Parameters
    ----------
    models : sequence
        Fitted predictors with ``predict(users, items)``; none of them should have
        trained on these ratings.
    users, items, ratings : array-like, shape (n,)
        Validation ratings (or one table, as in ``RBMRecommender.fit``).
    clip : "auto", (float, float) or None
        Clip blended predictions: ``"auto"`` to the validation ratings' range.

    Returns
    -------
    Blend
    """
    models = list(models)
    if not models or not all(callable(getattr(m, "predict", None)) for m in models):
        raise TypeError("blend needs a non-empty sequence of models with predict(users, items)")
    u, i, r = parse_ratings(users, items, ratings)
    weights = fit_blend(np.stack([m.predict(u, i) for m in models], axis=1), r)
    if isinstance(clip, str):
        if clip != "auto":
            raise ValueError(f"clip must be 'auto', a (low, high) pair or None, got {clip!r}")
        clip = (float(r.min()), float(r.max()))
    return Blend(models, weights, clip)
