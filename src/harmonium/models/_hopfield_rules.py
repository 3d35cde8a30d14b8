"""Storage rules of the classical Hopfield network, on the augmented matrix.

Each rule adds patterns to the (m, m) matrix ``a`` of the network with the always-on
unit appended (m = d + 1 with a bias, d without), in place; see
:mod:`harmonium.models.hopfield` for the rules and :meth:`HopfieldNetwork.store` for
how ``a`` is built and written back.
"""

from __future__ import annotations

import torch

RULES = ("hebbian", "storkey", "pseudoinverse")


def add_patterns(a: torch.Tensor, x: torch.Tensor, rule: str, eps: float) -> None:
    """Store the (augmented) patterns x (n, m) into ``a`` (m, m) with ``rule``.

    ``eps`` is the relative precision of the stored weights (the machine epsilon of
    their dtype): the pseudo-inverse rule ignores directions at that level.
    """
    if rule == "hebbian":
        a.addmm_(x.T, x)
    elif rule == "storkey":
        _storkey(a, x)
    else:
        _project(a, x, eps)


def _storkey(a: torch.Tensor, x: torch.Tensor) -> None:
    """Storkey (1997), one pattern at a time.

    ``w_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / m`` with ``h_ij = h_i - w_ij xi_j``
    (zero diagonal) is ``w += (xi xi' - xi h' - h xi' + 2 w) / m`` with ``h = w xi``.
    """
    m = x.shape[1]
    for xi in x:
        h = a @ xi
        a.mul_(1 + 2 / m).addr_(xi, xi - h, alpha=1 / m).addr_(h, xi, alpha=-1 / m)
        a.fill_diagonal_(0)


def _project(a: torch.Tensor, x: torch.Tensor, eps: float) -> None:
    """Extend the projector ``a`` onto the span of the stored patterns by x's span.

    The leftover of the new patterns outside the span is orthonormalised and added. A
    direction counts only when its singular value exceeds ``max(n, m) * eps`` times the
    largest pattern norm: the leftover of a pattern already in the span is rounding
    noise of that size, and measured against itself it would pass for a direction.
    """
    residual = x - x @ a
    _, s, vh = torch.linalg.svd(residual, full_matrices=False)
    tol = max(residual.shape) * eps * x.norm(dim=1).max()
    basis = vh[s > tol]
    a.addmm_(basis.T, basis)
