"""Draw new samples from a trained RBM by block Gibbs sampling."""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int

__all__ = ["generate"]


def _bias_only_sample(rbm, n: int, generator) -> torch.Tensor:
    """``n`` draws of the visible units with zero input (their bias-only distribution)."""
    p = rbm.visible.params
    zeros = torch.zeros((n, *rbm.visible.shape), dtype=p.dtype, device=p.device)
    return rbm.visible.sample_from_inputs(zeros, generator=generator)


@torch.no_grad()
def generate(
    rbm,
    n: int,
    steps: int = 1000,
    *,
    generator: torch.Generator | None = None,
    init=None,
    mean: bool = False,
) -> torch.Tensor:
    """Run ``n`` independent Gibbs chains for ``steps`` sweeps and return their states.

    Parameters
    ----------
    rbm : harmonium.RBM
    n : int
        Number of samples (ignored when ``init`` is given).
    steps : int
        Block-Gibbs sweeps ``v -> h -> v`` per chain (>= 1).
    generator : torch.Generator, optional
    init : array-like, shape (n, *visible.shape), optional
        Starting states (e.g. training images); default: draws of the visible units'
        bias-only distribution.
    mean : bool
        Return ``E[v | h]`` of the last sweep instead of a sample (smoother pictures).

    Returns
    -------
    torch.Tensor, shape (n, *visible.shape)

    Raises
    ------
    ValueError
        If the model's joint distribution is improper (Gaussian units on both layers
        with couplings too strong for their precisions; see
        :meth:`harmonium.RBM.check_proper`), instead of returning infinities or NaN.

    Examples
    --------
    >>> import torch, harmonium
    >>> from harmonium.units import Bernoulli
    >>> rbm = harmonium.RBM(Bernoulli(6), Bernoulli(3))
    >>> harmonium.generate(rbm, 4, 10, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 6])
    """
    steps = check_positive_int(steps, "steps")
    rbm.check_proper()
    if init is None:
        v = _bias_only_sample(rbm, check_positive_int(n, "n"), generator)
    else:
        v = rbm.check_visible(init, "init")
    if steps > 1:
        v = rbm.gibbs(v, steps - 1, generator=generator)
    h = rbm.sample_h_from_v(v, generator=generator)
    return rbm.mean_v_from_h(h) if mean else rbm.sample_v_from_h(h, generator=generator)
