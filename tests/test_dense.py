import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import harmonium
from harmonium.models.dense import DenseAssociativeMemory
from random_models import flip_bits, random_spins


def _spins(n, d, seed):
    return random_spins(n, d, seed)




def _brute_energy(x, s, interaction, degree):
    """-sum_mu F(xi_mu . s) in float64 NumPy (exponential: -log(-E))."""
    h = s.double().numpy() @ x.double().numpy().T
    if interaction == "exponential":
        top = h.max(1, keepdims=True)
        return -(top[:, 0] + np.log(np.exp(h - top).sum(1)))
    return -(h**degree).sum(1)


@pytest.mark.parametrize(("interaction", "degree"),
                         [("polynomial", 2), ("polynomial", 3), ("polynomial", 4),
                          ("exponential", 3)])
def test_energy_and_gaps_match_brute_force(interaction, degree):
    x, s = _spins(7, 12, 0), _spins(5, 12, 1)
    mem = DenseAssociativeMemory(12, interaction, degree).store(x)
    np.testing.assert_allclose(mem.energy(s).double().numpy(),
                               _brute_energy(x, s, interaction, degree), rtol=1e-6)
    gaps = mem.energy_gaps(s).double().numpy()
    for i in range(12):
        plus, minus = s.clone(), s.clone()
        plus[:, i], minus[:, i] = 1, -1
        expected = (_brute_energy(x, minus, interaction, degree)
                    - _brute_energy(x, plus, interaction, degree))
        np.testing.assert_allclose(gaps[:, i], expected, rtol=1e-5, atol=1e-5)


def test_exponential_is_stable_at_large_width():
    # exp(784) overflows float64; the log-domain energy and gaps must stay finite
    x = _spins(5, 784, 2)
    mem = DenseAssociativeMemory(784, "exponential").store(x)
    assert torch.isfinite(mem.energy(x)).all() and torch.isfinite(mem.energy_gaps(x)).all()
    torch.testing.assert_close(mem.energy(x), torch.full((5,), -784.0), atol=1e-3, rtol=0)
    r = mem.recall(flip_bits(x, 0.3, 3), generator=torch.Generator().manual_seed(0))
    assert (r.states == x).all() and r.converged.all()


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 12), d=st.integers(2, 16), degree=st.integers(2, 5),
       exponential=st.booleans(), seed=st.integers(0, 2**16))
def test_energy_never_increases_along_recall(m, d, degree, exponential, seed):
    interaction = "exponential" if exponential else "polynomial"
    mem = DenseAssociativeMemory(d, interaction, degree).store(_spins(m, d, seed))
    probes = _spins(6, d, seed + 1)
    energies = [mem.energy(probes)]
    for k in range(1, 5):  # same seed: recall(max_sweeps=k) extends recall(max_sweeps=k-1)
        r = mem.recall(probes, max_sweeps=k, generator=torch.Generator().manual_seed(seed))
        energies.append(mem.energy(r.states))
    e = torch.stack(energies).double()
    assert (e[1:] <= e[:-1] + 1e-6 * e[:-1].abs().clamp_min(1)).all()


def test_single_unit_updates_never_increase_energy():
    # the update sets s_i = sign(gap_i): compare with flipping each unit by hand
    x = _spins(20, 16, 4)
    for interaction, degree in [("polynomial", 3), ("exponential", 3), ("polynomial", 5)]:
        mem = DenseAssociativeMemory(16, interaction, degree).store(x)
        s = _spins(10, 16, 5)
        gaps = mem.energy_gaps(s)
        for i in range(16):
            new = s.clone()
            new[:, i] = torch.where(gaps[:, i] >= 0, 1.0, -1.0)
            assert (mem.energy(new) <= mem.energy(s) + 1e-4).all()


def test_recalled_states_are_fixed_points_and_minima():
    x = _spins(30, 24, 6)
    mem = DenseAssociativeMemory(24, degree=3).store(x)
    r = mem.recall(_spins(40, 24, 7), generator=torch.Generator().manual_seed(1))
    assert r.converged.all() and not r.cycled.any()
    assert mem.is_fixed_point(r.states).all()
    for i in range(24):  # no single flip lowers the energy
        flipped = r.states.clone()
        flipped[:, i] *= -1
        assert (mem.energy(flipped) >= mem.energy(r.states)).all()


def test_degree_two_gaps_are_hebbian_fields():
    x, s = _spins(9, 20, 8), _spins(6, 20, 9)
    w = x.T @ x - 9 * torch.eye(20)  # hand-written Hebbian weights, zero diagonal
    mem = DenseAssociativeMemory(20, degree=2).store(x)
    torch.testing.assert_close(mem.energy_gaps(s).float(), 4 * s @ w)


def test_degree_two_reproduces_the_classical_network():
    x = _spins(12, 64, 10)
    probes = flip_bits(x, 0.3, 11)
    dense = DenseAssociativeMemory(64, degree=2).store(x)
    classical = harmonium.HopfieldNetwork(64, bias=False).store(x)
    a = dense.recall(probes, generator=torch.Generator().manual_seed(3))
    b = classical.recall(probes, generator=torch.Generator().manual_seed(3))
    assert (a.states == b.states).all()
    assert (a.sweeps == b.sweeps).all() and (a.converged == b.converged).all()
    assert (a.sweeps > 1).any()  # the dynamics did something
    # synchronous dynamics too, 2-cycles included
    a, b = dense.recall(probes, mode="sync"), classical.recall(probes, mode="sync")
    assert (a.states == b.states).all() and (a.sweeps == b.sweeps).all()
    assert (a.converged == b.converged).all() and (a.cycled == b.cycled).all()


def test_stores_patterns_where_the_classical_network_fails():
    x = _spins(40, 64, 12)  # load 0.625, far above the classical 0.138
    classical = harmonium.HopfieldNetwork(64, bias=False).store(x)
    assert classical.is_fixed_point(x).float().mean() < 0.1
    for interaction in ("polynomial", "exponential"):
        mem = DenseAssociativeMemory(64, interaction, degree=3).store(x)
        assert mem.is_fixed_point(x).all()
        r = mem.recall(flip_bits(x, 0.1, 13), generator=torch.Generator().manual_seed(0))
        assert (r.states == x).all()


def test_exponential_stores_more_patterns_than_units():
    x = _spins(300, 32, 14)
    mem = DenseAssociativeMemory(32, "exponential").store(x)
    assert mem.is_fixed_point(x).all()
    r = mem.recall(flip_bits(x, 0.1, 15), generator=torch.Generator().manual_seed(0))
    assert (r.states == x).all(1).float().mean() > 0.95


def test_same_seed_same_result_and_store_appends():
    x = _spins(30, 32, 16)
    mem = DenseAssociativeMemory(32, degree=3).store(x[:10]).store(x[10:])
    assert mem.n_stored == 30
    probes = _spins(8, 32, 17)
    a = mem.recall(probes, generator=torch.Generator().manual_seed(5))
    b = mem.recall(probes, generator=torch.Generator().manual_seed(5))
    assert (a.states == b.states).all()


def test_save_load_round_trip(tmp_path):
    x = _spins(10, 16, 18)
    mem = DenseAssociativeMemory(16, "exponential").store(x)
    harmonium.save(mem, tmp_path / "d.safetensors")
    back = harmonium.load(tmp_path / "d.safetensors")
    assert isinstance(back, harmonium.DenseAssociativeMemory)
    assert (back.interaction, back.degree, back.n_stored) == ("exponential", 3, 10)
    torch.testing.assert_close(back.energy(x), mem.energy(x))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="interaction"):
        DenseAssociativeMemory(4, "cubic")
    with pytest.raises(ValueError, match="degree"):
        DenseAssociativeMemory(4, degree=1)
    with pytest.raises(TypeError, match="n_units"):
        DenseAssociativeMemory(4.5)
    with pytest.raises(TypeError, match="dtype"):
        DenseAssociativeMemory(4, dtype=torch.int64)
    mem = DenseAssociativeMemory(4)
    with pytest.raises(ValueError, match="empty"):
        mem.recall(torch.ones(1, 4))
    with pytest.raises(ValueError, match="empty"):
        mem.store(torch.ones(0, 4))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        mem.store(torch.tensor([[1.0, 0.0, 1.0, -1.0]]))
    mem.store(torch.ones(1, 4))
    with pytest.raises(ValueError, match="4 features"):
        mem.recall(torch.ones(1, 5))
    with pytest.raises(ValueError, match="NaN"):
        mem.energy(torch.tensor([[1.0, math.nan, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="max_sweeps"):
        mem.recall(torch.ones(1, 4), max_sweeps=0)
    with pytest.raises(ValueError, match="mode"):
        mem.recall(torch.ones(1, 4), mode="parallel")


def test_binary_memories_speak_the_common_interface():
    from harmonium.models.memory import AssociativeMemory, RecallResult

    x = _spins(4, 64, 19)  # load 1/16: within the classical capacity
    for mem in (DenseAssociativeMemory(64, "exponential"), harmonium.HopfieldNetwork(64)):
        assert isinstance(mem.store(x), AssociativeMemory)
        assert (mem.n_features, mem.state_space, mem.modes) == (64, "spin", ("async", "sync"))
        for mode in mem.modes:
            r = mem.recall(flip_bits(x, 0.1, 20), mode=mode, max_sweeps=20,
                           generator=torch.Generator().manual_seed(0))
            assert isinstance(r, RecallResult) and r.weights is None
            assert (r.states == x).all() and r.converged.all()
            assert mem.energy(r.states).shape == (4,)


def test_recall_leaves_float64_probes_alone():
    x = _spins(5, 16, 21).double()
    probes = flip_bits(x, 0.2, 22)
    before = probes.clone()
    mem = DenseAssociativeMemory(16, dtype=torch.float64).store(x)
    for mode in mem.modes:
        mem.recall(probes, mode=mode, generator=torch.Generator().manual_seed(0))
        assert torch.equal(probes, before)
