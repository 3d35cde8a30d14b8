"""xReLU units: the pReLU parametrisation with an unbounded asymmetry ``xi``.

RestrictedBoltzmannMachines.jl's ``xReLU``: the double-ReLU energy of
:mod:`harmonium.units.drelu` with

    gamma_p = gamma u,           gamma_m = gamma d,
    theta_p = theta + delta u,   theta_m = theta - delta d,
    u = (1 + |xi|) / (1 + |xi| + xi),   d = (1 + |xi|) / (1 + |xi| - xi),

``gamma > 0`` and ``xi`` any real. It is :mod:`harmonium.units.prelu`'s unit with
``eta = xi / (1 + |xi|)`` (so ``u = 1 / (1 + eta)``, ``d = 1 / (1 - eta)``), i.e.
``xi = eta / (1 - |eta|)``: the constraint ``|eta| < 1`` is gone, and a large
asymmetry makes one precision grow linearly in ``|xi|`` instead of blowing up as
``eta -> +-1`` does. ``u`` and ``d`` are continuously differentiable at ``xi = 0``
(slopes -1 and +1), where a new layer starts. Back from dReLU parameters,
``xi = (gamma_m - gamma_p) / (2 min(gamma_p, gamma_m))``.
"""

from __future__ import annotations

import torch

from harmonium.units.drelu import _SharedFieldReLU

__all__ = ["XReLU"]


class XReLU(_SharedFieldReLU):
    """``n`` xReLU units: real ``h``, the dReLU energy with an unconstrained asymmetry.

    ``params = (theta, delta, gamma, xi)``, each of shape (n,) and learnable:
    ``.bias`` (theta), ``.delta``, ``.gamma`` (gamma > 0, kept ``>= 1e-3`` by
    :meth:`project_`) as in :class:`~harmonium.units.PReLU`, and ``.xi`` (any real;
    ``eta = xi / (1 + |xi|)``). The map to the four dReLU parameters is in the module
    docstring; :meth:`to_drelu` and :meth:`from_drelu` convert. The default (all zero,
    ``gamma = 1``) is the standard normal.

    Meant as hidden units, like :class:`~harmonium.units.DReLU` (as visible units,
    :meth:`fit_independent` gives the maximum-likelihood AIS base).

    Parameters
    ----------
    n : int
        Number of xReLU units (the layer's width).
    """

    param_names = ("bias", "delta", "gamma", "xi")

    @property
    def xi(self) -> torch.Tensor:
        """The unbounded precision asymmetry ``xi`` of each unit, shape (n,)."""
        return self.params[3]

    @staticmethod
    def _slopes(a):
        # (1 + |xi|) / (1 + |xi| +- xi): written without max() so that autograd's
        # zero subgradient of |xi| at 0 gives the true derivatives there (-1, +1)
        grow = 1.0 + a.abs()
        return grow / (grow + a), grow / (grow - a)

    @staticmethod
    def _asymmetry(gamma_p, gamma_m):
        return (gamma_m - gamma_p) / (2.0 * torch.minimum(gamma_p, gamma_m))
