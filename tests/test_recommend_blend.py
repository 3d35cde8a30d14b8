"""Blending predictors by least squares on validation ratings."""

import numpy as np
import pytest
import torch

from harmonium import RBMRecommender
from harmonium.ratings import RatingsData
from harmonium.ratings.blend import Blend, blend, fit_blend


class _Fixed:
    """A predictor returning a fixed value per item id."""

    def __init__(self, values):
        self.values = values

    def predict(self, users, items):
        return np.array([self.values[i] for i in items], dtype=float)


def test_fit_blend_recovers_exact_weights():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20), rng.normal(size=20)
    np.testing.assert_allclose(fit_blend(np.c_[a, b], 1 + 2 * a - b), [1, 2, -1], atol=1e-12)


def test_blend_predicts_the_weighted_sum_and_clips():
    p, q = _Fixed({"x": 1.0, "y": 3.0, "z": 5.0}), _Fixed({"x": 2.0, "y": 2.0, "z": 4.0})
    # ratings = 0.5 + p + 0.25 q exactly
    ratings = [0.5 + 1 + 0.5, 0.5 + 3 + 0.5, 0.5 + 5 + 1.0]
    mixed = blend([p, q], ["u"] * 3, ["x", "y", "z"], ratings, clip=None)
    np.testing.assert_allclose(mixed.weights_, [0.5, 1.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(mixed.predict(["v"], ["z"]), [6.5])
    clipped = Blend(mixed.models, mixed.weights_, clip=(1, 5))
    assert clipped.predict(["v"], ["z"])[0] == 5


def test_blend_of_rbm_and_its_bias_model_fits_the_validation_split_best():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    full = np.clip(np.round(3 + a @ b.T), 1, 5)
    u, i = np.nonzero(rng.random(full.shape) < 0.6)
    data = RatingsData(u, i, full[u, i], rng.permutation(len(u)))
    rec = RBMRecommender(6, epochs=4).fit(data, validation="temporal", progress=False,
                                          generator=torch.Generator().manual_seed(0))
    vu, vi, vr = rec.validation_
    mixed = blend([rec, rec.baseline_], vu, vi, vr)

    def rmse(m):
        return np.sqrt(np.mean((m.predict(vu, vi) - vr) ** 2))

    # least squares with an intercept can always pick one model alone (weight 1)
    assert rmse(mixed) <= min(rmse(rec), rmse(rec.baseline_)) + 1e-12


@pytest.mark.parametrize(("call", "error"), [
    (lambda: blend([], [1], [1], [1.0]), TypeError),
    (lambda: blend([object()], [1], [1], [1.0]), TypeError),
    (lambda: fit_blend(np.ones(3), np.ones(3)), ValueError),
    (lambda: fit_blend(np.ones((3, 1)), [1, 2, np.nan]), ValueError),
    (lambda: Blend([_Fixed({})], [1.0]), ValueError),
    (lambda: blend([_Fixed({1: 1.0})], [1], [1], [1.0], clip="max"), ValueError),
])
def test_bad_blend_input(call, error):
    with pytest.raises(error):
        call()
