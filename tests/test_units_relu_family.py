"""pReLU and xReLU units (the dReLU energy reparametrised) against independent oracles.

The oracles: the parameter maps written out by hand from Tubiana and Monasson's
pReLU form (xReLU through ``eta = xi / (1 + |xi|)``), scipy's adaptive quadrature of
``exp(-E(h) + I h)`` over the real line for the cgf and the moments, scipy's
``truncnorm`` and closed forms with ``scipy.special.log_ndtr`` for the law of the
samples and an RBM's log Z by enumeration, central finite differences and autograd
for the parameter gradients. The conformance loops every unit type runs are in
``tests/test_units_relu.py`` (``LAYERS``) and ``tests/test_gradient_fast_path.py``.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

import harmonium
from harmonium import PCD, RBM
from harmonium.partition import ais
from harmonium.training import FreezeParameter
from harmonium.units import Bernoulli, DReLU, PReLU, Units, XReLU

KINDS = {"prelu": PReLU, "xrelu": XReLU}
# (theta, delta, gamma, eta) for pReLU, (theta, delta, gamma, xi) for xReLU: a double
# well (delta > 0), a narrowed middle (delta < 0), strong asymmetries of either sign
PARAMS = {
    "prelu": [(0.3, 0.7, 1.4, 0.4), (-0.5, -0.6, 0.8, -0.7), (0.2, 2.0, 1.0, 0.9),
              (0.0, 0.0, 1.0, 0.0)],
    "xrelu": [(0.3, 0.7, 1.4, -2.0), (-0.5, 1.2, 0.8, 0.0), (0.2, -0.4, 2.0, 5.0)],
}
CASES = [(kind, p) for kind, ps in PARAMS.items() for p in ps]
FIELDS = [-20.0, -3.0, -0.5, 0.0, 0.4, 2.0, 20.0]


def _layer(kind, params, dtype=torch.float64):
    return KINDS[kind].from_params(torch.tensor(params, dtype=dtype).view(4, -1),
                                   requires_grad=False)


def _drelu_by_hand(kind, params):
    """(theta_p, theta_m, gamma_p, gamma_m) from the literature's pReLU map."""
    theta, delta, gamma, a = params
    eta = a if kind == "prelu" else a / (1 + abs(a))
    return (theta + delta / (1 + eta), theta - delta / (1 - eta),
            gamma / (1 + eta), gamma / (1 - eta))


# ----- oracles -------------------------------------------------------------------------
def _quad_moments(drelu, field):
    """log Z, mean and variance of p(h) ∝ exp(-E(h) + field h) by adaptive quadrature.

    The log-density is shifted by its largest value at 0 and at the two sides' modes,
    and the range split at those points; 40 length scales beyond them the mass is
    below 1e-300.
    """
    tp, tm, gp, gm = drelu

    def log_w(h):
        return -(gp * h * h / 2 - tp * h if h >= 0 else gm * h * h / 2 - tm * h) + field * h

    m_p, m_m = max((tp + field) / gp, 0.0), min((tm + field) / gm, 0.0)
    shift = max(log_w(0.0), log_w(m_p), log_w(m_m))
    scale = 1 / math.sqrt(min(gp, gm))
    cuts = sorted({m_m - 40 * scale, m_m, 0.0, m_p, m_p + 40 * scale})

    def integral(f):
        return sum(integrate.quad(lambda h: f(h) * math.exp(log_w(h) - shift), lo, hi,
                                  epsabs=0.0, epsrel=1e-13, limit=200)[0]
                   for lo, hi in itertools.pairwise(cuts) if hi > lo)

    z = integral(lambda h: 1.0)
    mean = integral(lambda h: h) / z
    var = integral(lambda h: (h - mean) ** 2) / z
    return math.log(z) + shift, mean, var


def _log_half(field, gamma):
    """log int_0^inf exp(-gamma h^2 / 2 + field h) dh in closed form (scipy's log_ndtr)."""
    return (field**2 / (2 * gamma) + 0.5 * math.log(2 * math.pi / gamma)
            + special.log_ndtr(field / math.sqrt(gamma)))


def _log_z_by_hand(drelu, field):
    tp, tm, gp, gm = drelu
    return np.logaddexp(_log_half(tp + field, gp), _log_half(-(tm + field), gm))


def _cdf(drelu, field):
    """The exact CDF of p(h | field): a side by its mass, then a truncated normal."""
    tp, tm, gp, gm = drelu
    p_pos = 1 / (1 + math.exp(_log_half(-(tm + field), gm) - _log_half(tp + field, gp)))

    def half(phi, gamma):
        sigma, loc = 1 / math.sqrt(gamma), phi / gamma
        return stats.truncnorm(-loc / sigma, np.inf, loc=loc, scale=sigma)

    pos, neg = half(tp + field, gp), half(-(tm + field), gm)
    return lambda h: np.where(h < 0, (1 - p_pos) * neg.sf(-h),
                              (1 - p_pos) + p_pos * pos.cdf(np.maximum(h, 0)))


# ----- the parameter map ----------------------------------------------------------------
@pytest.mark.parametrize(("kind", "params"), CASES)
def test_the_map_is_the_literature_one_and_inverts(kind, params):
    layer = _layer(kind, params)
    expected = torch.tensor(_drelu_by_hand(kind, params), dtype=torch.float64)[:, None]
    torch.testing.assert_close(layer.drelu_params(), expected, rtol=1e-14, atol=1e-14)
    back = KINDS[kind].from_drelu(layer.to_drelu())
    assert type(back) is KINDS[kind]
    torch.testing.assert_close(back.params.detach(), layer.params, rtol=1e-12, atol=1e-14)


def test_xrelu_is_prelu_with_eta_from_xi():
    xi = torch.tensor([-7.0, -0.3, 0.0, 0.5, 40.0], dtype=torch.float64)
    rest = torch.tensor([[0.4] * 5, [-1.1] * 5, [1.3] * 5], dtype=torch.float64)
    x = XReLU.from_params(torch.cat([rest, xi[None]]), requires_grad=False)
    p = PReLU.from_params(torch.cat([rest, (xi / (1 + xi.abs()))[None]]), requires_grad=False)
    torch.testing.assert_close(x.drelu_params(), p.drelu_params(), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("kind", "params"), CASES)
def test_every_quantity_equals_the_mapped_drelu(kind, params):
    layer = _layer(kind, params)
    drelu = DReLU.from_params(torch.tensor(_drelu_by_hand(kind, params),
                                           dtype=torch.float64)[:, None], requires_grad=False)
    inputs = torch.tensor(FIELDS, dtype=torch.float64)[:, None]
    for name in ("cgf", "mean_from_inputs", "var_from_inputs", "mode_from_inputs"):
        torch.testing.assert_close(getattr(layer, name)(inputs), getattr(drelu, name)(inputs),
                                   rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(layer.energy(inputs), drelu.energy(inputs), rtol=1e-12, atol=1e-14)
    draws = [u.sample_from_inputs(inputs, generator=torch.Generator().manual_seed(3))
             for u in (layer, drelu)]
    torch.testing.assert_close(draws[0], draws[1], rtol=1e-12, atol=1e-14)
    start = layer.with_params(layer.annealing_start())
    torch.testing.assert_close(start.energy(inputs),
                               drelu.with_params(drelu.annealing_start()).energy(inputs))


# ----- cgf, moments and samples against quadrature ------------------------------------
@pytest.mark.parametrize(("kind", "params"), CASES)
def test_cgf_and_moments_match_quadrature(kind, params):
    layer = _layer(kind, params)
    inputs = torch.tensor(FIELDS, dtype=torch.float64)[:, None]
    oracle = np.array([_quad_moments(_drelu_by_hand(kind, params), f) for f in FIELDS])
    cgf, mean, var = (layer.cgf(inputs), layer.mean_from_inputs(inputs)[:, 0],
                      layer.var_from_inputs(inputs)[:, 0])
    torch.testing.assert_close(cgf, torch.from_numpy(oracle[:, 0]), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(mean, torch.from_numpy(oracle[:, 1]), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(var, torch.from_numpy(oracle[:, 2]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("field", [-3.0, 0.0, 1.5])
@pytest.mark.parametrize(("kind", "params"), [CASES[0], CASES[2], CASES[4], CASES[6]])
def test_samples_follow_the_exact_law(kind, params, field):
    """Kolmogorov-Smirnov against the exact CDF and moments within 5 standard errors
    of the quadrature moments, 40,000 draws, fixed seed."""
    inputs = torch.full((40_000, 1), field, dtype=torch.float64)
    x = _layer(kind, params).sample_from_inputs(inputs, generator=torch.Generator().manual_seed(4))
    drelu = _drelu_by_hand(kind, params)
    assert stats.kstest(x[:, 0].numpy(), _cdf(drelu, field)).pvalue > 1e-3
    _, mean, var = _quad_moments(drelu, field)
    assert abs(x.mean().item() - mean) <= 5 * math.sqrt(var / x.shape[0])


# ----- parameter gradients --------------------------------------------------------------
def _terms(layer, seed=0):
    """Two groups of inputs, states and weights, as the RBM gradient passes them."""
    g = torch.Generator().manual_seed(seed)
    inputs = [2 * torch.randn(5, layer.n_units, generator=g, dtype=torch.float64)
              for _ in range(2)]
    states = [layer.sample_from_inputs(i, generator=g).detach() for i in inputs]
    coefs = [torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2)]
    return inputs, states, coefs


def _finite_differences(layer, total, eps=1e-6):
    base = layer.params.detach()
    grad = torch.zeros_like(base)
    for idx in itertools.product(*map(range, base.shape)):
        step = torch.zeros_like(base)
        step[idx] = eps
        grad[idx] = (total(layer.with_params(base + step))
                     - total(layer.with_params(base - step))) / (2 * eps)
    return grad


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("which", ["energy", "cgf"])
def test_parameter_gradients_match_autograd_and_finite_differences(kind, which):
    """Including the default layer's units (asymmetry 0: xReLU's |xi| has a kink
    there that the map must not inherit)."""
    params = torch.tensor([PARAMS[kind][0], PARAMS[kind][1], (0.0, 0.0, 1.0, 0.0)],
                          dtype=torch.float64).T.contiguous()
    layer = KINDS[kind].from_params(params)
    inputs, states, coefs = _terms(layer)
    args = states if which == "energy" else inputs

    def total(unit):
        return sum((c * getattr(unit, which)(a)).sum() for a, c in zip(args, coefs, strict=True))

    out = torch.full_like(params, math.nan)
    if which == "energy":
        layer.energy_grad_(out, states, coefs)
    else:
        layer.cgf_grad_(out, inputs, [layer.mean_from_inputs(i) for i in inputs], coefs)
    (expected,) = torch.autograd.grad(total(layer), layer.params)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        numeric = _finite_differences(layer, lambda u: total(u).item())
    torch.testing.assert_close(out, numeric, rtol=1e-6, atol=1e-7)


# ----- constraints, annealing, bad input ----------------------------------------------
def test_project_keeps_gamma_positive_and_eta_inside():
    prelu, xrelu = PReLU(4), XReLU(4)
    with torch.no_grad():
        prelu.params.copy_(torch.tensor([[1.0] * 4, [2.0] * 4, [-1.0, 0.0, 2.0, 1e-5],
                                         [-3.0, -1.0, 1.0, 0.5]]))
        xrelu.params[2:] = torch.tensor([[-1.0] * 4, [-30.0, -1.0, 1.0, 30.0]])
    prelu.project_()
    xrelu.project_()
    assert prelu.gamma.ge(1e-3).all() and prelu.eta.abs().lt(1).all()
    assert prelu.eta[3].item() == 0.5 and prelu.gamma[2].item() == 2.0  # inside: kept
    assert xrelu.gamma.ge(1e-3).all()
    assert xrelu.xi.tolist() == [-30.0, -1.0, 1.0, 30.0]  # xi is unconstrained
    for layer in (prelu, xrelu):
        assert torch.isfinite(layer.cgf(torch.randn(3, 4))).all()


@pytest.mark.parametrize(("kind", "params"), [CASES[1], CASES[5]])
def test_scaled_and_mixed_multiply_and_interpolate_the_energy(kind, params):
    """The energy is not linear in the asymmetry, so these cannot be the parameters'
    product and interpolation: checked on a partner of another asymmetry."""
    layer = _layer(kind, params)
    other_params = (1.0, -0.2, 0.6, 0.5 if kind == "prelu" else 3.0)
    other = _layer(kind, other_params)
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)[:, None]
    for beta in (0.0, 0.3, 1.0):
        torch.testing.assert_close(layer.mixed(other, beta).energy(x),
                                   (1 - beta) * other.energy(x) + beta * layer.energy(x))
    torch.testing.assert_close(layer.scaled(0.3).energy(x), 0.3 * layer.energy(x))
    with pytest.raises(ValueError, match="layouts"):
        layer.mixed(DReLU(1).double(), 0.5)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="DReLU"):
        PReLU.from_drelu(PReLU(2))
    bad = DReLU.from_params(torch.tensor([[0.0], [0.0], [1.0], [-1.0]]))
    with pytest.raises(ValueError, match="positive precisions"):
        XReLU.from_drelu(bad)
    for cls, params, match in [(PReLU, [[0.0], [0.0], [1.0], [1.0]], "eta"),
                               (PReLU, [[0.0], [0.0], [0.0], [0.0]], "gamma"),
                               (XReLU, [[0.0], [0.0], [-2.0], [0.0]], "gamma")]:
        state = {"type": cls.__name__, "params": torch.tensor(params)}
        with pytest.raises(ValueError, match=match):
            Units.layer_from_state(state)
    for cls in KINDS.values():
        with pytest.raises(ValueError, match=">="):
            cls(0)
        with pytest.raises(ValueError, match=f"finite for {cls.__name__}"):
            cls(2).check_support(torch.tensor([[0.0, math.nan]]))


# ----- in an RBM ------------------------------------------------------------------------
def _rbm(kind, n_visible=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Bernoulli(n_visible), KINDS[kind](3), weight_std=0.6, generator=g).double()
    with torch.no_grad():
        rbm.visible.params[0] = torch.randn(n_visible, generator=g)
        rbm.hidden.params.copy_(torch.tensor(PARAMS[kind][:3], dtype=torch.float64).T)
    return rbm


def _exact_log_z(rbm, kind):
    """log sum_v exp(b.v) prod_j int exp(-E_j(h) + (vW)_j h) dh over all 2^n visibles."""
    v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=rbm.visible.n_units)),
                     dtype=torch.float64)
    fields = (v @ rbm.weight.detach()).numpy()
    hidden = [_drelu_by_hand(kind, p) for p in PARAMS[kind][:3]]
    log_u = (v @ rbm.visible.bias.detach()).numpy() + np.array(
        [sum(_log_z_by_hand(d, f[j]) for j, d in enumerate(hidden)) for f in fields])
    return float(special.logsumexp(log_u)), v, log_u


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_free_energy_and_ais_against_enumeration(kind):
    rbm = _rbm(kind)
    exact, v, log_u = _exact_log_z(rbm, kind)
    torch.testing.assert_close(-rbm.free_energy(v).detach(), torch.from_numpy(log_u),
                               rtol=1e-10, atol=1e-10)
    result = ais(rbm, 1000, betas=torch.linspace(0, 1, 200),
                 generator=torch.Generator().manual_seed(1), progress=False)
    low, high = result.bracket(5)
    assert low < exact < high
    assert result.log_z == pytest.approx(exact, abs=0.05)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_save_load_round_trip(kind, tmp_path):
    rbm = _rbm(kind)
    harmonium.save(rbm, tmp_path / "rbm.safetensors")
    back = harmonium.load(tmp_path / "rbm.safetensors")
    assert type(back.hidden) is KINDS[kind]
    assert back.hidden.param_names == rbm.hidden.param_names
    torch.testing.assert_close(back.hidden.params, rbm.hidden.params)
    v = torch.randint(0, 2, (7, 5), generator=torch.Generator().manual_seed(0)).double()
    torch.testing.assert_close(back.free_energy(v), rbm.free_energy(v))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_short_fit_keeps_the_constraints(kind):
    rbm = RBM(Bernoulli(8), KINDS[kind](4), generator=torch.Generator().manual_seed(0))
    data = torch.randint(0, 2, (200, 8), generator=torch.Generator().manual_seed(1)).float()
    before = rbm.hidden.params.detach().clone()
    history = harmonium.fit(rbm, data, PCD(20), epochs=3, batch_size=20, lr=0.05,
                            generator=torch.Generator().manual_seed(2), progress=False)
    assert all(torch.isfinite(p).all() for p in rbm.parameters())
    assert (rbm.hidden.params.detach() != before).any(1).all()  # all four parameters learn
    assert rbm.hidden.gamma.gt(0).all()
    if kind == "prelu":
        assert rbm.hidden.eta.abs().lt(1).all()
    assert all(math.isfinite(x) for x in history["pseudo_ll"])


def test_a_leaky_relu_is_a_prelu_with_delta_frozen():
    """Trained with delta held at 0, the mode is a leaky ReLU of u = theta + I: slopes
    (1 + eta) / gamma above zero and (1 - eta) / gamma below."""
    rbm = RBM(Bernoulli(8), PReLU(4), generator=torch.Generator().manual_seed(0))
    data = torch.randint(0, 2, (100, 8), generator=torch.Generator().manual_seed(1)).float()
    harmonium.fit(rbm, data, PCD(10), epochs=2, batch_size=20, lr=0.05,
                  transforms=[FreezeParameter("hidden", "delta")],
                  generator=torch.Generator().manual_seed(2), progress=False)
    hidden = rbm.hidden
    assert hidden.delta.eq(0).all() and hidden.eta.ne(0).all()
    theta, eta, gamma = (hidden.bias.detach(), hidden.eta.detach(),
                         hidden.gamma.detach())
    u = torch.tensor([[-3.0], [-1.0], [0.5], [3.0]]).expand(-1, 4)
    mode = hidden.mode_from_inputs(u - theta).detach()
    torch.testing.assert_close(mode, u * torch.where(u > 0, 1 + eta, 1 - eta) / gamma)


@pytest.mark.parametrize(("kind", "params"), [CASES[0], CASES[4]])
def test_absorbing_an_input_shift_leaves_the_conditional_unchanged(kind, params):
    """The Potts gauge's contract: after absorb_input_(d) the layer given I + d is the
    layer given I before (theta moves, so both dReLU fields do), energies up by d x."""
    layer = _layer(kind, params)
    inputs = torch.tensor(FIELDS, dtype=torch.float64)[:, None]
    before = layer.cgf(inputs), layer.mean_from_inputs(inputs), layer.energy(inputs)
    d = torch.tensor([0.7], dtype=torch.float64)
    layer.absorb_input_(d)
    torch.testing.assert_close(layer.cgf(inputs + d), before[0])
    torch.testing.assert_close(layer.mean_from_inputs(inputs + d), before[1])
    torch.testing.assert_close(layer.energy(inputs), before[2] + 0.7 * inputs[:, 0])
