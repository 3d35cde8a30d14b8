"""Exact per-site pseudo-log-likelihood of discrete visible units.

``PLL(v) = sum_i log p(v_i | v_-i)`` where each conditional is computed exactly by
putting site ``i`` in each of its other states. Changing one visible unit changes the
hidden input field by one row of ``W``, so every flipped free energy costs one ``cgf``
evaluation, never a matrix product: ``O(n * n_visible * n_states * n_hidden)`` in
chunks of bounded memory. (scikit-learn's ``score_samples`` flips one random bit per
sample and scales it up: a noisy estimate of this sum.)
"""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

from harmonium.units import Bernoulli, Categorical, Spin

__all__ = ["pseudo_log_likelihood"]

_CHUNK_ELEMENTS = 2**22


@torch.no_grad()
def pseudo_log_likelihood(rbm, data) -> torch.Tensor:
    """Exact pseudo-log-likelihood ``sum_i log p(v_i | v_-i)`` of each sample, in nats.

    Parameters
    ----------
    rbm : harmonium.RBM
        Visible units must be Bernoulli, Spin or Categorical (any hidden type).
    data : array-like, shape (n_samples, *visible.shape)
        Visible states in the units' support.

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
    if not isinstance(vis, (Bernoulli, Spin, Categorical)):
        raise ValueError(
            "pseudo-likelihood needs discrete visible units (Bernoulli, Spin or "
            f"Categorical), got {type(vis).__name__}"
        )
    v = rbm.check_visible(data, "data")
    n, n_vis = v.shape[0], vis.n_units
    hidden_shape = rbm.hidden.shape
    n_h = rbm.hidden.params[0].numel()
    two_state = not isinstance(vis, Categorical)
    w = rbm.weight.detach().reshape(n_vis, -1, n_h)  # (n_vis, m, n_h), m = 1 or k
    bias = vis.bias.detach().reshape(n_vis, -1)  # (n_vis, m)
    m = w.shape[1]
    inputs = rbm.inputs_h_from_v(v).reshape(n, n_h)
    cgf0 = rbm.hidden.cgf(inputs.view(n, *hidden_shape))
    per_row = n_vis * m * n_h
    n_chunk = max(1, _CHUNK_ELEMENTS // per_row)
    s_chunk = n_vis if n_chunk > 1 else max(1, _CHUNK_ELEMENTS // (m * n_h))
    out = torch.empty(n, dtype=inputs.dtype, device=inputs.device)
    for a in range(0, n, n_chunk):
        vc, ic = v[a : a + n_chunk], inputs[a : a + n_chunk]
        total = torch.zeros(vc.shape[0], dtype=inputs.dtype, device=inputs.device)
        for s in range(0, n_vis, s_chunk):
            ws, bs = w[s : s + s_chunk], bias[s : s + s_chunk]
            if two_state:
                dx = (vis.low + vis.high) - 2.0 * vc[:, s : s + s_chunk]  # (c, sc)
                d_inputs = dx[:, :, None, None] * ws  # (c, sc, 1, n_h)
                d_bias = dx[:, :, None] * bs  # (c, sc, 1)
            else:
                cur = vc[:, s : s + s_chunk]  # (c, sc, k) one-hot
                d_inputs = ws - torch.einsum("csk,skh->csh", cur, ws)[:, :, None, :]
                d_bias = bs - (cur * bs).sum(-1, keepdim=True)
            flipped = (ic[:, None, None, :] + d_inputs).reshape(-1, *hidden_shape)
            cgf = rbm.hidden.cgf(flipped).view(d_bias.shape)
            log_ratio = d_bias + cgf - cgf0[a : a + n_chunk, None, None]
            if two_state:
                total -= softplus(log_ratio[..., 0]).sum(1)
            else:
                total -= torch.logsumexp(log_ratio, -1).sum(1)
        out[a : a + n_chunk] = total
    return out
