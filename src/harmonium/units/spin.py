"""Spin units: x in {-1, +1}, E(x) = -theta x."""

from __future__ import annotations

import torch

from harmonium._numerics import log_2cosh
from harmonium.threads import elementwise
from harmonium.units._binary import _TwoState

__all__ = ["Spin"]


class Spin(_TwoState):
    """``n`` spin units with states {-1, +1} and bias ``theta`` (``.bias``, shape (n,)).

    ``cgf(I) = sum log 2cosh(theta + I)``, mean ``tanh(theta + I)``; the mode breaks
    ties (zero field) towards +1.
    """

    low, high = -1.0, 1.0

    def _p_high(self, field: torch.Tensor) -> torch.Tensor:
        return elementwise(torch.sigmoid, 2.0 * field)  # the same bits with any thread count

    def cgf(self, inputs):
        return log_2cosh(self._field(inputs)).sum(1)

    def mean_from_inputs(self, inputs):
        return elementwise(torch.tanh, self._field(inputs))

    def var_from_inputs(self, inputs):
        return 1.0 - torch.tanh(self._field(inputs)).square()
