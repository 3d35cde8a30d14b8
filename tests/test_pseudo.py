"""Exact pseudo-log-likelihood against brute-force enumeration of p(v)."""

import pytest
import torch

from harmonium.partition import pseudo_log_likelihood
from harmonium.units import Bernoulli, Categorical, Gaussian, Spin
from random_models import random_rbm


def _rbm(visible, hidden, seed=0):
    return random_rbm(visible, hidden, seed=seed, scale=0.7)


PAIRS = {
    "bernoulli-bernoulli": lambda: _rbm(Bernoulli(5), Bernoulli(4)),
    "spin-gaussian": lambda: _rbm(Spin(4), Gaussian(3)),
    "categorical-spin": lambda: _rbm(Categorical(3, 3), Spin(3)),
    "bernoulli-categorical": lambda: _rbm(Bernoulli(4), Categorical(2, 3)),
}


def _brute_force_pll(rbm):
    """sum_i log p(v_i | v_-i) from the normalised p(v) of every visible state."""
    vis = rbm.visible
    states = torch.cat(list(vis.enumerate_states()))
    log_p = -rbm.free_energy(states)
    log_p = log_p - torch.logsumexp(log_p, 0)
    index = {tuple(s.flatten().tolist()): j for j, s in enumerate(states)}
    values = vis.states_from_indices(torch.arange(vis.n_states_per_unit())[:, None])[:, 0]
    out = torch.zeros(len(states), dtype=log_p.dtype)
    for j, s in enumerate(states):
        for i in range(vis.n_units):
            alternatives = []
            for value in values:
                t = s.clone()
                t[i] = value
                alternatives.append(log_p[index[tuple(t.flatten().tolist())]])
            out[j] += log_p[j] - torch.logsumexp(torch.stack(alternatives), 0)
    return states, out


@pytest.mark.parametrize("pair", PAIRS)
def test_pseudo_likelihood_matches_enumeration(pair):
    rbm = PAIRS[pair]()
    states, expected = _brute_force_pll(rbm)
    torch.testing.assert_close(pseudo_log_likelihood(rbm, states), expected)


def test_chunking_gives_the_same_values(monkeypatch):
    import harmonium.partition.pseudo as pseudo

    rbm = _rbm(Bernoulli(9), Bernoulli(5))
    v = (torch.rand(50, 9, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    full = pseudo_log_likelihood(rbm, v)
    monkeypatch.setattr(pseudo, "_CHUNK_ELEMENTS", 7)
    torch.testing.assert_close(pseudo_log_likelihood(rbm, v), full)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (torch.full((2, 5), 0.5), "only 0 and 1"),
        (torch.zeros(2, 4), "5 features"),
        (torch.full((2, 5), float("nan")), "NaN"),
        (torch.zeros(0, 5), "empty"),
    ],
)
def test_bad_input(data, match):
    with pytest.raises(ValueError, match=match):
        pseudo_log_likelihood(_rbm(Bernoulli(5), Bernoulli(2)), data)


def test_continuous_visible_units_are_refused():
    with pytest.raises(ValueError, match="discrete visible"):
        pseudo_log_likelihood(_rbm(Gaussian(3), Bernoulli(2)), torch.zeros(2, 3))


@pytest.mark.parametrize("pair", PAIRS)
def test_site_estimate_over_every_shift_averages_to_the_enumerated_sum(pair, monkeypatch):
    """Each state repeated once per shift of the site pattern: the shifts together
    visit every site once, so their mean estimate is the exact (enumerated) sum; the
    chunked path agrees."""
    import harmonium.partition.pseudo as pseudo

    rbm = PAIRS[pair]()
    states, expected = _brute_force_pll(rbm)
    n_vis = rbm.visible.n_units
    sites = next(k for k in range(n_vis - 1, 0, -1) if n_vis % k == 0)
    stride = n_vis // sites
    repeated = states.repeat_interleave(stride, 0)
    estimate = pseudo_log_likelihood(rbm, repeated, sites=sites).view(-1, stride)
    if stride > 1:  # single shifts are estimates, not the sum
        assert not torch.allclose(estimate[:, 0], expected)
    torch.testing.assert_close(estimate.mean(1), expected)
    monkeypatch.setattr(pseudo, "_CHUNK_ELEMENTS", 7)
    torch.testing.assert_close(
        pseudo_log_likelihood(rbm, repeated, sites=sites).view(-1, stride).mean(1), expected)
    torch.testing.assert_close(pseudo_log_likelihood(rbm, states, sites=n_vis), expected)


def test_sites_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="sites"):
        pseudo_log_likelihood(_rbm(Bernoulli(5), Bernoulli(2)), torch.zeros(2, 5), sites=0)
