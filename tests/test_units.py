"""Conformance loop over every unit type, against closed forms and autograd."""

import itertools
import math

import pytest
import torch

from harmonium.units import Bernoulli, Categorical, Gaussian, Joined, Spin


def _layer(kind):
    g = torch.Generator().manual_seed(1)
    layer = {
        "bernoulli": lambda: Bernoulli(5),
        "spin": lambda: Spin(5),
        "gaussian": lambda: Gaussian(5),
        "categorical": lambda: Categorical(4, 3),
        "joined": lambda: Joined(Bernoulli(2), Categorical(2, 3)),
    }[kind]()
    with torch.no_grad():
        layer.params.copy_(torch.randn(layer.params.shape, generator=g))
        if kind == "gaussian":
            layer.params[1] = 0.5 + torch.rand(5, generator=g) * 2
    return layer.double()


KINDS = ["bernoulli", "spin", "gaussian", "categorical", "joined"]


def _inputs(layer, batch=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *layer.shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_cgf_gradient_is_mean(kind):
    layer = _layer(kind)
    inputs = _inputs(layer).requires_grad_(True)
    (grad,) = torch.autograd.grad(layer.cgf(inputs).sum(), inputs)
    torch.testing.assert_close(grad, layer.mean_from_inputs(inputs.detach()))


@pytest.mark.parametrize("kind", ["bernoulli", "spin", "categorical"])
def test_cgf_matches_enumeration(kind):
    layer = _layer(kind)
    inputs = _inputs(layer)
    states = torch.cat(list(layer.enumerate_states()))
    # log sum_x exp(-E(x) + <I, x>) for each input row, by brute force
    logits = -layer.energy(states)[None, :] + torch.einsum("b...,s...->bs", inputs, states)
    torch.testing.assert_close(layer.cgf(inputs), torch.logsumexp(logits, 1))


def test_gaussian_cgf_matches_quadrature():
    layer = _layer("gaussian")
    inputs = _inputs(layer, batch=2)
    x = torch.linspace(-40, 40, 400001, dtype=torch.float64)
    gamma, theta = layer.precision.detach(), layer.bias.detach()
    expected = torch.zeros(2, dtype=torch.float64)
    for i in range(5):
        log_integrand = -(gamma[i] * x**2 / 2 - theta[i] * x) + inputs[:, i : i + 1] * x
        expected += torch.logsumexp(log_integrand, 1) + math.log(x[1] - x[0])
    torch.testing.assert_close(layer.cgf(inputs), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_moments_match_mean_and_var(kind):
    layer = _layer(kind)
    inputs = _inputs(layer, batch=1).expand(40000, *layer.shape)
    g = torch.Generator().manual_seed(3)
    x = layer.sample_from_inputs(inputs, generator=g)
    layer.check_support(x)
    mean, var = layer.mean_from_inputs(inputs[:1])[0], layer.var_from_inputs(inputs[:1])[0]
    n = x.shape[0]
    # 5 standard errors of the sample mean, and of the sample variance (kurtosis <= 3 var^2)
    assert (x.mean(0) - mean).abs().le(5 * (var / n).sqrt() + 1e-12).all()
    assert (x.var(0) - var).abs().le(5 * var * math.sqrt(3 / n) + 1e-3).all()


@pytest.mark.parametrize("kind", ["bernoulli", "spin", "categorical"])
def test_mode_is_most_probable_state(kind):
    layer = _layer(kind)
    inputs = _inputs(layer)
    states = torch.cat(list(layer.enumerate_states()))
    logits = -layer.energy(states)[None, :] + torch.einsum("b...,s...->bs", inputs, states)
    torch.testing.assert_close(layer.mode_from_inputs(inputs), states[logits.argmax(1)])


def test_energy_closed_forms():
    b = _layer("bernoulli")
    x = torch.tensor([[1.0, 0, 1, 1, 0]], dtype=torch.float64)
    assert b.energy(x).item() == pytest.approx(-(b.bias[0] + b.bias[2] + b.bias[3]).item())
    g = _layer("gaussian")
    y = torch.arange(5, dtype=torch.float64)[None]
    expected = sum(g.precision[i] * i * i / 2 - g.bias[i] * i for i in range(5))
    assert g.energy(y).item() == pytest.approx(expected.item())
    c = _layer("categorical")
    idx = [0, 2, 1, 1]
    onehot = torch.nn.functional.one_hot(torch.tensor([idx]), 3).double()
    assert c.energy(onehot).item() == pytest.approx(
        -sum(c.bias[i, s] for i, s in enumerate(idx)).item()
    )


def test_spin_mode_ties_go_up():
    s = Spin(3)
    assert s.mode_from_inputs(torch.zeros(1, 3)).tolist() == [[1.0, 1.0, 1.0]]


@pytest.mark.parametrize("kind", KINDS)
def test_scaled_and_mixed_are_linear_in_energy(kind):
    layer, other = _layer(kind), _layer(kind)
    with torch.no_grad():
        other.params.mul_(-0.5)
    x = layer.sample_from_inputs(_inputs(layer), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(layer.scaled(0.3).energy(x), 0.3 * layer.energy(x))
    torch.testing.assert_close(
        layer.mixed(other, 0.3).energy(x), 0.7 * other.energy(x) + 0.3 * layer.energy(x)
    )


@pytest.mark.parametrize(
    ("layer", "bad"),
    [
        (Bernoulli(2), [[0.5, 1.0]]),
        (Spin(2), [[0.0, 1.0]]),
        (Categorical(2, 3), [[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]),
        (Categorical(2, 3), [[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]),
    ],
)
def test_check_support_rejects_values_outside_support(layer, bad):
    with pytest.raises(ValueError, match="must"):
        layer.check_support(torch.tensor(bad))


@pytest.mark.parametrize(
    "ctor", [lambda: Bernoulli(0), lambda: Spin(-1), lambda: Categorical(3, 1)]
)
def test_bad_sizes(ctor):
    with pytest.raises(ValueError, match=">="):
        ctor()


def test_bad_size_type():
    with pytest.raises(TypeError, match="integer"):
        Gaussian(2.5)


def test_enumerate_states_counts():
    assert sum(len(c) for c in Categorical(3, 3).enumerate_states(chunk=5)) == 27
    states = torch.cat(list(Spin(3).enumerate_states()))
    assert {tuple(s) for s in states.tolist()} == set(itertools.product((-1.0, 1.0), repeat=3))


@pytest.mark.parametrize("kind", KINDS)
def test_fit_independent_matches_the_data_moments(kind):
    """The fitted independent layer's mean is the data mean (up to the pseudo-counts)."""
    layer = _layer(kind)
    g = torch.Generator().manual_seed(4)
    x = layer.sample_from_inputs(_inputs(layer, batch=1).expand(5000, *layer.shape), generator=g)
    fitted = layer.fit_independent(x)
    assert fitted.layout() == layer.layout() and not fitted.params.requires_grad
    zeros = torch.zeros(1, *layer.shape, dtype=torch.float64)
    torch.testing.assert_close(fitted.mean_from_inputs(zeros)[0], x.mean(0), atol=2e-3, rtol=0)
    if kind == "gaussian":
        torch.testing.assert_close(fitted.var_from_inputs(zeros)[0], x.var(0, unbiased=False))


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trip_keeps_type_and_layout(kind):
    layer = _layer(kind)
    back = type(layer).layer_from_state(layer.to_state())
    assert back.layout() == layer.layout()
    torch.testing.assert_close(back.params, layer.params)


@pytest.mark.parametrize("kind", KINDS)
def test_annealing_start_zeroes_the_bias_and_stays_proper(kind):
    layer = _layer(kind)
    start = layer.with_params(layer.annealing_start())
    assert (start.bias == 0).all()
    assert torch.isfinite(start.cgf(torch.zeros(1, *layer.shape, dtype=torch.float64))).all()


def test_unknown_unit_type_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown unit type 'Nope'"):
        Bernoulli.layer_from_state({"type": "Nope", "params": torch.zeros(1, 2)})
