"""The maximum-likelihood independent ReLU-family layer (the AIS base fitted to data).

Oracles: the likelihood's stationarity conditions (the fitted density's moments, by
scipy quadrature, equal the smoothed data moments), recovery of the parameters that
drew the data, and AIS with the fitted base against log Z by enumeration of the
hidden states and quadrature of the visible integrals.
"""

import math

import numpy as np
import pytest
import torch
from scipy import special

from harmonium import RBM
from harmonium.partition import ais
from harmonium.units import Bernoulli, DReLU, PReLU, ReLU, XReLU
from harmonium.units.base import SMOOTHING
from harmonium.units.relu import MIN_PRECISION
from relu_quadrature import log_quad_half

TWO_SIDED = {"drelu": DReLU, "prelu": PReLU, "xrelu": XReLU}
# rows (theta_p, theta_m, gamma_p, gamma_m), columns the units: a double well, a
# skewed one, one with nearly all its mass below zero
TRUE_DRELU = [[1.5, -0.5, 0.0], [-1.5, 0.3, -3.0], [2.0, 0.5, 1.0], [1.0, 3.0, 0.7]]


def _drelu_layer(params):
    return DReLU.from_params(torch.tensor(params, dtype=torch.float64), requires_grad=False)


def _samples(layer, n, seed):
    zeros = torch.zeros(n, layer.n_units, dtype=torch.float64)
    return layer.sample_from_inputs(zeros, generator=torch.Generator().manual_seed(seed))


def _side_moment(field, gamma, power):
    """E[y^power] under one mirrored side's normalised density, by quadrature."""
    return math.exp(log_quad_half(field, gamma, power) - log_quad_half(field, gamma))


def _smoothed(y, pseudo):
    return (float(np.sum(y)) + SMOOTHING * pseudo) / (len(y) + SMOOTHING)


@pytest.mark.parametrize("kind", sorted(TWO_SIDED))
def test_drelu_family_fit_matches_the_smoothed_data_moments(kind):
    x = _samples(_drelu_layer(TRUE_DRELU), 3000, seed=1)
    fitted = TWO_SIDED[kind](3).double().fit_independent(x)
    assert type(fitted) is TWO_SIDED[kind] and not fitted.params.requires_grad
    theta_p, theta_m, gamma_p, gamma_m = fitted.drelu_params().tolist()
    c = 1 / math.sqrt(2 * math.pi)  # E[max(z, 0)] of the standard normal pseudo-samples
    for j in range(3):
        pos, neg = x[:, j].clamp(min=0).numpy(), -x[:, j].clamp(max=0).numpy()
        log_z = np.array([log_quad_half(theta_p[j], gamma_p[j]),
                          log_quad_half(-theta_m[j], gamma_m[j])])
        p_pos, p_neg = np.exp(log_z - special.logsumexp(log_z))
        for side, p, field, gamma in [(pos, p_pos, theta_p[j], gamma_p[j]),
                                      (neg, p_neg, -theta_m[j], gamma_m[j])]:
            model = [p * _side_moment(field, gamma, k) for k in (1, 2)]
            data = [_smoothed(side, c), _smoothed(side**2, 0.5)]
            np.testing.assert_allclose(model, data, rtol=1e-5, atol=1e-7)


def test_relu_fit_matches_the_smoothed_data_moments_and_recovers_its_parameters():
    true = torch.tensor([[0.7, -1.0], [1.5, 0.4]], dtype=torch.float64)
    x = _samples(ReLU.from_params(true, requires_grad=False), 100_000, seed=2)
    fitted = ReLU(2).double().fit_independent(x)
    theta, gamma = fitted.params.tolist()
    for j in range(2):
        y = x[:, j].numpy()
        model = [_side_moment(theta[j], gamma[j], k) for k in (1, 2)]
        data = [_smoothed(y, 2 / math.sqrt(2 * math.pi)), _smoothed(y**2, 1.0)]
        np.testing.assert_allclose(model, data, rtol=1e-5)
    torch.testing.assert_close(fitted.params, true, rtol=0.05, atol=0.05)


def test_drelu_fit_recovers_the_parameters_that_drew_the_data():
    # units 0 and 1 carry mass on both sides; unit 2's positive side holds little, so
    # only its negative side is pinned down (three seeds: theta_p 0.10, -0.19, -0.04)
    x = _samples(_drelu_layer(TRUE_DRELU), 200_000, seed=3)
    fitted = DReLU(3).double().fit_independent(x).params
    truth = torch.tensor(TRUE_DRELU, dtype=torch.float64)
    torch.testing.assert_close(fitted[:, :2], truth[:, :2], rtol=0.05, atol=0.06)
    torch.testing.assert_close(fitted[[1, 3], 2], truth[[1, 3], 2], rtol=0.03, atol=0.0)


@pytest.mark.parametrize("seed", range(20))
def test_one_sided_or_constant_data_give_a_proper_finite_layer(seed):
    g = torch.Generator().manual_seed(seed)
    uniform = torch.rand(40, 2, generator=g, dtype=torch.float64)
    for data in (torch.zeros(40, 2, dtype=torch.float64), uniform + 0.1, -uniform):
        for kind in (DReLU, PReLU, XReLU) + ((ReLU,) if (data >= 0).all() else ()):
            fitted = kind(2).double().fit_independent(data)
            zeros = torch.zeros(1, 2, dtype=torch.float64)
            assert torch.isfinite(fitted.params).all()
            assert torch.isfinite(fitted.cgf(zeros)).all()
            low, _ = fitted.precision_range()
            assert (low >= MIN_PRECISION * (1 - 1e-9)).all()
            # the pseudo-samples keep the fitted mean a shrunk data mean
            assert (fitted.mean_from_inputs(zeros)[0] - data.mean(0)).abs().max() < 0.1


def _exact_log_z(rbm):
    """log sum_h exp(c.h) prod_i int exp(-E_i(v) + v (W h)_i) dv, the integrals by quad."""
    theta_p, theta_m, gamma_p, gamma_m = rbm.visible.drelu_params().detach().tolist()
    n_hidden = rbm.hidden.n_units
    states = torch.tensor(np.indices((2,) * n_hidden).reshape(n_hidden, -1).T,
                          dtype=torch.float64)
    inputs = (states @ rbm.weight.detach().T).numpy()
    log_u = (states @ rbm.hidden.bias.detach()).numpy() + np.array(
        [sum(np.logaddexp(log_quad_half(theta_p[i] + f[i], gamma_p[i]),
                          log_quad_half(-(theta_m[i] + f[i]), gamma_m[i]))
             for i in range(len(f))) for f in inputs])
    return float(special.logsumexp(log_u))


@pytest.mark.parametrize("kind", sorted(TWO_SIDED))
def test_ais_with_a_base_fitted_to_visible_data_against_enumeration(kind):
    g = torch.Generator().manual_seed(4)
    rbm = RBM(TWO_SIDED[kind](4), Bernoulli(5), weight_std=0.5, generator=g).double()
    with torch.no_grad():
        rbm.hidden.params[0] = torch.randn(5, generator=g)
    exact = _exact_log_z(rbm)
    h = (torch.rand(2000, 5, generator=g) < 0.5).double()
    data = rbm.visible.sample_from_inputs(h @ rbm.weight.detach().T, generator=g)
    result = ais(rbm, 500, betas=torch.linspace(0, 1, 300), base=data,
                 generator=torch.Generator().manual_seed(5), progress=False)
    low, high = result.bracket(5)
    assert low < exact < high
    assert result.log_z == pytest.approx(exact, abs=0.05)
