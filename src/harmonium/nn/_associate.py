"""The retrieval every Hopfield layer shares: iterated association in the projected space.

Given projected state patterns Q, stored patterns K and pattern projections V per head,

    q_0 = Q,   q_{t+1} = K' p(beta K q_t + bias),   output = dropout(p(beta K q_T + bias)) V,

with ``p`` the separation (softmax, sparsemax or 1.5-entmax; :mod:`harmonium.sparse`).
``update_steps_max`` bounds the number of state updates T (0: one association, plain
attention; ``None``: until convergence); a head stops updating once its association
matrix moves by at most ``update_steps_eps`` (Frobenius norm, the largest over the
batch), as in hopfield-layers. Each update is the concave-convex step on the energy

    E(q) = -Omega*(beta K q + bias) / beta + q'q / 2 + gap(m) / beta + M^2 / 2,

so the energies along the way never increase; :func:`associate` returns them on request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn.functional import dropout as _dropout

from harmonium.models._modern_core import energy_from_scores
from harmonium.sparse import check_separation, separate


@dataclass
class Association:
    """What one retrieval produced.

    Attributes
    ----------
    output : torch.Tensor, shape (B, H, n, p)
        Association (after dropout) times the pattern projections, per head.
    weights : torch.Tensor, shape (B, H, n, m)
        The final association matrix (before dropout).
    energies : torch.Tensor, shape (T + 1, B, H, n), or None
        The energy of the states q_0 .. q_T (a head that stopped early repeats its last
        value); only when asked for.
    """

    output: torch.Tensor
    weights: torch.Tensor
    energies: torch.Tensor | None


def check_steps(update_steps_max, update_steps_eps) -> tuple[int | None, float]:
    """Validate the iteration settings (``update_steps_max`` int >= 0 or None)."""
    if update_steps_max is not None and (isinstance(update_steps_max, bool)
                                         or not isinstance(update_steps_max, int)
                                         or update_steps_max < 0):
        raise ValueError(f"update_steps_max must be an int >= 0 or None (until convergence), "
                         f"got {update_steps_max!r}")
    if (isinstance(update_steps_eps, bool) or not isinstance(update_steps_eps, (int, float))
            or not 0 < update_steps_eps < math.inf):
        raise ValueError(f"update_steps_eps must be a positive number, got {update_steps_eps!r}")
    return update_steps_max, float(update_steps_eps)


def check_dropout(p) -> float:
    """Validate a dropout probability in [0, 1)."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return float(p)


@dataclass
class Retrieval:
    """How a layer retrieves: separation, iteration and dropout settings."""

    separation: str = "softmax"
    update_steps_max: int | None = 0
    update_steps_eps: float = 1e-4
    dropout: float = 0.0

    def __post_init__(self):
        check_separation(self.separation)
        self.update_steps_max, self.update_steps_eps = check_steps(self.update_steps_max,
                                                                   self.update_steps_eps)
        self.dropout = check_dropout(self.dropout)


def associate(queries, keys, values, beta, retrieval: Retrieval, *, bias=None,
              training: bool = False, trace: bool = False) -> Association:
    """Iterated Hopfield association, per head.

    Parameters
    ----------
    queries : torch.Tensor, shape (B, H, n, k)
        Projected state patterns q_0.
    keys : torch.Tensor, shape (B, H, m, k)
        Projected stored patterns.
    values : torch.Tensor, shape (B, H, m, p)
        Projected pattern projections.
    beta : torch.Tensor, shape (H,)
        Inverse temperature (scaling) of each head.
    retrieval : Retrieval
    bias : torch.Tensor, broadcastable to (B, H, n, m), optional
        Added to the scaled scores; ``-inf`` masks a pattern. Every state must keep at
        least one finite score.
    training : bool
        Apply dropout to the final association matrix.
    trace : bool
        Return the energy of every state along the iteration.

    Returns
    -------
    Association
    """
    beta4 = beta.view(-1, 1, 1)

    def scores(state):
        s = beta4 * state @ keys.transpose(-1, -2)
        return s if bias is None else s + bias

    def energies(state, s):
        return energy_from_scores(s, state, keys, beta.view(-1, 1), retrieval.separation)

    state, s = queries, scores(queries)
    if bias is not None and not torch.isfinite(s).any(-1).all():
        raise ValueError("the mask leaves a state with no stored pattern to attend to: every "
                         "state needs at least one pattern")
    weights = separate(s, retrieval.separation)
    trail = [energies(state, s)] if trace else None
    limit = math.inf if retrieval.update_steps_max is None else retrieval.update_steps_max
    active = torch.full(beta.shape, 0 < limit, dtype=torch.bool, device=queries.device)
    step = 0
    while bool(active.any()):
        on = active.view(-1, 1, 1)
        new_state = weights @ keys
        new_s = scores(new_state)
        new_weights = separate(new_s, retrieval.separation)
        with torch.no_grad():
            change = (new_weights - weights).pow(2).sum((-1, -2)).sqrt().amax(0)
        state = torch.where(on, new_state, state)
        s = torch.where(on, new_s, s)
        weights = torch.where(on, new_weights, weights)
        step += 1
        if trace:
            trail.append(energies(state, s))
        active = active & (change > retrieval.update_steps_eps) & (step < limit)
    dropped = _dropout(weights, retrieval.dropout, training) if retrieval.dropout else weights
    return Association(output=dropped @ values, weights=weights,
                       energies=torch.stack(trail) if trace else None)
