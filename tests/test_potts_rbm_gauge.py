"""The zero-sum gauge of RBM weights to Potts units (``RBM.project_``).

Oracles: differences of the joint energy ``E(v, h)`` written out by hand (layer
energies plus an einsum of the weights) before and after the gauge move, ``log p(v)``
of every visible state by enumeration before and after, and the sums of the weights
over each Potts unit's states.
"""

import pytest
import torch

import harmonium
from harmonium import RBM
from harmonium.partition import log_partition_exact
from harmonium.training.dbm import DBMTask
from harmonium.units import Bernoulli, Categorical, DReLU, Potts
from harmonium.units.joined import Joined

N_SITES, Q, N_HIDDEN = 3, 3, 2


def _off_gauge_rbm(visible, hidden, seed=0):
    """A float64 RBM whose weights and fields have large means over every state axis."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(visible, hidden, weight_std=0.8, generator=g).double()
    with torch.no_grad():
        rbm.weight.add_(torch.randn(rbm.weight.shape[0], *rbm.weight.shape[2:],
                                    generator=g, dtype=torch.float64).unsqueeze(1))
        for layer in (rbm.visible, rbm.hidden):
            layer.params[:2].normal_(0.2, 0.7, generator=g)  # fields (both sides for dReLU)
            if layer.params.shape[0] == 4:  # dReLU precisions
                layer.params[2:] = 0.5 + torch.rand(layer.shape, generator=g)
    return rbm


def _joint_energy(rbm, v, h):
    """``E_vis(v) + E_hid(h) - sum v W h`` with the interaction summed by einsum."""
    w = rbm.weight.detach().reshape(v[0].numel(), h[0].numel())
    return (rbm.visible.energy(v) + rbm.hidden.energy(h)
            - torch.einsum("bi,ij,bj->b", v.flatten(1), w, h.flatten(1)))


def _log_p_all(rbm):
    """``log p(v)`` of every visible state, by enumeration."""
    v = torch.cat(list(rbm.visible.enumerate_states()))
    return v, -rbm.free_energy_visible(v) - log_partition_exact(rbm)


def _hidden_draws(rbm, v, seed):
    return rbm.sample_h_from_v(v, generator=torch.Generator().manual_seed(seed))


def _joined_drelu(n):
    """dReLU units as a Joined layer: each part must absorb the shift in both fields."""
    return Joined(DReLU(1), DReLU(n - 1))


@pytest.mark.parametrize("hidden", [Bernoulli, DReLU, _joined_drelu])
@torch.no_grad()
def test_gauge_move_keeps_the_distribution(hidden):
    rbm = _off_gauge_rbm(Potts(N_SITES, Q), hidden(N_HIDDEN))
    v, log_p = _log_p_all(rbm)  # all 27 states
    h = _hidden_draws(rbm, v, 1)
    energy = _joint_energy(rbm, v, h)
    mean_h = rbm.mean_h_from_v(v)
    assert rbm.weight.sum(1).abs().max() > 0.5  # far from the gauge to begin with

    rbm.project_()
    assert torch.allclose(rbm.weight.sum(1), torch.zeros(()).double(), atol=1e-12)
    assert torch.allclose(rbm.visible.bias.sum(-1), torch.zeros(()).double(), atol=1e-12)
    _, log_p_after = _log_p_all(rbm)
    assert torch.allclose(log_p_after, log_p, atol=1e-12, rtol=0)
    # not only p(v): every joint energy difference and every hidden conditional too (the
    # fields' own gauge moves every energy by one constant)
    shift = _joint_energy(rbm, v, h) - energy
    assert torch.allclose(shift, shift[0].expand_as(shift), atol=1e-12, rtol=0)
    assert torch.allclose(rbm.mean_h_from_v(v), mean_h, atol=1e-12, rtol=0)


@torch.no_grad()
def test_potts_hidden_units_gauge_their_axis_of_the_weights():
    rbm = _off_gauge_rbm(Bernoulli(4), Potts(N_HIDDEN, Q))
    _, log_p = _log_p_all(rbm)
    rbm.project_()
    assert torch.allclose(rbm.weight.sum(-1), torch.zeros(()).double(), atol=1e-12)
    assert torch.allclose(_log_p_all(rbm)[1], log_p, atol=1e-12, rtol=0)


@torch.no_grad()
def test_categorical_units_leave_the_weights_alone():
    rbm = _off_gauge_rbm(Categorical(N_SITES, Q), Bernoulli(N_HIDDEN))
    before = [p.clone() for p in rbm.parameters()]
    rbm.project_()
    assert all(torch.equal(a, b) for a, b in zip(before, rbm.parameters(), strict=True))


@pytest.mark.parametrize("hidden", [Bernoulli, DReLU])
def test_training_keeps_the_weights_zero_sum_after_every_step(hidden):
    g = torch.Generator().manual_seed(0)
    data = torch.nn.functional.one_hot(torch.randint(0, Q, (40, 5), generator=g), Q).float()
    rbm = RBM(Potts(5, Q), hidden(4), weight_std=0.1, generator=g)
    sums = []
    project = rbm.project_

    def project_and_record():
        project()
        sums.append(rbm.weight.detach().sum(1).abs().max().item())

    rbm.project_ = project_and_record  # what the loop calls after each optimiser step
    harmonium.fit(rbm, data, harmonium.PCD(10), epochs=3, batch_size=10, lr=0.05,
                  generator=g, progress=False, monitor=0)
    assert len(sums) == 12
    assert max(sums) < 1e-6
    assert torch.allclose(rbm.visible.bias.sum(-1), torch.zeros(()), atol=1e-6)


def _log_p_dbm(dbm):
    """``log p(v)`` of every state of a 3-layer DBM's visible layer, by enumeration."""
    rows = [torch.cat(list(layer.enumerate_states())) for layer in dbm.layers]
    idx = torch.cartesian_prod(*(torch.arange(len(r)) for r in rows))
    neg = -dbm.energy_unchecked([r[idx[:, k]] for k, r in enumerate(rows)])
    per_v = neg.view(len(rows[0]), -1).logsumexp(1)  # the visible index varies slowest
    return per_v - per_v.logsumexp(0)


@torch.no_grad()
def test_dbm_training_gauges_the_weights_to_potts_units_and_keeps_the_distribution():
    g = torch.Generator().manual_seed(5)
    dbm = harmonium.DBM([Potts(2, Q), Bernoulli(2), Bernoulli(2)], generator=g).double()
    for rbm in dbm.rbms:
        rbm.weight.add_(torch.randn(rbm.weight.shape, generator=g, dtype=torch.float64))
    assert dbm.weights[0].sum(1).abs().max() > 0.5  # far from the gauge
    log_p = _log_p_dbm(dbm)
    # what joint training does after every optimiser step
    DBMTask(dbm, n_chains=2, sweeps=1, mean_field_steps=1, weight_decay=0.0,
            generator=g).after_update()
    assert torch.allclose(dbm.weights[0].sum(1), torch.zeros(()).double(), atol=1e-12)
    assert torch.allclose(_log_p_dbm(dbm), log_p, atol=1e-12, rtol=0)
