"""Exact per-site pseudo-log-likelihood of discrete visible units.

``PLL(v) = sum_i log p(v_i | v_-i)`` where each conditional is computed exactly by
putting site ``i`` in each of its other states. Changing one visible unit changes the
hidden input field by one row of ``W``, so every flipped free energy costs one ``cgf``
evaluation, never a matrix product: ``O(n * n_visible * n_states * n_hidden)`` in
chunks of bounded memory. (scikit-learn's ``score_samples`` flips one random bit per
sample and scales it up: a noisy estimate of this sum.) With ``sites=k`` the sum is
estimated from ``k`` evenly spaced sites per sample, the pattern shifted by one site
from each sample to the next: deterministic, ``k / n_visible`` of the cost, and
exact again when ``k >= n_visible``; this is what the training monitor reports.
"""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

from harmonium._numerics import check_positive_int

__all__ = ["pseudo_log_likelihood"]

_CHUNK_ELEMENTS = 2**22


@torch.no_grad()
def pseudo_log_likelihood(rbm, data, *, sites: int | None = None) -> torch.Tensor:
    """Pseudo-log-likelihood ``sum_i log p(v_i | v_-i)`` of each sample, in nats.

    Parameters
    ----------
    rbm : harmonium.RBM
        Visible units must be discrete (Bernoulli, Spin, Categorical: any layer with
        :meth:`~harmonium.units.Units.flip_deltas`); any hidden type.
    data : array-like, shape (n_samples, *visible.shape)
        Visible states in the units' support.
    sites : int, optional
        Estimate each sample's sum from this many of its sites (evenly spaced,
        shifted by one per sample), scaled by ``n_visible / sites``. Default: every
        site (exact).

    Returns
    -------
    torch.Tensor, shape (n_samples,)
        Per-sample pseudo-log-likelihood (<= 0), deterministic.

    Raises
    ------
    ValueError
        For continuous visible units, or data of the wrong shape, with NaN/inf, or
        outside the visible support.
    """
    vis = rbm.visible
    v = rbm.check_visible(data, "data")
    vis.flip_deltas(v[:1])  # raises a clear ValueError for continuous units
    n, n_vis = v.shape[0], vis.n_units
    n_h = rbm.hidden.params[0].numel()
    w = rbm.weight.detach().reshape(n_vis, -1, n_h)  # (n_vis, width, n_h)
    inputs = rbm.inputs_h_from_v(v).reshape(n, n_h)
    cgf0 = rbm.hidden.cgf(inputs.view(n, *rbm.hidden.shape))
    if sites is not None and check_positive_int(sites, "sites") < n_vis:
        return _sampled_pll(rbm, v, inputs, cgf0, w, sites)
    per_row = n_vis * w.shape[1] * n_h
    n_chunk = max(1, _CHUNK_ELEMENTS // per_row)
    s_chunk = n_vis if n_chunk > 1 else max(1, _CHUNK_ELEMENTS // (w.shape[1] * n_h))
    out = torch.empty(n, dtype=inputs.dtype, device=inputs.device)
    for a in range(0, n, n_chunk):
        out[a : a + n_chunk] = _chunk_pll(rbm, v[a : a + n_chunk], inputs[a : a + n_chunk],
                                          cgf0[a : a + n_chunk], w, s_chunk)
    return out


def _site_terms(rbm, inputs, cgf0, d_inputs, d_energy) -> torch.Tensor:
    """``sum`` over the given sites of ``log p(v_i | v_-i)``, shape (c,).

    ``log p(v_i | v_-i) = -log(1 + sum_s exp(r_s))`` over the other states ``s`` of site
    ``i``, with ``r_s = -dE_vis + cgf(I + dv W) - cgf(I)`` the log-probability ratio of
    the flipped state to the current one. ``d_inputs``: (c, sites, m, n_h) field
    changes; ``d_energy``: (c, sites, m) visible energy changes.
    """
    flipped = (inputs[:, None, None, :] + d_inputs).reshape(-1, *rbm.hidden.shape)
    cgf = rbm.hidden.cgf(flipped).view(d_inputs.shape[:3])
    log_ratio = cgf - cgf0[:, None, None] - d_energy
    return -softplus(torch.logsumexp(log_ratio, -1)).sum(1)


def _sampled_pll(rbm, v, inputs, cgf0, w, sites: int) -> torch.Tensor:
    """The estimate from ``sites`` evenly spaced sites per sample (see the module),
    samples in chunks of bounded memory."""
    n, n_vis = v.shape[0], w.shape[0]
    stride = n_vis // sites
    rows = torch.arange(n, device=v.device)
    idx = torch.arange(sites, device=v.device) * stride + (rows % stride)[:, None]
    n_chunk = max(1, _CHUNK_ELEMENTS // (sites * w[0].numel()))
    out = torch.empty(n, dtype=inputs.dtype, device=inputs.device)
    for a in range(0, n, n_chunk):
        chunk, at = slice(a, a + n_chunk), idx[a : a + n_chunk]
        d_states, d_energy = rbm.visible.flip_deltas(v[chunk])  # (c, n_vis, m[, width])
        picked = torch.arange(at.shape[0], device=v.device)[:, None], at
        d_inputs = torch.einsum("csmw,cswh->csmh", d_states[picked], w[at])
        out[chunk] = _site_terms(rbm, inputs[chunk], cgf0[chunk], d_inputs,
                                 d_energy[picked])
    return out * (n_vis / sites)


def _chunk_pll(rbm, v, inputs, cgf0, w, s_chunk: int) -> torch.Tensor:
    """Exact pseudo-log-likelihood of a chunk of samples, sites in chunks of ``s_chunk``."""
    d_states, d_energy = rbm.visible.flip_deltas(v)  # (c, n_vis, m, width), (c, n_vis, m)
    total = torch.zeros(v.shape[0], dtype=inputs.dtype, device=inputs.device)
    for s in range(0, w.shape[0], s_chunk):
        ws, ds = w[s : s + s_chunk], d_states[:, s : s + s_chunk]
        d_inputs = torch.einsum("csmw,swh->csmh", ds, ws)
        total += _site_terms(rbm, inputs, cgf0, d_inputs, d_energy[:, s : s + s_chunk])
    return total
