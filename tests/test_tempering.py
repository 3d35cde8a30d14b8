"""Parallel tempering, the PT training method and centered gradients, against enumeration."""

import pytest
import torch
from scipy.stats import chi2

import harmonium
from harmonium import RBM
from harmonium.partition import log_likelihood_exact
from harmonium.sampling import ParallelTempering, default_ladder
from harmonium.training import CD, PCD, compute_gradients, fit
from harmonium.training.centering import Centered, center_gradients_
from harmonium.training.gradient import rbm_gradient_step
from harmonium.training.tempering import PT
from harmonium.units import Bernoulli, Spin

BETAS = [1.0, 0.6, 0.3]


def _two_modes(visible, coupling=2.0):
    """Visible units all on (h = 1) or all off (h = 0): a two-mode toy model."""
    n = visible.n_units
    rbm = RBM(visible, Bernoulli(1)).double()
    with torch.no_grad():
        rbm.weight.fill_(coupling)
        low = visible.low if hasattr(visible, "low") else 0.0
        rbm.visible.params[0].fill_(-coupling / 2 if low == 0 else 0.0)
        rbm.hidden.params[0].fill_(-coupling * n / 2 if low == 0 else 0.0)
    return rbm


def _states_and_log_p(rbm, beta):
    v = torch.cat(list(rbm.visible.enumerate_states()))
    with torch.no_grad():
        f = rbm.scaled(beta).free_energy_visible(v)
    return v, torch.log_softmax(-f, 0)


def _exact_start(rbm, pt, generator):
    rows = []
    for b in pt.betas:
        v, log_p = _states_and_log_p(rbm, b)
        idx = torch.multinomial(log_p.exp(), pt.n_chains, replacement=True, generator=generator)
        rows.append(v[idx])
    pt.chains = torch.stack(rows)


def _index(v, low):
    return ((v != low).long() * (2 ** torch.arange(v.shape[1]))).sum(1)


@pytest.mark.parametrize("visible", [Bernoulli, Spin])
def test_chains_started_from_p_do_not_drift(visible):
    rbm = _two_modes(visible(6))
    g = torch.Generator().manual_seed(0)
    pt = ParallelTempering(BETAS, n_chains=20000)
    _exact_start(rbm, pt, g)
    for _ in range(4):
        pt.step(rbm, generator=g)
    assert (pt.accepts > 0).all()
    for t, b in enumerate(pt.betas):
        _, log_p = _states_and_log_p(rbm, b)
        counts = torch.bincount(_index(pt.chains[t], rbm.visible.low), minlength=64).double()
        expected = log_p.exp() * pt.n_chains
        keep = expected > 5  # pool the rare states into one cell
        obs, exp = counts[keep], expected[keep]
        if (~keep).any():
            obs = torch.cat([obs, counts[~keep].sum()[None]])
            exp = torch.cat([exp, expected[~keep].sum()[None]])
        stat = ((obs - exp) ** 2 / exp).sum().item()
        assert chi2.sf(stat, len(obs) - 1) > 1e-4, (t, stat)


def _expected_acceptance(rbm, beta_a, beta_b):
    v, log_pa = _states_and_log_p(rbm, beta_a)
    _, log_pb = _states_and_log_p(rbm, beta_b)
    with torch.no_grad():
        fa = rbm.scaled(beta_a).free_energy_visible(v)
        fb = rbm.scaled(beta_b).free_energy_visible(v)
    # x_a = v_i ~ p_a, x_b = v_j ~ p_b
    log_acc = fa[:, None] + fb[None, :] - fa[None, :] - fb[:, None]
    weights = log_pa.exp()[:, None] * log_pb.exp()[None, :]
    return (weights * log_acc.clamp(max=0).exp()).sum().item()


def test_swap_rate_matches_exact_acceptance_on_two_mode_model():
    rbm = _two_modes(Bernoulli(6), coupling=3.0)
    g = torch.Generator().manual_seed(1)
    pt = ParallelTempering(BETAS, n_chains=20000)
    _exact_start(rbm, pt, g)
    pt.step(rbm, generator=g)  # pair (0, 1)
    pt.step(rbm, generator=g)  # pair (1, 2)
    assert pt.attempts.tolist() == [20000, 20000]
    for t in range(2):
        p = _expected_acceptance(rbm, BETAS[t], BETAS[t + 1])
        assert 0.05 < p < 0.95
        se = (p * (1 - p) / 20000) ** 0.5
        assert abs(pt.swap_rates[t].item() - p) < 5 * se
        assert abs(pt.expected_accepts[t].item() / 20000 - p) < 5 * se


def test_tempering_crosses_the_barrier_gibbs_cannot():
    rbm = _two_modes(Bernoulli(8), coupling=6.0)
    g = torch.Generator().manual_seed(2)
    v, log_p = _states_and_log_p(rbm, 1.0)
    p_on = log_p.exp()[v.sum(1) > 4].sum().item()
    assert 0.2 < p_on < 0.8
    pt = ParallelTempering(torch.linspace(1, 0.1, 8), n_chains=500)
    pt.chains = torch.zeros(8, 500, 8, dtype=torch.float64)  # all in the "off" mode
    samples = pt.run(rbm, 150, generator=g, progress=False)
    stuck = rbm.gibbs(torch.zeros(500, 8, dtype=torch.float64), 150, generator=g)
    frac_pt = (samples.sum(1) > 4).double().mean().item()
    frac_gibbs = (stuck.sum(1) > 4).double().mean().item()
    assert abs(frac_pt - p_on) < 0.1
    assert frac_gibbs < 0.05
    assert (pt.swap_rates > 0).all()


def test_pt_training_method_protocol_and_resume():
    data = (torch.rand(64, 6, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    rbm = RBM(Bernoulli(6), Bernoulli(4), generator=torch.Generator().manual_seed(0)).double()
    method = PT(n_chains=10, betas=4, k=2)
    assert repr(method) == "PT(n_chains=10, n_temperatures=4, k=2)"
    g = torch.Generator().manual_seed(3)
    v = method.negative(rbm, data[:8], rbm.inputs_h_from_v(data[:8]), generator=g)
    assert v.shape == (10, 6) and not v.requires_grad
    state = method.state_dict()
    twin = PT(n_chains=3, betas=2, k=2)
    twin.load_state_dict(harmonium.io.load(_saved(state)))
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    a = method.negative(rbm, data, None, generator=g1)
    b = twin.negative(rbm, data, None, generator=g2)
    torch.testing.assert_close(a, b)
    assert twin.sampler.n_steps == method.sampler.n_steps == 2


def _saved(state):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "state.safetensors"
    harmonium.save(state, path)
    return path


@pytest.mark.parametrize("method", [PT(20, betas=[1.0, 0.5]), Centered(PCD(20)), Centered(CD(1))])
def test_training_with_pt_and_centering_raises_exact_likelihood(method):
    g = torch.Generator().manual_seed(5)
    proto = (torch.rand(3, 8, generator=g) < 0.5).double()
    data = proto[torch.randint(3, (300,), generator=g)]
    data = torch.where(torch.rand(data.shape, generator=g) < 0.05, 1 - data, data)
    rbm = RBM(Bernoulli(8), Bernoulli(4), generator=g).double()
    before = log_likelihood_exact(rbm, data).item()
    fit(rbm, data, method, epochs=10, batch_size=20, lr=0.1, generator=g, progress=False,
        monitor=0)
    after = log_likelihood_exact(rbm, data).item()
    assert after > before + 1.0


def test_center_gradients_match_the_centered_formula():
    g = torch.Generator().manual_seed(6)
    rbm = RBM(Bernoulli(5), Bernoulli(3), weight_std=0.5, generator=g).double()
    v = (torch.rand(20, 5, generator=g) < 0.5).double()
    vm = (torch.rand(30, 5, generator=g) < 0.5).double()

    class Fixed:
        def negative(self, rbm, v_data, inputs_h, *, generator=None):
            return vm

    compute_gradients(rbm, v, Fixed())
    mu, lam = torch.rand(5, generator=g).double(), torch.rand(3, generator=g).double()
    center_gradients_(rbm, mu, lam)
    with torch.no_grad():
        hd, hm = rbm.mean_h_from_v(v), rbm.mean_h_from_v(vm)
        d_w = -((v - mu).T @ (hd - lam) / 20 - (vm - mu).T @ (hm - lam) / 30)
        d_b = -(v.mean(0) - vm.mean(0)) - d_w @ lam
        d_c = -(hd.mean(0) - hm.mean(0)) - d_w.T @ mu
    torch.testing.assert_close(rbm.weight.grad, d_w)
    torch.testing.assert_close(rbm.visible.params.grad[0], d_b)
    torch.testing.assert_close(rbm.hidden.params.grad[0], d_c)


def test_centering_offsets_live_in_the_transform_state():
    g = torch.Generator().manual_seed(7)
    rbm = RBM(Spin(4), Bernoulli(3), generator=g)
    data = torch.where(torch.rand(10, 4, generator=g) < 0.5, 1.0, -1.0)
    data2 = torch.where(torch.rand(10, 4, generator=g) < 0.5, 1.0, -1.0)
    method = Centered(PCD(5), rate=0.5)
    assert repr(method) == "Centered(PCD(n_chains=5, k=1), rate=0.5)"
    (centering,) = method.transforms
    state = centering.update(rbm, centering.init(rbm), rbm_gradient_step(rbm, data, method))
    torch.testing.assert_close(state["offset_v"], data.mean(0))
    torch.testing.assert_close(state["offset_h"], rbm.mean_h_from_v(data).mean(0))
    state = centering.update(rbm, state, rbm_gradient_step(rbm, data2, method))
    torch.testing.assert_close(state["offset_v"], 0.5 * (data.mean(0) + data2.mean(0)))
    twin = Centered(PCD(5))
    twin.load_state_dict(method.state_dict())
    torch.testing.assert_close(twin.method.chains, method.method.chains)


def test_default_ladder():
    b = default_ladder(4)
    torch.testing.assert_close(b, torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64))
    assert ParallelTempering(5).betas == default_ladder(5).tolist()


@pytest.mark.parametrize(
    ("betas", "error", "match"),
    [
        ([0.9, 0.5], ValueError, "start at 1"),
        ([1.0, 0.5, 0.6], ValueError, "decreasing"),
        ([1.0, 0.0], ValueError, r"\(0, 1\]"),
        ([1.0], ValueError, "at least 2"),
        (1, ValueError, "n_temperatures"),
        ("hot", TypeError, "sequence of floats"),
    ],
)
def test_bad_ladder(betas, error, match):
    with pytest.raises(error, match=match):
        ParallelTempering(betas)


def test_bad_tempering_input():
    with pytest.raises(ValueError, match="n_chains"):
        ParallelTempering(3, n_chains=0)
    with pytest.raises(ValueError, match="k"):
        PT(10, 3, k=0)
    rbm = RBM(Bernoulli(4), Bernoulli(2))
    pt = ParallelTempering(3, n_chains=5)
    pt.chains = torch.zeros(2, 5, 4)
    with pytest.raises(ValueError, match="chains must have shape"):
        pt.step(rbm)
    with pytest.raises(ValueError, match="n_steps"):
        ParallelTempering(3).run(rbm, 0)
    with pytest.raises(ValueError, match="one row per temperature"):
        pt.load_state_dict({**pt.state_dict(), "chains": torch.zeros(5, 5, 4)})
    with pytest.raises(TypeError, match="training method"):
        Centered("pcd")
    with pytest.raises(ValueError, match="rate"):
        Centered(PCD(), rate=0)


@pytest.mark.parametrize("make", [lambda: PT(8, betas=3), lambda: Centered(PCD(8))])
def test_fit_resumes_pt_and_centered_bit_for_bit(make, tmp_path):
    data = (torch.rand(40, 6, generator=torch.Generator().manual_seed(8)) < 0.4).double()

    def run(epochs, resume, path):
        torch.manual_seed(0)
        rbm = RBM(Bernoulli(6), Bernoulli(3), generator=torch.Generator().manual_seed(9)).double()
        if resume:
            fit(rbm, data, make(), epochs=2, batch_size=10, generator=torch.Generator()
                .manual_seed(10), progress=False, monitor=0, checkpoint=path)
        fit(rbm, data, make(), epochs=epochs, batch_size=10,
            generator=torch.Generator().manual_seed(10), progress=False, monitor=0,
            checkpoint=path, resume=resume)
        return rbm.weight.detach()

    straight = run(4, False, tmp_path / "a.safetensors")
    resumed = run(4, True, tmp_path / "b.safetensors")
    torch.testing.assert_close(resumed, straight, rtol=0, atol=0)
