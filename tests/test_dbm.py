"""Deep Boltzmann machines against enumeration and closed forms."""

from __future__ import annotations

import itertools

import pytest
import torch

import harmonium
from harmonium import DBM
from harmonium.models._dbm_net import augment
from harmonium.partition.ais_dbm import ais_dbm
from harmonium.training.dbm import fine_tune_dbm, fit_dbm, pretrain_dbm
from harmonium.units import Bernoulli


def random_dbm(sizes, seed=0, scale=1.0) -> DBM:
    """A float64 Bernoulli DBM with N(0, scale^2) weights and biases."""
    g = torch.Generator().manual_seed(seed)
    dbm = DBM([Bernoulli(n) for n in sizes], weight_std=scale, generator=g).double()
    with torch.no_grad():
        for layer in dbm.layers:
            layer.params.normal_(0.0, scale, generator=g)
    return dbm


def binary_rows(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def enumerate_dbm(dbm: DBM):
    """Every joint state (one tensor per layer, visible index slowest), E, and log Z."""
    sizes = [layer.n_units for layer in dbm.layers]
    idx = torch.cartesian_prod(*[torch.arange(2 ** n) for n in sizes])
    states = [binary_rows(n)[idx[:, i]] for i, n in enumerate(sizes)]
    # E written out from the definition, independently of DBM.energy
    energy = -sum(x @ layer.bias.detach() for x, layer in zip(states, dbm.layers, strict=True))
    for k, w in enumerate(dbm.weights):
        energy = energy - ((states[k] @ w.detach()) * states[k + 1]).sum(1)
    return states, energy, torch.logsumexp(-energy, 0).item()


def exact_log_p_visible(dbm: DBM) -> torch.Tensor:
    """log p(v) of every visible state (binary_rows order), by enumeration."""
    _, energy, log_z = enumerate_dbm(dbm)
    return torch.logsumexp(-energy.view(2 ** dbm.n_visible, -1), 1) - log_z


def test_energy_against_hand_computation():
    dbm = DBM([Bernoulli(2), Bernoulli(2), Bernoulli(1)]).double()
    with torch.no_grad():
        dbm.layers[0].params.copy_(torch.tensor([[0.5, -1.0]]))
        dbm.layers[1].params.copy_(torch.tensor([[0.25, 2.0]]))
        dbm.layers[2].params.copy_(torch.tensor([[-0.75]]))
        dbm.weights[0].copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        dbm.weights[1].copy_(torch.tensor([[1.5], [-1.0]]))
    v, h1, h2 = [1.0, 1.0], [0.0, 1.0], [1.0]
    # -(b.v + c.h1 + d.h2 + v W0 h1 + h1 W1 h2) = -(-0.5 + 2 - 0.75 + (-2 + 0.5) + (-1))
    expected = -(-0.5 + 2.0 - 0.75 - 1.5 - 1.0)
    e = dbm.energy([torch.tensor([v]), torch.tensor([h1]), torch.tensor([h2])])
    assert e.item() == pytest.approx(expected)


@pytest.mark.parametrize("sizes", [(4, 3, 2), (3, 2, 3, 2)])
def test_mean_field_fixed_point_and_bound_against_enumeration(sizes):
    dbm = random_dbm(sizes, seed=1)
    v = binary_rows(sizes[0])
    means = dbm.mean_field(v, steps=200, tol=1e-12)
    mus = [v, *means]
    for k in range(1, len(sizes)):  # the self-consistency equations, written out
        field = mus[k - 1] @ dbm.weights[k - 1].detach() + dbm.layers[k].bias.detach()
        if k < len(sizes) - 1:
            field = field + mus[k + 1] @ dbm.weights[k].detach().T
        torch.testing.assert_close(mus[k], torch.sigmoid(field), atol=1e-9, rtol=0)
    log_p = exact_log_p_visible(dbm)
    log_z = enumerate_dbm(dbm)[2]
    bound = dbm.mean_field_bound(v, log_z, steps=200, tol=1e-12)
    assert (bound <= log_p + 1e-9).all()
    # the bound is -E(v, mu) + H(q) - log Z with Bernoulli entropies (a closed form)
    entropy = sum(-(m * m.log() + (1 - m) * (1 - m).log()).sum(1) for m in means)
    torch.testing.assert_close(bound, -dbm.energy_unchecked(mus) + entropy - log_z)


def test_one_hidden_layer_bound_is_exact():
    """With one hidden layer q(h | v) can be the exact posterior: the bound is log p(v)."""
    dbm = random_dbm((5, 3), seed=2)
    v = binary_rows(5)
    bound = dbm.mean_field_bound(v, enumerate_dbm(dbm)[2])
    torch.testing.assert_close(bound, exact_log_p_visible(dbm))


@pytest.mark.parametrize("sizes", [(4, 3, 2), (3, 2, 3, 2)])
def test_ais_against_exact_log_z(sizes):
    dbm = random_dbm(sizes, seed=3)
    exact = enumerate_dbm(dbm)[2]
    result = ais_dbm(dbm, n_chains=200, n_betas=400, progress=False,
                     generator=torch.Generator().manual_seed(0))
    low, high = result.bracket(4)
    assert low - 0.01 < exact < high + 0.01, (result, exact)
    assert result.log_weights.dtype == torch.float64


def test_ais_with_a_fitted_base_in_float32():
    dbm = random_dbm((4, 3, 2), seed=4).float()
    exact = enumerate_dbm(random_dbm((4, 3, 2), seed=4))[2]
    data = torch.bernoulli(torch.full((30, 4), 0.3), generator=torch.Generator().manual_seed(1))
    result = ais_dbm(dbm, n_chains=200, n_betas=400, base=data, progress=False,
                     generator=torch.Generator().manual_seed(0))
    low, high = result.bracket(4)
    assert low - 0.01 < exact < high + 0.01


def test_gibbs_leaves_the_enumerated_distribution_invariant():
    dbm = random_dbm((3, 2, 2), seed=5, scale=0.7)
    states, energy, _ = enumerate_dbm(dbm)
    p = torch.softmax(-energy, 0)
    g = torch.Generator().manual_seed(0)
    n = 20000
    pick = torch.multinomial(p, n, replacement=True, generator=g)
    start = [x[pick] for x in states]
    after = dbm.gibbs(start, 3, generator=g)
    for x, exact in zip(after, states, strict=True):
        expected = p @ exact  # exact marginal means of each unit
        sigma = (expected * (1 - expected) / n).sqrt()
        assert ((x.mean(0) - expected).abs() < 5 * sigma + 1e-12).all()


def test_gibbs_from_random_states_converges_to_the_enumerated_marginals():
    dbm = random_dbm((3, 2, 2), seed=6, scale=0.7)
    states, energy, _ = enumerate_dbm(dbm)
    p = torch.softmax(-energy, 0)
    g = torch.Generator().manual_seed(1)
    chains = dbm.gibbs([x.double() for x in dbm.random_states(20000, generator=g)], 30,
                       generator=g)
    for x, exact in zip(chains, states, strict=True):
        expected = p @ exact
        sigma = (expected * (1 - expected) / 20000).sqrt()
        assert ((x.mean(0) - expected).abs() < 5 * sigma + 1e-12).all()


def test_clamped_gibbs_keeps_the_visible_layer():
    dbm = random_dbm((3, 2, 2), seed=7)
    start = dbm.random_states(5, generator=torch.Generator().manual_seed(0))
    after = dbm.gibbs(start, 4, clamp_visible=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(after[0], start[0])


def test_save_load_round_trip(tmp_path):
    dbm = random_dbm((6, 4, 3), seed=8).float()
    x = torch.bernoulli(torch.full((40, 6), 0.5), generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    fine_tune_dbm(dbm, x, y, epochs=1, progress=False, generator=torch.Generator().manual_seed(0))
    path = harmonium.save(dbm, tmp_path / "dbm.safetensors")
    loaded = harmonium.load(path)
    assert isinstance(loaded, DBM)
    for a, b in zip(dbm.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(loaded.predict_proba(x), dbm.predict_proba(x))


def test_augmented_net_starts_at_the_mean_field_fixed_point():
    """Initialised from the DBM, the net's top hidden layer is mean field's mu_L."""
    dbm = random_dbm((5, 4, 3, 2), seed=9)
    from harmonium.models._dbm_net import MeanFieldAugmentedNet

    net = MeanFieldAugmentedNet(dbm, 3)
    net.out = torch.nn.Identity()
    v = binary_rows(5)
    torch.testing.assert_close(net(augment(dbm, v, 1000)),
                               dbm.mean_field(v, steps=1000, tol=1e-13)[-1], atol=1e-3, rtol=0)


def test_joint_training_raises_the_exact_log_likelihood():
    g = torch.Generator().manual_seed(0)
    protos = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.float64)
    data = protos[torch.randint(0, 2, (200,), generator=g)]
    data = torch.where(torch.rand(data.shape, generator=g) < 0.05, 1 - data, data)
    dbm = DBM([Bernoulli(6), Bernoulli(4), Bernoulli(3)], generator=g).double()
    index = (data * 2 ** torch.arange(5, -1, -1, dtype=torch.float64)).sum(1).long()
    before = exact_log_p_visible(dbm)[index].mean()
    pretrain_dbm(dbm, data, epochs=20, batch_size=20, lr=0.1, generator=g, progress=False)
    pretrained = exact_log_p_visible(dbm)[index].mean()
    fit_dbm(dbm, data, epochs=10, batch_size=20, lr=0.05, n_chains=50, generator=g,
            progress=False)
    after = exact_log_p_visible(dbm)[index].mean()
    entropy = -(torch.tensor([0.05, 0.95]).log() @ torch.tensor([0.05, 0.95])) * 6 + 0.693
    assert pretrained > before + 1.0
    assert after > pretrained + 0.3
    assert after < -entropy + 0.01  # no model beats the data's own entropy


def test_fit_dbm_resumes_bit_for_bit(tmp_path):
    data = torch.bernoulli(torch.full((60, 5), 0.4), generator=torch.Generator().manual_seed(0))

    def run(epochs, **kw):
        dbm = random_dbm((5, 3, 2), seed=10, scale=0.1).float()
        fit_dbm(dbm, data, epochs=epochs, batch_size=20, n_chains=10, progress=False,
                generator=torch.Generator().manual_seed(1), **kw)
        return dbm

    ckpt = tmp_path / "ckpt.safetensors"
    run(1, checkpoint=ckpt)
    resumed = run(2, checkpoint=ckpt, resume=True)
    straight = run(2)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_pretraining_a_deeper_dbm_keeps_each_layer_bias_from_below():
    g = torch.Generator().manual_seed(0)
    dbm = DBM([Bernoulli(6), Bernoulli(4), Bernoulli(4), Bernoulli(3)], generator=g)
    data = torch.bernoulli(torch.full((50, 6), 0.5), generator=g)
    histories = pretrain_dbm(dbm, data, epochs=[1, 1, 1], batch_size=10, generator=g,
                             progress=False)
    assert len(histories) == 3
    assert all(torch.isfinite(w).all() for w in dbm.weights)
    # the layers stay shared: one parameter tensor per layer
    assert dbm.rbms[0].hidden is dbm.rbms[1].visible


@pytest.mark.parametrize(("make", "error"), [
    (lambda: DBM([Bernoulli(3)]), ValueError),
    (lambda: DBM(Bernoulli(3)), TypeError),
    (lambda: DBM([Bernoulli(3), "hidden"]), TypeError),
])
def test_bad_construction(make, error):
    with pytest.raises(error):
        make()


def test_bad_inputs():
    dbm = random_dbm((4, 3, 2))
    with pytest.raises(ValueError, match="4 features"):
        dbm.mean_field(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dbm.mean_field(torch.full((2, 4), 1.5))
    with pytest.raises(ValueError, match="damping"):
        dbm.mean_field(torch.zeros(2, 4), damping=1.0)
    with pytest.raises(ValueError, match="list of 3"):
        dbm.energy([torch.zeros(1, 4)])
    with pytest.raises(ValueError, match="only 0 and 1"):
        dbm.energy([torch.zeros(1, 4), torch.full((1, 3), 0.5), torch.zeros(1, 2)])
    with pytest.raises(ValueError, match="shape"):
        dbm.energy([torch.zeros(1, 4), torch.zeros(2, 3), torch.zeros(1, 2)])
    with pytest.raises(ValueError, match="no classifier"):
        dbm.predict(torch.zeros(1, 4))
    with pytest.raises(TypeError, match="DBM"):
        ais_dbm(harmonium.RBM(Bernoulli(2), Bernoulli(2)), progress=False)
    with pytest.raises(ValueError, match="n_chains"):
        ais_dbm(dbm, n_chains=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        pretrain_dbm(dbm, torch.zeros(4, 4), epochs=[1], progress=False)
    with pytest.raises(ValueError, match="lr"):
        fit_dbm(dbm, torch.zeros(4, 4), lr=0.0, progress=False)
    with pytest.raises(ValueError, match="labels"):
        fine_tune_dbm(dbm, torch.zeros(4, 4), [0, 1], progress=False)
