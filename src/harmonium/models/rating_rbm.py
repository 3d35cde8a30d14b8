"""Softmax-visible RBM over sparse rating data (Salakhutdinov, Mnih and Hinton 2007).

The model is a plain :class:`harmonium.RBM` with ``Categorical(n_units, k)`` visible
units (one per item, k rating levels) and ``Bernoulli(n_hidden)`` hidden units; its
weight has shape ``(n_units, k, n_hidden)``. Each *case* (a user, or an item for the
transposed I-RBM) observes only the units it rated. Unrated units are *absent*: they
add nothing to the energy, the hidden input or the gradient, and the negative phase
reconstructs only the rated units. This is the generic RBM restricted to the rated
units of each case (equivalently, an unrated unit is an all-zero one-hot row).

A batch of cases is stored sparsely as a :class:`RatingBatch` of ``nnz`` triples
``(case, unit, level)`` (drawn from a :class:`RatingCases` index of all the ratings);
every operation gathers the weight rows of the rated units (index-based), so memory is
``O(nnz * k * n_hidden)`` per batch and never ``O(n_cases * n_units * k)``.
Initialising and growing such an RBM for given ratings is in
:mod:`harmonium.models.rating_init`. Every operation also takes the factored model of
:mod:`harmonium.models.rating_factored` (``W = A B``), without forming ``W``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from harmonium.models.rbm import RBM
from harmonium.units import Bernoulli, Categorical

__all__ = [
    "RatingBatch",
    "RatingCases",
    "cd_loss",
    "expected_grid",
    "expected_ratings",
    "free_energy",
    "hidden_inputs",
    "hidden_means",
    "implicit_field",
    "make_rating_rbm",
    "rating_probabilities",
    "sample_levels",
    "visible_fields",
]

# elements of the gathered (rows, k, n_hidden) weight block processed at once
_CHUNK_ELEMENTS = 2**22
# cases whose hidden means are computed at once in prediction
_CHUNK_CASES = 4096


class RatingBatch(NamedTuple):
    """Ratings of ``n_cases`` cases as flat index triples.

    Attributes
    ----------
    n_cases : int
        Number of cases (users, or items for the I-RBM) in the batch.
    case : torch.LongTensor, shape (nnz,)
        Position of the case in the batch, in ``[0, n_cases)``.
    unit : torch.LongTensor, shape (nnz,)
        Visible unit (the rated item, or user) in ``[0, n_units)``.
    level : torch.LongTensor, shape (nnz,)
        Rating level in ``[0, k)``.
    """

    n_cases: int
    case: torch.Tensor
    unit: torch.Tensor
    level: torch.Tensor


class RatingCases:
    """All ratings grouped by case (CSR), on a device: what each case rated, and how.

    Parameters
    ----------
    case, unit, level : numpy.ndarray of int64, shape (n,)
        Case, visible unit and rating level of each rating.
    n_cases : int
        Number of cases (cases without ratings are allowed).
    device : torch.device or str
        Where the index lives (the model's device).
    """

    def __init__(self, case: np.ndarray, unit: np.ndarray, level: np.ndarray, n_cases: int,
                 device):
        order = np.argsort(case, kind="stable")
        counts = np.bincount(case, minlength=n_cases)
        self.ptr = torch.from_numpy(np.r_[0, np.cumsum(counts)]).to(device)
        self.counts = torch.from_numpy(counts).to(device)
        self.unit = torch.from_numpy(unit[order]).to(device)
        self.level = torch.from_numpy(level[order]).to(device)

    def __len__(self) -> int:
        return self.counts.shape[0]

    def batch(self, cases: torch.Tensor) -> RatingBatch:
        """The ratings of ``cases`` (indices, shape (b,)) as a :class:`RatingBatch`."""
        lengths = self.counts[cases]
        pos = torch.repeat_interleave(torch.arange(len(cases), device=cases.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        idx = self.ptr[cases][pos] + torch.arange(len(pos), device=cases.device) - first[pos]
        return RatingBatch(len(cases), pos, self.unit[idx], self.level[idx])


def make_rating_rbm(
    n_units: int,
    n_levels: int,
    n_hidden: int,
    *,
    weight_std: float = 0.01,
    generator: torch.Generator | None = None,
) -> RBM:
    """A fresh RBM with ``Categorical(n_units, n_levels)`` visible and ``Bernoulli(n_hidden)``.

    Returns
    -------
    harmonium.RBM
        ``weight`` of shape ``(n_units, n_levels, n_hidden)``, zero biases.
    """
    return RBM(
        Categorical(n_units, n_levels),
        Bernoulli(n_hidden),
        weight_std=weight_std,
        generator=generator,
    )


def _rows(rbm: RBM, unit: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    return unit * rbm.visible.n_categories + level


def hidden_inputs(rbm: RBM, batch: RatingBatch) -> torch.Tensor:
    """Input field to the hidden units from the rated units only.

    ``I[b] = sum over rated (i, s) of case b of W[i, s, :]`` (the hidden bias is not
    included: the hidden layer adds it).

    Returns
    -------
    torch.Tensor, shape (n_cases, n_hidden)
    """
    v, b = _factors(rbm)
    gathered = v.reshape(-1, v.shape[-1]).index_select(0, _rows(rbm, batch.unit, batch.level))
    out = torch.zeros(batch.n_cases, v.shape[-1], dtype=v.dtype, device=v.device)
    out = out.index_add(0, batch.case, gathered)
    return out if b is None else out @ b


def _factors(rbm) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(V, B)`` with ``W = V B``: the weights of the visible side, shape (n_units, k, F),
    and their map to the hidden units, shape (F, n_hidden); ``(W, None)`` for an
    unfactored RBM (a :class:`~harmonium.models.rating_factored.FactoredRatingRBM` has
    ``V = A``, ``F`` its rank)."""
    b = getattr(rbm, "factor_b", None)
    return (rbm.weight, None) if b is None else (rbm.factor_a, b)


def _hidden_to_factors(b: torch.Tensor | None, h: torch.Tensor) -> torch.Tensor:
    """``h B^T``, shape (n, F): what ``V`` multiplies for the visible fields."""
    return h if b is None else h @ b.T


def visible_fields(rbm: RBM, h: torch.Tensor, case: torch.Tensor, unit: torch.Tensor):
    """Logits of the softmax of each queried unit given hidden states.

    ``logits[m, s] = b[unit_m, s] + sum_j W[unit_m, s, j] h[case_m, j]``.

    Parameters
    ----------
    rbm : harmonium.RBM or FactoredRatingRBM
        A rating RBM (see :func:`make_rating_rbm`).
    h : torch.Tensor, shape (n_cases, n_hidden)
        Hidden states or probabilities of the cases.
    case, unit : torch.LongTensor, shape (m,)
        Which case's hidden vector and which visible unit each query uses.

    Returns
    -------
    torch.Tensor, shape (m, k)
    """
    v, b = _factors(rbm)
    k, h = rbm.visible.n_categories, _hidden_to_factors(b, h)
    step = max(1, _CHUNK_ELEMENTS // (k * v.shape[-1]))
    parts = []
    for start in range(0, unit.shape[0], step):
        u, c = unit[start : start + step], case[start : start + step]
        w = v.index_select(0, u)  # (m, k, F)
        parts.append(torch.bmm(w, h.index_select(0, c).unsqueeze(2)).squeeze(2))
    inputs = torch.cat(parts) if parts else h.new_zeros(0, k)
    return rbm.visible.bias.index_select(0, unit) + inputs


def rating_probabilities(rbm: RBM, h: torch.Tensor, case: torch.Tensor, unit: torch.Tensor):
    """``p(v_unit = s | h[case])`` for each query, shape (m, k) (rows sum to one)."""
    return torch.softmax(visible_fields(rbm, h, case, unit), dim=-1)


def sample_levels(
    rbm: RBM, h: torch.Tensor, batch: RatingBatch, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Reconstruct the rated units of each case: draw ``s ~ p(v_i | h)``, shape (nnz,).

    Only the units present in ``batch`` are sampled (the paper's negative phase).
    """
    logits = visible_fields(rbm, h, batch.case, batch.unit)
    layer = Categorical.from_params(logits.new_zeros(1, *logits.shape), requires_grad=False)
    return layer.sample_from_inputs(logits.unsqueeze(0), generator=generator)[0].argmax(-1)


def free_energy(rbm: RBM, batch: RatingBatch, offset: torch.Tensor | None = None):
    """Free energy of each case over its rated units only.

    ``F(v) = -sum_rated b[i, s] - cgf_hid(sum_rated W[i, s, :] + offset)``; equals the
    generic RBM's free energy with every unrated unit removed (or set to an all-zero
    row).

    Parameters
    ----------
    offset : torch.Tensor, shape (n_cases, n_hidden), optional
        An extra input to each case's hidden units: the conditional RBM's ``r D``
        (:func:`implicit_field`).

    Returns
    -------
    torch.Tensor, shape (n_cases,)
    """
    return _free_energy(rbm, batch, _plus(hidden_inputs(rbm, batch), offset))


def _plus(field: torch.Tensor, offset: torch.Tensor | None) -> torch.Tensor:
    return field if offset is None else field + offset


def implicit_field(implicit_weight: torch.Tensor, batch: RatingBatch) -> torch.Tensor:
    """The conditional RBM's hidden input ``sum_i r_i D[i, :]`` of each case.

    Salakhutdinov, Mnih and Hinton (2007, section 4): ``r`` flags the units a case
    rated, including pairs whose rating is unknown; ``batch`` lists them (its levels
    are ignored).

    Parameters
    ----------
    implicit_weight : torch.Tensor, shape (n_units, n_hidden)
        ``D``.
    batch : RatingBatch
        The flagged units of each case.

    Returns
    -------
    torch.Tensor, shape (n_cases, n_hidden)
    """
    out = implicit_weight.new_zeros(batch.n_cases, implicit_weight.shape[1])
    return out.index_add(0, batch.case, implicit_weight.index_select(0, batch.unit))


def _free_energy(rbm: RBM, batch: RatingBatch, field: torch.Tensor) -> torch.Tensor:
    bias = rbm.visible.bias.reshape(-1).index_select(0, _rows(rbm, batch.unit, batch.level))
    visible = torch.zeros(batch.n_cases, dtype=bias.dtype, device=bias.device)
    return -visible.index_add(0, batch.case, bias) - rbm.hidden.cgf(field)


def cd_loss(
    rbm: RBM, batch: RatingBatch, steps: int, *, generator: torch.Generator | None = None,
    offset: torch.Tensor | None = None,
) -> torch.Tensor:
    """Surrogate loss whose gradient is the CD-``steps`` estimate, averaged over cases.

    ``mean_b F(v_b) - mean_b F(v'_b)`` with ``v'`` the reconstruction after ``steps``
    block-Gibbs sweeps restricted to the rated units (not differentiated through), so
    ``d loss / d theta = <dE/dtheta>_data - <dE/dtheta>_recon`` with hidden
    probabilities at both ends: descending it is CD learning.

    With ``offset`` (the conditional RBM's ``r D``, shape (n_cases, n_hidden)) added
    to the hidden input at both ends, the gradient for ``D`` is
    ``(<h>_data - <h>_recon) r``, the paper's rule.

    Returns
    -------
    torch.Tensor
        Scalar loss (its value is not a likelihood).
    """
    field = _plus(hidden_inputs(rbm, batch), offset)
    f_data = _free_energy(rbm, batch, field)
    with torch.no_grad():
        field, level = field.detach(), batch.level
        for step in range(steps):
            if step:
                field = _plus(hidden_inputs(rbm, batch._replace(level=level)), offset)
            h = rbm.hidden.sample_from_inputs(field, generator=generator)
            level = sample_levels(rbm, h, batch, generator=generator)
    f_recon = free_energy(rbm, batch._replace(level=level), offset)
    return (f_data - f_recon).mean()


@torch.no_grad()
def expected_ratings(
    rbm: RBM, cases: RatingCases, case: torch.Tensor, unit: torch.Tensor, levels: torch.Tensor,
    implicit=None,
) -> torch.Tensor:
    """Expected rating ``sum_s levels[s] p(v_unit = s | mean-field h[case])`` of each query.

    The hidden means ``p(h = 1 | v)`` of each distinct case are computed once from all
    of its ratings in ``cases``.

    Parameters
    ----------
    rbm : harmonium.RBM or FactoredRatingRBM
        A rating RBM.
    cases : RatingCases
        The ratings of every case.
    case, unit : torch.LongTensor, shape (m,)
        The case and the visible unit of each query.
    levels : torch.Tensor, shape (k,)
        Rating value of each level.
    implicit : (D, RatingCases), optional
        The conditional RBM's ``D`` (n_units, n_hidden) and flagged units per case.

    Returns
    -------
    torch.Tensor, shape (m,)
    """
    distinct, local = torch.unique(case, return_inverse=True)
    h = hidden_means(rbm, cases, distinct, implicit)
    probs = rating_probabilities(rbm, h, local.reshape(-1), unit)
    return probs @ levels.to(probs)


@torch.no_grad()
def hidden_means(rbm: RBM, cases: RatingCases, which: torch.Tensor, implicit=None):
    """Mean-field hidden probabilities ``p(h = 1 | v[, r])`` of cases, shape (m, n_hidden).

    Parameters
    ----------
    which : torch.LongTensor, shape (m,)
        Case indices into ``cases``.
    implicit : (D, RatingCases), optional
        The conditional RBM's ``D`` and the flagged units of every case.
    """
    def field(chunk):
        f = hidden_inputs(rbm, cases.batch(chunk))
        return f if implicit is None else f + implicit_field(implicit[0],
                                                             implicit[1].batch(chunk))

    parts = [rbm.hidden.mean_from_inputs(field(chunk)) for chunk in which.split(_CHUNK_CASES)]
    return torch.cat(parts) if parts else rbm.hidden.bias.new_zeros(0, rbm.n_hidden)


@torch.no_grad()
def expected_grid(rbm: RBM, h: torch.Tensor, unit: torch.Tensor, levels: torch.Tensor, *,
                  cases_are_rows: bool) -> torch.Tensor:
    """Expected ratings of every (case, unit) combination of some cases and units.

    ``sum_s levels[s] softmax_s(b[unit, s] + W[unit, s, :] . h[case])``, the same value
    as :func:`expected_ratings`, for a whole grid at once (ranking every item for a
    user).

    Parameters
    ----------
    h : torch.Tensor, shape (n_cases, n_hidden)
        Hidden means of the cases (:func:`hidden_means`).
    unit : torch.LongTensor, shape (n_units,)
        The visible units.
    levels : torch.Tensor, shape (k,)
    cases_are_rows : bool
        Lay the grid out as (cases, units) (True) or (units, cases).

    Returns
    -------
    torch.Tensor, shape (n_cases, n_units) or (n_units, n_cases)
    """
    v, b = _factors(rbm)
    w, bias = v.index_select(0, unit), rbm.visible.bias.index_select(0, unit)
    logits = torch.einsum("ukf,cf->cuk", w, _hidden_to_factors(b, h)) + bias  # (c, u, k)
    grid = torch.softmax(logits, dim=-1) @ levels.to(logits)
    return grid if cases_are_rows else grid.T
