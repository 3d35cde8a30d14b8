"""AIS and reverse AIS against exact log Z by enumeration, for every visible unit type."""

import math

import pytest
import torch

from harmonium import RBM
from harmonium.partition import (
    AISResult,
    ais,
    log_likelihood,
    log_likelihood_exact,
    log_partition_exact,
    reverse_ais,
)
from harmonium.partition.ais import PUBLISHED_N_BETAS, base_rate, published_schedule
from harmonium.units import Bernoulli, Categorical, Gaussian, Spin
from random_models import random_rbm


def _rbm(visible, hidden, seed=0, scale=0.8):
    return random_rbm(visible, hidden, seed=seed, scale=scale)


MODELS = {
    "bernoulli": lambda: _rbm(Bernoulli(6), Bernoulli(5)),
    "spin": lambda: _rbm(Spin(6), Bernoulli(5), scale=0.5),
    "gaussian": lambda: _rbm(Gaussian(4), Bernoulli(5)),
    "categorical": lambda: _rbm(Categorical(3, 3), Bernoulli(5)),
}


@torch.no_grad()
def _exact_samples(rbm, n, seed):
    """Exact draws from p(v): h from p(h) by enumerating hidden states, then v | h."""
    g = torch.Generator().manual_seed(seed)
    h_all = torch.cat(list(rbm.hidden.enumerate_states()))
    p = torch.softmax(-rbm.free_energy_hidden(h_all), 0)
    h = h_all[torch.multinomial(p, n, replacement=True, generator=g)]
    return rbm.sample_v_from_h(h, generator=g)


def _run(rbm, kind, n_betas, n_chains, seed):
    g = torch.Generator().manual_seed(seed)
    betas = torch.linspace(0, 1, n_betas + 1)
    if kind == "forward":
        return ais(rbm, n_chains, betas=betas, generator=g, progress=False)
    v = _exact_samples(rbm, n_chains, seed + 1)
    return reverse_ais(rbm, v, betas=betas, generator=g, progress=False)


@pytest.mark.parametrize("model", MODELS)
def test_ais_weights_are_unbiased_for_z(model):
    rbm = MODELS[model]()
    exact = log_partition_exact(rbm).item()
    res = _run(rbm, "forward", 8, 4000, seed=1)
    # mean weight * Z_0 estimates Z without bias: the ratio is 1 within MC error
    assert abs(math.exp(res.log_z - exact) - 1) < 5 * res.log_z_std_err
    assert res.log_z_std_err > 0.005  # few betas: the test has teeth
    lo, hi = res.bracket(5)
    assert lo < exact < hi


@pytest.mark.parametrize("model", MODELS)
def test_reverse_ais_from_exact_samples_is_unbiased_for_inverse_z(model):
    rbm = MODELS[model]()
    exact = log_partition_exact(rbm).item()
    res = _run(rbm, "reverse", 8, 4000, seed=2)
    assert res.reverse
    assert abs(math.exp(exact - res.log_z) - 1) < 5 * res.log_z_std_err
    lo, hi = res.bracket(5)
    assert lo < exact < hi


@pytest.mark.parametrize("model", MODELS)
def test_forward_below_and_reverse_above_log_z_on_average(model):
    # E[log w] <= log E[w] (Jensen): per-chain estimates sit below log Z (forward)
    # and above it (reverse); the gap is a KL divergence that shrinks with more betas.
    rbm = MODELS[model]()
    exact = log_partition_exact(rbm).item()
    gaps = {}
    for n_betas in (4, 64):
        fwd = _run(rbm, "forward", n_betas, 2000, seed=3)
        rev = _run(rbm, "reverse", n_betas, 2000, seed=4)
        per_chain_fwd = fwd.log_z_base + fwd.log_weights
        per_chain_rev = rev.log_z_base - rev.log_weights
        se_f = per_chain_fwd.std().item() / math.sqrt(2000)
        se_r = per_chain_rev.std().item() / math.sqrt(2000)
        gap_f = exact - per_chain_fwd.mean().item()
        gap_r = per_chain_rev.mean().item() - exact
        assert gap_f > -3 * se_f
        assert gap_r > -3 * se_r
        gaps[n_betas] = (gap_f, gap_r)
    assert gaps[64][0] < gaps[4][0] / 4
    assert gaps[64][1] < gaps[4][1] / 4
    assert gaps[4][0] > 0.05 and gaps[4][1] > 0.05


@pytest.mark.parametrize("model", MODELS)
def test_ais_and_reverse_ais_converge_with_more_betas(model):
    rbm = MODELS[model]()
    exact = log_partition_exact(rbm).item()
    errors, sigmas = [], []
    for n_betas in (10, 300):
        g = torch.Generator().manual_seed(5)
        fwd = ais(rbm, 200, n_betas, generator=g, progress=False)
        rev = reverse_ais(rbm, _exact_samples(rbm, 200, 6), n_betas, generator=g, progress=False)
        errors.append(abs(fwd.log_z - exact) + abs(rev.log_z - exact))
        sigmas.append(fwd.log_z_std_err + rev.log_z_std_err)
    assert errors[1] < errors[0]
    assert sigmas[1] < sigmas[0] / 2
    assert errors[1] < 5 * sigmas[1] + 1e-3


def test_base_rate_model_fitted_to_data_helps():
    # a base model fitted to the model's own samples starts AIS closer to p
    rbm = MODELS["bernoulli"]()
    exact = log_partition_exact(rbm).item()
    data = _exact_samples(rbm, 5000, 7)
    own = _run(rbm, "forward", 8, 2000, seed=8)
    fitted = ais(rbm, 2000, betas=torch.linspace(0, 1, 9), base=data,
                 generator=torch.Generator().manual_seed(8), progress=False)
    assert fitted.log_z_std_err < own.log_z_std_err
    assert abs(math.exp(fitted.log_z - exact) - 1) < 5 * fitted.log_z_std_err


@pytest.mark.parametrize("model", MODELS)
def test_base_rate_matches_data_moments(model):
    rbm = MODELS[model]()
    data = _exact_samples(rbm, 3000, 9)
    base = base_rate(rbm, data)
    assert type(base) is type(rbm.visible)
    zeros = torch.zeros(1, *rbm.visible.shape, dtype=torch.float64)
    mean = data.mean(0)
    expected = mean if model != "bernoulli" else (data.sum(0) + 0.5) / 3001
    if model == "spin":
        expected = 2 * (((data == 1).sum(0).double() + 0.5) / 3001) - 1
    if model == "categorical":
        expected = (data.sum(0) + 0.5) / (3000 + 1.5)
    torch.testing.assert_close(base.mean_from_inputs(zeros)[0], expected)
    if model == "gaussian":
        torch.testing.assert_close(1 / base.precision, data.var(0, unbiased=False))
    # without data: the RBM's own visible layer
    torch.testing.assert_close(base_rate(rbm).params, rbm.visible.params.detach())


@pytest.mark.slow
def test_digits_20_hidden_units_against_enumeration_of_2_20_states():
    from sklearn.datasets import load_digits

    from harmonium.training import CD, fit

    x = torch.from_numpy(load_digits().data > 7).double()
    g = torch.Generator().manual_seed(0)
    rbm = RBM(Bernoulli(64), Bernoulli(20), generator=g).double()
    fit(rbm, x, CD(1), epochs=10, batch_size=50, lr=0.1, generator=g, progress=False,
        monitor=0)
    assert rbm.weight.abs().max() > 1  # a trained, realistic model
    with torch.no_grad():  # exact log Z: sum over the 2^20 hidden states in chunks
        bits = torch.arange(20)
        parts = [
            torch.logsumexp(-rbm.free_energy_hidden(((idx[:, None] >> bits) & 1).double()), 0)
            for idx in torch.arange(2**20).split(2**16)
        ]
        exact = torch.logsumexp(torch.stack(parts), 0).item()
    fwd = ais(rbm, 100, 1000, base=x, generator=g, progress=False)
    rev = reverse_ais(rbm, x[:100], 1000, base=x, generator=g, progress=False)
    assert abs(fwd.log_z - exact) < 4 * fwd.log_z_std_err + 0.02
    assert rev.log_z > exact - 4 * rev.log_z_std_err - 0.02
    assert rev.log_z - fwd.log_z < 0.5
    ll = log_likelihood(rbm, x, fwd)
    assert ll.mean == pytest.approx(log_likelihood_exact(rbm, x).item(), abs=0.1)


def test_published_schedule():
    b = published_schedule()
    assert b.shape == (PUBLISHED_N_BETAS + 1,) and PUBLISHED_N_BETAS == 14500
    assert b[0] == 0 and b[-1] == 1 and (b[1:] > b[:-1]).all()
    assert ((b > 0) & (b <= 0.5)).sum() == 500
    assert ((b > 0.5) & (b <= 0.9)).sum() == 4000
    assert ((b > 0.9) & (b <= 1)).sum() == 10000
    small = published_schedule(145)
    assert small.shape == (146,) and (small > 0.9).sum() == 100


def test_same_seed_same_result_and_chunking():
    rbm = MODELS["bernoulli"]()
    a = ais(rbm, 50, 20, generator=torch.Generator().manual_seed(0), progress=False)
    b = ais(rbm, 50, 20, generator=torch.Generator().manual_seed(0), progress=False)
    torch.testing.assert_close(a.log_weights, b.log_weights)
    c = ais(rbm, 50, 20, chunk=7, generator=torch.Generator().manual_seed(0), progress=False)
    assert c.log_weights.shape == (50,) and c.n_betas == 20
    assert isinstance(a, AISResult) and "AIS" in repr(a)


def test_float32_model_and_progress_bar(capsys):
    rbm = MODELS["bernoulli"]().float()
    exact = log_partition_exact(rbm.double()).item()
    res = ais(rbm, 300, 300, generator=torch.Generator().manual_seed(0), progress=True)
    assert res.log_weights.dtype == torch.float64
    assert abs(res.log_z - exact) < 5 * res.log_z_std_err + 1e-3
    assert "AIS" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_ais_on_gpu():
    rbm = MODELS["bernoulli"]().cuda()
    exact = log_partition_exact(rbm).item()
    g = torch.Generator(device="cuda").manual_seed(0)
    res = ais(rbm, 300, 300, generator=g, progress=False)
    assert res.log_weights.device.type == "cuda"
    assert abs(res.log_z - exact) < 5 * res.log_z_std_err + 1e-3


def test_log_likelihood_with_exact_and_estimated_log_z():
    rbm = MODELS["categorical"]()
    data = _exact_samples(rbm, 100, 10)
    log_z = log_partition_exact(rbm)
    ll = log_likelihood(rbm, data, log_z)
    assert ll.mean == pytest.approx(log_likelihood_exact(rbm, data).item())
    assert ll.low == ll.high == ll.mean and ll.std_err_log_z == 0 and ll.n_samples == 100
    assert float(ll) == ll.mean and "nats" in str(ll)
    res = ais(rbm, 100, 50, generator=torch.Generator().manual_seed(0), progress=False)
    ll_ais = log_likelihood(rbm, data, res)
    assert ll_ais.low < ll_ais.mean < ll_ais.high
    assert ll_ais.std_err_log_z == res.log_z_std_err and ll_ais.std_err_data > 0


def test_bracket_edges():
    res = AISResult(1.0, 0.5, torch.zeros(2, dtype=torch.float64), 0.0, 10, False)
    lo, hi = res.bracket(3)
    assert lo == -math.inf and hi == pytest.approx(1 + math.log(2.5))
    rev = AISResult(1.0, 0.5, torch.zeros(2, dtype=torch.float64), 0.0, 10, True)
    lo, hi = rev.bracket(3)
    assert hi == math.inf and lo == pytest.approx(1 - math.log(2.5))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_chains": 1}, ValueError, "n_chains"),
        ({"n_chains": 2.5}, TypeError, "n_chains"),
        ({"n_betas": 2}, ValueError, "n_betas"),
        ({"betas": [0.0, 0.5, 0.9]}, ValueError, "start at 0 and end at 1"),
        ({"betas": [0.0, 0.6, 0.5, 1.0]}, ValueError, "increasing"),
        ({"betas": [1.0]}, ValueError, "at least 2"),
        ({"betas": [0.0, float("nan"), 1.0]}, ValueError, "NaN"),
        ({"base": Bernoulli(5)}, ValueError, "base must be"),
        ({"base": Spin(6)}, ValueError, "base must be"),
        ({"base": [[0.5] * 6]}, ValueError, "only 0 and 1"),
        ({"base": [[0.0] * 5]}, ValueError, "6 features"),
        ({"chunk": 0}, ValueError, "chunk"),
    ],
)
def test_ais_bad_input(kwargs, error, match):
    rbm = MODELS["bernoulli"]()
    with pytest.raises(error, match=match):
        ais(rbm, **{"n_chains": 10, "n_betas": 10, "progress": False, **kwargs})


def test_reverse_ais_and_log_likelihood_bad_input():
    rbm = MODELS["bernoulli"]()
    with pytest.raises(ValueError, match="at least 2"):
        reverse_ais(rbm, torch.ones(1, 6), 10, progress=False)
    with pytest.raises(ValueError, match="6 features"):
        reverse_ais(rbm, torch.ones(3, 5), 10, progress=False)
    with pytest.raises(ValueError, match="only 0 and 1"):
        reverse_ais(rbm, torch.full((3, 6), 0.5), 10, progress=False)
    with pytest.raises(TypeError, match="log_z"):
        log_likelihood(rbm, torch.ones(3, 6), "12")
    with pytest.raises(ValueError, match="finite"):
        log_likelihood(rbm, torch.ones(3, 6), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(rbm, torch.full((3, 6), float("nan")), 1.0)


def test_ais_on_a_joined_visible_layer_with_a_fitted_base(tmp_path):
    """A DBN's labelled top RBM (features + softmax label) saves, loads and anneals."""
    import harmonium
    from harmonium.units import Joined

    rbm = _rbm(Joined(Bernoulli(4), Categorical(1, 3)), Bernoulli(5))
    harmonium.save(rbm, tmp_path / "joined.safetensors")
    rbm = harmonium.load(tmp_path / "joined.safetensors")
    exact = log_partition_exact(rbm).item()
    data = _exact_samples(rbm, 3000, 10)
    base = base_rate(rbm, data)
    assert base.layout() == rbm.visible.layout()
    res = ais(rbm, 500, betas=torch.linspace(0, 1, 5), base=data,
              generator=torch.Generator().manual_seed(11), progress=False)
    assert abs(math.exp(res.log_z - exact) - 1) < 5 * res.log_z_std_err
    assert res.log_z_std_err > 0.002  # few betas: the comparison has teeth


def test_annealing_path_keeps_a_gaussian_hidden_layer_proper():
    """At beta = 0 the hidden layer has zero bias and its own precision (not zero)."""
    rbm = _rbm(Bernoulli(4), Gaussian(3))
    with torch.no_grad():
        rbm.hidden.params[1] = 2.0
    start = rbm.annealed_from(base_rate(rbm), 0.0)
    torch.testing.assert_close(start.hidden.params[1], rbm.hidden.params[1].detach())
    assert (start.hidden.bias == 0).all() and (start.weight == 0).all()
    # log Z_0 = log Z of the base visible layer + log Z of free Gaussian hidden units
    expected = (rbm.visible.cgf(torch.zeros(1, 4, dtype=torch.float64))
                + 3 * 0.5 * math.log(2 * math.pi / 2.0)).item()
    assert log_partition_exact(start).item() == pytest.approx(expected)


# ----- a base fitted to data, for every pair of unit types with an exact log Z ----------
VISIBLE = {
    "bernoulli": lambda: Bernoulli(4),
    "spin": lambda: Spin(4),
    "gaussian": lambda: Gaussian(3),
    "categorical": lambda: Categorical(2, 3),
}
HIDDEN = {
    "bernoulli": lambda: Bernoulli(3),
    "spin": lambda: Spin(3),
    "gaussian": lambda: Gaussian(3),
    "categorical": lambda: Categorical(2, 3),  # 3 states: log Z_0 is not n log 2
}
PAIRS = [(v, h) for v in VISIBLE for h in HIDDEN if "gaussian" not in (v, h) or v != h]


def _pair_rbm(visible, hidden, seed=0):
    rbm = _rbm(VISIBLE[visible](), HIDDEN[hidden](), seed=seed, scale=0.6)
    if hidden == "gaussian":
        with torch.no_grad():  # precisions away from 1, so log Z_0 depends on them
            rbm.hidden.params[1] = 1.5 + torch.rand(3, generator=torch.Generator().manual_seed(9))
    return rbm


@torch.no_grad()
def _base_data(rbm, n=400, seed=12):
    """Visible states far from the model's own visible biases: shifted random fields,
    so the fitted base differs from the model and the base-versus-model energy term
    of every AIS weight is far from zero."""
    g = torch.Generator().manual_seed(seed)
    shift = 2 * torch.randn(*rbm.visible.shape, generator=g, dtype=torch.float64)
    inputs = shift + torch.randn(n, *rbm.visible.shape, generator=g, dtype=torch.float64)
    return rbm.visible.sample_from_inputs(inputs, generator=g)


@pytest.mark.parametrize(("visible", "hidden"), PAIRS)
def test_ais_with_a_fitted_base_is_unbiased_for_z_for_every_pair_of_unit_types(visible, hidden):
    rbm = _pair_rbm(visible, hidden)
    exact = log_partition_exact(rbm).item()
    data = _base_data(rbm)
    base = base_rate(rbm, data)
    assert (base.params - rbm.visible.params).abs().max() > 0.5  # the term is not zero
    res = ais(rbm, 3000, betas=torch.linspace(0, 1, 9), base=data,
              generator=torch.Generator().manual_seed(13), progress=False)
    # log Z_0 of the base: the fitted visible layer plus free hidden units, by enumeration
    start = rbm.annealed_from(base, 0.0)
    assert res.log_z_base == pytest.approx(log_partition_exact(start).item(), abs=1e-9)
    # Z_0 * mean(w) is unbiased for Z: the ratio is 1 within Monte-Carlo error
    assert abs(math.exp(res.log_z - exact) - 1) < 5 * res.log_z_std_err
    assert 0.003 < res.log_z_std_err < 0.2  # few betas: the comparison has teeth


# ----- the reported standard error against the spread across seeds ---------------------
def _sd_ratio_bounds(n_runs, alpha=1e-4):
    """Two-sided (1 - alpha) interval of s / sigma for the sample standard deviation s
    of ``n_runs`` normal draws: (n - 1) s^2 / sigma^2 follows chi-square(n - 1)."""
    from scipy.stats import chi2

    dof = n_runs - 1
    return (math.sqrt(chi2.ppf(alpha / 2, dof) / dof),
            math.sqrt(chi2.ppf(1 - alpha / 2, dof) / dof))


@pytest.mark.parametrize(("visible", "hidden", "n_runs"), [
    ("bernoulli", "categorical", 20),
    ("gaussian", "spin", 20),
    pytest.param("categorical", "gaussian", 60, marks=pytest.mark.slow),
    pytest.param("spin", "bernoulli", 60, marks=pytest.mark.slow),
])
def test_reported_standard_error_matches_the_spread_across_seeds(visible, hidden, n_runs):
    """Across independent runs, log_z scatters by the reported log_z_std_err.

    With many chains log_z is close to normal, so the sample variance s^2 of n runs
    satisfies (n - 1) s^2 / sigma^2 ~ chi-square(n - 1); the reported error (its RMS
    over the runs, itself estimated from 1000 chains each, a few per cent noise) must
    fall in the chi-square interval of sigma. n = 20 at alpha = 1e-4 gives s / sigma in
    [0.43, 1.67]: an error reported 3 times too large or too small fails.
    """
    rbm = _pair_rbm(visible, hidden)
    data = _base_data(rbm)
    betas = torch.linspace(0, 1, 6)
    runs = [ais(rbm, 1000, betas=betas, base=data, progress=False,
                generator=torch.Generator().manual_seed(100 + seed)) for seed in range(n_runs)]
    log_z = torch.tensor([r.log_z for r in runs], dtype=torch.float64)
    reported = math.sqrt(sum(r.log_z_std_err**2 for r in runs) / n_runs)
    assert reported > 0.005  # the spread is measurable
    lo, hi = _sd_ratio_bounds(n_runs)
    ratio = log_z.std().item() / reported
    assert lo < ratio < hi, (ratio, lo, hi)
