"""Double ReLU (dReLU) units: two half-Gaussians of their own, glued at zero.

E(h) = gamma_p h+^2 / 2 - theta_p h+ + gamma_m h-^2 / 2 - theta_m h-, with
h+ = max(h, 0) and h- = min(h, 0) (Tubiana and Monasson 2019). Given the input ``I``,
each half-line carries the mass of a ReLU piece: the positive one has field
``theta_p + I`` and precision ``gamma_p``, the negative one, mirrored to ``h >= 0``,
field ``-(theta_m + I)`` and precision ``gamma_m``. So the cgf is the ``logaddexp``
of the two pieces' log-partitions, the moments mix the pieces' moments, and a draw
picks a side with its probability, then draws that side's truncated normal.

The same energy under other parameters (pReLU, xReLU: :mod:`harmonium.units.prelu`,
:mod:`harmonium.units.xrelu`) reuses all of this: :class:`_DoubleReLU` computes from
the four dReLU parameters a layer maps its own parameters to, and
:class:`_SharedFieldReLU` is the common part of the (theta, delta, gamma, asymmetry)
parametrisations.
"""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.parallel import uniform_like
from harmonium.units._fit_relu import fit_drelu
from harmonium.units.base import Units
from harmonium.units.relu import (
    MIN_PRECISION,
    half_piece,
    half_sample,
    stat_grad_,
)

__all__ = ["DReLU"]


class _DoubleReLU(Units):
    """The dReLU energy in any parametrisation (not a unit type of its own).

    A subclass says how its ``params`` (fields first: ``params[:2]`` are zero exactly
    when both dReLU fields are) map to ``(theta_p, theta_m, gamma_p, gamma_m)``
    (:meth:`drelu_params`) and how a gradient with respect to those flows back to its
    own parameters (:meth:`_pull_back`).
    """

    def drelu_params(self) -> torch.Tensor:
        """``(theta_p, theta_m, gamma_p, gamma_m)`` of the energy, shape (4, n)."""
        raise NotImplementedError

    def _pull_back(self, out, stats, coefs) -> None:
        """``out`` = gradient of ``sum_k sum_b coefs[k][b] <stats[k][b], dReLU params>``."""
        stat_grad_(out, stats, coefs)

    def _pieces(self, inputs):
        """Fields and precisions of the positive and the mirrored negative piece."""
        theta_p, theta_m, gamma_p, gamma_m = self.drelu_params()
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
        theta_p, theta_m, gamma_p, gamma_m = self.drelu_params()
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
            raise ValueError(f"{name} must be finite for {type(self).__name__} units")
        return x

    def energy_grad_(self, out, states, coefs) -> None:
        def stat(x):
            hp, hm = x.clamp(min=0.0), x.clamp(max=0.0)
            return torch.stack([-hp, -hm, 0.5 * hp.square(), 0.5 * hm.square()], 1)

        self._pull_back(out, [stat(x) for x in states], coefs)

    def cgf_grad_(self, out, inputs, means, coefs) -> None:
        # dcgf/d(dReLU params) = -E[statistic]: E[h+], E[h-], -E[h+^2] / 2, -E[h-^2] / 2
        stats = []
        with torch.no_grad():
            for i in inputs:
                p_pos, p_neg, pos, neg = self._moments(i)
                stats.append(torch.stack([p_pos * pos[1], -p_neg * neg[1],
                                          -0.5 * p_pos * pos[2], -0.5 * p_neg * neg[2]], 1))
        self._pull_back(out, stats, coefs)

    def precision_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per unit, the smaller and the larger of ``gamma_p`` and ``gamma_m``."""
        gamma_p, gamma_m = self.drelu_params().detach()[2:]
        return torch.minimum(gamma_p, gamma_m), torch.maximum(gamma_p, gamma_m)

    def annealing_start(self) -> torch.Tensor:
        """Both fields zeroed, the precisions kept: shape (4, n)."""
        start = self.params.detach().clone()
        start[:2] = 0.0
        return start


class DReLU(_DoubleReLU):
    """``n`` double-ReLU units: real ``h`` with a Gaussian of its own on each side of zero.

    Parameters are ``params = (theta_p, theta_m, gamma_p, gamma_m)``, each of shape (n,):
    the linear fields and the precisions (``> 0``, kept so by :meth:`project_`) of the
    positive and the negative parts. ``.bias`` is ``theta_p``; all four are learnable.
    The default (zero fields, unit precisions) is the standard normal. With
    ``gamma_p = gamma_m`` and ``theta_p = theta_m`` the unit is Gaussian; with
    ``gamma_m -> inf`` it becomes a ReLU unit. :class:`~harmonium.units.PReLU` and
    :class:`~harmonium.units.XReLU` are the same energy under better-conditioned
    parameters for training.

    Meant as hidden units; as visible units they sample, train and save, and
    :meth:`fit_independent` gives the AIS base fitted to data (maximum likelihood,
    :mod:`harmonium.units._fit_relu`).

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

    def drelu_params(self) -> torch.Tensor:
        return self.params

    def fit_independent(self, x):
        return DReLU.from_params(fit_drelu(x), requires_grad=False)

    def project_(self) -> None:
        with torch.no_grad():
            self.params[2:].clamp_(min=MIN_PRECISION)

    def absorb_input_(self, d) -> None:
        """The input enters both sides' fields: ``theta_p -= d`` and ``theta_m -= d``."""
        with torch.no_grad():
            self.params[:2].sub_(d)


class _SharedFieldReLU(_DoubleReLU):
    """The dReLU energy with parameters ``(theta, delta, gamma, a)``: pReLU and xReLU.

    With the slopes ``(u, d) = _slopes(a)`` (both positive, ``1 / u + 1 / d = 2``)

        theta_p = theta + delta u,   theta_m = theta - delta d,
        gamma_p = gamma u,           gamma_m = gamma d,

    so ``gamma`` is the harmonic mean of the two precisions, ``a`` says how unequal
    they are, ``theta`` is their precision-weighted mean field and ``delta`` moves the
    two fields apart (Tubiana and Monasson 2019). Every map is one-to-one onto the
    dReLU parameters with positive precisions; a subclass gives ``_slopes`` and its
    inverse ``_asymmetry``. The energy is linear in ``(theta, delta, gamma)`` for a
    fixed ``a``, not in ``a``, so :meth:`scaled` keeps ``a`` and :meth:`mixed`
    interpolates the dReLU parameters and maps them back.
    """

    def __init__(self, n: int):
        n = check_positive_int(n, "n")
        zeros, ones = torch.zeros(n), torch.ones(n)
        super().__init__((n,), torch.stack([zeros, zeros, ones, zeros]))

    @property
    def delta(self) -> torch.Tensor:
        """The field gap ``delta`` of each unit, shape (n,)."""
        return self.params[1]

    @property
    def gamma(self) -> torch.Tensor:
        """The harmonic mean ``gamma`` of each unit's two precisions, shape (n,).

        Not named ``precision``: a parameter of that name reads as the one precision
        of a Gaussian-like unit (:meth:`~harmonium.units.Units.precision_range`), and
        the harmonic mean lies between the two precisions that bound propriety.
        """
        return self.params[2]

    @staticmethod
    def _slopes(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, d) = (gamma_p / gamma, gamma_m / gamma)`` from the asymmetry ``a``."""
        raise NotImplementedError

    @staticmethod
    def _asymmetry(gamma_p: torch.Tensor, gamma_m: torch.Tensor) -> torch.Tensor:
        """The asymmetry ``a`` of two positive precisions (the inverse of ``_slopes``)."""
        raise NotImplementedError

    def drelu_params(self, params: torch.Tensor | None = None) -> torch.Tensor:
        """``(theta_p, theta_m, gamma_p, gamma_m)`` of ``params`` (default: this layer's).

        Parameters
        ----------
        params : torch.Tensor, shape (4, n), optional
            ``(theta, delta, gamma, a)``.

        Returns
        -------
        torch.Tensor, shape (4, n)
        """
        theta, delta, gamma, a = self.params if params is None else params
        up, down = self._slopes(a)
        return torch.stack([theta + delta * up, theta - delta * down, gamma * up, gamma * down])

    @classmethod
    def params_from_drelu(cls, drelu_params: torch.Tensor) -> torch.Tensor:
        """``(theta, delta, gamma, a)`` of dReLU parameters with positive precisions.

        Parameters
        ----------
        drelu_params : torch.Tensor, shape (4, n)
            ``(theta_p, theta_m, gamma_p, gamma_m)``.

        Returns
        -------
        torch.Tensor, shape (4, n)
        """
        theta_p, theta_m, gamma_p, gamma_m = drelu_params
        total = gamma_p + gamma_m
        gamma = 2.0 * gamma_p * gamma_m / total
        theta = (theta_p * gamma_m + theta_m * gamma_p) / total
        delta = gamma * (theta_p - theta_m) / total
        return torch.stack([theta, delta, gamma, cls._asymmetry(gamma_p, gamma_m)])

    def fit_independent(self, x):
        return type(self).from_params(self.params_from_drelu(fit_drelu(x)),
                                      requires_grad=False)

    def to_drelu(self) -> DReLU:
        """The :class:`DReLU` layer with this energy (a detached copy)."""
        return DReLU.from_params(self.drelu_params().detach().clone())

    @classmethod
    def from_drelu(cls, layer: DReLU) -> _SharedFieldReLU:
        """The layer of this type with the energy of ``layer`` (precisions must be > 0)."""
        if not isinstance(layer, DReLU):
            raise TypeError(f"from_drelu needs a DReLU layer, got {type(layer).__name__}")
        params = layer.params.detach()
        if not bool((params[2:] > 0).all()):
            raise ValueError("from_drelu needs positive precisions gamma_p and gamma_m")
        return cls.from_params(cls.params_from_drelu(params).clone())

    def _pull_back(self, out, stats, coefs) -> None:
        # the gradient in the dReLU parameters times the map's Jacobian (elementwise)
        by_drelu = torch.empty_like(out)
        stat_grad_(by_drelu, stats, coefs)
        with torch.enable_grad():
            params = self.params.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.drelu_params(params), params, by_drelu)
        out.copy_(grad)

    def scaled(self, beta: float) -> _SharedFieldReLU:
        """This layer with its energy times ``beta``: theta, delta, gamma scale, ``a`` stays."""
        params = self.params.detach().clone()
        params[:3] *= beta
        return self.with_params(params)

    def mixed(self, other: Units, beta: float) -> _SharedFieldReLU:
        """Layer with energy ``(1 - beta) E_other + beta E_self`` (parameters detached)."""
        if not isinstance(other, Units) or other.layout() != self.layout():
            raise ValueError(f"cannot mix {self!r} with {other!r}: the layouts differ")
        both = torch.lerp(other.drelu_params().detach(), self.drelu_params().detach(), beta)
        return self.with_params(self.params_from_drelu(both))

    def project_(self) -> None:
        with torch.no_grad():
            self.params[2].clamp_(min=MIN_PRECISION)

    @classmethod
    def _from_state(cls, state: dict) -> Units:
        layer = super()._from_state(state)
        if not bool((layer.params[2] > 0).all()):
            raise ValueError(f"the {cls.__name__} layer's gamma (params[2]) must be > 0")
        return layer
