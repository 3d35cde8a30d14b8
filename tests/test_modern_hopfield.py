import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import harmonium
from harmonium.models.memory import RecallResult
from harmonium.models.modern_hopfield import ModernHopfield, energy, recall, update
from random_models import flip_bits, random_spins


def _spins(n, d, seed):
    return random_spins(n, d, seed, dtype=torch.float64)


def _real_patterns(n, d, seed):
    """Real patterns whose two halves have very different norms, pattern by pattern."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x[:, d // 2:] *= torch.exp(3 * torch.randn(n, 1, generator=g, dtype=torch.float64))
    return x


# ----------------------------------------------------------------- functional core
def test_energy_matches_formula_computed_in_numpy():
    rng = np.random.default_rng(0)
    x, xi, beta = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), 0.7
    lse = np.log(np.exp(beta * xi @ x.T).sum(1)) / beta
    expected = -lse + 0.5 * (xi**2).sum(1) + np.log(5) / beta + 0.5 * (x**2).sum(1).max()
    got = energy(torch.from_numpy(xi), torch.from_numpy(x), beta)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert (got >= 0).all()


def test_update_is_a_unit_gradient_step_on_the_energy():
    # E = -lse + xi'xi/2 => xi - grad E = X' softmax(beta X xi): the autograd oracle
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    xi = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(energy(xi, x, 2.0).sum(), xi)
    torch.testing.assert_close(update(xi, x, 2.0), xi - grad)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 8), d=st.integers(1, 6), beta=st.floats(0.01, 30.0),
    scale=st.floats(0.1, 5.0), seed=st.integers(0, 2**16),
)
def test_update_never_increases_energy(m, d, beta, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(m, d, generator=g, dtype=torch.float64)
    xi = scale * torch.randn(4, d, generator=g, dtype=torch.float64)
    for _ in range(3):
        new = update(xi, x, beta)
        e_old, e_new = energy(xi, x, beta), energy(new, x, beta)
        assert (e_new <= e_old + 1e-9 * (1 + e_old.abs())).all()
        xi = new


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 8), d=st.integers(1, 6), beta=st.floats(0.01, 30.0),
       seed=st.integers(0, 2**16))
def test_euclidean_update_never_increases_its_energy(m, d, beta, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, d, generator=g, dtype=torch.float64)
    q = 2 * torch.randn(4, d, generator=g, dtype=torch.float64)
    mem = ModernHopfield(beta=beta, similarity="euclidean").store(x)
    new = mem.recall(q).states
    e_old, e_new = mem.energy(q), mem.energy(new)
    assert (e_new <= e_old + 1e-9 * (1 + e_old.abs())).all()


def test_euclidean_energy_gradient_step_is_the_update():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    q = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    mem = ModernHopfield(beta=1.5, similarity="euclidean").store(x)
    (grad,) = torch.autograd.grad(mem.energy(q).sum(), q)
    torch.testing.assert_close(mem.recall(q.detach()).states, (q - grad).detach())


def test_retrieved_states_are_fixed_points():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 8, generator=g, dtype=torch.float64)
    xi = torch.randn(10, 8, generator=g, dtype=torch.float64)
    for beta in (0.1, 1.0, 8.0):
        r = recall(xi, x, beta, max_sweeps=2000, tol=1e-12)
        assert r.converged.all()
        torch.testing.assert_close(update(r.states, x, beta), r.states, atol=1e-10, rtol=0)


def test_one_step_retrieval_of_well_separated_patterns():
    x = _spins(200, 64, 0)
    q = flip_bits(x, 0.1, 1)
    r = recall(q, x, beta=1.0, max_sweeps=1)
    assert (r.sweeps == 1).all()
    assert (r.states - x).abs().max() < 1e-3
    assert (r.weights.argmax(1) == torch.arange(200)).all()


def test_large_beta_gives_nearest_pattern_small_beta_gives_mean():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(30, 6, generator=g, dtype=torch.float64)
    q = torch.randn(12, 6, generator=g, dtype=torch.float64)
    nearest = torch.from_numpy(
        np.argmin(((q.numpy()[:, None] - x.numpy()[None]) ** 2).sum(-1), axis=1))
    big = ModernHopfield(beta=1e4, similarity="euclidean").store(x).recall(q)
    torch.testing.assert_close(big.states, x[nearest])
    best_dot = ModernHopfield(beta=1e4).store(x).recall(q)
    torch.testing.assert_close(best_dot.states, x[(q @ x.T).argmax(1)])
    for sim in ("dot", "euclidean", "manhattan"):
        small = ModernHopfield(beta=1e-9, similarity=sim).store(x).recall(q)
        torch.testing.assert_close(small.states, x.mean(0).expand_as(q), atol=1e-6, rtol=0)


def test_metastable_state_between_two_close_patterns():
    # two nearly equal patterns far from a third: moderate beta averages the pair
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-5.0, 0.0]], dtype=torch.float64)
    r = recall(torch.tensor([[1.0, 0.05]], dtype=torch.float64), x, 1.0, max_sweeps=500,
                 tol=1e-12)
    assert r.converged.all()
    torch.testing.assert_close(r.weights[0, :2], torch.full((2,), 0.5, dtype=torch.float64),
                               atol=5e-3, rtol=0)
    assert r.weights[0, 2] < 1e-2  # a mixture of the pair, not a stored pattern


# ----------------------------------------------------------------- the memory object
def test_manhattan_scores_match_numpy_with_and_without_masks():
    rng = np.random.default_rng(5)
    x, q = rng.normal(size=(9, 5)), rng.normal(size=(4, 5))
    mask = rng.random((4, 5)) < 0.6
    mask[:, 0] = True
    mem = ModernHopfield(beta=1e-9, similarity="manhattan").store(x)
    dist = np.abs(q[:, None] - x[None]).sum(-1)
    torch.testing.assert_close(mem._scores(torch.from_numpy(q), None),
                               torch.from_numpy(-dist))
    masked = (np.abs(q[:, None] - x[None]) * mask[:, None]).sum(-1)
    torch.testing.assert_close(
        mem._scores(torch.from_numpy(q), torch.from_numpy(mask)), torch.from_numpy(-masked))
    shared = (np.abs(q[:, None] - x[None]) * mask[0]).sum(-1)
    torch.testing.assert_close(
        mem._scores(torch.from_numpy(q), torch.from_numpy(np.tile(mask[0], (4, 1)))),
        torch.from_numpy(-shared))


@pytest.mark.parametrize("similarity", ["dot", "euclidean", "manhattan"])
@pytest.mark.parametrize("normalize", [False, True])
def test_mask_compares_only_observed_entries_and_fills_the_rest(similarity, normalize):
    # real patterns whose observed and hidden halves have different norms: +-1 patterns
    # would hide a normalisation over the wrong entries
    x = _real_patterns(50, 40, 6)
    g = torch.Generator().manual_seed(16)
    q = x + 0.01 * torch.randn(x.shape, generator=g, dtype=torch.float64)
    q[:, 20:] = torch.randn(50, 20, generator=g, dtype=torch.float64)  # garbage
    mask = torch.arange(40) < 20
    mem = ModernHopfield(beta=1e3, similarity=similarity, normalize=normalize).store(x)
    r = mem.recall(q, mask=mask)
    # the best match on the observed half, computed independently
    qo, xo = q[:, None, :20], x[None, :, :20]
    if normalize:
        qo, xo = qo / qo.norm(dim=-1, keepdim=True), xo / xo.norm(dim=-1, keepdim=True)
    score = {"dot": (qo * xo).sum(-1), "euclidean": -((qo - xo) ** 2).sum(-1),
             "manhattan": -(qo - xo).abs().sum(-1)}[similarity]
    best = score.argmax(1)
    if similarity != "dot" or normalize:
        assert (best == torch.arange(50)).all()
    assert (r.weights.argmax(1) == best).all()
    torch.testing.assert_close(r.states[:, :20], q[:, :20])
    torch.testing.assert_close(r.states[:, 20:], x[best, 20:], atol=1e-6, rtol=0)
    assert r.converged.all() and (r.sweeps == 1).all()


def test_normalize_makes_retrieval_scale_invariant():
    x = _spins(30, 32, 7)
    q = flip_bits(x, 0.1, 8)
    mem = ModernHopfield(beta=100.0, normalize=True).store(x)
    a, b = mem.recall(q), mem.recall(10 * q)
    torch.testing.assert_close(a.weights, b.weights)
    assert torch.allclose(a.states, x, atol=1e-2)


def test_iterated_retrieval_reports_steps_and_convergence():
    x = _spins(10, 16, 9)
    mem = ModernHopfield(beta=0.5).store(x)
    r = mem.recall(flip_bits(x, 0.1, 10), max_sweeps=50, tol=1e-9)
    assert r.converged.all() and 1 < int(r.sweeps[0]) < 50
    assert (mem.recall(x, max_sweeps=1).sweeps == 1).all()


def test_store_append_and_energy_is_lowest_at_stored_patterns():
    x = _spins(10, 16, 11)
    mem = ModernHopfield(beta=2.0).store(x[:6]).store(x[6:], append=True)
    assert mem.patterns_.shape == (10, 16)
    e_stored, e_noisy = mem.energy(x), mem.energy(flip_bits(x, 0.3, 12))
    assert (e_stored < e_noisy).all()


def test_save_load_round_trip(tmp_path):
    g = torch.Generator().manual_seed(15)
    x = torch.randn(12, 5, generator=g)
    mem = ModernHopfield(beta=3.0, similarity="manhattan", normalize=True).store(x)
    harmonium.save(mem, tmp_path / "m.safetensors")
    back = harmonium.load(tmp_path / "m.safetensors")
    assert isinstance(back, harmonium.ModernHopfield)
    assert (back.beta, back.similarity, back.normalize) == (3.0, "manhattan", True)
    torch.testing.assert_close(back.patterns_, x)
    q = torch.randn(4, 5, generator=g)
    mask = torch.rand(4, 5, generator=g) < 0.6
    mask[:, 0] = True
    torch.testing.assert_close(back.recall(q).states, mem.recall(q).states)
    torch.testing.assert_close(back.recall(q, mask=mask).states, mem.recall(q, mask=mask).states)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("beta", [0, -1.0, math.nan, math.inf])
def test_bad_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        ModernHopfield(beta=beta)
    with pytest.raises(ValueError, match="beta"):
        update(torch.zeros(1, 2), torch.zeros(1, 2), beta)


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="beta"):
        ModernHopfield(beta="big")
    with pytest.raises(ValueError, match="similarity"):
        ModernHopfield(similarity="cosine")
    mem = ModernHopfield()
    with pytest.raises(ValueError, match="empty"):
        mem.recall(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="empty"):
        mem.store(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        energy(torch.zeros(1, 3), torch.zeros(0, 3), 1.0)
    mem.store(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="3 features"):
        mem.recall(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="width"):
        update(torch.zeros(1, 4), torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        mem.recall(torch.tensor([[0.0, math.nan, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        mem.store(torch.tensor([[0.0, math.inf, 1.0]]))
    with pytest.raises(ValueError, match="3 features"):
        mem.store(torch.zeros(1, 4), append=True)
    with pytest.raises(TypeError, match="boolean"):
        mem.recall(torch.zeros(1, 3), mask=torch.ones(3))
    with pytest.raises(ValueError, match="mask must have shape"):
        mem.recall(torch.zeros(2, 3), mask=torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="no observed"):
        mem.recall(torch.zeros(1, 3), mask=torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="max_sweeps"):
        mem.recall(torch.zeros(1, 3), max_sweeps=0)


# ----------------------------------------------------------------- edge cases (issue)
def test_update_with_a_fully_masked_row_raises():
    mask = torch.tensor([[True, False, True, True], [False, False, False, False]])
    with pytest.raises(ValueError, match="no stored pattern"):
        update(torch.randn(2, 3), torch.randn(4, 3), 1.0, mask=mask)


def test_old_names_warn_and_still_work():
    import harmonium.models.modern_hopfield as module

    x = _spins(10, 16, 17)
    q = flip_bits(x, 0.1, 18)
    mem = ModernHopfield(beta=0.5).store(x)
    new = mem.recall(q, max_sweeps=5, tol=1e-9)
    with pytest.warns(DeprecationWarning, match="ModernHopfield.recall"):
        old = mem.retrieve(q, max_steps=5, tol=1e-9)
    torch.testing.assert_close(old.states, new.states)
    assert torch.equal(old.sweeps, new.sweeps)
    with pytest.warns(DeprecationWarning, match="RecallResult"):
        assert module.Retrieval is RecallResult
    with pytest.warns(DeprecationWarning, match="modern_hopfield.recall"):
        from harmonium.models.modern_hopfield import retrieve
    torch.testing.assert_close(retrieve(q, x, 0.5, max_steps=5, tol=1e-9).states,
                               recall(q, x, 0.5, max_sweeps=5, tol=1e-9).states)


def test_modern_memory_speaks_the_common_interface():
    from harmonium.models.memory import AssociativeMemory

    mem = ModernHopfield(beta=4.0).store(_spins(6, 8, 19))
    assert isinstance(mem, AssociativeMemory)
    assert (mem.n_features, mem.state_space, mem.modes) == (8, "real", ("sync",))
    r = mem.recall(_spins(3, 8, 20), generator=torch.Generator().manual_seed(0))
    assert isinstance(r, RecallResult) and not r.cycled.any() and r.weights.shape == (3, 6)
    with pytest.raises(ValueError, match="mode must be one of"):
        mem.recall(_spins(3, 8, 20), mode="async")
    with pytest.raises(ValueError, match="tol"):
        mem.recall(_spins(3, 8, 20), tol=-1.0)
