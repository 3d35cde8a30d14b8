"""Double ReLU (dReLU) units: two half-Gaussians of their own, glued at zero.

E(h) = gamma_p h+^2 / 2 - theta_p h+ + gamma_m h-^2 / 2 - theta_m h-, with
h+ = max(h, 0) and h- = min(h, 0) (Tubiana and Monasson 2019). Given the input ``I``,
each half-line carries the mass of a ReLU piece: the positive one has field
``theta_p + I`` and precision ``gamma_p``, the negative one, mirrored to ``h >= 0``,
field ``-(theta_m + I)`` and precision ``gamma_m``. So the cgf is the ``logaddexp``
of the two pieces' log-partitions, the moments mix the pieces' moments, and a draw
picks a side with its probability, then draws that side's truncated normal.
"""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.parallel import uniform_like
from harmonium.units.base import Units
from harmonium.units.relu import (
    MIN_PRECISION,
    half_piece,
    half_sample,
    stat_grad_,
)

__all__ = ["DReLU"]


class DReLU(Units):
    """``n`` double-ReLU units: real ``h`` with a Gaussian of its own on each side of zero.

    Parameters are ``params = (theta_p, theta_m, gamma_p, gamma_m)``, each of shape (n,):
    the linear fields and the precisions (``> 0``, kept so by :meth:`project_`) of the
    positive and the negative parts. ``.bias`` is ``theta_p``; all four are learnable.
    The default (zero fields, unit precisions) is the standard normal. With
    ``gamma_p = gamma_m`` and ``theta_p = theta_m`` the unit is Gaussian; with
    ``gamma_m -> inf`` it becomes a ReLU unit.

    These are meant as hidden units. As visible units they sample, train and save,
    but there is no fitted independent-units model for them
    (:meth:`fit_independent` raises), so AIS needs ``base=None`` or a ready layer.

    Parameters
    ----------
    n : int
        Number of units.
    """

    param_names = ("bias_pos", "bias_neg", "precision_pos", "precision_neg")

    def __init__(self, n: int):
        n = check_positive_int(n, "n")
        zeros, ones = torch.zeros(n), torch.ones(n)
        super().__init__((n,), torch.stack([zeros, zeros, ones, ones]))

    def _pieces(self, inputs):
        """Fields and precisions of the positive and the mirrored negative piece."""
        theta_p, theta_m, gamma_p, gamma_m = self.params
        return (theta_p + inputs, gamma_p), (-(theta_m + inputs), gamma_m)

    def _sides(self, inputs):
        """Log-partitions of the two pieces, each ``(batch, n)``."""
        pos, neg = self._pieces(inputs)
        return half_piece(*pos)[0], half_piece(*neg)[0]

    def _moments(self, inputs):
        """Side probabilities and each side's ``(log_z, E[|h|], E[h^2], Var[|h|])``."""
        pos, neg = self._pieces(inputs)
        pos, neg = half_piece(*pos), half_piece(*neg)
        p_pos, p_neg = torch.sigmoid(pos[0] - neg[0]), torch.sigmoid(neg[0] - pos[0])
        return p_pos, p_neg, pos, neg

    def energy(self, x):
        """``sum_i`` of each unit's energy (see the class docstring), shape (batch,)."""
        theta_p, theta_m, gamma_p, gamma_m = self.params
        hp, hm = x.clamp(min=0.0), x.clamp(max=0.0)
        per_unit = (0.5 * gamma_p * hp.square() - theta_p * hp
                    + 0.5 * gamma_m * hm.square() - theta_m * hm)
        return per_unit.sum(1)

    def cgf(self, inputs):
        return torch.logaddexp(*self._sides(inputs)).sum(1)

    def mean_from_inputs(self, inputs):
        p_pos, p_neg, pos, neg = self._moments(inputs)
        return p_pos * pos[1] - p_neg * neg[1]

    def var_from_inputs(self, inputs):
        # total variance: within the sides plus between them (no cancellation)
        p_pos, p_neg, pos, neg = self._moments(inputs)
        return (p_pos * pos[3] + p_neg * neg[3]
                + p_pos * p_neg * (pos[1] + neg[1]).square())

    def sample_from_inputs(self, inputs, *, generator=None):
        (field_p, gamma_p), (field_m, gamma_m) = self._pieces(inputs)
        log_p, log_m = self._sides(inputs)
        w_side = uniform_like(torch.empty_like(field_p), generator)
        w = uniform_like(torch.empty_like(field_p), generator)
        positive = w_side < torch.sigmoid(log_p - log_m)
        # one truncated normal per unit, on the side drawn
        side = half_sample(torch.where(positive, field_p, field_m),
                           torch.where(positive, gamma_p, gamma_m), w)
        return torch.where(positive, side, -side)

    def mode_from_inputs(self, inputs):
        (field_p, gamma_p), (field_m, gamma_m) = self._pieces(inputs)
        up, down = field_p.clamp(min=0.0), field_m.clamp(min=0.0)
        # each side's best log-weight (relative to h = 0) is field^2 / (2 gamma)
        take_up = up.square() / gamma_p >= down.square() / gamma_m
        return torch.where(take_up, up / gamma_p, -down / gamma_m)

    def check_support(self, x, name="x"):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite for DReLU units")
        return x

    def energy_grad_(self, out, states, coefs) -> None:
        def stat(x):
            hp, hm = x.clamp(min=0.0), x.clamp(max=0.0)
            return torch.stack([-hp, -hm, 0.5 * hp.square(), 0.5 * hm.square()], 1)

        stat_grad_(out, [stat(x) for x in states], coefs)

    def cgf_grad_(self, out, inputs, means, coefs) -> None:
        # dcgf/dparams = -E[statistic]: E[h+], E[h-], -E[h+^2] / 2, -E[h-^2] / 2
        stats = []
        with torch.no_grad():
            for i in inputs:
                p_pos, p_neg, pos, neg = self._moments(i)
                stats.append(torch.stack([p_pos * pos[1], -p_neg * neg[1],
                                          -0.5 * p_pos * pos[2], -0.5 * p_neg * neg[2]], 1))
        stat_grad_(out, stats, coefs)

    def annealing_start(self) -> torch.Tensor:
        """Both fields zeroed, the precisions kept: shape (4, n)."""
        start = self.params.detach().clone()
        start[:2] = 0.0
        return start

    def fit_independent(self, x):
        raise TypeError("DReLU units have no fitted independent-units model (the AIS base "
                        "fitted to data); pass base=None or a ready layer to ais")

    def project_(self) -> None:
        with torch.no_grad():
            self.params[2:].clamp_(min=MIN_PRECISION)

    def absorb_input_(self, d) -> None:
        """The input enters both sides' fields: ``theta_p -= d`` and ``theta_m -= d``."""
        with torch.no_grad():
            self.params[:2].sub_(d)
