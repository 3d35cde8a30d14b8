"""ReLU and double-ReLU units against oracles that share no code with them.

The oracles: scipy's adaptive quadrature of ``exp(-E(h) + I h)`` for the cgf (and of
the joint energy over ``h`` for an RBM's free energy and log Z), autograd of the cgf
for the mean and of the mean for the variance, scipy's ``truncnorm`` for the law of
the samples, closed forms written with ``scipy.special.log_ndtr`` for log Z.
"""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import special, stats

import harmonium
from harmonium import PCD, RBM
from harmonium.partition import ais, reverse_ais
from harmonium.units import Bernoulli, DReLU, PReLU, ReLU, Units, XReLU, unit_type
from harmonium.units.relu import half_sample
from random_models import random_rbm
from relu_quadrature import log_quad_half

FIELDS = [-50.0, -20.0, -6.5, -3.0, -1.0, -0.2, 0.0, 0.3, 1.0, 3.0, 6.5, 20.0, 50.0]
# (theta_p, theta_m, gamma_p, gamma_m) of single DReLU units: asymmetric, both signs
DRELU_PARAMS = [(0.5, -0.3, 1.7, 0.6), (-1.0, 2.0, 0.4, 3.0), (0.0, 0.0, 1.0, 1.0)]
RELU_PARAMS = [(0.5, 1.7), (-1.0, 0.4), (2.0, 3.0)]  # (theta, gamma)


def _relu(theta, gamma, dtype=torch.float64):
    return ReLU.from_params(torch.tensor([theta, gamma], dtype=dtype).view(2, -1),
                           requires_grad=False)


def _drelu(params, dtype=torch.float64):
    return DReLU.from_params(torch.tensor(params, dtype=dtype).view(4, -1), requires_grad=False)


def _fields(dtype=torch.float64):
    return torch.tensor(FIELDS, dtype=dtype)[:, None]  # (batch, 1): one unit


# ----- oracles ------------------------------------------------------------------------
def _log_closed_half(field, gamma):
    """The same integral by completing the square: phi^2/(2 gamma) + log sqrt(2 pi/gamma)
    + log Phi(phi / sqrt gamma), with scipy's log_ndtr."""
    return (field**2 / (2 * gamma) + 0.5 * math.log(2 * math.pi / gamma)
            + special.log_ndtr(field / math.sqrt(gamma)))


def _relu_quad(theta, gamma, field):
    return log_quad_half(theta + field, gamma)


def _drelu_quad(params, field):
    tp, tm, gp, gm = params
    return np.logaddexp(log_quad_half(tp + field, gp), log_quad_half(-(tm + field), gm))


def _layers():
    out = [(f"relu{i}", _relu(*p)) for i, p in enumerate(RELU_PARAMS)]
    out += [(f"drelu{i}", _drelu(p)) for i, p in enumerate(DRELU_PARAMS)]
    # the dReLU energy reparametrised: (theta, delta, gamma, eta) and (theta, delta, gamma, xi)
    for name, kind, params in [("prelu0", PReLU, (0.3, 0.7, 1.4, 0.4)),
                               ("prelu1", PReLU, (-0.5, -0.6, 0.8, -0.7)),
                               ("xrelu0", XReLU, (0.3, 0.7, 1.4, -2.0))]:
        out.append((name, kind.from_params(torch.tensor(params, dtype=torch.float64).view(4, -1),
                                           requires_grad=False)))
    return out


LAYERS = dict(_layers())


# ----- cgf, mean, variance -------------------------------------------------------------
@pytest.mark.parametrize("params", RELU_PARAMS)
def test_relu_cgf_matches_quadrature(params):
    got = _relu(*params).cgf(_fields())
    expected = torch.tensor([_relu_quad(*params, f) for f in FIELDS], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("params", DRELU_PARAMS)
def test_drelu_cgf_matches_quadrature(params):
    got = _drelu(params).cgf(_fields())
    expected = torch.tensor([_drelu_quad(params, f) for f in FIELDS], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mean_is_the_cgf_gradient_and_variance_the_mean_gradient(name):
    layer = LAYERS[name]
    inputs = _fields().requires_grad_(True)
    (mean,) = torch.autograd.grad(layer.cgf(inputs).sum(), inputs)
    torch.testing.assert_close(layer.mean_from_inputs(inputs.detach()), mean,
                               rtol=1e-9, atol=1e-12)
    (var,) = torch.autograd.grad(layer.mean_from_inputs(inputs).sum(), inputs)
    torch.testing.assert_close(layer.var_from_inputs(inputs.detach()), var,
                               rtol=1e-7, atol=1e-12)
    assert (layer.var_from_inputs(inputs.detach()) > 0).all()


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_far_fields_stay_finite(name, dtype):
    layer = copy.deepcopy(LAYERS[name]).to(dtype)  # .to casts in place: keep LAYERS as is
    inputs = torch.tensor([-1e6, -1e3, -50.0, 50.0, 1e3, 1e6], dtype=dtype)[:, None]
    for f in (layer.cgf, layer.mean_from_inputs, layer.var_from_inputs,
              lambda i: layer.sample_from_inputs(i, generator=torch.Generator())):
        assert torch.isfinite(f(inputs)).all()
    assert (layer.var_from_inputs(inputs) >= 0).all()


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_relu_far_tail_moments_are_those_of_the_exponential_limit(dtype, rtol):
    """For phi = theta + I -> -inf (gamma = 1) the unit tends to an exponential of rate
    |phi|: mean (1 - 2/phi^2 + 10/phi^4) / |phi| and variance (1 - 6/phi^2) / phi^2 up
    to relative O(phi^-4), where lambda(a) - a would have lost every digit."""
    layer = _relu(0.0, 1.0, dtype)
    phi = torch.tensor([[-1e3], [-1e4], [-1e5]], dtype=dtype)
    mean, var = layer.mean_from_inputs(phi)[:, 0], layer.var_from_inputs(phi)[:, 0]
    a = phi[:, 0].double().abs()
    torch.testing.assert_close(mean.double(), (1 - 2 / a**2 + 10 / a**4) / a, rtol=rtol, atol=0)
    torch.testing.assert_close(var.double(), (1 - 6 / a**2) / a**2, rtol=rtol, atol=0)


# ----- samples --------------------------------------------------------------------------
def _draws(layer, field, n=200_000, seed=3):
    inputs = torch.full((n, 1), field, dtype=torch.float64)
    x = layer.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(seed))
    layer.check_support(x)
    first = inputs[:1]
    return x[:, 0], layer.mean_from_inputs(first)[0, 0], layer.var_from_inputs(first)[0, 0]


@pytest.mark.parametrize("field", [-50.0, -6.5, -1.0, 0.0, 2.0, 50.0])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_sample_moments_within_five_standard_errors(name, field):
    x, mean, var = _draws(LAYERS[name], field)
    n = x.shape[0]
    centred = x - x.mean()
    m4 = centred.pow(4).mean()
    assert abs(x.mean() - mean) <= 5 * math.sqrt(var / n)
    # the sample variance's standard error from the sample's fourth central moment
    assert abs(x.var() - var) <= 5 * math.sqrt((m4 - var**2).clamp_min(0) / n)


@pytest.mark.parametrize("field", [-50.0, -4.0, 0.0, 2.5, 40.0])
def test_relu_samples_follow_the_truncated_normal(field):
    """Kolmogorov-Smirnov against scipy's truncnorm, in the far tail as in the bulk."""
    theta, gamma = RELU_PARAMS[0]
    x, _, _ = _draws(_relu(theta, gamma), field, n=50_000, seed=4)
    sigma = 1 / math.sqrt(gamma)
    loc = (theta + field) / gamma
    law = stats.truncnorm(-loc / sigma, np.inf, loc=loc, scale=sigma)
    assert stats.kstest(x.numpy(), law.cdf).pvalue > 1e-3


def test_inverse_cdf_solves_its_equation_across_the_tail():
    """The draw from uniform w is the quantile: log Q(a + d) - log Q(a) = log(1 - w) for
    h = sigma d, a = -field sigma, checked with scipy's log_ndtr from the bulk (a < 0)
    through both sampling branches to a = 1000."""
    a = torch.tensor([-30.0, -2.0, 0.0, 1.0, 2.9, 3.0, 5.0, 8.0, 20.0, 1e3], dtype=torch.float64)
    w = torch.tensor([0.0, 1e-12, 0.1, 0.5, 0.9, 1 - 1e-9], dtype=torch.float64)
    gamma = torch.tensor(2.5, dtype=torch.float64)
    sigma = gamma.rsqrt()
    field = (-a * sigma.reciprocal())[:, None].expand(-1, len(w))
    h = half_sample(field, gamma, w.expand_as(field))
    assert (h >= 0).all()
    a_np, d = a.numpy()[:, None], (h / sigma).numpy()
    residual = special.log_ndtr(-(a_np + d)) - special.log_ndtr(-a_np) - np.log1p(-w.numpy())
    assert np.all(np.abs(residual) <= 1e-12 * (1 + a_np**2)), residual


def _half_law(field, gamma):
    """scipy's truncnorm for the density ∝ exp(-gamma h^2 / 2 + field h) on h >= 0."""
    sigma, loc = 1 / math.sqrt(gamma), field / gamma
    return stats.truncnorm(-loc / sigma, np.inf, loc=loc, scale=sigma)


MIXED = [-50.0, 0.3, -6.5, 40.0, -3.5, 12.0]  # near and far-tail entries in one call


@pytest.mark.parametrize("kind", ["relu", "drelu"])
def test_samples_of_mixed_fields_in_one_call_follow_their_laws(kind):
    """One call whose entries take both sampling branches (ndtri and Newton) and, for
    dReLU, both sides: each column against its exact CDF (Kolmogorov-Smirnov)."""
    n = len(MIXED)
    if kind == "relu":
        layer = ReLU.from_params(torch.tensor([[0.5] * n, [1.7] * n], dtype=torch.float64),
                                 requires_grad=False)
    else:
        layer = DReLU.from_params(torch.tensor([[0.5] * n, [-0.3] * n, [1.7] * n, [0.6] * n],
                                               dtype=torch.float64), requires_grad=False)
    inputs = torch.tensor(MIXED, dtype=torch.float64).expand(20_000, n)
    x = layer.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(6))
    for j, field in enumerate(MIXED):
        if kind == "relu":
            cdf = _half_law(0.5 + field, 1.7).cdf
        else:
            log_p, log_m = _log_closed_half(0.5 + field, 1.7), _log_closed_half(0.3 - field, 0.6)
            p_pos = 1 / (1 + math.exp(min(log_m - log_p, 700.0)))
            pos, neg = _half_law(0.5 + field, 1.7), _half_law(0.3 - field, 0.6)

            def cdf(h, p_pos=p_pos, pos=pos, neg=neg):
                return np.where(h < 0, (1 - p_pos) * neg.sf(-h),
                                (1 - p_pos) + p_pos * pos.cdf(np.maximum(h, 0)))
        assert stats.kstest(x[:, j].numpy(), cdf).pvalue > 1e-3, field


def test_drelu_samples_pick_each_side_with_its_probability():
    params = DRELU_PARAMS[0]
    x, _, _ = _draws(_drelu(params), 0.2, n=100_000, seed=5)
    tp, tm, gp, gm = params
    log_p = _log_closed_half(tp + 0.2, gp)
    p_pos = 1 / (1 + math.exp(_log_closed_half(-(tm + 0.2), gm) - log_p))
    frac = (x > 0).double().mean().item()
    assert abs(frac - p_pos) <= 5 * math.sqrt(p_pos * (1 - p_pos) / x.shape[0])


def test_same_generator_same_samples():
    layer = LAYERS["drelu0"]
    inputs = torch.randn(7, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = layer.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(9))
    b = layer.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


# ----- energy, mode, support, layout ----------------------------------------------------
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mode_maximises_the_log_density_on_a_grid(name):
    layer = LAYERS[name]
    grid = torch.linspace(-30, 30, 600_001, dtype=torch.float64)[:, None]
    for field in (-3.0, -0.4, 0.0, 0.7, 4.0):
        log_w = -layer.energy(grid) + field * grid[:, 0]
        best = grid[log_w.argmax(), 0]
        mode = layer.mode_from_inputs(torch.tensor([[field]], dtype=torch.float64))[0, 0]
        assert abs(mode - best) <= 1e-4


def test_energies_by_hand():
    relu = _relu(0.5, 1.7)
    h = torch.tensor([[0.0], [2.0], [-1.0]], dtype=torch.float64)
    assert relu.energy(h).tolist() == pytest.approx([0.0, 1.7 * 2 - 1.0, math.inf])
    drelu = _drelu((0.5, -0.3, 1.7, 0.6))
    assert drelu.energy(h).tolist() == pytest.approx([0.0, 1.7 * 2 - 1.0, 0.3 - 0.3])


def test_support_checks_and_sizes():
    with pytest.raises(ValueError, match=">= 0"):
        ReLU(2).check_support(torch.tensor([[0.5, -0.1]]))
    with pytest.raises(ValueError, match="finite"):
        ReLU(2).check_support(torch.tensor([[0.5, math.inf]]))
    with pytest.raises(ValueError, match="finite"):
        DReLU(2).check_support(torch.tensor([[-3.0, math.nan]]))
    DReLU(2).check_support(torch.tensor([[-3.0, 2.0]]))
    for kind in (ReLU, DReLU):
        with pytest.raises(ValueError, match=">="):
            kind(0)
        with pytest.raises(TypeError, match="integer"):
            kind(2.5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_scaled_mixed_annealing_start_and_state(name):
    layer = LAYERS[name]
    other = layer.with_params(layer.params.detach() * torch.tensor(0.5, dtype=torch.float64))
    x = layer.sample_from_inputs(_fields(), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(layer.scaled(0.3).energy(x), 0.3 * layer.energy(x))
    torch.testing.assert_close(layer.mixed(other, 0.3).energy(x),
                               0.7 * other.energy(x) + 0.3 * layer.energy(x))
    start = layer.with_params(layer.annealing_start())
    assert (start.params[: len(start.param_names) // 2] == 0).all()  # the fields
    assert torch.isfinite(start.cgf(torch.zeros(1, 1, dtype=torch.float64))).all()
    back = Units.layer_from_state(layer.to_state())
    assert type(back) is unit_type(type(layer).__name__) and back.layout() == layer.layout()
    torch.testing.assert_close(back.params, layer.params)


def test_annealing_start_is_the_layer_without_its_fields():
    relu, drelu = LAYERS["relu0"], LAYERS["drelu0"]
    h = torch.tensor([[-1.5], [0.0], [2.0]], dtype=torch.float64)
    start = drelu.with_params(drelu.annealing_start())
    gp, gm = drelu.params[2:, 0].tolist()
    expected = [gm * 1.5**2 / 2, 0.0, gp * 2.0**2 / 2]
    assert start.energy(h).tolist() == pytest.approx(expected)
    start = relu.with_params(relu.annealing_start())
    assert start.energy(h[1:]).tolist() == pytest.approx([0.0, relu.params[1, 0].item() * 2])


def test_project_keeps_precisions_positive():
    for layer in (ReLU(3), DReLU(3)):
        with torch.no_grad():
            layer.params.fill_(-1.0)
        layer.project_()
        precisions = [i for i, name in enumerate(layer.param_names) if "precision" in name]
        assert layer.params[precisions].gt(0).all()


# ----- in an RBM: free energy, log Z by AIS, save/load, training -------------------------
def _rbm(hidden, n_visible=6, seed=0):
    """Bernoulli visible units and ReLU or DReLU hidden units with unequal precisions."""
    rbm = random_rbm(Bernoulli(n_visible), hidden, seed=seed, scale=0.7)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        n = hidden.n_units
        for i, name in enumerate(rbm.hidden.param_names):
            if "precision" in name:
                rbm.hidden.params[i] = 0.6 + 2 * torch.rand(n, generator=g, dtype=torch.float64)
            else:
                rbm.hidden.params[i] = torch.randn(n, generator=g, dtype=torch.float64)
    return rbm


def _hidden_log_integrals(rbm, v, log_half):
    """sum_j log int exp(-E_j(h) + (vW)_j h) dh for each row of v: the joint integrand
    factorises over the hidden units given v, so each is a 1-D integral by log_half."""
    p = rbm.hidden.params.detach().numpy()
    field = (v @ rbm.weight.detach()).numpy()
    out = np.zeros(v.shape[0])
    for b, j in itertools.product(range(v.shape[0]), range(rbm.hidden.n_units)):
        if p.shape[0] == 2:  # ReLU: theta, gamma
            out[b] += log_half(p[0, j] + field[b, j], p[1, j])
        else:  # DReLU: theta_p, theta_m, gamma_p, gamma_m
            out[b] += np.logaddexp(log_half(p[0, j] + field[b, j], p[2, j]),
                                   log_half(-(p[1, j] + field[b, j]), p[3, j]))
    return torch.from_numpy(out)


def _all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _exact_log_z(rbm):
    v = _all_binary(rbm.visible.n_units)
    log_u = v @ rbm.visible.bias.detach() + _hidden_log_integrals(rbm, v, _log_closed_half)
    return torch.logsumexp(log_u, 0).item(), v, log_u


@pytest.mark.parametrize("hidden", [ReLU, DReLU])
def test_free_energy_matches_integration_over_h(hidden):
    rbm = _rbm(hidden(3))
    v = _all_binary(6)[[0, 5, 22, 41, 63]]
    expected = -(v @ rbm.visible.bias.detach()) - _hidden_log_integrals(rbm, v, log_quad_half)
    torch.testing.assert_close(rbm.free_energy(v).detach(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("hidden", [ReLU, DReLU])
def test_ais_and_reverse_ais_bracket_the_exact_log_z(hidden):
    """Forward AIS from the visible biases and reverse AIS from exact model samples
    (drawn from p(v) by enumerating the 16 visible states) bracket log Z, which is the
    log-sum over v of closed-form hidden integrals (scipy's log_ndtr)."""
    rbm = _rbm(hidden(3), n_visible=4, seed=2)
    exact, v_all, log_u = _exact_log_z(rbm)
    betas = torch.linspace(0, 1, 200)
    forward = ais(rbm, 2000, betas=betas, generator=torch.Generator().manual_seed(3),
                  progress=False)
    low, high = forward.bracket(5)
    assert low < exact < high
    assert forward.log_z == pytest.approx(exact, abs=0.05)
    pick = torch.multinomial(torch.softmax(log_u, 0), 500, replacement=True,
                             generator=torch.Generator().manual_seed(4))
    backward = reverse_ais(rbm, v_all[pick], betas=betas,
                           generator=torch.Generator().manual_seed(5), progress=False)
    low, high = backward.bracket(5)
    assert low < exact < high
    assert backward.log_z == pytest.approx(exact, abs=0.05)


@pytest.mark.parametrize("hidden", [ReLU, DReLU])
def test_save_load_round_trip(hidden, tmp_path):
    rbm = _rbm(hidden(3))
    path = tmp_path / "relu.safetensors"
    harmonium.save(rbm, path)
    back = harmonium.load(path)
    assert type(back.hidden) is hidden and back.hidden.layout() == rbm.hidden.layout()
    torch.testing.assert_close(back.hidden.params, rbm.hidden.params)
    v = _all_binary(6)
    torch.testing.assert_close(back.free_energy(v), rbm.free_energy(v))
    h = back.sample_h_from_v(v, generator=torch.Generator().manual_seed(0))
    back.hidden.check_support(h)


@pytest.mark.parametrize("hidden", [ReLU, DReLU])
def test_short_fit_on_binary_data_stays_finite(hidden):
    rbm = RBM(Bernoulli(8), hidden(4), generator=torch.Generator().manual_seed(0))
    data = torch.randint(0, 2, (200, 8), generator=torch.Generator().manual_seed(1)).float()
    history = harmonium.fit(rbm, data, PCD(20), epochs=4, batch_size=20, lr=0.05,
                            generator=torch.Generator().manual_seed(2), progress=False)
    assert all(torch.isfinite(p).all() for p in rbm.parameters())
    precisions = [i for i, name in enumerate(rbm.hidden.param_names) if "precision" in name]
    assert rbm.hidden.params[precisions].gt(0).all()
    assert all(math.isfinite(x) for x in history["pseudo_ll"])
    assert torch.isfinite(rbm.free_energy(data)).all()


@pytest.mark.parametrize("hidden", [ReLU, DReLU])
def test_gibbs_sweeps_keep_the_exact_distribution(hidden):
    """Chains started from exact p(v) (enumeration of 16 states, closed-form hidden
    integrals) stay distributed as p(v) after Gibbs sweeps through the hidden units:
    a chi-square test of the state counts."""
    rbm = _rbm(hidden(3), n_visible=4, seed=7)
    _, v_all, log_u = _exact_log_z(rbm)
    p = torch.softmax(log_u, 0)
    g = torch.Generator().manual_seed(8)
    start = v_all[torch.multinomial(p, 40_000, replacement=True, generator=g)]
    v = rbm.gibbs(start, 3, generator=g).detach()
    index = (v @ torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=torch.float64)).long()
    counts = torch.bincount(index, minlength=16).numpy()
    assert stats.chisquare(counts, p.numpy() * len(v)).pvalue > 1e-3
