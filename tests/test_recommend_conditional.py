"""The conditional RBM (Salakhutdinov, Mnih and Hinton 2007, section 4) against enumeration."""

import itertools

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBMRecommender
from harmonium.models.rating_rbm import (
    RatingBatch,
    RatingCases,
    free_energy,
    hidden_means,
    implicit_field,
)
from test_recommender import _tiny as _tiny_rbm

RATED, LEVELS = torch.tensor([0, 2, 3]), torch.tensor([2, 0, 1])
FLAGGED = torch.tensor([0, 2, 3, 4])  # unit 4: rated, rating unknown


def _tiny(seed=0, n_units=5, k=3, n_hidden=3):
    """test_recommender's tiny rating RBM and a random D of the same size."""
    rbm = _tiny_rbm(seed, n_units, k, n_hidden)
    g = torch.Generator().manual_seed(seed + 1000)
    return rbm, torch.randn(n_units, n_hidden, generator=g, dtype=torch.float64)


def _energies(rbm, d):
    """-E(v, h; r) for every h in {0, 1}^3, the case's v and r, shape (8,), and the hs."""
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    b, c, w = rbm.visible.bias, rbm.hidden.bias, rbm.weight
    neg = torch.stack([
        sum(b[i, s] + w[i, s] @ h for i, s in zip(RATED.tolist(), LEVELS.tolist(),
                                                   strict=True))
        + c @ h + sum(d[i] @ h for i in FLAGGED.tolist())
        for h in hs])
    return neg, hs


def _batches():
    one = RatingBatch(1, torch.zeros(3, dtype=torch.long), RATED, LEVELS)
    flags = RatingBatch(1, torch.zeros(4, dtype=torch.long), FLAGGED, torch.zeros(4).long())
    return one, flags


def test_free_energy_matches_enumeration():
    rbm, d = _tiny()
    neg, _ = _energies(rbm, d)
    one, flags = _batches()
    f = free_energy(rbm, one, implicit_field(d, flags))
    torch.testing.assert_close(f, -torch.logsumexp(neg, 0).reshape(1))


def test_hidden_conditionals_match_enumeration():
    rbm, d = _tiny(1)
    neg, hs = _energies(rbm, d)
    p = torch.softmax(neg, 0) @ hs  # p(h_j = 1 | v, r), enumerated
    cases = RatingCases(np.zeros(3, np.int64), RATED.numpy(), LEVELS.numpy(), 1, "cpu")
    flagged = RatingCases(np.zeros(4, np.int64), FLAGGED.numpy(), np.zeros(4, np.int64), 1,
                          "cpu")
    h = hidden_means(rbm, cases, torch.tensor([0]), (d, flagged))
    torch.testing.assert_close(h[0], p)


def test_gradient_of_d_is_minus_r_times_hidden_means():
    """dF/dD[i] = -r_i p(h | v, r): the data term of the paper's rule for D."""
    rbm, d = _tiny(2)
    neg, hs = _energies(rbm, d)
    p = torch.softmax(neg, 0) @ hs
    d = d.clone().requires_grad_(True)
    one, flags = _batches()
    free_energy(rbm, one, implicit_field(d, flags)).sum().backward()
    expected = torch.zeros_like(d)
    expected[FLAGGED] = -p
    torch.testing.assert_close(d.grad, expected)


TRIPLES = (["ann", "ann", "bob", "bob", "cy", "cy", "cy"],
           ["x", "y", "y", "z", "x", "y", "z"],
           [1, 3, 2, 3, 3, 1, 2])


@pytest.fixture(scope="module", params=["user", "item"])
def conditional(request):
    rec = RBMRecommender(4, epochs=3, batch_size=2, conditional=True,
                         orientation=request.param)
    rec.fit(*TRIPLES, implicit=(["ann", "bob", "zed"], ["z", "x", "x"]), progress=False,
            generator=torch.Generator().manual_seed(0))
    return rec


def _mean_field(rec, user, item, flagged):
    """The prediction by hand: h = sigmoid(c + sum_rated W + sum_flagged D), then E[v]."""
    t, rbm = rec._ratings, rec.rbm_
    u, i = t.users.index(np.array([user]))[0], t.items.index(np.array([item]))[0]
    if rec.orientation == "user":
        case, unit, rated_units = u, i, t.i[t.u == u]
        levels, flagged_units = t.level[t.u == u], t.items.index(np.array(flagged))
    else:
        case, unit, rated_units = i, u, t.u[t.i == i]
        levels, flagged_units = t.level[t.i == i], t.users.index(np.array(flagged))
    del case
    with torch.no_grad():
        field = rbm.hidden.bias + rbm.weight[rated_units, levels].sum(0)
        field = field + rec.implicit_weight_[np.union1d(rated_units, flagged_units)].sum(0)
        h = torch.sigmoid(field)
        p = torch.softmax(rbm.visible.bias[unit] + rbm.weight[unit] @ h, -1)
    return float(p.double() @ torch.from_numpy(rec.levels_))


def test_predictions_use_the_flagged_pairs(conditional):
    rec = conditional
    assert rec.implicit_weight_.abs().sum() > 0  # D learnt
    if rec.orientation == "user":  # ann's items: x, y rated, z flagged
        flagged = ["x", "y", "z"]
        case_pred = rec.predict(["ann"], ["z"])[0]
        by_hand = _mean_field(rec, "ann", "z", flagged)
    else:  # item x: rated by ann and cy, flagged by bob (zed is unknown: ignored)
        case_pred = rec.predict(["bob"], ["x"])[0]
        by_hand = _mean_field(rec, "bob", "x", ["ann", "cy", "bob"])
    assert case_pred == pytest.approx(by_hand, rel=1e-5)


def test_conditional_model_round_trips_and_grows(conditional, tmp_path):
    rec = conditional
    harmonium.save(rec, tmp_path / "c.safetensors")
    back = harmonium.load(tmp_path / "c.safetensors")
    q = (["ann", "bob", "cy"], ["z", "x", "x"])
    np.testing.assert_allclose(back.predict(*q), rec.predict(*q))
    torch.testing.assert_close(back.implicit_weight_, rec.implicit_weight_)
    back.partial_fit(["dora"], ["w"], [2], generator=torch.Generator().manual_seed(0))
    assert back.implicit_weight_.shape[0] == back.rbm_.n_visible


def test_implicit_pairs_need_a_conditional_model():
    with pytest.raises(ValueError, match="conditional"):
        RBMRecommender(2, epochs=1).fit(*TRIPLES, implicit=(["ann"], ["z"]), progress=False)
    with pytest.raises(TypeError, match="implicit"):
        RBMRecommender(2, epochs=1, conditional=True).fit(*TRIPLES, implicit=["ann"],
                                                           progress=False)
