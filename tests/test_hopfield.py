"""Classical Hopfield network against theory: energy, dynamics, storage rules, capacity."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import hadamard

import harmonium
from harmonium.models.hopfield import HopfieldNetwork, random_patterns
from harmonium.tasks.capacity import CapacityCurve, add_noise, capacity_curve


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def naive_async(w, b, x, orders):
    """Reference: one unit at a time in the given orders, h_i recomputed from scratch."""
    x = x.copy()
    for order in orders:
        for i in order:
            x[i] = 1.0 if w[i] @ x + b[i] >= 0 else -1.0
    return x


def all_states(d):
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)))


# ---------------------------------------------------------------- energy and dynamics
def test_energy_is_the_lecture_formula():
    g = gen()
    net = HopfieldNetwork(7).store(random_patterns(3, 7, generator=g))
    x = random_patterns(5, 7, generator=g)
    w, b = net.weight.double().numpy(), net.bias.double().numpy()
    for state, e in zip(x.double().numpy(), net.energy(x), strict=True):
        expected = -0.5 * sum(w[i, j] * state[i] * state[j] for i in range(7)
                              for j in range(7)) - sum(b[i] * state[i] for i in range(7))
        assert float(e) == pytest.approx(expected, abs=1e-9)


def test_hebbian_weights_are_the_lecture_rule():
    x = random_patterns(4, 9, generator=gen())
    net = HopfieldNetwork(9).store(x[:1]).store(x[1:])  # two calls add up
    assert torch.equal(net.weight, x.T @ x - 4 * torch.eye(9))
    assert torch.equal(net.bias, x.sum(0))
    assert net.n_stored == 4
    assert torch.equal(HopfieldNetwork(9, bias=False).store(x).bias, torch.zeros(9))


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 70), n=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_async_energy_never_increases(d, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    w = a + a.T
    np.fill_diagonal(w, 0)
    net = HopfieldNetwork(d, dtype=torch.float64)
    net.weight.copy_(torch.from_numpy(w))
    net.bias.copy_(torch.from_numpy(rng.normal(size=d)))
    probes = torch.from_numpy(rng.choice([-1.0, 1.0], size=(n, d)))
    result = net.recall(probes, generator=gen(seed), record_energy=True)
    assert result.converged.all()
    steps = result.energy.diff(dim=0)
    assert (steps <= 1e-9).all()
    assert torch.allclose(result.energy[-1], net.energy(result.states))
    assert net.is_fixed_point(result.states).all()


def test_async_matches_one_unit_at_a_time_reference():
    g = gen(3)
    d = 77  # several blocks, a partial last block
    x = random_patterns(12, d, generator=g)
    net = HopfieldNetwork(d, rule="storkey").store(x)
    probes = random_patterns(6, d, generator=g)
    result = net.recall(probes, generator=gen(5))
    g2 = gen(5)
    orders = [torch.randperm(d, generator=g2).numpy() for _ in range(int(result.sweeps.max()))]
    w, b = net.weight.double().numpy(), net.bias.double().numpy()
    for k in range(6):
        expected = naive_async(w, b, probes[k].double().numpy(), orders)
        assert np.array_equal(result.states[k].numpy(), expected)


def test_same_seed_same_result_and_fixed_points_stay():
    x = random_patterns(8, 100, generator=gen())
    net = HopfieldNetwork(100).store(x)
    probes = add_noise(x, 0.2, generator=gen(1))
    a, b = net.recall(probes, generator=gen(2)), net.recall(probes, generator=gen(2))
    assert torch.equal(a.states, b.states) and torch.equal(a.sweeps, b.sweeps)
    again = net.recall(a.states, generator=gen(3))
    assert torch.equal(again.states, a.states) and (again.sweeps == 0).all()


def test_ties_go_to_plus_one():
    net = HopfieldNetwork(3, bias=False)  # W = 0, b = 0: every field is 0
    out = net.recall(-torch.ones(2, 3), generator=gen())
    assert torch.equal(out.states, torch.ones(2, 3))
    assert torch.equal(net.recall(-torch.ones(1, 3), mode="sync").states, torch.ones(1, 3))


def test_sync_detects_two_cycles():
    net = HopfieldNetwork(2, bias=False).store(torch.tensor([[1.0, -1.0]]))  # w12 = -1
    out = net.recall(torch.tensor([[1.0, 1.0], [1.0, -1.0]]), mode="sync", max_sweeps=50)
    assert out.cycled.tolist() == [True, False]
    assert out.converged.tolist() == [False, True]
    assert out.sweeps.tolist() == [1, 0]
    # asynchronous dynamics from the same state reach a fixed point
    assert net.recall(torch.tensor([[1.0, 1.0]]), generator=gen()).converged.all()


def test_sync_converges_from_noisy_patterns():
    x = random_patterns(5, 200, generator=gen())
    net = HopfieldNetwork(200).store(x)
    out = net.recall(add_noise(x, 0.1, generator=gen(1)), mode="sync", record_energy=True)
    assert torch.equal(out.states, x) and out.converged.all() and not out.cycled.any()
    assert out.energy.shape == (len(out.steps), 5)


# ---------------------------------------------------------------- storage rules
@pytest.mark.parametrize("bias", [True, False])
def test_orthogonal_patterns_are_hebbian_fixed_points(bias):
    d = 64
    h = torch.tensor(hadamard(d), dtype=torch.float32)
    for n in (1, 10, 31):  # d > 2n
        net = HopfieldNetwork(d, bias=bias).store(h[1:n + 1])
        assert net.is_fixed_point(h[1:n + 1]).all()
        assert torch.equal(net.recall(h[1:n + 1], generator=gen()).states, h[1:n + 1])


def correlated_patterns(n, d, seed=0):
    """Patterns sharing most bits with a common prototype: far from orthogonal."""
    g = gen(seed)
    base = random_patterns(1, d, generator=g)
    return add_noise(base.expand(n, d), 0.15, generator=g)


def test_pseudoinverse_makes_independent_patterns_fixed_points():
    x = correlated_patterns(40, 64)
    assert torch.linalg.matrix_rank(x.double()) == 40
    assert not HopfieldNetwork(64).store(x).is_fixed_point(x).all()  # Hebbian fails here
    for bias in (True, False):
        net = HopfieldNetwork(64, rule="pseudoinverse", bias=bias).store(x[:15]).store(x[15:])
        assert net.is_fixed_point(x).all()
        assert torch.allclose(net.weight, net.weight.T) and (net.weight.diagonal() == 0).all()
        one_call = HopfieldNetwork(64, rule="pseudoinverse", bias=bias).store(x)
        assert torch.allclose(net.weight, one_call.weight, atol=1e-5)


def storkey_reference(x):
    """Storkey (1997) as written: w_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / d."""
    d = x.shape[1]
    w = np.zeros((d, d))
    for xi in x:
        h = np.array([[sum(w[i, k] * xi[k] for k in range(d) if k not in (i, j))
                       for j in range(d)] for i in range(d)])
        new = w + (np.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / d
        np.fill_diagonal(new, 0)
        w = new
    return w


def test_storkey_is_storkeys_formula():
    x = random_patterns(3, 6, generator=gen())
    net = HopfieldNetwork(6, rule="storkey", bias=False, dtype=torch.float64).store(x)
    assert np.allclose(net.weight.numpy(), storkey_reference(x.double().numpy()))


def test_storkey_stores_more_than_hebbian():
    d, n = 200, 40  # load 0.2, above the Hebbian limit
    x = random_patterns(n, d, generator=gen(7))
    fixed = {rule: HopfieldNetwork(d, rule, bias=False).store(x).is_fixed_point(x)
             .float().mean().item() for rule in ("hebbian", "storkey")}
    assert fixed["storkey"] >= 0.95
    assert fixed["hebbian"] <= 0.3


def test_unlearning_reduces_spurious_attractors():
    d = 16
    memories = torch.tensor(hadamard(d)[[3, 5, 6, 9]], dtype=torch.float32)
    stored = torch.cat([memories, -memories])
    states = all_states(d)

    def census(net):
        fixed = states[net.is_fixed_point(states)]
        spurious = int((~(fixed[:, None] == stored).all(2).any(1)).sum())
        final = net.recall(states, generator=gen(0)).states
        basin = (final[:, None] == stored).all(2).any(1).float().mean().item()
        return spurious, basin

    net = HopfieldNetwork(d, bias=False).store(memories)
    spurious_before, basin_before = census(net)
    assert spurious_before > 0
    net.unlearn(30, 0.1, generator=gen(0))
    spurious_after, basin_after = census(net)
    assert net.is_fixed_point(memories).all()
    assert spurious_after < spurious_before
    assert basin_after > basin_before


# ---------------------------------------------------------------- saving
@pytest.mark.parametrize("rule", ["hebbian", "storkey", "pseudoinverse"])
def test_save_load_recalls_bit_identically(tmp_path, rule):
    x = random_patterns(10, 120, generator=gen())
    net = HopfieldNetwork(120, rule=rule).store(x[:5])
    harmonium.save(net, tmp_path / "m.safetensors")
    back = harmonium.load(tmp_path / "m.safetensors")
    assert isinstance(back, HopfieldNetwork) and back.rule == rule and back.n_stored == 5
    probes = add_noise(x[:5], 0.25, generator=gen(1))
    a, b = net.recall(probes, generator=gen(2)), back.recall(probes, generator=gen(2))
    assert torch.equal(a.states, b.states) and torch.equal(a.sweeps, b.sweeps)
    net.store(x[5:])
    back.store(x[5:])  # storing more continues exactly (projector diagonal kept)
    assert torch.equal(net.weight, back.weight) and torch.equal(net.bias, back.bias)


# ---------------------------------------------------------------- capacity
def test_capacity_curve_shape_and_theory():
    curve = capacity_curve(300, [0.02, 0.3], n_trials=2, generator=gen(), progress=False)
    assert isinstance(curve, CapacityCurve)
    assert curve.n_patterns.tolist() == [6, 90]
    assert curve.fixed_fraction[0] == 1.0 and curve.recall_fraction[0] == 1.0
    assert curve.recall_fraction[1] < 0.5  # far above alpha_c = 0.138
    assert 0.02 < curve.crossing() < 0.3
    assert math.isnan(capacity_curve(100, [0.05], n_trials=1, progress=False).crossing())
    fig = curve.plot()
    assert type(fig).__name__ == "Figure"
    assert curve.to_dict()["n_patterns"] == [6, 90]


def test_capacity_curve_from_noisy_probes():
    curve = capacity_curve(200, [0.05], flip_fraction=0.1, rule="pseudoinverse", n_trials=1,
                           generator=gen(), progress=False)
    assert curve.recall_fraction[0] == 1.0


def test_add_noise_flips_exactly():
    x = random_patterns(4, 50, generator=gen())
    y = add_noise(x, 0.2, generator=gen(1))
    assert ((x != y).sum(1) == 10).all()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.tensor([[0.0, 1.0, 1.0, 0.0]]), "binary_to_spin"),  # 0/1 data
        (torch.tensor([[0.5, 1.0, -1.0, 1.0]]), "-1 and \\+1"),
        (torch.tensor([[float("nan"), 1.0, -1.0, 1.0]]), "NaN"),
        (torch.ones(2, 5), "4 features"),
        (torch.ones(0, 4), "empty"),
        (torch.ones(2, 2, 4), "shape"),
        ([["a", "b", "c", "d"]], "numeric"),
    ],
)
def test_bad_patterns_and_probes(bad, message):
    net = HopfieldNetwork(4)
    error = TypeError if message == "numeric" else ValueError
    with pytest.raises(error, match=message):
        net.store(bad)
    with pytest.raises(error, match=message):
        net.recall(bad)
    with pytest.raises(error, match=message):
        net.energy(bad)


def test_bad_settings():
    net = HopfieldNetwork(4).store(torch.ones(1, 4))
    with pytest.raises(ValueError, match="max_sweeps"):
        net.recall(torch.ones(1, 4), max_sweeps=0)
    with pytest.raises(TypeError, match="max_sweeps"):
        net.recall(torch.ones(1, 4), max_sweeps=2.5)
    with pytest.raises(ValueError, match="mode"):
        net.recall(torch.ones(1, 4), mode="parallel")
    with pytest.raises(ValueError, match="rule"):
        HopfieldNetwork(4, rule="hebb")
    with pytest.raises(ValueError, match="n_units"):
        HopfieldNetwork(0)
    with pytest.raises(TypeError, match="bias"):
        HopfieldNetwork(4, bias=1)
    with pytest.raises(ValueError, match="eta"):
        net.unlearn(3, eta=0.0)
    with pytest.raises(ValueError, match="n_dreams"):
        net.unlearn(0, eta=0.1)
    with pytest.raises(ValueError, match="alphas"):
        capacity_curve(50, [-0.1], progress=False)
    with pytest.raises(ValueError, match="flip_fraction"):
        capacity_curve(50, [0.1], flip_fraction=1.5, progress=False)
    with pytest.raises(ValueError, match="fraction"):
        add_noise(torch.ones(1, 4), -0.1)


# ---------------------------------------------------------------- edge cases (issue)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_pseudoinverse_storing_stored_patterns_again_changes_nothing(dtype, bias):
    # the leftover of a stored pattern is rounding noise: it must not become a direction
    x = random_patterns(5, 64, generator=gen())
    net = HopfieldNetwork(64, "pseudoinverse", bias=bias, dtype=dtype).store(x)
    weight, trace = net.weight.clone(), float(net._diag.sum())
    assert trace == pytest.approx(5.0, abs=1e-5)
    net.store(x[:2])
    assert float(net._diag.sum()) == pytest.approx(5.0, abs=1e-5)
    assert (net.weight - weight).abs().max() < 1e-5
    assert net.is_fixed_point(x).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_recall_draws_on_a_cuda_generator():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = random_patterns(4, 100, generator=g, device="cuda")
    net = HopfieldNetwork(100, device="cuda").store(x)
    result = net.recall(add_noise(x, 0.1, generator=g), generator=g)
    assert result.states.device.type == "cuda" and torch.equal(result.states, x)


def test_old_module_forwards_with_a_deprecation_warning():
    import harmonium.hopfield as old
    from harmonium.models.memory import RecallResult

    with pytest.warns(DeprecationWarning, match="harmonium.tasks.capacity"):
        from harmonium.hopfield import add_noise as old_add_noise
    assert old_add_noise is add_noise
    with pytest.warns(DeprecationWarning, match="harmonium.models.hopfield"):
        assert old.HopfieldNetwork is HopfieldNetwork
    with pytest.warns(DeprecationWarning, match="harmonium.models.memory"):
        assert old.RecallResult is RecallResult
    with pytest.raises(AttributeError, match="no_such_name"):
        old.no_such_name  # noqa: B018
