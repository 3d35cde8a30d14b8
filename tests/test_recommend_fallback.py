"""The fallback bias model: hand-computed ALS steps, the ridge optimum, unknown ids, files."""

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBMRecommender
from harmonium.ratings.bias import BiasModel, fit_biases

# ratings (user, item, rating): u0 rates i0 4 and i1 2, u1 rates i0 5
U, ITEMS, R = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([4.0, 2.0, 5.0])


def test_one_als_round_by_hand():
    b = fit_biases(U, ITEMS, R, 2, 3, reg=(1.0, 1.0), rounds=1)
    mu = 11 / 3
    # item step from zero user offsets: (sum of residuals) / (reg_i + n_i)
    b_i = [(4 - mu + 5 - mu) / 3, (2 - mu) / 2, 0.0]  # = 5/9, -5/6, 0 (i2 has no ratings)
    # user step against those item offsets
    b_u = [(4 - mu - 5 / 9 + 2 - mu + 5 / 6) / 3, (5 - mu - 5 / 9) / 2]  # = -19/54, 7/18
    assert b.global_mean == pytest.approx(mu)
    np.testing.assert_allclose(b.item, [5 / 9, -5 / 6, 0.0])
    np.testing.assert_allclose(b.item, b_i)
    np.testing.assert_allclose(b.user, [-19 / 54, 7 / 18])
    np.testing.assert_allclose(b.user, b_u)
    # the unknown-user prediction, the items' means shrunk by k = s2_w / s2_b: i0 holds
    # 4 and 5 (mean 4.5, squares 0.5 about it), i1 holds 2, so s2_w = 0.5 / 1 degree of
    # freedom; s2_b = 2/3 (4.5 - mu)^2 + 1/3 (2 - mu)^2 - s2_w (2/3 / 2 + 1/3 / 1)
    # = 25/18 - 1/3 = 19/18; k = 9/19; i0: (9 + k mu) / (2 + k) = 204/47, i1: 71/28
    np.testing.assert_allclose(b.item_mean, [204 / 47, 71 / 28, mu])
    # unknown item: mu + b_u; unknown user: the shrunk item mean; both unknown: mu
    np.testing.assert_allclose(b.predict(np.array([0, -1, -1, 1]), np.array([-1, 1, -1, 0])),
                               [179 / 54, 71 / 28, 11 / 3, mu + 7 / 18 + 5 / 9])


def _shrunk_means_by_hand(items, ratings):
    """Each item's mean shrunk toward mu, k from the one-way random-effects moments."""
    groups = {}
    for item, rating in zip(items, ratings, strict=True):
        groups.setdefault(item, []).append(float(rating))
    mu, n = float(np.mean(ratings)), len(ratings)
    within = (sum(sum((x - np.mean(g)) ** 2 for x in g) for g in groups.values())
              / sum(len(g) - 1 for g in groups.values()))
    between = sum(len(g) / n * ((np.mean(g) - mu) ** 2 - within / len(g))
                  for g in groups.values())
    if between <= 0:  # no spread beyond noise
        return dict.fromkeys(groups, mu)
    k = within / between
    return {item: (sum(g) + k * mu) / (len(g) + k) for item, g in groups.items()}


def test_shrinkage_recovers_the_variance_ratio_of_a_random_effects_model():
    # true item means N(3, 0.5^2), ratings about them N(0, 1): k = 1 / 0.25 = 4
    rng = np.random.default_rng(0)
    n_items = 4000
    counts = rng.integers(2, 30, n_items)
    i = np.repeat(np.arange(n_items), counts)
    r = (3 + 0.5 * rng.standard_normal(n_items))[i] + rng.standard_normal(len(i))
    means = fit_biases(np.zeros(len(i), dtype=np.int64), i, r, 1, n_items).item_mean
    total = np.bincount(i, r)
    k = (total - counts * means) / (means - r.mean())  # solved from each item's formula
    np.testing.assert_allclose(k, k[0], rtol=1e-6)
    assert k[0] == pytest.approx(4.0, rel=0.08)
    # items whose means differ less than their ratings' noise explains: all get mu
    same = fit_biases(np.zeros(6, dtype=np.int64), np.array([0, 0, 1, 1, 2, 2]),
                      np.array([1.0, 3.0, 1.5, 2.5, 1.0, 3.0]), 1, 3).item_mean
    np.testing.assert_allclose(same, [2.0, 2.0, 2.0])


def _ridge(u, i, r, n_users, n_items, reg_u, reg_i):
    """The objective's exact minimiser: ridge regression of r - mu on user and item dummies."""
    x = np.zeros((len(r), n_users + n_items))
    x[np.arange(len(r)), u] = 1
    x[np.arange(len(r)), n_users + i] = 1
    penalty = np.diag([reg_u] * n_users + [reg_i] * n_items)
    b = np.linalg.solve(x.T @ x + penalty, x.T @ (r - r.mean()))
    return r.mean(), b[:n_users], b[n_users:]


def test_als_reaches_the_ridge_optimum():
    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((7, 9)) < 0.5)
    r = rng.integers(1, 6, len(u)).astype(float)
    _, b_u, b_i = _ridge(u, i, r, 7, 9, 2.0, 3.0)
    b = fit_biases(u, i, r, 7, 9, reg=(2.0, 3.0), rounds=200)
    np.testing.assert_allclose(b.user, b_u, atol=1e-10)
    np.testing.assert_allclose(b.item, b_i, atol=1e-10)


TRIPLES = (["ann", "ann", "bob", "bob", "cy", "cy", "cy"],
           ["x", "y", "y", "z", "x", "y", "z"],
           [1, 3, 2, 3, 3, 1, 2])


@pytest.fixture(scope="module")
def model():
    rec = RBMRecommender(4, epochs=2, batch_size=2, bias_reg=(1.0, 2.0))
    return rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)


def test_unknown_ids_use_the_known_side(model):
    users, items = ["ann", "bob", "cy"], ["x", "y", "z"]
    u = np.array([users.index(a) for a in TRIPLES[0]])
    i = np.array([items.index(a) for a in TRIPLES[1]])
    mu, b_u, b_i = _ridge(u, i, np.array(TRIPLES[2], float), 3, 3, 1.0, 2.0)
    cold = _shrunk_means_by_hand(*TRIPLES[1:])
    pred = model.predict(["ann", "cy", "dora", "dora", "dora"],
                         ["new", "new", "x", "z", "new"])
    np.testing.assert_allclose(pred, [mu + b_u[0], mu + b_u[2], cold["x"], cold["z"], mu],
                               atol=1e-9)
    assert model.global_mean_ == pytest.approx(15 / 7)
    # known pairs are the RBM's, not the bias model's
    assert model.predict(["ann"], ["x"])[0] != pytest.approx(mu + b_u[0] + b_i[0])
    np.testing.assert_allclose(model.baseline_.predict(["ann", "dora"], ["x", "y"]),
                               [mu + b_u[0] + b_i[0], cold["y"]], atol=1e-9)


def test_unknown_user_ranks_items_by_item_offset(model):
    # ranked (and scored) by mu + b_i, which ranks better than the shrunk means
    # predict gives such a user (see BiasModel.recommend_many)
    for ids, scores in [model.recommend("dora", k=3),
                        model.baseline_.recommend_many(["dora"], k=3)[0]]:
        offsets = model.bias_.item
        assert ids.tolist() == [["x", "y", "z"][j] for j in np.argsort(-offsets, kind="stable")]
        np.testing.assert_allclose(scores, model.global_mean_ + np.sort(offsets)[::-1])
    # TRIPLES' item means (2, 2, 2.5) spread less than noise explains: predict gives mu
    np.testing.assert_allclose(list(_shrunk_means_by_hand(*TRIPLES[1:]).values()), 15 / 7)
    np.testing.assert_allclose(model.predict(["dora"] * 3, ["x", "y", "z"]), 15 / 7)


def test_fallback_is_clipped_to_the_scale():
    rec = RBMRecommender(2, epochs=1, bias_reg=(0.0, 0.0))
    rec.fit(["a", "a", "b"], ["x", "y", "x"], [5, 5, 1], progress=False,
            generator=torch.Generator().manual_seed(0))
    pred = rec.predict(["a", "b", "zed"], ["new", "new", "new"])
    assert np.all((pred >= 1) & (pred <= 5))


def test_bias_model_is_saved_and_old_files_refit_it(model, tmp_path):
    path = tmp_path / "rec.safetensors"
    harmonium.save(model, path)
    back = harmonium.load(path)
    np.testing.assert_array_equal(back.bias_.user, model.bias_.user)
    assert back.bias_reg == (1.0, 2.0)
    state = model._to_state()
    del state["bias"]  # a file written before the bias model
    old = RBMRecommender._from_state(state)
    np.testing.assert_allclose(old.bias_.item, model.bias_.item)
    q = (["ann", "dora", "dora"], ["new", "x", "new"])
    np.testing.assert_allclose(old.predict(*q), model.predict(*q))
    # a file from before the unknown-user means: such a user gets mu + b_i, as then
    state = model._to_state()
    del state["bias"]["item_mean"]
    older = RBMRecommender._from_state(state)
    np.testing.assert_allclose(older.predict(["dora"], ["x"]),
                               model.global_mean_ + model.bias_.item[:1])


def test_partial_fit_refits_the_biases(model):
    rec = RBMRecommender._from_state(model._to_state())
    rec.partial_fit(["dora"], ["x"], [3], generator=torch.Generator().manual_seed(1))
    assert len(rec.bias_.user) == 4
    # dora now has an offset (her one rating minus mu and x's offset, shrunk by reg_u = 1)
    assert rec.bias_.user[3] != 0


@pytest.mark.parametrize(("reg", "error"), [((1.0,), TypeError), ("ab", TypeError),
                                            ((-1.0, 1.0), ValueError),
                                            ((1.0, float("nan")), ValueError)])
def test_bad_regularisers(reg, error):
    with pytest.raises(error, match="regularisers"):
        BiasModel(reg)
    with pytest.raises(error, match="regularisers"):
        RBMRecommender(bias_reg=reg)


def test_bias_model_estimator_on_ids():
    m = BiasModel((1.0, 1.0), rounds=1).fit(["p", "p", "q"], ["a", "b", "a"], R)
    np.testing.assert_allclose(m.predict(["p", "nobody"], ["zz", "b"]), [179 / 54, 71 / 28])
    with pytest.raises(ValueError, match="not fitted"):
        BiasModel().predict(["p"], ["a"])
    with pytest.raises(ValueError, match="same length"):
        m.predict(["p"], ["a", "b"])
