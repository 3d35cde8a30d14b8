"""compute_gradients (no autograd graph over the batch) against three oracles.

1. Autograd of ``mean F(v_data) - mean F(v_model)`` through every parameter, with ``F``
   the RBM's own free energy and ``v_model`` the negative samples the method returned;
   in float64 the two must agree to rounding, for every pair of unit types.
2. Hand-written closed forms of the same loss's gradient (data minus model statistics,
   the precisions' terms), independent of the library's ``F``.
3. The exact log-likelihood gradient of tiny models, by enumeration of the joint
   energy written by hand, against the fast path averaged over exact ``p(v)``.
"""

import itertools
import math

import pytest
import torch

from harmonium import CD, PCD
from harmonium.training import compute_gradients
from harmonium.training.centering import Centered
from harmonium.units import Bernoulli, Categorical, DReLU, Gaussian, PReLU, ReLU, Spin, XReLU
from harmonium.units.joined import Joined
from random_models import random_rbm

LAYERS = {
    "bernoulli": lambda: Bernoulli(5),
    "spin": lambda: Spin(5),
    "gaussian": lambda: Gaussian(5),
    "categorical": lambda: Categorical(3, 4),
    "joined": lambda: Joined(Bernoulli(3), Categorical(2, 3)),
    "relu": lambda: ReLU.from_params(torch.stack([torch.zeros(5), torch.full((5,), 3.0)])),
    "drelu": lambda: DReLU.from_params(torch.tensor([[0.0] * 5, [0.5] * 5, [3.0] * 5, [2.0] * 5])),
    # (theta, delta, gamma, eta) and (theta, delta, gamma, xi)
    "prelu": lambda: PReLU.from_params(torch.tensor([[0.0] * 5, [0.5] * 5, [2.4] * 5, [0.2] * 5])),
    "xrelu": lambda: XReLU.from_params(
        torch.tensor([[0.0] * 5, [0.5] * 5, [2.4] * 5, [-0.3] * 5])),
}


class Recorded:
    """A training method that remembers the negative samples it returned."""

    def __init__(self, method):
        self.method = method

    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        self.v_model = self.method.negative(rbm, v_data, inputs_h, generator=generator)
        return self.v_model


def _model(visible, hidden, seed=0):
    rbm = random_rbm(LAYERS[visible](), LAYERS[hidden](), seed=seed)
    if hidden == "gaussian":
        with torch.no_grad():
            rbm.hidden.params[1] = 1.5 + torch.rand(5, generator=torch.Generator().manual_seed(9))
    return rbm


@torch.no_grad()
def _data(rbm, n=11, seed=1):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, *rbm.visible.shape, generator=g, dtype=torch.float64)
    return rbm.visible.sample_from_inputs(inputs, generator=g)


def _params(rbm):
    return [rbm.weight, rbm.visible.params, rbm.hidden.params]


def _autograd(rbm, v_data, v_model, sparsity=None):
    loss = rbm.free_energy_visible(v_data).mean() - rbm.free_energy_visible(v_model).mean()
    if sparsity is not None:
        target, cost = sparsity
        q = rbm.mean_h_from_v(v_data).mean(0)
        loss = loss - cost * (target * q.log() + (1 - target) * (-q).log1p()).sum()
    return torch.autograd.grad(loss, _params(rbm))


def _check(rbm, v_data, method, sparsity=None, seed=2):
    recorded = Recorded(method)
    g = torch.Generator().manual_seed(seed)
    returned = compute_gradients(rbm, v_data, recorded, generator=g, sparsity=sparsity)
    assert returned is recorded.v_model  # the negative samples, in the visible shape
    expected = _autograd(rbm, v_data, recorded.v_model, sparsity)
    for p, e in zip(_params(rbm), expected, strict=True):
        torch.testing.assert_close(p.grad, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hidden", sorted(LAYERS))
@pytest.mark.parametrize("visible", sorted(LAYERS))
@pytest.mark.parametrize("make", [lambda: CD(1), lambda: PCD(7, k=2)], ids=["cd1", "pcd"])
def test_gradients_equal_autograd_of_the_free_energy_difference(visible, hidden, make):
    rbm = _model(visible, hidden)
    _check(rbm, _data(rbm), make())


def test_sparsity_penalty_gradient_equals_autograd():
    rbm = _model("bernoulli", "bernoulli")
    _check(rbm, _data(rbm), PCD(4), sparsity=(0.1, 0.3))


def test_probabilities_as_bernoulli_data_and_buffers_are_overwritten():
    rbm = _model("bernoulli", "bernoulli")
    g = torch.Generator().manual_seed(3)
    _check(rbm, torch.rand(9, 5, generator=g, dtype=torch.float64), CD(2))
    _check(rbm, _data(rbm, seed=4), CD(1), seed=5)  # .grad replaced, not accumulated


def test_centered_wrapper_sees_the_plain_gradient():
    rbm = _model("spin", "bernoulli")
    _check(rbm, _data(rbm), Centered(PCD(6)))


def test_frozen_layer_gets_no_gradient():
    rbm = _model("bernoulli", "gaussian")
    rbm.hidden.params.requires_grad_(False)
    v = _data(rbm)
    recorded = Recorded(CD(1))
    compute_gradients(rbm, v, recorded, generator=torch.Generator().manual_seed(0))
    assert rbm.hidden.params.grad is None
    loss = rbm.free_energy_visible(v).mean() - rbm.free_energy_visible(recorded.v_model).mean()
    expected = torch.autograd.grad(loss, [rbm.weight, rbm.visible.params])
    torch.testing.assert_close(rbm.weight.grad, expected[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(rbm.visible.params.grad, expected[1], rtol=1e-10, atol=1e-12)


class DoubledBernoulli(Bernoulli):
    """E(x) = -2 theta x: the bias gradient is twice the mean, not the mean.

    A subclass that changes the energy says it is no longer bias-only, and the
    layer's gradient then goes through autograd of its own energy and cgf.
    """

    bias_only = False

    def energy(self, x):
        return 2 * super().energy(x)

    def _field(self, inputs):
        return 2 * self.bias + inputs


@pytest.mark.parametrize("side", ["visible", "hidden"])
def test_subclasses_take_the_generic_path(side):
    layers = {"visible": Bernoulli(5), "hidden": Bernoulli(4)}
    layers[side] = DoubledBernoulli(layers[side].n_units)
    rbm = random_rbm(layers["visible"], layers["hidden"], seed=4)
    _check(rbm, _data(rbm), CD(1))



# ----- oracles independent of the library's free energy ---------------------------------
# The autograd oracle above differentiates the library's own F, so a normaliser or a
# factor wrong in F and in the fast path alike passes it. Below, every formula is
# written out by hand from E(v, h) = E_vis(v) + E_hid(h) - v W h (docs/math.md).
class Fixed:
    """A training method whose negative samples are given."""

    def __init__(self, v_model):
        self.v_model = v_model

    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        return self.v_model


def _hidden_mean(kind, field, precision=None):
    """E[h | field] by hand, field = c + v W."""
    if kind == "bernoulli":
        return 1 / (1 + torch.exp(-field))
    if kind == "spin":
        return (torch.exp(field) - torch.exp(-field)) / (torch.exp(field) + torch.exp(-field))
    if kind == "categorical":
        e = torch.exp(field - field.max(-1, keepdim=True).values)
        return e / e.sum(-1, keepdim=True)
    return field / precision  # gaussian


def _closed_form(rbm, visible, hidden, v, sign):
    """Per-batch-mean contributions ``sign * mean_b dF(v_b)/dparams`` by hand.

    F(v) = E_vis(v) - cgf_hid(c + v W), and d cgf / d field = E[h | v]:
    dF/dW = -v m', dF/db = -v, dF/dgamma_v = v^2 / 2, dF/dc = -m,
    dF/dgamma_h = (c + v W)^2 / (2 gamma_h^2) + 1 / (2 gamma_h) (Gaussian hidden:
    cgf = (c + I)^2 / (2 gamma) + log(2 pi / gamma) / 2).
    """
    n = v.shape[0]
    w = rbm.weight.detach().reshape(v[0].numel(), -1)
    c = rbm.hidden.params.detach()[0]
    field = (v.flatten(1) @ w).view(n, *rbm.hidden.shape) + c
    gamma_h = rbm.hidden.params.detach()[1] if hidden == "gaussian" else None
    m = _hidden_mean(hidden, field, gamma_h)
    d_w = -(v.flatten(1).T @ m.flatten(1)).view_as(rbm.weight) / n
    d_vis = [-v.mean(0)] + ([(v.square() / 2).mean(0)] if visible == "gaussian" else [])
    d_hid = [-m.mean(0)]
    if hidden == "gaussian":
        d_hid.append((field.square() / (2 * gamma_h**2) + 1 / (2 * gamma_h)).mean(0))
    return [sign * d_w, sign * torch.stack(d_vis), sign * torch.stack(d_hid)]


CLOSED = ["bernoulli", "spin", "gaussian", "categorical"]


@pytest.mark.parametrize("hidden", CLOSED)
@pytest.mark.parametrize("visible", CLOSED)
def test_gradients_equal_hand_written_closed_forms(visible, hidden):
    """dL/dW = -<v m'>_data + <v m'>_model, dL/db = -<v>_data + <v>_model,
    dL/dc = -<m>_data + <m>_model (m = E[h | v]), and the precisions' terms, for
    L = mean F(data) - mean F(model) with the model samples held fixed."""
    rbm = _model(visible, hidden)
    v_data, v_model = _data(rbm, n=9, seed=1), _data(rbm, n=13, seed=7)
    compute_gradients(rbm, v_data, Fixed(v_model))
    data_part = _closed_form(rbm, visible, hidden, v_data, 1.0)
    model_part = _closed_form(rbm, visible, hidden, v_model, -1.0)
    for p, a, b in zip(_params(rbm), data_part, model_part, strict=True):
        torch.testing.assert_close(p.grad, a + b, rtol=1e-10, atol=1e-12)


# ----- the exact log-likelihood gradient by enumeration --------------------------------
def _states(kind, layer):
    """Every state of a small discrete layer, by hand."""
    n = layer.n_units
    if kind == "categorical":
        k = layer.shape[1]
        idx = torch.tensor(list(itertools.product(range(k), repeat=n)))
        return torch.nn.functional.one_hot(idx, k).double()
    low = {"bernoulli": 0.0, "spin": -1.0}[kind]
    return torch.tensor(list(itertools.product([low, 1.0], repeat=n)), dtype=torch.float64)


def _log_unnormalised(rbm, hidden, v_all, params):
    """log sum_h exp(-E(v, h)) for every visible state, by hand: hidden states
    enumerated, or for Gaussian hidden units the Gaussian integral
    log int exp(-gamma h^2 / 2 + (c + vW) h) dh
    = (c + vW)^2 / (2 gamma) + log(2 pi / gamma) / 2."""
    w, b, c = params[0], params[1][0], params[2][0]
    n = v_all.shape[0]
    vis_term = (v_all * b).flatten(1).sum(1)
    field = (v_all.flatten(1) @ w.reshape(v_all[0].numel(), -1)).view(n, *rbm.hidden.shape) + c
    if hidden == "gaussian":
        g = params[2][1]
        return vis_term + (field.square() / (2 * g) + 0.5 * torch.log(2 * math.pi / g)).sum(1)
    h_all = _states(hidden, rbm.hidden)  # (m, *hidden.shape)
    joint = torch.einsum("nh,mh->nm", field.flatten(1), h_all.flatten(1))
    return vis_term + torch.logsumexp(joint, 1)


DISCRETE = ["bernoulli", "spin", "categorical"]


@pytest.mark.parametrize("hidden", [*DISCRETE, "gaussian"])
@pytest.mark.parametrize("visible", DISCRETE)
def test_exact_likelihood_gradient_by_enumeration(visible, hidden):
    """Averaged over exact model samples, the fast path is the gradient of the exact
    negative log-likelihood.

    The fast path is linear in the negative samples: run it once per visible state
    (one negative sample each) and weight by the exact p(v). The oracle is autograd
    of -mean log p(v_data), with log p written from the joint energy by enumeration.
    """
    layers = {"bernoulli": lambda: Bernoulli(4), "spin": lambda: Spin(4),
              "categorical": lambda: Categorical(2, 3), "gaussian": lambda: Gaussian(3)}
    rbm = random_rbm(layers[visible](), layers[hidden](), seed=3, scale=0.7)
    if hidden == "gaussian":
        with torch.no_grad():
            rbm.hidden.params[1] = torch.tensor([1.5, 2.0, 2.5], dtype=torch.float64)
    v_all = _states(visible, rbm.visible)
    v_data = _data(rbm, n=7, seed=5)
    params = [p.detach().clone().requires_grad_() for p in _params(rbm)]
    log_u = _log_unnormalised(rbm, hidden, v_all, params)
    log_p_all = log_u - torch.logsumexp(log_u, 0)
    log_p_data = _log_unnormalised(rbm, hidden, v_data, params) - torch.logsumexp(log_u, 0)
    expected = torch.autograd.grad(-log_p_data.mean(), params)

    p_v = log_p_all.detach().exp()
    total = [torch.zeros_like(p) for p in params]
    for p, v in zip(p_v, v_all, strict=True):
        compute_gradients(rbm, v_data, Fixed(v[None]))
        for t, q in zip(total, _params(rbm), strict=True):
            t.add_(p * q.grad)
    for t, e in zip(total, expected, strict=True):
        torch.testing.assert_close(t, e, rtol=1e-9, atol=1e-11)


def test_bernoulli_likelihood_gradient_is_data_minus_model_statistics():
    """-dlog p/dW = -<v h'>_{data, p(h|v)} + <v h'>_{p(v, h)}: the statistics themselves,
    from the joint distribution of a 4 x 3 Bernoulli RBM over all 128 states."""
    rbm = random_rbm(Bernoulli(4), Bernoulli(3), seed=6, scale=0.8)
    w, b, c = rbm.weight.detach(), rbm.visible.bias.detach(), rbm.hidden.bias.detach()
    v_all, h_all = _states("bernoulli", rbm.visible), _states("bernoulli", rbm.hidden)
    v, h = (t.reshape(-1, t.shape[-1]) for t in torch.meshgrid(
        torch.arange(16), torch.arange(8), indexing="ij"))
    vv, hh = v_all[v.flatten()], h_all[h.flatten()]
    energy = -vv @ b - hh @ c - ((vv @ w) * hh).sum(1)
    p_joint = torch.softmax(-energy, 0)
    model = (torch.einsum("s,si,sj->ij", p_joint, vv, hh), p_joint @ vv, p_joint @ hh)
    v_data = _data(rbm, n=10, seed=8)
    q = torch.sigmoid(v_data @ w + c)
    data = (v_data.T @ q / 10, v_data.mean(0), q.mean(0))
    p_v = p_joint.view(16, 8).sum(1)
    total = [torch.zeros_like(p) for p in _params(rbm)]
    for p, v_one in zip(p_v, v_all, strict=True):
        compute_gradients(rbm, v_data, Fixed(v_one[None]))
        for t, q in zip(total, _params(rbm), strict=True):
            t.add_(p * q.grad)
    torch.testing.assert_close(total[0], model[0] - data[0], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(total[1][0], model[1] - data[1], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(total[2][0], model[2] - data[2], rtol=1e-9, atol=1e-11)
