"""Separation maps of modern Hopfield retrieval: softmax, sparsemax and 1.5-entmax.

A modern Hopfield update ``xi_new = X' p(beta X xi)`` needs a map ``p`` from scores to a
probability vector over the stored patterns. Each map here is the regularised argmax

    p(z) = argmax_{p in simplex} <p, z> - Omega(p)

for a negative entropy ``Omega`` (Blondel, Martins and Niculae 2020):

==============  ==================================  ==========================================
separation      Omega(p)                            p(z)
==============  ==================================  ==========================================
``softmax``     sum p log p (Shannon)               exp(z) / sum exp(z)
``sparsemax``   (sum p^2 - 1) / 2 (Gini, alpha 2)   [z - tau]_+ (Martins and Astudillo 2016)
``entmax15``    4/3 (sum p^1.5 - 1) (Tsallis 1.5)   [z/2 - tau]_+^2 (Peters et al. 2019)
==============  ==================================  ==========================================

with ``tau`` the threshold that makes ``p`` sum to one. Sparsemax and 1.5-entmax give
exact zeros: a retrieval puts weight on a few stored patterns only. The Hopfield energy
of a separation (Hu et al. 2023; Martins et al. 2023) uses the convex conjugate

    Omega*(z) = max_{p in simplex} <p, z> - Omega(p) = <p(z), z> - Omega(p(z)),

whose gradient is ``p(z)``; for softmax it is ``logsumexp``. :func:`conjugate` computes it
and :func:`entropy_gap` the constant ``-min Omega`` that keeps the energy non-negative.

All functions work on the last dimension, accept ``-inf`` scores (masked entries, which
get weight 0) and are differentiable; the sparse maps have closed-form backward passes.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SEPARATIONS", "check_separation", "conjugate", "entmax15", "entropy_gap",
           "separate", "sparsemax"]

SEPARATIONS = ("softmax", "sparsemax", "entmax15")


def check_separation(separation) -> str:
    """Return ``separation`` unchanged, or raise unless it is one of :data:`SEPARATIONS`."""
    if not isinstance(separation, str) or separation not in SEPARATIONS:
        raise ValueError(f"separation must be one of {SEPARATIONS}, got {separation!r}")
    return separation


def _sorted_cumulants(z: torch.Tensor):
    """Scores sorted in decreasing order with the non-finite ones set to 0, the mask of
    finite sorted entries, and the ranks k = 1..d (all along the last dimension)."""
    zs = torch.sort(z, dim=-1, descending=True).values
    finite = torch.isfinite(zs)
    ranks = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    return torch.where(finite, zs, torch.zeros_like(zs)), finite, ranks


def _sparsemax_threshold(z: torch.Tensor) -> torch.Tensor:
    """tau with sum_i [z_i - tau]_+ = 1, shape (..., 1); z is shifted to max 0."""
    zs, finite, ranks = _sorted_cumulants(z)
    cumsum = zs.cumsum(-1) - 1
    support = (ranks * zs > cumsum) & finite
    size = support.sum(-1, keepdim=True)
    return cumsum.gather(-1, size - 1) / size.to(z.dtype)


def _entmax15_threshold(x: torch.Tensor) -> torch.Tensor:
    """tau with sum_i [x_i - tau]_+^2 = 1, shape (..., 1); x is shifted to max 0."""
    xs, finite, ranks = _sorted_cumulants(x)
    mean = xs.cumsum(-1) / ranks
    mean_sq = xs.pow(2).cumsum(-1) / ranks
    delta = (1 - ranks * (mean_sq - mean.pow(2))) / ranks
    tau = mean - delta.clamp_min(0).sqrt()
    size = ((tau <= xs) & finite).sum(-1, keepdim=True)
    return tau.gather(-1, size - 1)


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        z = z - z.amax(-1, keepdim=True)
        p = (z - _sparsemax_threshold(z)).clamp_min(0)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        on = (p > 0).to(grad.dtype)
        mean = (grad * on).sum(-1, keepdim=True) / on.sum(-1, keepdim=True)
        return on * (grad - mean)


class _Entmax15(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        x = z / 2
        x = x - x.amax(-1, keepdim=True)
        p = (x - _entmax15_threshold(x)).clamp_min(0).pow(2)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        root = p.sqrt()  # p^(2 - alpha): the Jacobian is diag(root) - root root' / sum(root)
        scaled = grad * root
        return scaled - root * scaled.sum(-1, keepdim=True) / root.sum(-1, keepdim=True)


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of the scores onto the probability simplex (last dimension).

    Parameters
    ----------
    z : torch.Tensor, shape (..., m)
        Scores; ``-inf`` entries get weight 0. Each row needs a finite entry.

    Returns
    -------
    torch.Tensor, shape (..., m)
        ``[z - tau]_+``, non-negative, summing to one, with exact zeros.
    """
    return _Sparsemax.apply(z)


def entmax15(z: torch.Tensor) -> torch.Tensor:
    """1.5-entmax of the scores along the last dimension (Peters et al. 2019).

    ``[z/2 - tau]_+^2`` summing to one: sparser than softmax, denser than sparsemax.
    Shapes and ``-inf`` entries as in :func:`sparsemax`.
    """
    return _Entmax15.apply(z)


def separate(z: torch.Tensor, separation: str = "softmax") -> torch.Tensor:
    """Apply the separation map named ``separation`` to the last dimension of ``z``."""
    if check_separation(separation) == "softmax":
        return torch.softmax(z, dim=-1)
    return sparsemax(z) if separation == "sparsemax" else entmax15(z)


def conjugate(z: torch.Tensor, separation: str = "softmax") -> torch.Tensor:
    """The convex conjugate ``Omega*(z)`` of the separation's negative entropy.

    Parameters
    ----------
    z : torch.Tensor, shape (..., m)
        Scores (``-inf`` entries are excluded).
    separation : {"softmax", "sparsemax", "entmax15"}

    Returns
    -------
    torch.Tensor, shape (...)
        ``<p, z> - Omega(p)`` at ``p = separate(z)``; ``logsumexp(z)`` for softmax. Its
        gradient with respect to ``z`` is ``separate(z)``.
    """
    if check_separation(separation) == "softmax":
        return torch.logsumexp(z, dim=-1)
    p = separate(z, separation)
    inner = torch.where(p > 0, p * z, torch.zeros_like(p)).sum(-1)
    if separation == "sparsemax":
        return inner - 0.5 * (p.pow(2).sum(-1) - 1)
    return inner - 4.0 / 3.0 * (p.pow(1.5).sum(-1) - 1)


def entropy_gap(m, separation: str = "softmax"):
    """``-min Omega`` over the simplex of ``m`` patterns (attained at the uniform vector).

    ``Omega*(z) <= max(z) + entropy_gap(m)``, which the Hopfield energies use as the
    constant that makes them non-negative.

    Parameters
    ----------
    m : int or torch.Tensor
        Number of (unmasked) stored patterns, >= 1.
    separation : {"softmax", "sparsemax", "entmax15"}

    Returns
    -------
    float or torch.Tensor
        ``log m`` (softmax), ``(1 - 1/m) / 2`` (sparsemax), ``4/3 (1 - m^-1/2)`` (entmax15).
    """
    check_separation(separation)
    tensor = isinstance(m, torch.Tensor)
    if separation == "softmax":
        return torch.log(m) if tensor else math.log(m)
    if separation == "sparsemax":
        return 0.5 * (1 - 1 / m)
    return 4.0 / 3.0 * (1 - (m.rsqrt() if tensor else 1 / math.sqrt(m)))
