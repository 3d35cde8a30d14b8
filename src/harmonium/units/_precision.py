"""Units with a bias and a precision per unit (Gaussian, ReLU): their shared layout."""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.units.base import Units


class _BiasPrecision(Units):
    """``n`` units with ``params[0] = theta`` (``.bias``) and ``params[1] = gamma``
    (``.precision``), each of shape (n,); a new layer starts at ``theta = 0``,
    ``gamma = 1``.

    Parameters
    ----------
    n : int
        Number of units.
    """

    param_names = ("bias", "precision")

    def __init__(self, n: int):
        n = check_positive_int(n, "n")
        super().__init__((n,), torch.stack([torch.zeros(n), torch.ones(n)]))

    @property
    def precision(self) -> torch.Tensor:
        """Precision ``gamma`` of each unit, shape (n,)."""
        return self.params[1]
