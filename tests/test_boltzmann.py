"""General Boltzmann machines against brute-force enumeration, and the two bridges."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chi2

import harmonium
from harmonium import BoltzmannMachine, HopfieldNetwork
from harmonium.models.boltzmann import MAX_EXACT_UNITS
from harmonium.partition import log_partition_exact
from harmonium.training.boltzmann import ahs_gradient, fit_boltzmann, positive_phase

STATES = {"binary": (0.0, 1.0), "spin": (-1.0, 1.0)}


def _machine(nv, nh, units="binary", temperature=1.0, seed=0, scale=0.6, connectivity=None):
    g = torch.Generator().manual_seed(seed)
    bm = BoltzmannMachine(nv, nh, units, temperature, connectivity=connectivity,
                          weight_std=scale, generator=g, dtype=torch.float64)
    with torch.no_grad():
        bm.layer.params[0].copy_(0.5 * torch.randn(bm.n_units, generator=g))
    return bm


def _rbm_mask(nv, nh):
    mask = torch.zeros(nv + nh, nv + nh, dtype=torch.bool)
    mask[:nv, nv:] = mask[nv:, :nv] = True
    return mask


def _all_states(n, units):
    low, high = STATES[units]
    return torch.tensor(list(itertools.product([low, high], repeat=n)), dtype=torch.float64)


def _brute_log_p(bm):
    """log p(x) of every state, written from the definition (independent of the model)."""
    x = _all_states(bm.n_units, bm.unit_type)
    w, b = bm.weight, bm.bias
    energy = -0.5 * torch.einsum("si,ij,sj->s", x, w, x) - x @ b
    return x, -energy / bm.temperature - torch.logsumexp(-energy / bm.temperature, 0)


def _exact_samples(bm, n, seed):
    x, log_p = _brute_log_p(bm)
    idx = torch.multinomial(log_p.detach().exp(), n, replacement=True,
                            generator=torch.Generator().manual_seed(seed))
    return x[idx], x, log_p.detach()


def _chi_square_p_value(samples, states, p):
    """Pearson chi-square p-value of sample counts against p (sparse bins merged)."""
    codes = {tuple(s): i for i, s in enumerate(states.tolist())}
    counts = np.bincount([codes[tuple(s)] for s in samples.tolist()], minlength=len(states))
    expected = p.numpy() * len(samples)
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    stat = ((obs - exp) ** 2 / exp).sum()
    return chi2.sf(stat, len(obs) - 1)


# ----- energy, log Z, free energy --------------------------------------------------------
@pytest.mark.parametrize("units", STATES)
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_log_z_free_energy_and_likelihood_match_enumeration(units, temperature):
    bm = _machine(6, 4, units, temperature)
    x, log_p = _brute_log_p(bm)
    with torch.no_grad():
        w, b = bm.weight, bm.bias
        energy = -0.5 * torch.einsum("si,ij,sj->s", x, w, x) - x @ b
        torch.testing.assert_close(bm.energy(x), energy)
        torch.testing.assert_close(bm.log_partition_exact(),
                                   torch.logsumexp(-energy / temperature, 0))
        # marginal of the visible units: sum over the 2**4 hidden states of each v
        log_pv = torch.logsumexp(log_p.view(2**6, 2**4), 1)
        v = x.view(2**6, 2**4, 10)[:, 0, :6]
        torch.testing.assert_close(-bm.free_energy(v) - bm.log_partition_exact(), log_pv)
        assert bm.log_likelihood_exact(v[:7]).item() == pytest.approx(log_pv[:7].mean().item())


def test_no_hidden_free_energy_is_scaled_energy():
    bm = _machine(5, 0, "spin", 2.0)
    x = _all_states(5, "spin")
    torch.testing.assert_close(bm.free_energy(x), bm.energy(x) / 2.0)


def test_couplings_are_symmetric_masked_and_zero_on_diagonal():
    mask = _rbm_mask(3, 2)
    mask[0, 1] = mask[1, 0] = True
    bm = _machine(3, 2, connectivity=mask)
    torch.testing.assert_close(bm.weight, bm.weight.T)
    assert (bm.weight.diagonal() == 0).all()
    assert (bm.weight[~mask] == 0).all() and (bm.weight[mask] != 0).all()
    # units 0 and 1 are coupled, so they cannot share a colour class
    assert not any({0, 1} <= set(b.tolist()) for b in bm.blocks)


# ----- Gibbs sampling -------------------------------------------------------------------
SAMPLERS = {
    "sequential-binary": lambda: (_machine(5, 3, "binary", 1.0, seed=1), {}),
    "sequential-spin-hot": lambda: (_machine(5, 3, "spin", 1.5, seed=2), {}),
    "random-order": lambda: (_machine(5, 3, seed=3),
                             {"order": torch.randperm(8, generator=torch.Generator()
                                                      .manual_seed(0))}),
    "rbm-blocks": lambda: (_machine(5, 3, seed=4, scale=1.0, connectivity=_rbm_mask(5, 3)), {}),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_gibbs_leaves_the_boltzmann_distribution_invariant(name):
    bm, kwargs = SAMPLERS[name]()
    start, states, log_p = _exact_samples(bm, 40_000, seed=5)
    out = bm.gibbs(start, 2, generator=torch.Generator().manual_seed(6), **kwargs)
    assert _chi_square_p_value(out, states, log_p.exp()) > 1e-4
    # the chains moved, and a sampler at the wrong temperature is caught by the test
    assert (out != start).any(1).float().mean() > 0.3
    wrong = bm.gibbs(start, 2, temperature=bm.temperature * 2,
                     generator=torch.Generator().manual_seed(6), **kwargs)
    assert _chi_square_p_value(wrong, states, log_p.exp()) < 1e-4


def test_clamped_gibbs_only_moves_free_units():
    bm = _machine(5, 3)
    x = bm.random_states(50, generator=torch.Generator().manual_seed(0))
    out = bm.gibbs(x, 3, free=bm.hidden_units, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, :5], x[:, :5])
    assert not torch.equal(out[:, 5:], x[:, 5:])


def test_rbm_connectivity_gives_two_blocks():
    bm = _machine(5, 3, connectivity=_rbm_mask(5, 3))
    assert [b.tolist() for b in bm.blocks] == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert len(_machine(5, 3).blocks) == 8


def test_sampling_is_reproducible():
    bm = _machine(4, 2)
    a = bm.sample(10, 5, generator=torch.Generator().manual_seed(3))
    b = bm.sample(10, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (10, 6)


# ----- learning rule --------------------------------------------------------------------
def _exact_gradient(bm, v):
    """Autograd of the brute-force mean log-likelihood of visible data v."""
    w = bm.weight.detach().clone().requires_grad_(True)
    b = bm.bias.detach().clone().requires_grad_(True)
    x = _all_states(bm.n_units, bm.unit_type)
    log_w = (0.5 * torch.einsum("si,ij,sj->s", x, w, x) + x @ b) / bm.temperature
    match = (v[:, None, :] == x[None, :, : bm.n_visible]).all(2)  # (batch, states)
    log_pv = torch.logsumexp(log_w.expand(len(v), -1).masked_fill(~match, -torch.inf), 1)
    (log_pv.mean() - torch.logsumexp(log_w, 0)).backward()
    # one coupling w_ij = w_ji appears twice in W: its gradient is the sum of both entries
    return (w.grad + w.grad.T) * bm.connectivity, b.grad


def _mc_tolerance(neg):
    """Five standard errors of the negative-phase averages (the positive one is exact)."""
    pair_sd = (neg[:, :, None] * neg[:, None, :]).std(0)
    return 5 * pair_sd / len(neg) ** 0.5 + 1e-3, 5 * neg.std(0) / len(neg) ** 0.5 + 1e-3


@pytest.mark.parametrize(
    ("units", "nh", "mask"),
    [("binary", 0, None), ("spin", 0, None), ("binary", 3, _rbm_mask(5, 3))],
)
def test_ahs_gradient_matches_exact_gradient(units, nh, mask):
    # positive phase exact (no hidden units, or a bipartite machine where mean field
    # is the exact posterior); negative phase from exact samples of the model
    bm = _machine(5, nh, units, 0.8, seed=7, connectivity=mask)
    g = torch.Generator().manual_seed(8)
    v = _exact_samples(bm, 30, seed=9)[0][:, :5]
    neg = _exact_samples(bm, 60_000, seed=10)[0]
    grad_w, grad_b = ahs_gradient(bm, positive_phase(bm, v, generator=g), neg)
    exact_w, exact_b = _exact_gradient(bm, v)
    tol_w, tol_b = _mc_tolerance(neg)
    assert ((grad_w - exact_w).abs() <= tol_w / bm.temperature).all()
    assert ((grad_b - exact_b).abs() <= tol_b / bm.temperature).all()


def test_gibbs_positive_phase_matches_exact_posterior():
    bm = _machine(4, 3, seed=11)
    v = _exact_samples(bm, 2, seed=12)[0][:, :4].repeat_interleave(20_000, 0)
    pos = positive_phase(bm, v, method="gibbs", steps=20,
                         generator=torch.Generator().manual_seed(13))
    x, log_p = _brute_log_p(bm)
    with torch.no_grad():
        for row in (0, 20_000):
            match = (x[:, :4] == v[row]).all(1)
            post = torch.softmax(log_p[match], 0)
            exact = post @ x[match][:, 4:]
            got = pos[row : row + 20_000, 4:].mean(0)
            assert (got - exact).abs().max() < 5 * 0.5 / 20_000**0.5


def test_mean_field_is_exact_without_hidden_couplings():
    bm = _machine(4, 3, seed=14, connectivity=_rbm_mask(4, 3))
    x, log_p = _brute_log_p(bm)
    v = x[::8, :4]
    with torch.no_grad():
        exact = torch.stack([torch.softmax(log_p[(x[:, :4] == r).all(1)], 0)
                             @ x[(x[:, :4] == r).all(1)][:, 4:] for r in v])
        torch.testing.assert_close(bm.mean_field(v, 3), exact)


@pytest.mark.parametrize("positive", ["mean-field", "gibbs"])
def test_fit_raises_exact_log_likelihood(positive):
    g = torch.Generator().manual_seed(15)
    teacher = _machine(6, 0, scale=1.5, seed=16)
    data = _exact_samples(teacher, 300, seed=17)[0]
    bm = BoltzmannMachine(6, 3, generator=g, dtype=torch.float64)
    before = bm.log_likelihood_exact(data).item()
    fit_boltzmann(bm, data, epochs=15, batch_size=30, lr=0.1, n_chains=50,
                  positive=positive, generator=g, progress=False)
    after = bm.log_likelihood_exact(data).item()
    best = teacher.log_likelihood_exact(data).item()
    assert after > before + 0.5 * (best - before)
    torch.testing.assert_close(bm.weight, bm.weight.T)


# ----- bridges --------------------------------------------------------------------------
def test_from_rbm_has_the_rbms_free_energy_and_log_z():
    from harmonium import RBM
    from harmonium.units import Bernoulli, Spin

    g = torch.Generator().manual_seed(18)
    for layer in (Bernoulli, Spin):
        rbm = RBM(layer(6), layer(4), weight_std=0.7, generator=g).double()
        with torch.no_grad():
            rbm.visible.params.normal_(generator=g)
            rbm.hidden.params.normal_(generator=g)
        bm = BoltzmannMachine.from_rbm(rbm)
        v = _all_states(6, bm.unit_type)
        with torch.no_grad():
            torch.testing.assert_close(bm.free_energy(v), rbm.free_energy(v))
            torch.testing.assert_close(bm.log_partition_exact(), log_partition_exact(rbm))
        assert len(bm.blocks) == 2


def test_from_hopfield_at_zero_temperature_is_asynchronous_recall():
    g = torch.Generator().manual_seed(19)
    d = 40
    patterns = torch.randint(0, 2, (4, d), generator=g).float() * 2 - 1
    net = HopfieldNetwork(d).store(patterns)
    flips = torch.rand(12, d, generator=g) < 0.2
    probes = torch.where(flips, -patterns.repeat(3, 1), patterns.repeat(3, 1))
    expected = net.recall(probes, generator=torch.Generator().manual_seed(20)).states
    assert not torch.equal(expected, probes)

    bm = BoltzmannMachine.from_hopfield(net)
    torch.testing.assert_close(bm.energy(probes), net.energy(probes))
    order_source = torch.Generator().manual_seed(20)
    x = probes.clone()
    for _ in range(100):  # bounded: a sweep that never converges fails instead of hanging
        if net.is_fixed_point(x).all():
            break
        # one permutation per sweep, as recall draws
        x = bm.gibbs(x, order=torch.randperm(d, generator=order_source), temperature=0)
    assert net.is_fixed_point(x).all(), "zero-temperature sweeps did not converge in 100"
    assert torch.equal(x, expected)


def test_low_temperature_gibbs_approaches_deterministic_dynamics():
    g = torch.Generator().manual_seed(21)
    net = HopfieldNetwork(20)
    w = torch.randn(20, 20, generator=g)
    net.weight.copy_((w + w.T).fill_diagonal_(0))
    bm = BoltzmannMachine.from_hopfield(net, temperature=1e-4)
    x = bm.random_states(30, generator=g)
    order = torch.randperm(20, generator=g)
    cold = bm.gibbs(x, order=order, generator=g)
    assert torch.equal(cold, bm.gibbs(x, order=order, temperature=0))


# ----- saving and bad inputs ------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    bm = _machine(4, 2, "spin", 0.5, connectivity=_rbm_mask(4, 2))
    path = harmonium.save(bm, tmp_path / "bm.safetensors")
    back = harmonium.load(path)
    assert isinstance(back, BoltzmannMachine) and back.unit_type == "spin"
    assert back.temperature == 0.5 and len(back.blocks) == 2
    torch.testing.assert_close(back.weight, bm.weight)
    torch.testing.assert_close(back.bias, bm.bias)
    assert torch.equal(back.connectivity, bm.connectivity)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_visible": 0}, ValueError),
        ({"n_visible": 2.5}, TypeError),
        ({"n_hidden": -1}, ValueError),
        ({"units": "potts"}, ValueError),
        ({"temperature": 0.0}, ValueError),
        ({"temperature": float("nan")}, ValueError),
        ({"temperature": "hot"}, TypeError),
        ({"connectivity": np.ones((3, 3), bool)}, ValueError),  # diagonal
        ({"connectivity": np.triu(np.ones((3, 3), bool), 1)}, ValueError),  # asymmetric
        ({"connectivity": np.zeros((2, 2), bool)}, ValueError),  # shape
    ],
)
def test_bad_constructor_arguments(kwargs, error):
    args = {"n_visible": 2, "n_hidden": 1, **kwargs}
    with pytest.raises(error):
        BoltzmannMachine(**args)


def test_bad_states_and_calls():
    bm = _machine(3, 2)
    spin = _machine(3, 0, "spin")
    with pytest.raises(ValueError, match="only 0 and 1"):
        bm.energy(torch.full((2, 5), 0.5))
    with pytest.raises(ValueError, match="only -1 and 1"):
        spin.energy(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="5 features"):
        bm.gibbs(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        bm.free_energy(torch.tensor([[0.0, 1.0, float("nan")]]))
    with pytest.raises(ValueError, match="indices"):
        bm.gibbs(torch.zeros(1, 5), order=torch.tensor([0, 7]))
    with pytest.raises(TypeError, match="indices"):
        bm.gibbs(torch.zeros(1, 5), free=torch.tensor([0.5]))
    with pytest.raises(ValueError, match="temperature"):
        bm.gibbs(torch.zeros(1, 5), temperature=-1.0)
    with pytest.raises(ValueError, match="sweeps"):
        bm.gibbs(torch.zeros(1, 5), sweeps=0)
    with pytest.raises(ValueError, match="damping"):
        bm.mean_field(torch.zeros(1, 3), damping=1.0)
    with pytest.raises(ValueError, match="24"):
        BoltzmannMachine(MAX_EXACT_UNITS + 1).log_partition_exact()
    with pytest.raises(TypeError, match="Bernoulli or both Spin"):
        from harmonium import RBM
        from harmonium.units import Bernoulli, Gaussian

        BoltzmannMachine.from_rbm(RBM(Gaussian(3), Bernoulli(2)))
    with pytest.raises(TypeError, match="HopfieldNetwork"):
        BoltzmannMachine.from_hopfield(object())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"lr": 0.0}, ValueError), ({"lr": -1.0}, ValueError), ({"epochs": 0}, ValueError),
     ({"positive": "exact"}, ValueError), ({"weight_decay": -0.1}, ValueError)],
)
def test_bad_fit_arguments(kwargs, error):
    bm = _machine(3, 1)
    with pytest.raises(error):
        fit_boltzmann(bm, torch.zeros(4, 3), progress=False, **kwargs)
    with pytest.raises(ValueError, match="only 0 and 1"):
        fit_boltzmann(bm, torch.full((4, 3), 0.3), progress=False)


def test_from_rbm_reads_the_states_of_the_layers_not_their_class():
    from harmonium import RBM
    from harmonium.units import Bernoulli, Spin

    class _Bits(Bernoulli):  # a two-state layer of another class (private: not registered)
        pass

    g = torch.Generator().manual_seed(22)
    rbm = RBM(_Bits(3), Bernoulli(2), weight_std=0.7, generator=g).double()
    bm = BoltzmannMachine.from_rbm(rbm)
    assert bm.unit_type == "binary"
    v = _all_states(3, "binary")
    with torch.no_grad():
        torch.testing.assert_close(bm.free_energy(v), rbm.free_energy(v))
    with pytest.raises(TypeError, match="both Bernoulli or both Spin, got Bernoulli and Spin"):
        BoltzmannMachine.from_rbm(RBM(Bernoulli(3), Spin(2)))
    with pytest.raises(TypeError, match="got NoneType and NoneType"):
        BoltzmannMachine.from_rbm(object())
