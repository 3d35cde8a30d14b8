"""Exact, batched asynchronous dynamics of the classical Hopfield network.

Units are visited in a random order (one permutation per sweep, shared by the batch) and
updated one at a time, so the energy never increases. Units are processed in blocks of
``BLOCK`` consecutive units of the permutation; inside a block the fields of the block's
own units are corrected after every flip with a rank-1 update of a (batch, block) slice,
and after the block the fields of all units are corrected with one matrix product
``dX @ W[block]``. Each sweep starts from fields recomputed from scratch (one matrix
product), which also gives the exact stability test that retires converged probes.
"""

from __future__ import annotations

import torch

from harmonium._numerics import generator_device
from harmonium.models.memory import RecallResult, sign

BLOCK = 32  # units per block in asynchronous sweeps


def recall_async(w, b, x, max_sweeps, generator, record_energy) -> RecallResult:
    """Exact asynchronous dynamics, batched (see the module docstring).

    Parameters
    ----------
    w : torch.Tensor, shape (d, d)
        Symmetric weights, zero diagonal.
    b : torch.Tensor, shape (d,)
        Bias.
    x : torch.Tensor, shape (n, d)
        +1/-1 starting states; overwritten with the final ones.
    max_sweeps : int
        Most sweeps per probe.
    generator : torch.Generator or None
        Source of the unit orders; they are drawn on its device.
    record_energy : bool
        Record every probe's energy after each block.

    Returns
    -------
    RecallResult
    """
    n, d = x.shape
    converged = torch.zeros(n, dtype=torch.bool, device=x.device)
    sweeps = torch.zeros(n, dtype=torch.int64, device=x.device)
    active = torch.arange(n, device=x.device)
    one = torch.ones((), dtype=x.dtype, device=x.device)
    xa, h = x.clone(), x @ w + b
    exact_sums = _integer_sums_are_exact(w, b)
    energy_now = -0.5 * ((h + b) * x).sum(1) if record_energy else None
    energies = [energy_now.clone()] if record_energy else []
    steps = [0]
    for sweep in range(max_sweeps + 1):
        stable = (sign(h) == xa).all(1)
        if not exact_sums and bool(stable.any()):  # confirm with exact fields
            rows = stable.nonzero().squeeze(1)
            exact = xa[rows] @ w + b
            h[rows] = exact
            stable[rows] = (sign(exact) == xa[rows]).all(1)
        converged[active[stable]] = True
        sweeps[active[stable]] = sweep
        if sweep == max_sweeps or bool(stable.all()):
            sweeps[active[~stable]] = max_sweeps
            break
        if bool(stable.any()):
            x[active] = xa
            active, xa, h = active[~stable], xa[~stable], h[~stable]
        # work in this sweep's random unit order: blocks become contiguous slices
        order = torch.randperm(d, generator=generator,
                               device=generator_device(generator)).to(x.device)
        x_p, h_p = xa.index_select(1, order), h.index_select(1, order)
        b_p = b[order]
        w_p = w.index_select(0, order).index_select(1, order)
        for start in range(0, d, BLOCK):
            _async_block(w_p, h_p, x_p, start, min(start + BLOCK, d), one)
            if record_energy:
                energy_now[active] = -0.5 * ((h_p + b_p) * x_p).sum(1)
                energies.append(energy_now.clone())
                steps.append(sweep * d + min(start + BLOCK, d))
        xa.index_copy_(1, order, x_p)
        h.index_copy_(1, order, h_p)
    x[active] = xa
    result = RecallResult(x, converged, sweeps, torch.zeros_like(converged))
    if record_energy:
        result.energy = torch.stack(energies)
        result.steps = torch.tensor(steps, dtype=torch.int64)
    return result


def _integer_sums_are_exact(w, b) -> bool:
    """True when every field is a sum of integers small enough to be exact in the dtype
    (Hebbian weights), so incrementally updated fields equal recomputed ones."""
    limit = 2.0 / torch.finfo(w.dtype).eps
    integral = bool((w == w.round()).all()) and bool((b == b.round()).all())
    return integral and float(w.abs().sum(1).max() + b.abs().max()) < limit


def _async_block(w, h, x, start: int, stop: int, one) -> None:
    """Update units ``start..stop-1``, in this order, in every row of ``x`` (in place),
    keeping the fields ``h = xW + b`` exact. Rows in which no unit of the block is
    unstable at the start are left alone: a stable unit does not flip and changes no
    field, so the next one stays stable too."""
    h_sub, x_sub = h[:, start:stop], x[:, start:stop]
    moving = (sign(h_sub) != x_sub).any(1)
    rows = moving.nonzero().squeeze(1)
    if rows.numel() == 0:
        return
    everyone = rows.numel() == x.shape[0]
    if not everyone:
        h_sub, x_sub = h_sub[rows], x_sub[rows]
    w_rows = w[start:stop]  # (k, d)
    # block-major copies, row j = unit start + j of every moving probe
    # a copy (never a view of h, even for one probe), corrected after every flip
    h_block = h_sub.T.clone(memory_format=torch.contiguous_format)
    x_plus_1 = (x_sub + 1).T.contiguous()
    up = torch.empty_like(h_block)  # 1 where the unit ends at +1, else 0
    for h_j, xp_j, up_j, w_j in zip(h_block.unbind(0), x_plus_1.unbind(0), up.unbind(0),
                                    w_rows[:, start:stop].unbind(0), strict=True):
        torch.heaviside(h_j, one, out=up_j)  # sign(h) = +1 for h >= 0
        # flip / 2 = up - (x + 1) / 2, in {-1, 0, +1}
        h_block.addr_(w_j, torch.sub(up_j, xp_j, alpha=0.5), alpha=2)
    change = (2 * up - x_plus_1).T  # new - old, (moving, k)
    if everyone:
        h.addmm_(change, w_rows)
        x[:, start:stop] += change
    else:
        h.index_add_(0, rows, change @ w_rows)
        x[:, start:stop].index_add_(0, rows, change)
