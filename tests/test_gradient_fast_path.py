"""compute_gradients (no autograd graph over the batch) against autograd of the loss.

The oracle is autograd of ``mean F(v_data) - mean F(v_model)`` through every parameter,
with ``F`` the RBM's own free energy and ``v_model`` the negative samples the method
returned; in float64 the two must agree to rounding, for every pair of unit types.
"""

import pytest
import torch

from harmonium import CD, PCD
from harmonium.training import compute_gradients
from harmonium.training.centering import Centered
from harmonium.units import Bernoulli, Categorical, Gaussian, Spin
from harmonium.units.joined import Joined
from random_models import random_rbm

LAYERS = {
    "bernoulli": lambda: Bernoulli(5),
    "spin": lambda: Spin(5),
    "gaussian": lambda: Gaussian(5),
    "categorical": lambda: Categorical(3, 4),
    "joined": lambda: Joined(Bernoulli(3), Categorical(2, 3)),
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

