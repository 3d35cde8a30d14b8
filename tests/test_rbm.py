"""The generic RBM against brute-force enumeration of both layers."""

import pytest
import torch

import harmonium
from harmonium import RBM
from harmonium.partition import log_likelihood_exact, log_partition_exact
from harmonium.units import Bernoulli, Categorical, DReLU, Gaussian, PReLU, Spin, XReLU
from random_models import random_rbm


def _rbm(visible, hidden, seed=0):
    return random_rbm(visible, hidden, seed=seed, scale=0.5)


PAIRS = {
    "bernoulli-bernoulli": lambda: _rbm(Bernoulli(5), Bernoulli(4)),
    "spin-bernoulli": lambda: _rbm(Spin(4), Bernoulli(5)),
    "categorical-spin": lambda: _rbm(Categorical(3, 3), Spin(3)),
    "bernoulli-categorical": lambda: _rbm(Bernoulli(4), Categorical(2, 3)),
}


def _all(layer):
    return torch.cat(list(layer.enumerate_states()))


def _joint_energy_table(rbm):
    v, h = _all(rbm.visible), _all(rbm.hidden)
    nv, nh = len(v), len(h)
    vv = v.repeat_interleave(nh, 0)
    hh = h.repeat(nv, *([1] * (h.ndim - 1)))
    return v, h, rbm.energy(vv, hh).view(nv, nh)


@pytest.mark.parametrize("pair", PAIRS)
def test_free_energy_and_log_z_match_enumeration(pair):
    rbm = PAIRS[pair]()
    v, _, energy = _joint_energy_table(rbm)
    with torch.no_grad():
        torch.testing.assert_close(rbm.free_energy(v), -torch.logsumexp(-energy, 1))
        torch.testing.assert_close(log_partition_exact(rbm), torch.logsumexp(-energy.flatten(), 0))


@pytest.mark.parametrize("pair", PAIRS)
def test_conditional_means_match_enumeration(pair):
    rbm = PAIRS[pair]()
    v, h, energy = _joint_energy_table(rbm)
    with torch.no_grad():
        p_h_given_v = torch.softmax(-energy, 1)  # (nv, nh)
        expected_h = torch.einsum("vh,h...->v...", p_h_given_v, h)
        torch.testing.assert_close(rbm.mean_h_from_v(v), expected_h)
        p_v_given_h = torch.softmax(-energy, 0)
        expected_v = torch.einsum("vh,v...->h...", p_v_given_h, v)
        torch.testing.assert_close(rbm.mean_v_from_h(h), expected_v)


def test_gaussian_visible_free_energy_matches_quadrature():
    rbm = _rbm(Gaussian(1), Bernoulli(3))
    with torch.no_grad():
        rbm.visible.params[1] = 2.0
        x = torch.linspace(-30, 30, 200001, dtype=torch.float64)[:, None]
        log_z = torch.logsumexp(-rbm.free_energy(x), 0) + torch.log(x[1, 0] - x[0, 0])
        torch.testing.assert_close(log_partition_exact(rbm), log_z, rtol=1e-7, atol=1e-7)


def test_log_likelihood_exact_sums_to_one():
    rbm = PAIRS["bernoulli-bernoulli"]()
    v = _all(rbm.visible)
    with torch.no_grad():
        log_p = -rbm.free_energy(v) - log_partition_exact(rbm)
        assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-10)
        assert log_likelihood_exact(rbm, v[:3]).item() == pytest.approx(log_p[:3].mean().item())


@pytest.mark.parametrize("pair", ["bernoulli-bernoulli", "categorical-spin"])
def test_gibbs_leaves_exact_distribution_invariant(pair):
    """Chains started exactly from p(v) (by enumeration) must not drift."""
    rbm = PAIRS[pair]()
    v = _all(rbm.visible)
    with torch.no_grad():
        p = torch.softmax(-rbm.free_energy(v), 0)
        g = torch.Generator().manual_seed(4)
        n = 60000
        idx = torch.multinomial(p, n, replacement=True, generator=g)
        chains = rbm.gibbs(v[idx], steps=3, generator=g)
        # map every chain state back to its index in the enumeration
        match = (chains.flatten(1)[:, None, :] == v.flatten(1)[None]).all(-1)
        counts = match.double().sum(0)
        expected = n * p
        chi2 = ((counts - expected) ** 2 / expected).sum().item()
        dof = len(v) - 1
        # chi-square with dof degrees of freedom: mean dof, sd sqrt(2 dof); 5 sd margin
        assert chi2 < dof + 5 * (2 * dof) ** 0.5


def test_scaled_rbm_is_tempered():
    rbm = PAIRS["spin-bernoulli"]()
    _, _, energy = _joint_energy_table(rbm)
    _, _, energy_hot = _joint_energy_table(rbm.scaled(0.4))
    torch.testing.assert_close(energy_hot, 0.4 * energy)


def test_annealed_path_endpoints():
    rbm = PAIRS["bernoulli-bernoulli"]()
    base = Bernoulli(5).double()
    with torch.no_grad():
        base.params.fill_(0.3)
        v = _all(rbm.visible)
        at_one = rbm.annealed_from(base, 1.0)
        torch.testing.assert_close(at_one.free_energy(v), rbm.free_energy(v))
        at_zero = rbm.annealed_from(base, 0.0)
        # independent units: log Z = n_v softplus(0.3) + n_h log 2
        expected = 5 * torch.nn.functional.softplus(
            torch.tensor(0.3, dtype=torch.float64)
        ) + 4 * torch.log(torch.tensor(2.0, dtype=torch.float64))
        torch.testing.assert_close(log_partition_exact(at_zero), expected)


def test_save_load_round_trip(tmp_path):
    rbm = PAIRS["categorical-spin"]()
    path = harmonium.save(rbm, tmp_path / "m.safetensors")
    loaded = harmonium.load(path)
    assert type(loaded.visible) is Categorical and type(loaded.hidden) is Spin
    v = _all(rbm.visible)
    with torch.no_grad():
        torch.testing.assert_close(loaded.free_energy(v), rbm.free_energy(v))
    assert loaded.weight.requires_grad


def test_float32_default_and_module_moves():
    rbm = RBM(Bernoulli(6), Gaussian(3))
    assert rbm.weight.dtype == torch.float32 and rbm.weight.shape == (6, 3)
    assert {n for n, _ in rbm.named_parameters()} == {"weight", "visible.params", "hidden.params"}
    assert rbm.double().visible.bias.dtype == torch.float64


@pytest.mark.parametrize(
    ("bad", "err", "match"),
    [
        ([[0.0, 1.0, 1.0]], ValueError, "5 features"),
        ([[0.0, 1.0, 1.0, 0.5, 0.0]], ValueError, "only 0 and 1"),
        ([[0.0, 1.0, float("nan"), 0.0, 0.0]], ValueError, "NaN"),
        (torch.zeros(0, 5), ValueError, "empty"),
        ([["a", "b", "c", "d", "e"]], TypeError, "numeric"),
    ],
)
def test_free_energy_rejects_bad_input(bad, err, match):
    rbm = PAIRS["bernoulli-bernoulli"]()
    with pytest.raises(err, match=match):
        rbm.free_energy(bad)


def test_categorical_visible_shape_error():
    rbm = PAIRS["categorical-spin"]()
    with pytest.raises(ValueError, match=r"\(n_samples, 3, 3\)"):
        rbm.free_energy(torch.zeros(2, 3, 2))


def test_log_partition_exact_refuses_large_layers():
    rbm = RBM(Gaussian(3), Bernoulli(30))
    with pytest.raises(ValueError, match="ais"):
        log_partition_exact(rbm)


def test_rbm_rejects_non_unit_layers():
    with pytest.raises(TypeError, match="unit layer"):
        RBM(5, Bernoulli(3))


def _gaussian_gaussian(nv, nh, weight, precision_v=1.0, precision_h=1.0):
    rbm = RBM(Gaussian(nv), Gaussian(nh))
    with torch.no_grad():
        rbm.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        rbm.visible.params[1].fill_(precision_v)
        rbm.hidden.params[1].fill_(precision_h)
    return rbm


def test_improper_gaussian_gaussian_rbm_refuses_to_sample():
    rbm = _gaussian_gaussian(2, 2, 3.0 * torch.eye(2))
    # what sampling it would give: the chain's mean grows 9-fold per sweep
    v, g = torch.zeros(4, 2), torch.Generator().manual_seed(0)
    for _ in range(100):
        v = rbm.sample_v_from_h(rbm.sample_h_from_v(v, generator=g), generator=g)
    assert not torch.isfinite(v).all()
    with pytest.raises(ValueError, match=r"improper.*Shrink the weights"):
        harmonium.generate(rbm, 4, 10, generator=g)
    with pytest.raises(ValueError, match="improper"):
        rbm.gibbs(torch.zeros(4, 2), 5, generator=g)
    with torch.no_grad():
        rbm.hidden.params[1].fill_(-1.0)  # e.g. a hand-edited file
    with pytest.raises(ValueError, match="precision is -1 <= 0"):
        rbm.check_proper()


def test_proper_gaussian_gaussian_rbm_samples_finite_values():
    rbm = _gaussian_gaussian(3, 2, 0.5 * torch.ones(3, 2), precision_v=2.0)
    out = harmonium.generate(rbm, 50, 100, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("nv", "nh"), [(5, 3), (3, 5)])
def test_check_proper_agrees_with_the_joint_precision_matrix(nv, nh):
    g = torch.Generator().manual_seed(1)
    for trial in range(40):
        w = torch.randn(nv, nh, generator=g) * (0.05 + 0.015 * trial)  # about half proper
        gv, gh = torch.rand(nv, generator=g) + 0.5, torch.rand(nh, generator=g) + 0.5
        rbm = _gaussian_gaussian(nv, nh, w)
        with torch.no_grad():
            rbm.visible.params[1].copy_(gv)
            rbm.hidden.params[1].copy_(gh)
        joint = torch.cat([torch.cat([torch.diag(gv), -w], 1),
                           torch.cat([-w.T, torch.diag(gh)], 1)]).double()
        smallest = torch.linalg.eigvalsh(joint).min().item()
        if abs(smallest) < 1e-4:
            continue  # too close to the boundary for float32
        if smallest > 0:
            rbm.check_proper()
        else:
            with pytest.raises(ValueError, match="improper"):
                rbm.check_proper()


@pytest.mark.parametrize("kind", [DReLU, PReLU, XReLU])
def test_check_proper_bounds_units_with_two_precisions(kind):
    """One Gaussian visible (gamma_v = 1) and one dReLU hidden unit, precisions 0.5 and 4.

    On the side of h with precision gamma the quadratic part is (v^2 + gamma h^2) / 2
    - w v h, curved upward iff w^2 < gamma: proper iff w^2 < 0.5. The check passes
    below 0.5 and raises above 4 (where the energy along the bad direction falls
    without bound, whatever its sign); in between it does not decide.
    """
    hidden = DReLU.from_params(torch.tensor([[0.0], [0.0], [0.5], [4.0]]))
    if kind is not DReLU:
        hidden = kind.from_drelu(hidden)
    rbm = RBM(Gaussian(1), hidden)
    torch.testing.assert_close(torch.stack(rbm.hidden.precision_range()),
                               torch.tensor([[0.5], [4.0]]))
    for w, verdict in [(0.6, "proper"), (1.5, "undecided"), (2.1, "improper")]:
        with torch.no_grad():
            rbm.weight.fill_(w)
        if verdict == "improper":
            with pytest.raises(ValueError, match="improper"):
                rbm.check_proper()
            # the oracle: the joint energy along (v, h) = t (w, 1) and t (-w, -1) falls
            # like -t^2 (w^2 - gamma) / 2 on both sides: no normaliser exists
            for sign in (1.0, -1.0):
                t = torch.tensor([10.0, 100.0])[:, None]
                v, h = sign * w * t, sign * t
                energy = (rbm.visible.energy(v) + rbm.hidden.energy(h)
                          - (v * h * w).sum(1)).detach()
                assert energy[1] < 50 * energy[0] < 0
        else:
            rbm.check_proper()


def test_a_bounded_layer_makes_any_coupling_proper():
    rbm = RBM(Gaussian(3), Bernoulli(2))
    with torch.no_grad():
        rbm.weight.fill_(100.0)
    rbm.check_proper()
    out = harmonium.generate(rbm, 5, 3, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
