"""Sparse retrieval: sparsemax and 1.5-entmax separation and their Hopfield energies."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import harmonium
from harmonium.models.modern_hopfield import ModernHopfield, energy, recall, update
from harmonium.sparse import (
    SEPARATIONS,
    conjugate,
    entmax15,
    entropy_gap,
    separate,
    sparsemax,
)
from random_models import flip_bits, random_spins


def _simplex_projection_by_faces(z):
    """Brute force: project z onto the affine hull of every face of the simplex, keep the
    feasible projections (all entries >= 0), return the closest one to z."""
    d, best, best_dist = len(z), None, math.inf
    for size in range(1, d + 1):
        for face in itertools.combinations(range(d), size):
            p = np.zeros(d)
            idx = list(face)
            p[idx] = z[idx] - (z[idx].sum() - 1) / size
            if (p >= -1e-12).all() and ((p - z) ** 2).sum() < best_dist:
                best, best_dist = p, ((p - z) ** 2).sum()
    return best


def _entmax15_by_bisection(z):
    """Bisection on the threshold condition sum_i [z_i/2 - tau]_+^2 = 1."""
    x = z / 2
    lo, hi = x.max() - 1.0, x.max()  # f(lo) >= 1 >= f(hi) = 0
    for _ in range(200):
        mid = (lo + hi) / 2
        if (np.clip(x - mid, 0, None) ** 2).sum() >= 1:
            lo = mid
        else:
            hi = mid
    return np.clip(x - lo, 0, None) ** 2


@pytest.mark.parametrize("seed", range(5))
def test_sparsemax_is_the_euclidean_projection_onto_the_simplex(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=[0.3, 1.0, 3.0][seed % 3], size=(6, 7))
    got = sparsemax(torch.from_numpy(z)).numpy()
    expected = np.stack([_simplex_projection_by_faces(row) for row in z])
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_entmax15_solves_its_threshold_condition(seed):
    rng = np.random.default_rng(10 + seed)
    z = rng.normal(scale=[0.3, 1.0, 3.0][seed % 3], size=(6, 9))
    got = entmax15(torch.from_numpy(z)).numpy()
    expected = np.stack([_entmax15_by_bisection(row) for row in z])
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_weights_sum_to_one_and_sparse_maps_give_exact_zeros(separation):
    g = torch.Generator().manual_seed(1)
    z = 4 * torch.randn(50, 30, generator=g)
    p = separate(z, separation)
    torch.testing.assert_close(p.sum(-1), torch.ones(50))
    assert (p >= 0).all()
    zeros = int((p == 0).sum())
    assert zeros == 0 if separation == "softmax" else zeros > 50 * 15
    # a clear winner takes all: z = (3, 0, -3) is one-hot for both sparse maps
    p = separate(torch.tensor([3.0, 0.0, -3.0]), separation)
    assert (p[0] == 1).item() == (separation != "softmax")


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_masked_scores_get_zero_weight_and_rows_are_shift_invariant(separation):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4, 6, generator=g, dtype=torch.float64)
    masked = z.clone()
    masked[:, 2] = -math.inf
    p = separate(masked, separation)
    assert (p[:, 2] == 0).all()
    keep = [0, 1, 3, 4, 5]
    torch.testing.assert_close(p[:, keep], separate(z[:, keep], separation))
    torch.testing.assert_close(separate(z + 100.0, separation), separate(z, separation))
    torch.testing.assert_close(conjugate(masked, separation), conjugate(z[:, keep], separation))


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_gradients_pass_gradcheck_and_conjugate_gradient_is_the_map(separation):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: separate(t, separation), (z,))
    assert torch.autograd.gradcheck(lambda t: conjugate(t, separation), (z,))
    (grad,) = torch.autograd.grad(conjugate(z, separation).sum(), z)
    torch.testing.assert_close(grad, separate(z, separation).detach())


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_conjugate_is_the_maximum_over_the_simplex(separation):
    # Omega*(z) = max_p <p, z> - Omega(p): no random point of the simplex does better
    omega = {"softmax": lambda p: (p * np.log(np.where(p > 0, p, 1))).sum(-1),
             "sparsemax": lambda p: 0.5 * ((p**2).sum(-1) - 1),
             "entmax15": lambda p: 4 / 3 * ((p**1.5).sum(-1) - 1)}[separation]
    rng = np.random.default_rng(4)
    z = rng.normal(size=5)
    best = float(conjugate(torch.from_numpy(z), separation))
    p = rng.dirichlet(np.full(5, 0.3), size=20000)
    assert (p @ z - omega(p)).max() <= best + 1e-12
    p_star = separate(torch.from_numpy(z), separation).numpy()
    assert p_star @ z - omega(p_star) == pytest.approx(best, abs=1e-12)
    # the energy constant: -min Omega over the simplex, at the uniform vector
    assert entropy_gap(5, separation) == pytest.approx(-omega(np.full(5, 0.2)), abs=1e-12)


@pytest.mark.parametrize("separation", ["sparsemax", "entmax15"])
def test_sparse_retrieval_returns_a_stored_pattern_exactly(separation):
    x = random_spins(40, 64, 5, dtype=torch.float64)
    q = flip_bits(x, 0.15, 6)
    r = ModernHopfield(beta=0.2, separation=separation).store(x).recall(q)
    assert torch.equal(r.states, x)
    assert torch.equal(r.weights, torch.eye(40, dtype=torch.float64))
    soft = ModernHopfield(beta=0.2).store(x).recall(q)
    assert not torch.equal(soft.states, x)  # softmax only gets close


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 8), d=st.integers(1, 6), beta=st.floats(0.01, 30.0),
       scale=st.floats(0.1, 5.0), seed=st.integers(0, 2**16),
       separation=st.sampled_from(SEPARATIONS))
def test_update_never_increases_the_sparse_energy(m, d, beta, scale, seed, separation):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(m, d, generator=g, dtype=torch.float64)
    xi = scale * torch.randn(4, d, generator=g, dtype=torch.float64)
    for _ in range(4):
        new = update(xi, x, beta, separation=separation)
        e_old = energy(xi, x, beta, separation=separation)
        e_new = energy(new, x, beta, separation=separation)
        assert (e_new >= -1e-9).all()
        assert (e_new <= e_old + 1e-9 * (1 + e_old.abs())).all()
        xi = new


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_update_is_a_unit_gradient_step_on_the_sparse_energy(separation):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    xi = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(energy(xi, x, 2.0, separation=separation).sum(), xi)
    torch.testing.assert_close(update(xi, x, 2.0, separation=separation), xi - grad)


@pytest.mark.parametrize("separation", ["sparsemax", "entmax15"])
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_memory_energy_descends_along_iterated_recall(separation, similarity):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    mem = ModernHopfield(beta=0.7, similarity=similarity, separation=separation).store(x)
    q = 2 * torch.randn(5, 6, generator=g, dtype=torch.float64)
    trace = [mem.energy(q)]
    for _ in range(6):
        q = mem.recall(q).states
        trace.append(mem.energy(q))
    trace = torch.stack(trace)
    assert (trace >= -1e-9).all()
    assert (trace[1:] <= trace[:-1] + 1e-9).all()
    r = recall(x[:3] + 0.01, x, 0.7, max_sweeps=50, tol=1e-12, separation=separation)
    assert r.converged.all()


def test_separation_is_saved_and_old_files_load_as_softmax(tmp_path):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(8, 5, generator=g)
    mem = ModernHopfield(beta=2.0, separation="entmax15").store(x)
    harmonium.save(mem, tmp_path / "m.safetensors")
    back = harmonium.load(tmp_path / "m.safetensors")
    assert back.separation == "entmax15"
    torch.testing.assert_close(back.recall(x + 0.1).states, mem.recall(x + 0.1).states)
    state = mem._to_state()
    del state["separation"]
    assert ModernHopfield._from_state(state).separation == "softmax"


def test_bad_separation_raises():
    with pytest.raises(ValueError, match="separation must be one of"):
        ModernHopfield(separation="sparse")
    with pytest.raises(ValueError, match="separation must be one of"):
        update(torch.zeros(1, 2), torch.zeros(3, 2), 1.0, separation="max")
    with pytest.raises(ValueError, match="separation must be one of"):
        separate(torch.zeros(3), None)
