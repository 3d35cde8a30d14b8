"""RBMRecommender: the masked softmax RBM against direct computation, learning, ids, I/O."""

import itertools
import math

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBM, RBMRecommender
from harmonium.models.rating_rbm import (
    RatingBatch,
    cd_loss,
    free_energy,
    hidden_inputs,
    make_rating_rbm,
    rating_probabilities,
    sample_levels,
)
from harmonium.ratings import RatingsData, rating_metrics
from harmonium.units import Bernoulli, Categorical


# ----- the masked model against the generic RBM and brute force ------------------------
def _tiny(seed=0, n_units=5, k=3, n_hidden=3):
    g = torch.Generator().manual_seed(seed)
    rbm = make_rating_rbm(n_units, k, n_hidden, weight_std=0.7, generator=g).double()
    with torch.no_grad():
        rbm.visible.params.normal_(generator=g)
        rbm.hidden.params.normal_(generator=g)
    return rbm


RATED = torch.tensor([0, 2, 3])  # the case rates units 0, 2 and 3 (1 and 4 are absent)
LEVELS = torch.tensor([2, 0, 1])


def _batch(levels=LEVELS):
    return RatingBatch(1, torch.zeros(3, dtype=torch.long), RATED, levels)


def _sub_rbm(rbm):
    """The generic RBM over the rated units only."""
    sub = RBM(Categorical(3, rbm.visible.n_categories), Bernoulli(rbm.n_hidden)).double()
    with torch.no_grad():
        sub.weight.copy_(rbm.weight[RATED])
        sub.visible.params.copy_(rbm.visible.params[:, RATED])
        sub.hidden.params.copy_(rbm.hidden.params)
    return sub


def _one_hot(levels, k=3):
    return torch.nn.functional.one_hot(levels, k).double().unsqueeze(0)


def _brute_free_energy(rbm, units, levels):
    """-log sum_h exp(-E(v, h)) with E summed over the rated units only, h enumerated."""
    b, c, w = rbm.visible.bias, rbm.hidden.bias, rbm.weight
    terms = []
    for h in itertools.product((0.0, 1.0), repeat=rbm.n_hidden):
        h = torch.tensor(h, dtype=torch.float64)
        energy = -sum(b[i, s] + w[i, s] @ h for i, s in zip(units.tolist(), levels.tolist(),
                                                             strict=True)) - c @ h
        terms.append(-energy)
    return -torch.logsumexp(torch.stack(terms), 0)


def test_free_energy_matches_enumeration_and_generic_rbm():
    rbm = _tiny()
    with torch.no_grad():
        f = free_energy(rbm, _batch())
        torch.testing.assert_close(f[0], _brute_free_energy(rbm, RATED, LEVELS))
        torch.testing.assert_close(f, _sub_rbm(rbm).free_energy(_one_hot(LEVELS)))
        # the full generic RBM with unrated units as all-zero rows gives the same
        v = torch.zeros(1, 5, 3, dtype=torch.float64)
        v[0, RATED, LEVELS] = 1
        torch.testing.assert_close(f, rbm.free_energy_visible(v))
        torch.testing.assert_close(hidden_inputs(rbm, _batch()), rbm.inputs_h_from_v(v))


def test_conditionals_match_generic_rbm_on_rated_units():
    rbm, sub = _tiny(1), None
    sub = _sub_rbm(rbm)
    h = torch.tensor([[1.0, 0.0, 1.0], [0.2, 0.7, 0.4]], dtype=torch.float64)
    case = torch.tensor([0, 0, 0, 1, 1, 1])
    unit = RATED.repeat(2)
    with torch.no_grad():
        p = rating_probabilities(rbm, h, case, unit).view(2, 3, 3)
        torch.testing.assert_close(p, sub.mean_v_from_h(h))
        torch.testing.assert_close(
            rbm.hidden.mean_from_inputs(hidden_inputs(rbm, _batch())),
            sub.mean_h_from_v(_one_hot(LEVELS)),
        )


def test_unrated_units_get_exactly_zero_gradient():
    rbm = _tiny(2)
    rbm.zero_grad()
    cd_loss(rbm, _batch(), steps=3, generator=torch.Generator().manual_seed(0)).backward()
    absent = torch.tensor([1, 4])
    assert (rbm.weight.grad[absent] == 0).all()
    assert (rbm.visible.params.grad[:, absent] == 0).all()
    assert rbm.weight.grad[RATED].abs().sum() > 0


def test_free_energy_gradient_is_the_exact_positive_statistic():
    """d F / d W[i, s] = -v_is E[h | v] on rated units, 0 elsewhere (enumeration oracle)."""
    rbm = _tiny(3)
    free_energy(rbm, _batch()).sum().backward()
    sub = _sub_rbm(rbm)
    v = _one_hot(LEVELS)
    with torch.no_grad():
        expected = torch.zeros_like(rbm.weight)
        expected[RATED] = -torch.einsum("bis,bj->isj", v, sub.mean_h_from_v(v))
    torch.testing.assert_close(rbm.weight.grad, expected)


def test_negative_phase_samples_rated_units_from_their_conditional():
    rbm = _tiny(4)
    h = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    n = 20000
    batch = RatingBatch(n, torch.zeros(n, dtype=torch.long), torch.full((n,), 2), torch.zeros(n,
                        dtype=torch.long))
    with torch.no_grad():
        levels = sample_levels(rbm, h, batch._replace(case=torch.zeros(n, dtype=torch.long)),
                               generator=torch.Generator().manual_seed(0))
        p = rating_probabilities(rbm, h, torch.zeros(1, dtype=torch.long), torch.tensor([2]))[0]
    freq = torch.bincount(levels, minlength=3).double() / n
    assert torch.allclose(freq, p, atol=4 * math.sqrt(0.25 / n))


# ----- predictions are exact expectations -----------------------------------------------
TRIPLES = (
    ["ann", "ann", "bob", "bob", "cy", "cy", "cy"],
    ["x", "y", "y", "z", "x", "y", "z"],
    [1, 3, 2, 3, 3, 1, 2],
)


@pytest.mark.parametrize("orientation", ["user", "item"])
def test_predict_is_the_expected_rating_under_mean_field(orientation):
    rec = RBMRecommender(4, orientation=orientation, epochs=1, batch_size=2)
    rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)
    rbm = rec.rbm_
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        rbm.weight.copy_(torch.randn(rbm.weight.shape, generator=g))
        rbm.visible.params.copy_(torch.randn(rbm.visible.params.shape, generator=g))
        rbm.hidden.params.copy_(torch.randn(rbm.hidden.params.shape, generator=g))
    users = rec.users_.tolist()
    items = rec.items_.tolist()
    rated = {(u, i): r for u, i, r in zip(*TRIPLES, strict=True)}
    query_u, query_i = "ann", "z"
    if orientation == "user":
        case, unit = query_u, query_i
        visible = [(items.index(i), r) for (u, i), r in rated.items() if u == case]
        q = items.index(unit)
    else:
        case, unit = query_i, query_u
        visible = [(users.index(u), r) for (u, i), r in rated.items() if i == case]
        q = users.index(unit)
    W, b, c = (t.detach().double() for t in (rbm.weight, rbm.visible.bias, rbm.hidden.bias))
    field = c + sum(W[j, r - 1] for j, r in visible)
    h = torch.sigmoid(field)
    p = torch.softmax(b[q] + W[q] @ h, 0)
    expected = float(p @ torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert rec.predict([query_u], [query_i])[0] == pytest.approx(expected, rel=1e-5)


# ----- learning -----------------------------------------------------------------------
def _low_rank(seed=0, n_users=200, n_items=60, density=0.5):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    full = np.clip(np.round(3 + 1.1 * a @ b.T + 0.3 * rng.normal(size=(n_users, n_items))), 1, 5)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = full[u, i]
    perm = rng.permutation(len(r))
    test, train = perm[: len(r) // 10], perm[len(r) // 10 :]
    return (u[train], i[train], r[train]), (u[test], i[test], r[test])


@pytest.fixture(scope="module")
def low_rank_model():
    train, test = _low_rank()
    rec = RBMRecommender(30, orientation="item", epochs=25, batch_size=10, learning_rate=0.05,
                         rating_scale=(1, 5))
    rec.fit(*train, generator=torch.Generator().manual_seed(0), progress=False)
    return rec, train, test


def test_learns_low_rank_ratings_better_than_item_means(low_rank_model):
    rec, train, test = low_rank_model
    _, i, r = train
    item_mean = np.bincount(i, r) / np.bincount(i)
    baseline = np.sqrt(np.mean((item_mean[test[1]] - test[2]) ** 2))
    pred = rec.predict(test[0], test[1])
    rmse = np.sqrt(np.mean((pred - test[2]) ** 2))
    assert rmse < 0.8 * baseline
    assert pred.min() >= 1 and pred.max() <= 5


def test_same_seed_same_model():
    train, _ = _low_rank(n_users=30, n_items=10)
    preds = []
    for _ in range(2):
        rec = RBMRecommender(5, epochs=2, batch_size=4)
        rec.fit(*train, generator=torch.Generator().manual_seed(3), progress=False)
        preds.append(rec.predict(train[0][:20], train[1][:20]))
    np.testing.assert_array_equal(*preds)


def test_validation_rmse_is_recorded_per_epoch(low_rank_model):
    _, train, test = low_rank_model
    rec = RBMRecommender(5, epochs=3, batch_size=20, cd_steps=(1, 3, 5))
    rec.fit(*train, validation_data=test, generator=torch.Generator().manual_seed(0),
            progress=False)
    assert [h["cd_steps"] for h in rec.history_] == [1, 3, 5]
    pred = rec.predict(test[0], test[1])
    assert rec.history_[-1]["val_rmse"] == pytest.approx(np.sqrt(np.mean((pred - test[2]) ** 2)))


# ----- ids, fallbacks, recommend -----------------------------------------------------------
@pytest.fixture(scope="module")
def small_model():
    rec = RBMRecommender(4, epochs=2, batch_size=2)
    return rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)


def test_scale_is_read_from_the_data(small_model):
    np.testing.assert_array_equal(small_model.levels_, [1, 2, 3])
    half = RBMRecommender(3, epochs=1).fit(["a", "b", "a"], [1, 1, 2], [0.5, 5.0, 3.5],
                                           progress=False)
    assert len(half.levels_) == 10 and half.levels_[0] == 0.5


def test_unknown_ids_fall_back_to_the_bias_model(small_model):
    # hand-computed values are in test_recommend_fallback.py; here: the wiring
    rec = small_model
    b = rec.bias_
    pred = rec.predict(["dora", "ann", "dora"], ["x", "nope", "nope"])
    np.testing.assert_allclose(pred, [b.item_mean[0], b.global_mean + b.user[0],
                                      np.mean(TRIPLES[2])])


def test_recommend_excludes_rated_items_and_sorts(small_model):
    rec = small_model
    ids, _ = rec.recommend("ann", k=5)
    assert ids.tolist() == ["z"]
    all_ids, all_scores = rec.recommend("ann", k=5, exclude_rated=False)
    assert sorted(all_ids.tolist()) == ["x", "y", "z"]
    assert np.all(np.diff(all_scores) <= 0)
    np.testing.assert_allclose(all_scores, rec.predict(["ann"] * 3, all_ids))
    ids, _ = rec.recommend("stranger", k=2)
    assert len(ids) == 2


def test_tables_are_accepted():
    class Table(dict):  # the part of the pandas DataFrame interface fit uses
        @property
        def columns(self):
            return list(self)

    table = Table(userId=np.array(TRIPLES[0]), movieId=np.array(TRIPLES[1]), rating=TRIPLES[2])
    g = torch.Generator
    a = RBMRecommender(3, epochs=1).fit(table, generator=g().manual_seed(0), progress=False)
    data = RatingsData(np.array(TRIPLES[0]), np.array(TRIPLES[1]), np.array(TRIPLES[2]))
    b = RBMRecommender(3, epochs=1).fit(data, generator=g().manual_seed(0), progress=False)
    np.testing.assert_array_equal(a.predict(["ann"], ["z"]), b.predict(["ann"], ["z"]))


def test_table_columns_use_the_loaders_names_in_any_case():
    class Table(dict):
        @property
        def columns(self):
            return list(self)

    g = torch.Generator
    table = Table(UserID=TRIPLES[0], Movie_Id=TRIPLES[1], Score=TRIPLES[2])
    a = RBMRecommender(3, epochs=1).fit(table, generator=g().manual_seed(0), progress=False)
    b = RBMRecommender(3, epochs=1).fit(*TRIPLES, generator=g().manual_seed(0), progress=False)
    np.testing.assert_array_equal(a.predict(["ann"], ["z"]), b.predict(["ann"], ["z"]))
    with pytest.raises(ValueError, match="no item column"):
        RBMRecommender(3, epochs=1).fit(Table(user=[1], film=[2], rating=[3]), progress=False)


def test_partial_fit_adds_users_items_and_rerates(small_model):
    rec = RBMRecommender(4, epochs=2, batch_size=2)
    rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)
    rec.partial_fit(["dora", "ann"], ["w", "x"], [3, 3], generator=torch.Generator())
    assert "dora" in rec.users_.tolist() and "w" in rec.items_.tolist()
    assert rec.rbm_.n_visible == 4  # item orientation: users are the visible units
    table = rec._ratings
    x = rec.items_.tolist().index("x")
    assert table.level[(table.u == 0) & (table.i == x)].tolist() == [2]
    assert len(table) == len(TRIPLES[0]) + 1
    assert np.isfinite(rec.predict(["dora"], ["y"])).all()


def test_partial_fit_trains_towards_the_new_ratings(monkeypatch):
    """partial_fit must train, not only record the ratings: parameters of existing units
    change and the predictions of the new ratings move towards them further than the
    updated data alone (the same call with training switched off) moves them."""
    import copy

    import harmonium.tasks._recommend_fit as recommend  # where partial_fit trains

    rec = RBMRecommender(4, epochs=2, batch_size=2)
    rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)
    new = (["dora", "ann"], ["w", "x"], [3, 3])
    before = {k: p.detach().clone() for k, p in rec.rbm_.state_dict().items()}
    untrained = copy.deepcopy(rec)
    with monkeypatch.context() as m:  # the same update with training switched off
        m.setattr(recommend, "train_recommender", lambda *args, **kwargs: None)
        untrained.partial_fit(*new, epochs=5, generator=torch.Generator().manual_seed(1))
    rec.partial_fit(*new, epochs=5, generator=torch.Generator().manual_seed(1))
    after = rec.rbm_.state_dict()
    assert not torch.equal(after["weight"][:3], before["weight"])  # existing units learnt
    assert not torch.equal(after["hidden.params"], before["hidden.params"])
    target = np.array(new[2], dtype=float)
    moved = np.abs(rec.predict(new[0], new[1]) - target)
    unmoved = np.abs(untrained.predict(new[0], new[1]) - target)
    assert (moved < unmoved - 0.1).all(), (moved, unmoved)


# ----- saving ---------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", ["user", "item"])
def test_save_load_round_trip_keeps_ids(tmp_path, orientation):
    rec = RBMRecommender(4, orientation=orientation, epochs=2, batch_size=2)
    rec.fit(*TRIPLES, generator=torch.Generator().manual_seed(0), progress=False)
    path = harmonium.save(rec, tmp_path / "rec.safetensors")
    back = harmonium.load(path)
    assert isinstance(back, RBMRecommender) and back.orientation == orientation
    assert back.users_.tolist() == ["ann", "bob", "cy"]
    users, items = ["ann", "bob", "cy", "new"], ["z", "x", "z", "y"]
    np.testing.assert_array_equal(back.predict(users, items), rec.predict(users, items))
    assert back.recommend("bob", 3)[0].tolist() == rec.recommend("bob", 3)[0].tolist()
    assert back.history_ == rec.history_


def test_integer_ids_round_trip(tmp_path):
    rec = RBMRecommender(3, epochs=1).fit(np.array([10, 20, 10], dtype=np.int32), [7, 7, 8],
                                          [1, 2, 2], progress=False)
    back = harmonium.load(harmonium.save(rec, tmp_path / "m.safetensors"))
    assert back.users_.tolist() == [10, 20] and back.items_.dtype == np.int64
    np.testing.assert_array_equal(back.predict([20], [8]), rec.predict([20], [8]))


def test_more_than_256_levels_round_trip(tmp_path):
    # levels 256 and above used to be saved as uint8 and came back as 0, 1, ...
    users, items = ["a", "a", "b", "b", "c"], ["x", "y", "x", "y", "x"]
    ratings = [256, 300, 257, 0, 299]
    rec = RBMRecommender(3, epochs=1, rating_scale=(0, 300)).fit(
        users, items, ratings, generator=torch.Generator().manual_seed(0), progress=False)
    back = harmonium.load(harmonium.save(rec, tmp_path / "m.safetensors"))
    assert len(back.levels_) == 301
    np.testing.assert_array_equal(back._ratings.level, rec._ratings.level)
    queries = (["a", "b", "c", "c", "new"], ["x", "x", "x", "y", "y"])
    np.testing.assert_array_equal(back.predict(*queries), rec.predict(*queries))


def test_unsavable_ids_raise(tmp_path):
    rec = RBMRecommender(3, epochs=1).fit([("a", 1), ("b", 2)], [1, 2], [1, 2], progress=False)
    with pytest.raises(TypeError, match="int, float, str and bool"):
        harmonium.save(rec, tmp_path / "m.safetensors")


# ----- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([], [], []), {}, ValueError, "no ratings"),
        ((["a", "b"], ["x"], [1, 2]), {}, ValueError, "same length"),
        ((["a", "b"], ["x", "y"], [1, 2, 3]), {}, ValueError, "one rating per"),
        ((["a", "b"], ["x", "y"], [1, float("nan")]), {}, ValueError, "NaN"),
        ((["a", "b"], ["x", "y"], ["good", "bad"]), {}, TypeError, "numbers"),
        ((["a", "b"], ["x", "y"], [1, 7]), {"rating_scale": (1, 5)}, ValueError, "outside"),
        ((["a", "b"], ["x", "y"], [1, 2.5]), {"rating_scale": (1, 5)}, ValueError, "outside"),
        ((["a", "b"], ["x", "y"], [1, 2.3]), {}, ValueError, "infer the rating scale"),
        ((["a", "b"], ["x", "y"], [3, 3]), {}, ValueError, "all ratings equal"),
        ((["a", "a"], ["x", "x"], [1, 2]), {}, ValueError, "duplicate rating"),
        ((["a", "b"], [[1], [2]], [1, 2]), {}, TypeError, "hashable"),
        ((np.array([1.0, np.nan]), ["x", "y"], [1, 2]), {}, ValueError, "NaN"),
        (("ab", "xy", [1, 2]), {}, TypeError, "array-like of ids"),
        ((np.zeros((2, 2)), ["x", "y"], [1, 2]), {}, ValueError, "1-D"),
        ((["a"],), {}, TypeError, "table"),
        ((["a"], ["x"]), {}, TypeError, "together"),
    ],
)
def test_bad_fit_input_raises(args, kwargs, error, match):
    rec = RBMRecommender(2, epochs=1, **kwargs)
    with pytest.raises(error, match=match):
        rec.fit(*args, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"orientation": "movie"}, ValueError),
        ({"n_hidden": 0}, ValueError),
        ({"n_hidden": 2.5}, TypeError),
        ({"epochs": 0}, ValueError),
        ({"learning_rate": -1.0}, ValueError),
        ({"momentum": 1.0}, ValueError),
        ({"weight_decay": -0.1}, ValueError),
        ({"cd_steps": ()}, ValueError),
        ({"cd_steps": (1, 0)}, ValueError),
    ],
)
def test_bad_hyperparameters_raise(kwargs, error):
    with pytest.raises(error):
        RBMRecommender(**{"n_hidden": 2, **kwargs})


@pytest.mark.parametrize("scale", [(5, 1), (1,), (1, 5, 0), (1, 5, 3)])
def test_bad_rating_scale_raises(scale):
    with pytest.raises(ValueError, match="rating_scale"):
        RBMRecommender(2, rating_scale=scale, epochs=1).fit(["a"], ["x"], [1], progress=False)


def test_unfitted_model_and_bad_queries_raise(small_model):
    with pytest.raises(ValueError, match="not fitted"):
        RBMRecommender(2).predict(["a"], ["x"])
    with pytest.raises(ValueError, match="same length"):
        small_model.predict(["ann"], ["x", "y"])
    with pytest.raises(ValueError, match=">= 1"):
        small_model.recommend("ann", k=0)
    with pytest.raises(ValueError, match="outside"):
        small_model.partial_fit(["ann"], ["x"], [9])


# ----- metrics ----------------------------------------------------------------------------
def test_rating_metrics_by_hand():
    users = ["a", "a", "a", "b", "b"]
    true = [5, 2, 4, 1, 4.5]
    pred = [4.5, 4.2, 3.0, 2.0, 4.0]
    m = rating_metrics(users, true, pred, k=1, threshold=4.0)
    err = np.subtract(pred, true)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert m["mae"] == pytest.approx(np.mean(np.abs(err)))
    # user a: top-1 is the 4.5 prediction (true 5, relevant) -> precision 1, recall 1/2;
    # user b: top-1 is 4.0 (true 4.5, relevant) -> precision 1, recall 1
    assert m["precision@1"] == pytest.approx(1.0)
    assert m["recall@1"] == pytest.approx(0.75)


# ----- old import paths -------------------------------------------------------------------
def test_old_import_paths_still_work():
    import harmonium.datasets
    import harmonium.models.recommender as old
    import harmonium.ratings
    import harmonium.tasks.recommend as new

    assert old.RBMRecommender is new.RBMRecommender is harmonium.RBMRecommender
    assert old.ITEM_MEAN_DAMPING == new.ITEM_MEAN_DAMPING
    assert old.rating_metrics is harmonium.ratings.rating_metrics
    for name in ("RatingsData", "load_movielens", "load_ratings_csv", "load_titles"):
        assert getattr(harmonium.datasets, name) is getattr(harmonium.ratings, name)
