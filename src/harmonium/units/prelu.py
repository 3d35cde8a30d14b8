"""pReLU units: the dReLU energy with a shared field, a gap, a precision and |eta| < 1.

Tubiana and Monasson 2019 (and RestrictedBoltzmannMachines.jl's ``pReLU``) write the
double-ReLU energy of :mod:`harmonium.units.drelu` with

    gamma_p = gamma / (1 + eta),          gamma_m = gamma / (1 - eta),
    theta_p = theta + delta / (1 + eta),  theta_m = theta - delta / (1 - eta),

``gamma > 0`` and ``-1 < eta < 1``. ``eta = 0`` and ``delta = 0`` is the Gaussian unit
``N((theta + I) / gamma, 1 / gamma)``; with ``delta = 0`` the mode of a unit is a leaky
ReLU of its input, ``(theta + I) (1 + eta) / gamma`` above zero and
``(theta + I) (1 - eta) / gamma`` below (leak ``(1 - eta) / (1 + eta)``; ``eta -> 1``
is the ReLU), so this is harmonium's leaky ReLU unit. ``delta > 0`` pushes mass away
from zero (a double well), ``delta < 0`` towards it. The parameters are those of one
Gaussian (``theta``, ``gamma``) plus two shape parameters that start at zero, which is
why gradient steps on them are better conditioned than on the four dReLU parameters.
The inverse map is ``gamma = 2 gamma_p gamma_m / (gamma_p + gamma_m)``,
``eta = (gamma_m - gamma_p) / (gamma_p + gamma_m)``,
``theta = (theta_p gamma_m + theta_m gamma_p) / (gamma_p + gamma_m)`` and
``delta = gamma (theta_p - theta_m) / (gamma_p + gamma_m)``.
"""

from __future__ import annotations

import torch

from harmonium.units.drelu import _SharedFieldReLU
from harmonium.units.relu import MIN_PRECISION

__all__ = ["PReLU"]

#: ``project_`` keeps ``|eta| <= MAX_ETA``: precisions at most 1999 times apart
MAX_ETA = 1.0 - MIN_PRECISION


class PReLU(_SharedFieldReLU):
    """``n`` pReLU (leaky double-ReLU) units: real ``h``, the dReLU energy reparametrised.

    ``params = (theta, delta, gamma, eta)``, each of shape (n,) and learnable:
    ``.bias`` (theta, the shared field), ``.delta`` (the gap between the two sides'
    fields), ``.gamma`` (gamma > 0, the harmonic mean of the two sides'
    precisions) and ``.eta`` (``|eta| < 1``, the asymmetry of the precisions);
    :meth:`project_` keeps ``gamma >= 1e-3`` and ``|eta| <= 1 - 1e-3``. The map to the
    four dReLU parameters is in the module docstring; :meth:`to_drelu` and
    :meth:`from_drelu` convert. The default (all zero, ``gamma = 1``) is the
    standard normal. There is no separate leaky-ReLU class: a leaky ReLU is a pReLU
    with ``delta = 0`` (see the module docstring).

    Meant as hidden units, like :class:`~harmonium.units.DReLU` (as visible units,
    :meth:`fit_independent` gives the maximum-likelihood AIS base).

    Parameters
    ----------
    n : int
        Number of pReLU units (the layer's width).
    """

    param_names = ("bias", "delta", "gamma", "eta")

    @property
    def eta(self) -> torch.Tensor:
        """The precision asymmetry ``eta`` of each unit, in (-1, 1), shape (n,)."""
        return self.params[3]

    @staticmethod
    def _slopes(a):
        return 1.0 / (1.0 + a), 1.0 / (1.0 - a)

    @staticmethod
    def _asymmetry(gamma_p, gamma_m):
        return (gamma_m - gamma_p) / (gamma_p + gamma_m)

    def project_(self) -> None:
        super().project_()
        with torch.no_grad():
            self.params[3].clamp_(min=-MAX_ETA, max=MAX_ETA)

    @classmethod
    def _from_state(cls, state: dict):
        layer = super()._from_state(state)
        if not bool((layer.params[3].abs() < 1).all()):
            raise ValueError("the PReLU layer's eta (params[3]) must lie in (-1, 1)")
        return layer
