"""Conditional sampling: fill in unobserved visible units with the others clamped."""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.tasks.generate import _bias_only_sample

__all__ = ["inpaint"]


def _check_mask(rbm, mask, shape: tuple[int, ...]) -> torch.Tensor:
    """``mask`` expanded to ``shape`` = (n, *visible.shape).

    Accepted: one flag per unit, ``visible.shape[:1]``, or per value, ``visible.shape``,
    shared by all samples; or either with a leading axis of length n (or 1). A mask of
    the visible shape is read as shared even when it could also be (n, n_units).
    """
    mask = torch.as_tensor(mask, device=rbm.weight.device)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be boolean (True = observed), got dtype {mask.dtype}")
    n, units = shape[0], shape[1:]
    forms = (units, units[:1])
    m = mask[None] if tuple(mask.shape) in forms else mask
    if m.ndim == 0 or m.shape[0] not in (1, n) or tuple(m.shape[1:]) not in forms:
        raise ValueError(
            f"mask must have shape {units[:1]} (one flag per unit) or {units} (the visible "
            f"shape), either optionally with a leading axis of n = {n} samples, got "
            f"{tuple(mask.shape)}"
        )
    m = m.reshape(*m.shape, *(1,) * (len(shape) - m.ndim)).expand(shape)
    if len(units) > 1 and not (m == m[(..., *(slice(0, 1),) * (len(units) - 1))]).all():
        raise ValueError("mask must observe all the values of a unit (e.g. every category "
                         "of a categorical unit) or none of them")
    return m


@torch.no_grad()
def inpaint(
    rbm,
    v,
    mask,
    steps: int = 100,
    *,
    generator: torch.Generator | None = None,
    mean_field: bool = False,
) -> torch.Tensor:
    """Sample (or mean-field) the unobserved visible units given the observed ones.

    Observed units (``mask`` True) are clamped to ``v``; the others start from the
    visible units' bias-only distribution (its mean with ``mean_field``) and follow
    ``steps`` sweeps of ``h ~ p(h | v)``, ``v_free ~ p(v_free | h)``: a Gibbs chain whose
    stationary law is
    ``p(v_free | v_observed)``. With ``mean_field`` the sweeps use conditional means
    instead of samples (deterministic; returns probabilities for the free units).

    Parameters
    ----------
    rbm : harmonium.RBM
    v : array-like, shape (n, *visible.shape)
        States; entries where ``mask`` is False are ignored (they may be NaN).
    mask : bool array-like, shape (n_units,), visible.shape, (n, n_units) or (n, *visible.shape)
        True where the value is observed: one flag per unit (``visible.shape[:1]``,
        broadcast over a categorical unit's categories) or per value, shared by every
        sample or one per sample (a leading axis of length n or 1). A mask of shape
        ``visible.shape`` is shared even when n equals n_units.
    steps : int
        Number of sweeps (>= 1).
    generator : torch.Generator, optional
    mean_field : bool
        Deterministic mean-field iteration instead of sampling.

    Returns
    -------
    torch.Tensor, shape (n, *visible.shape)
        ``v`` with the unobserved units filled in.
    """
    steps = check_positive_int(steps, "steps")
    p = rbm.visible.params
    x = torch.as_tensor(v).to(dtype=p.dtype, device=p.device)
    if x.ndim < 2 or x.shape[0] == 0 or tuple(x.shape[1:]) != rbm.visible.shape:
        raise ValueError(
            f"v must have shape (n_samples, {', '.join(map(str, rbm.visible.shape))}) with "
            f"n_samples >= 1, got {tuple(x.shape)}"
        )
    m = _check_mask(rbm, mask, tuple(x.shape))
    zeros = torch.zeros_like(x)
    rbm.check_visible(torch.where(m, x, rbm.visible.mode_from_inputs(zeros)), "v (observed)")
    if mean_field:
        start = rbm.visible.mean_from_inputs(zeros)
    else:
        start = _bias_only_sample(rbm, x.shape[0], generator)
    clamped = torch.where(m, x, start)
    cur = clamped
    for _ in range(steps):
        if mean_field:
            new = rbm.mean_v_from_h(rbm.mean_h_from_v(cur))
        else:
            h = rbm.sample_h_from_v(cur, generator=generator)
            new = rbm.sample_v_from_h(h, generator=generator)
        cur = torch.where(m, clamped, new)
    return cur
