"""Bernoulli units: x in {0, 1}, E(x) = -theta x."""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

from harmonium.threads import elementwise
from harmonium.units._binary import _TwoState

__all__ = ["Bernoulli"]


class Bernoulli(_TwoState):
    """``n`` binary units with states {0, 1} and bias ``theta`` (``.bias``, shape (n,)).

    ``cgf(I) = sum softplus(theta + I)``, mean ``sigmoid(theta + I)``.
    """

    low, high = 0.0, 1.0

    def _p_high(self, field: torch.Tensor) -> torch.Tensor:
        return elementwise(torch.sigmoid, field)  # the same bits with any thread count

    def cgf(self, inputs):
        return softplus(self._field(inputs)).sum(1)

    def mean_from_inputs(self, inputs):
        return elementwise(torch.sigmoid, self._field(inputs))

    def var_from_inputs(self, inputs):
        p = torch.sigmoid(self._field(inputs))
        return p * (1 - p)
