"""The functional core of the modern Hopfield network (Ramsauer et al. 2020).

Pure torch, batched over any leading dimensions: :func:`energy`, one :func:`update`
step (softmax attention with the states as queries), and :func:`recall`, which iterates
the update to a fixed point. Each takes a ``separation`` (``"softmax"``, ``"sparsemax"``
or ``"entmax15"``, :mod:`harmonium.sparse`): the map from scores to weights over the
stored patterns, and with it the entropy term of the energy.
:mod:`harmonium.models.modern_hopfield` exports them with the memory object built on
top, and :mod:`harmonium.nn` builds its layers on them.
"""

from __future__ import annotations

import math

import torch

from harmonium._numerics import check_positive_int
from harmonium.models.memory import RecallResult
from harmonium.sparse import conjugate, entropy_gap, separate


def check_beta(beta) -> float:
    """Return ``beta`` as a float, or raise unless it is a positive finite number."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a positive number, got {beta!r}")
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive finite number, got {beta}")
    return float(beta)


def _check_core(xi: torch.Tensor, memories: torch.Tensor, beta) -> float:
    if memories.shape[-2] == 0:
        raise ValueError("memories is empty: store at least one pattern")
    if xi.shape[-1] != memories.shape[-1]:
        raise ValueError(
            f"xi has width {xi.shape[-1]} but the memories have width {memories.shape[-1]}"
        )
    return check_beta(beta)


def energy(xi: torch.Tensor, memories: torch.Tensor, beta: float, *,
           separation: str = "softmax") -> torch.Tensor:
    """Modern Hopfield energy of each state (Ramsauer et al. 2020, eq. 2; Hu et al. 2023).

    Parameters
    ----------
    xi : torch.Tensor, shape (..., n, d)
        States (queries).
    memories : torch.Tensor, shape (..., m, d)
        Stored patterns, one per row.
    beta : float
        Inverse temperature, > 0.
    separation : {"softmax", "sparsemax", "entmax15"}
        Which negative entropy Omega regularises the retrieval weights.

    Returns
    -------
    torch.Tensor, shape (..., n)
        ``-Omega*(beta X xi) / beta + xi'xi / 2 + gap(m) / beta + M^2 / 2`` (>= 0), with
        ``Omega* = logsumexp`` and ``gap(m) = log m`` for softmax (Ramsauer's energy) and
        the Gini / Tsallis-1.5 conjugates for the sparse maps
        (:func:`harmonium.sparse.conjugate`, :func:`harmonium.sparse.entropy_gap`).
    """
    beta = _check_core(xi, memories, beta)
    scores = beta * xi @ memories.transpose(-1, -2)
    return energy_from_scores(scores, xi, memories, beta, separation)


def energy_from_scores(scores, xi, memories, beta, separation: str) -> torch.Tensor:
    """:func:`energy` given the scaled scores ``beta X xi`` (+ any additive bias).

    Parameters
    ----------
    scores : torch.Tensor, shape (..., n, m)
        ``beta * xi @ memories'`` plus an optional bias; ``-inf`` entries are masked
        patterns, left out of the entropy term and of the count ``m``.
    xi : torch.Tensor, shape (..., n, d)
    memories : torch.Tensor, shape (..., m, d)
    beta : float or torch.Tensor broadcastable to (..., n)
        Inverse temperature (per head for the layers).
    separation : {"softmax", "sparsemax", "entmax15"}

    Returns
    -------
    torch.Tensor, shape (..., n)
    """
    visible = torch.isfinite(scores).sum(-1).to(scores.dtype)
    big_m2 = memories.pow(2).sum(-1).amax(-1, keepdim=True)
    gap = entropy_gap(visible, separation) / beta
    return -conjugate(scores, separation) / beta + 0.5 * xi.pow(2).sum(-1) + gap + 0.5 * big_m2


def update(
    xi: torch.Tensor,
    memories: torch.Tensor,
    beta: float,
    *,
    values: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    separation: str = "softmax",
) -> torch.Tensor:
    """One modern Hopfield update ``xi_new = X' p(beta X xi)``, ``p`` softmax by default.

    Parameters
    ----------
    xi : torch.Tensor, shape (..., n, d)
        States (queries).
    memories : torch.Tensor, shape (..., m, d)
        Stored patterns (keys).
    beta : float
        Inverse temperature, > 0.
    values : torch.Tensor, shape (..., m, p), optional
        What each stored pattern projects to (default: the memories themselves, the
        auto-associative update; other values make it hetero-associative attention).
    mask : torch.Tensor of bool, broadcastable to (..., n, m), optional
        False where a state must not see a stored pattern (padding, causality). Every
        state must see at least one pattern.
    separation : {"softmax", "sparsemax", "entmax15"}
        The map ``p`` from scores to weights (:func:`harmonium.sparse.separate`).

    Returns
    -------
    torch.Tensor, shape (..., n, d) (or (..., n, p) with ``values``)

    Raises
    ------
    ValueError
        Empty memories, mismatched widths, a bad ``beta``, or a mask that leaves a state
        with no stored pattern.
    """
    beta = _check_core(xi, memories, beta)
    scores = beta * xi @ memories.transpose(-1, -2)
    if mask is not None:
        _check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, -math.inf)
    weights = separate(scores, separation)
    return weights @ (memories if values is None else values)


def _check_mask(mask: torch.Tensor, shape: torch.Size) -> None:
    """Raise unless the boolean ``mask`` broadcasts to ``shape`` (..., n, m) and lets
    every state see at least one stored pattern."""
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
    try:
        full = torch.broadcast_to(mask, shape)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(mask.shape)} is not broadcastable to the "
                         f"(..., states, stored patterns) shape {tuple(shape)}") from None
    if not full.any(-1).all():
        raise ValueError("mask leaves a state with no stored pattern to attend to: "
                         "every state needs at least one True entry")


def recall(
    xi: torch.Tensor,
    memories: torch.Tensor,
    beta: float,
    max_sweeps: int = 1,
    tol: float = 1e-6,
    *,
    separation: str = "softmax",
) -> RecallResult:
    """Iterate :func:`update` until no state moves by more than ``tol`` (max-norm).

    Parameters
    ----------
    xi : torch.Tensor, shape (n, d)
        Initial states (queries).
    memories : torch.Tensor, shape (m, d)
        Stored patterns.
    beta : float
        Inverse temperature, > 0.
    max_sweeps : int
        At most this many updates (default 1: well-separated patterns are retrieved in
        one step).
    tol : float
        Convergence tolerance on ``max |xi_new - xi|``.
    separation : {"softmax", "sparsemax", "entmax15"}
        The map from scores to weights; every choice decreases :func:`energy` with the
        same ``separation`` at each step (concave-convex procedure).

    Returns
    -------
    RecallResult
        ``states`` (n, d), ``weights`` (n, m), ``converged`` (n,), ``sweeps`` (n,).
    """
    beta = _check_core(xi, memories, beta)
    max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
    return iterate(lambda s: beta * s @ memories.T, memories, xi, max_sweeps, tol,
                   separation=separation)


def iterate(scores_fn, values, xi, max_sweeps: int, tol: float, *,
            separation: str = "softmax") -> RecallResult:
    """Fixed-point loop ``xi <- p(scores_fn(xi)) @ values``, the batch together."""
    steps = 0
    while True:
        weights = separate(scores_fn(xi), separation)
        new = weights @ values
        converged = (new - xi).abs().amax(-1) <= tol
        xi, steps = new, steps + 1
        if steps == max_sweeps or bool(converged.all()):
            sweeps = torch.full(converged.shape, steps, dtype=torch.int64,
                                device=converged.device)
            return RecallResult(states=xi, converged=converged, sweeps=sweeps,
                                cycled=torch.zeros_like(converged), weights=weights)
