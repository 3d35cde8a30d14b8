"""Potts units: categorical units whose fields are kept in the zero-sum gauge.

A Potts unit (a residue of a protein sequence, ``q = 21`` states: 20 amino acids and
the gap) takes one of ``q`` states, stored one-hot on the last axis exactly as
:class:`~harmonium.units.Categorical` does. Adding a constant ``c_i`` to every field
``theta_i(a)`` of unit ``i`` adds ``-c_i`` to the energy of every state (one state is
on), so the distribution does not see it: the fields are defined up to this *gauge*.
Potts units fix it to the zero-sum gauge ``sum_a theta_i(a) = 0`` (Ising gauge of the
protein-sequence literature, used by plmDCA and by Tubiana et al.'s RBMs), after every
optimiser step and in every fitted independent model, so that fields can be compared
between units and models.
"""

from __future__ import annotations

import torch

from harmonium.units.base import SMOOTHING
from harmonium.units.categorical import Categorical

__all__ = ["Potts", "zero_sum"]


def zero_sum(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``t`` minus its mean over ``dims``: the sums over those axes become zero.

    Parameters
    ----------
    t : torch.Tensor
        Any shape.
    dims : tuple of int
        Axes whose sums become zero (e.g. the state axis of ``(n, q)`` fields).

    Returns
    -------
    torch.Tensor
        Same shape as ``t``.
    """
    return t - t.mean(dim=dims, keepdim=True)


class Potts(Categorical):
    """``n`` Potts units with ``q`` states each, fields in the zero-sum gauge.

    States have shape (batch, n, q) (one-hot); the fields ``theta`` (``.bias``) have
    shape (n, q) and sum to zero over the states of each unit. Energies, conditionals,
    sampling and enumeration are those of :class:`~harmonium.units.Categorical`; what
    differs is the gauge (:meth:`project_`, :meth:`fit_independent`) and the loaded
    type. ``Potts(L, 21)`` is the visible layer of an RBM of aligned protein sequences.

    Parameters
    ----------
    n : int
        Number of units (sites), >= 1.
    k : int
        Number of states ``q`` per unit, >= 2.
    """

    @property
    def n_states(self) -> int:
        """Number of states ``q`` of each unit."""
        return self.n_categories

    def project_(self) -> None:
        """Move the fields to the zero-sum gauge (the distribution is unchanged)."""
        with torch.no_grad():
            self.params.copy_(zero_sum(self.params, (-1,)))

    def gauge_weights_(self, weight: torch.Tensor) -> torch.Tensor:
        """Move the weights ``(n, q, *other_shape)`` to the zero-sum gauge over each
        unit's states, in place: ``W[i, a] -= c[i]`` with ``c[i]`` the mean over ``a``.

        One state of each unit is on, so every input ``x W`` of the other layer
        changes by ``d = -sum_i c[i]`` (returned, shape ``other_shape``) and the
        inputs ``W x'`` to this layer by a constant per unit, which its softmax does
        not see.
        """
        c = weight.mean(1, keepdim=True)
        weight.sub_(c)
        return -c.sum((0, 1))

    def fit_independent(self, x):
        """Independent Potts units of data ``x`` (n_samples, n, q): the log-frequencies
        (with a pseudo-count of 0.5 per state) in the zero-sum gauge."""
        freq = (x.sum(0) + SMOOTHING) / (x.shape[0] + self.n_states * SMOOTHING)
        return Potts.from_params(zero_sum(torch.log(freq), (-1,))[None], requires_grad=False)

    def indices_from_states(self, x: torch.Tensor) -> torch.Tensor:
        """State indices of one-hot states, ``(batch, n, q) -> (batch, n)`` (int64)."""
        return self.check_support(x).argmax(-1)
