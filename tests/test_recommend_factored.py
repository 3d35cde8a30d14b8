"""The factored rating RBM (Salakhutdinov, Mnih and Hinton 2007, section 5): W = A B.

Free energy and hidden conditionals against enumeration of the hidden states; the
gradients of A and B against the chain rule of the enumerated dF/dW and against
autograd of the unfactored RBM holding the product; the estimator in both
orientations, with and without the conditional part.
"""

import numpy as np
import pytest
import torch

import harmonium
from harmonium import RBMRecommender
from harmonium.models.rating_factored import FactoredRatingRBM, make_factored_rating_rbm
from harmonium.models.rating_rbm import (
    RatingCases,
    cd_loss,
    expected_grid,
    free_energy,
    hidden_means,
    implicit_field,
    make_rating_rbm,
    visible_fields,
)
from test_recommend_conditional import FLAGGED, LEVELS, RATED, TRIPLES, _batches, _energies

N_UNITS, K, N_HIDDEN, RANK = 5, 3, 3, 2


def _factored(seed=0):
    """A tiny factored RBM (float64, random biases), its D and the plain RBM with W = A B."""
    g = torch.Generator().manual_seed(seed)
    rbm = make_factored_rating_rbm(N_UNITS, K, N_HIDDEN, RANK, weight_std=2.0, generator=g,
                                   dtype=torch.float64)
    with torch.no_grad():
        rbm.visible.params.normal_(generator=g)
        rbm.hidden.params.normal_(generator=g)
    plain = make_rating_rbm(N_UNITS, K, N_HIDDEN).double()
    with torch.no_grad():
        plain.weight.copy_(rbm.weight)
        plain.visible.params.copy_(rbm.visible.params)
        plain.hidden.params.copy_(rbm.hidden.params)
    return rbm, torch.randn(N_UNITS, N_HIDDEN, generator=g, dtype=torch.float64), plain


def test_weight_is_the_product_of_the_factors():
    rbm, _, _ = _factored()
    a, b = rbm.factor_a.detach(), rbm.factor_b.detach()
    by_hand = torch.stack([torch.stack([a[i, s] @ b for s in range(K)])
                           for i in range(N_UNITS)])
    torch.testing.assert_close(rbm.weight, by_hand)
    assert rbm.factor_a.shape == (N_UNITS, K, RANK) and rbm.factor_b.shape == (RANK, N_HIDDEN)


@pytest.mark.parametrize("conditional", [False, True])
def test_free_energy_and_hidden_means_match_enumeration(conditional):
    rbm, d, _ = _factored(1)
    d = d if conditional else torch.zeros_like(d)
    with torch.no_grad():
        neg, hs = _energies(rbm, d)  # -E(v, h; r) with W = A B
    one, flags = _batches()
    f = free_energy(rbm, one, implicit_field(d, flags))
    torch.testing.assert_close(f, -torch.logsumexp(neg, 0).reshape(1))
    cases = RatingCases(np.zeros(3, np.int64), RATED.numpy(), LEVELS.numpy(), 1, "cpu")
    flagged = RatingCases(np.zeros(4, np.int64), FLAGGED.numpy(), np.zeros(4, np.int64), 1,
                          "cpu")
    h = hidden_means(rbm, cases, torch.tensor([0]), (d, flagged))
    torch.testing.assert_close(h[0], torch.softmax(neg, 0) @ hs)


def test_factor_gradients_are_the_chain_rule_of_the_enumerated_weight_gradient():
    """dF/dW[i, s] = -p(h | v) on rated (i, s); dF/dA = dF/dW B^T, dF/dB = A^T dF/dW."""
    rbm, d, _ = _factored(2)
    with torch.no_grad():
        neg, hs = _energies(rbm, d)
    p = torch.softmax(neg, 0) @ hs
    one, flags = _batches()
    free_energy(rbm, one, implicit_field(d, flags)).sum().backward()
    a, b = rbm.factor_a.detach(), rbm.factor_b.detach()
    d_w = torch.zeros(N_UNITS, K, N_HIDDEN, dtype=torch.float64)
    d_w[RATED, LEVELS] = -p
    torch.testing.assert_close(rbm.factor_a.grad, d_w @ b.T)
    torch.testing.assert_close(rbm.factor_b.grad, a.reshape(-1, RANK).T @ d_w.reshape(-1,
                                                                                   N_HIDDEN))


def test_factor_gradients_match_finite_differences():
    rbm, d, _ = _factored(3)
    one, flags = _batches()

    def energy():
        with torch.no_grad():
            return float(free_energy(rbm, one, implicit_field(d, flags)).sum())

    free_energy(rbm, one, implicit_field(d, flags)).sum().backward()
    eps = 1e-6
    for param in (rbm.factor_a, rbm.factor_b):
        numeric = torch.zeros_like(param)
        flat = param.data.view(-1)
        for n in range(flat.numel()):
            keep = float(flat[n])
            flat[n] = keep + eps
            up = energy()
            flat[n] = keep - eps
            numeric.view(-1)[n] = (up - energy()) / (2 * eps)
            flat[n] = keep
        torch.testing.assert_close(param.grad, numeric, atol=1e-7, rtol=1e-6)


def test_cd_gradient_is_the_unfactored_cd_gradient_chained():
    """Same samples (same seed), so dL/dA = dL/dW B^T and dL/dB = A^T dL/dW exactly."""
    rbm, _, plain = _factored(4)
    cases = RatingCases(np.array([0, 0, 0, 1, 1]), np.array([0, 2, 3, 1, 4]),
                        np.array([2, 0, 1, 1, 2]), 2, "cpu")
    batch = cases.batch(torch.tensor([0, 1]))
    for model in (rbm, plain):
        cd_loss(model, batch, 3, generator=torch.Generator().manual_seed(7)).backward()
    d_w, b = plain.weight.grad, rbm.factor_b.detach()
    torch.testing.assert_close(rbm.factor_a.grad, d_w @ b.T)
    torch.testing.assert_close(rbm.factor_b.grad, rbm.factor_a.detach().reshape(-1, RANK).T
                               @ d_w.reshape(-1, N_HIDDEN))
    torch.testing.assert_close(rbm.visible.params.grad, plain.visible.params.grad)
    torch.testing.assert_close(rbm.hidden.params.grad, plain.hidden.params.grad)


def test_visible_fields_and_grid_equal_the_unfactored_model():
    rbm, _, plain = _factored(5)
    h = torch.rand(2, N_HIDDEN, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    case, unit = torch.tensor([0, 1, 1, 0]), torch.tensor([4, 0, 2, 2])
    with torch.no_grad():
        torch.testing.assert_close(visible_fields(rbm, h, case, unit),
                                   visible_fields(plain, h, case, unit))
        levels, units = torch.tensor([1.0, 2.0, 3.0]), torch.arange(N_UNITS)
        torch.testing.assert_close(
            expected_grid(rbm, h, units, levels, cases_are_rows=True),
            expected_grid(plain, h, units, levels, cases_are_rows=True))


@pytest.fixture(scope="module", params=[("user", False), ("item", False), ("user", True),
                                        ("item", True)])
def factored(request):
    orientation, conditional = request.param
    rec = RBMRecommender(4, epochs=3, batch_size=2, factors=2, orientation=orientation,
                         conditional=conditional)
    rec.fit(*TRIPLES, progress=False, generator=torch.Generator().manual_seed(0))
    return rec


def test_estimator_predicts_with_the_product_and_round_trips(factored, tmp_path):
    rec = factored
    assert isinstance(rec.rbm_, FactoredRatingRBM) and rec.rbm_.n_factors == 2
    t, rbm = rec._ratings, rec.rbm_
    u, i = t.users.index(np.array(["bob"]))[0], t.items.index(np.array(["x"]))[0]
    case, unit = (u, i) if rec.orientation == "user" else (i, u)
    rows = (t.u if rec.orientation == "user" else t.i) == case
    units = t.i[rows] if rec.orientation == "user" else t.u[rows]
    with torch.no_grad():  # mean field by hand with the full product W = A B
        field = rbm.hidden.bias + rbm.weight[units, t.level[rows]].sum(0)
        if rec.conditional:
            field = field + rec.implicit_weight_[units].sum(0)
        p = torch.softmax(rbm.visible.bias[unit] + rbm.weight[unit] @ torch.sigmoid(field), -1)
    assert rec.predict(["bob"], ["x"])[0] == pytest.approx(
        float(p.double() @ torch.from_numpy(rec.levels_)), rel=1e-5)
    harmonium.save(rec, tmp_path / "f.safetensors")
    back = harmonium.load(tmp_path / "f.safetensors")
    assert back.factors == 2 and isinstance(back.rbm_, FactoredRatingRBM)
    q = (["ann", "bob", "cy"], ["z", "x", "x"])
    np.testing.assert_allclose(back.predict(*q), rec.predict(*q))
    back.partial_fit(["dora"], ["w"], [2], generator=torch.Generator().manual_seed(0))
    assert back.rbm_.factor_a.shape == (4, 3, 2) and back.rbm_.n_visible == 4  # dora or w
    assert back.rbm_.factor_b.shape == (2, 4)


def test_factors_must_be_a_positive_int():
    with pytest.raises(ValueError, match="factors"):
        RBMRecommender(4, factors=0)
    with pytest.raises(TypeError, match="factors"):
        RBMRecommender(4, factors=2.5)
