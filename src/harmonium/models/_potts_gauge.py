"""The zero-sum gauge of a pairwise Potts model and the contact scores built on it.

The energy ``E(x) = -sum_i h_i(x_i) - sum_{i<j} J_ij(x_i, x_j)`` is unchanged, up to a
constant, when a function of one site is moved between a coupling and a field:
``J_ij(a, b) + u(a)`` with ``h_i(a) - u(a)``. The zero-sum gauge picks the
representative whose couplings sum to zero over either state and whose fields sum to
zero over the states:

    J'_ij(a, b) = J_ij(a, b) - J_ij(., b) - J_ij(a, .) + J_ij(., .)
    h'_i(a)     = h_i(a) - h_i(.) + sum_{j != i} [J_ij(a, .) - J_ij(., .)]

(``.`` is the mean over that state). In this gauge the couplings carry as little as
possible of what fields can explain, so their norms measure the pair's interaction:
the contact score of plmDCA (Ekeberg et al. 2013) is the Frobenius norm of ``J'_ij``
followed by the average-product correction (APC, Dunn et al. 2008).
"""

from __future__ import annotations

import torch

from harmonium.units.potts import zero_sum

__all__ = ["apc", "contact_precision", "frobenius_scores", "symmetric_couplings",
           "zero_sum_gauge"]


def symmetric_couplings(j: torch.Tensor) -> torch.Tensor:
    """``(J + J') / 2`` with the diagonal blocks ``J[i, :, i, :]`` zeroed.

    Parameters
    ----------
    j : torch.Tensor, shape (L, q, L, q)

    Returns
    -------
    torch.Tensor, shape (L, q, L, q)
        ``out[i, a, j, b] = out[j, b, i, a]``; unchanged when ``j`` already is.
    """
    off = ~torch.eye(j.shape[0], dtype=torch.bool, device=j.device)
    return (j + j.permute(2, 3, 0, 1)) / 2 * off[:, None, :, None]


def zero_sum_gauge(fields: torch.Tensor, couplings: torch.Tensor):
    """Fields and couplings moved to the zero-sum gauge, the distribution unchanged.

    Parameters
    ----------
    fields : torch.Tensor, shape (L, q)
    couplings : torch.Tensor, shape (L, q, L, q)
        Symmetric (``J[i, a, j, b] = J[j, b, i, a]``) with zero blocks ``J[i, :, i, :]``.

    Returns
    -------
    fields : torch.Tensor, shape (L, q)
        Summing to zero over the states of each site.
    couplings : torch.Tensor, shape (L, q, L, q)
        Summing to zero over ``a`` and over ``b`` in every block ``J[i, :, j, :]``.
    """
    row_means = couplings.mean(3, keepdim=True)  # J_ij(a, .): (L, q, L, 1)
    both = row_means.mean(1, keepdim=True)  # J_ij(., .): (L, 1, L, 1)
    gauged = couplings - row_means - couplings.mean(1, keepdim=True) + both
    shifted = fields + (row_means - both).sum((2, 3))  # the diagonal blocks are zero
    return zero_sum(shifted, (1,)), symmetric_couplings(gauged)  # exactly symmetric again


def frobenius_scores(couplings: torch.Tensor, ignore_states=()) -> torch.Tensor:
    """Frobenius norm of each coupling block in the zero-sum gauge.

    Parameters
    ----------
    couplings : torch.Tensor, shape (L, q, L, q)
    ignore_states : sequence of int
        States left out of the norm after gauging (the gap state, as plmDCA does).

    Returns
    -------
    torch.Tensor, shape (L, L)
        Symmetric, zero on the diagonal.
    """
    _, gauged = zero_sum_gauge(couplings.new_zeros(couplings.shape[:2]), couplings)
    q = couplings.shape[1]
    keep = [a for a in range(q) if a not in set(ignore_states)]
    if not keep:
        raise ValueError(f"ignore_states leaves none of the {q} states to score")
    kept = gauged[:, keep][:, :, :, keep]
    return kept.square().sum((1, 3)).sqrt()


def apc(scores: torch.Tensor) -> torch.Tensor:
    """Average-product correction ``S_ij - S_i. S_.j / S_..`` of a symmetric score
    matrix, means over the off-diagonal entries; shape (L, L) -> (L, L), zero diagonal.
    """
    n = scores.shape[0]
    if n < 3:
        raise ValueError(f"the average-product correction needs at least 3 sites, got {n}")
    off = ~torch.eye(n, dtype=torch.bool, device=scores.device)
    s = scores * off
    row = s.sum(1) / (n - 1)
    total = s.sum() / (n * (n - 1))
    return (s - row[:, None] * row[None, :] / total) * off


def contact_precision(scores: torch.Tensor, contacts, top: int,
                      min_separation: int = 1) -> float:
    """Fraction of true contacts among the ``top`` highest-scoring pairs.

    Parameters
    ----------
    scores : torch.Tensor, shape (L, L)
        Symmetric scores (e.g. :func:`apc` of :func:`frobenius_scores`).
    contacts : array-like of int, shape (K, 2)
        The true contacts, pairs of sites in either order.
    top : int
        How many of the highest-scoring pairs to count (>= 1).
    min_separation : int
        Only pairs ``i < j`` with ``j - i >= min_separation`` are ranked.

    Returns
    -------
    float
        In [0, 1].
    """
    n = scores.shape[0]
    i, j = torch.triu_indices(n, n, offset=max(1, min_separation))
    if top < 1 or i.numel() == 0:
        raise ValueError(f"top must be >= 1 with at least one pair to rank, got top={top} "
                         f"and {i.numel()} pairs at separation >= {min_separation}")
    order = scores.detach().cpu()[i, j].argsort(descending=True)[:top]
    true = {(min(a, b), max(a, b)) for a, b in torch.as_tensor(contacts).tolist()}
    hits = sum((int(i[k]), int(j[k])) in true for k in order)
    return hits / min(top, i.numel())
