"""Exact log-partition and free energy of a small Boltzmann machine, by enumeration.

``log Z = log sum_x exp(-E(x) / T)`` over all ``2**n`` states, and
``F(v) = -log sum_h exp(-E(v, h) / T)`` over the ``2**n_hidden`` hidden states; the
states are enumerated in chunks so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["MAX_EXACT_UNITS", "all_states", "free_energy", "log_partition"]

MAX_EXACT_UNITS = 24  # enumeration limit of log Z (2**24 states)
_CHUNK = 2**16  # states per enumeration chunk


def all_states(n: int, low: float, high: float, *, dtype: torch.dtype,
               device: torch.device) -> Iterator[torch.Tensor]:
    """Yield every state of ``n`` two-state units in chunks of shape (<= 2**16, n)."""
    bit = torch.arange(n, device=device)
    for start in range(0, 2**n, _CHUNK):
        idx = torch.arange(start, min(start + _CHUNK, 2**n), device=device)
        bits = (idx[:, None] >> bit) & 1
        yield (low + (high - low) * bits).to(dtype)


def _states_of(bm, n: int) -> Iterator[torch.Tensor]:
    w = bm.weight
    return all_states(n, bm.layer.low, bm.layer.high, dtype=w.dtype, device=w.device)


def log_partition(bm) -> torch.Tensor:
    """``log Z`` of ``bm`` (at most :data:`MAX_EXACT_UNITS` units), a scalar tensor."""
    if bm.n_units > MAX_EXACT_UNITS:
        raise ValueError(
            f"exact log Z enumerates 2**n states and is limited to n <= "
            f"{MAX_EXACT_UNITS} units; this machine has {bm.n_units}"
        )
    t = bm.temperature
    parts = [torch.logsumexp(-bm.energy_unchecked(x) / t, 0)
             for x in _states_of(bm, bm.n_units)]
    return torch.logsumexp(torch.stack(parts), 0)


def free_energy(bm, v: torch.Tensor) -> torch.Tensor:
    """``F(v)`` of checked visible states (batch, n_visible); returns shape (batch,)."""
    if bm.n_hidden > MAX_EXACT_UNITS:
        raise ValueError(
            f"the exact free energy enumerates 2**n_hidden states and is limited to "
            f"{MAX_EXACT_UNITS} hidden units; this machine has {bm.n_hidden}"
        )
    nv, t, w, b = bm.n_visible, bm.temperature, bm.weight, bm.bias
    e_v = -0.5 * ((v @ w[:nv, :nv]) * v).sum(1) - v @ b[:nv]
    if bm.n_hidden == 0:
        return e_v / t
    field = v @ w[:nv, nv:] + b[nv:]  # (batch, n_hidden)
    parts = []
    for h in _states_of(bm, bm.n_hidden):
        e_h = -0.5 * ((h @ w[nv:, nv:]) * h).sum(1)  # (m,)
        parts.append(torch.logsumexp(-(e_h - field @ h.T) / t, 1))
    return e_v / t - torch.logsumexp(torch.stack(parts, 1), 1)
