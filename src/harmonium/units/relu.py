"""ReLU units: h >= 0 with E(h) = gamma h^2 / 2 - theta h, a Gaussian cut at zero.

The conditional of a unit given its input ``I`` is the normal distribution
``N(phi / gamma, 1 / gamma)`` (``phi = theta + I``) truncated to ``h >= 0`` (Nair and
Hinton 2010's rectified units made exact; Tubiana and Monasson 2019). With
``sigma = gamma^(-1/2)``, the standardised cut ``a = -phi sigma`` and the Mills ratio
``R(a) = Q(a) / phi_N(a)`` of the standard normal (``Q`` its upper tail),

    cgf = log sigma + log R(a),
    E[h] = sigma g,   E[h^2] = sigma^2 (1 - a g),   Var[h] = sigma^2 (1 - g / R),

with ``g = 1 / R(a) - a``. The helpers below compute these for one half-line "piece"
(field, precision) without overflow or cancellation for fields of any sign and size:
below ``a = 8`` from ``Q(a) = erfc(a / sqrt 2) / 2``, which then neither underflows nor loses
digits, and from there on from the continued fraction of the Mills ratio, which gives
``g`` and the second moments without a subtraction (``lambda - a`` and ``1 - a g``
cancel far in the tail). Only ``erfc``, ``ndtri``, ``exp``, ``log`` and divisions are
used: ``erfcx`` and ``log_ndtr`` are an order of magnitude slower on CPUs. The double
ReLU (:mod:`harmonium.units.drelu`) is built from two such pieces.
"""

from __future__ import annotations

import math

import torch

from harmonium.parallel import uniform_like
from harmonium.units._precision import _BiasPrecision

__all__ = ["ReLU"]

MIN_PRECISION = 1e-3
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_CF_FROM = 8.0  # from here on the Mills ratio comes from its continued fraction
_CF_TERMS = 16  # relative error below 1e-16 for a >= 8
_NEWTON_FROM = 3.0  # tail sampling by Newton's method from here on
_NEWTON_STEPS = 3


def _ndtr(x: torch.Tensor) -> torch.Tensor:
    """The standard normal CDF with full relative accuracy in the lower tail.

    (``torch.special.ndtr`` loses digits there: 1e-7 relative at -6.3 in float64.)
    """
    return 0.5 * torch.special.erfc(-_SQRT_HALF * x)


def _mills(a: torch.Tensor):
    """The Mills ratio of the standard normal at ``a`` and what the moments need.

    Returns
    -------
    log_r, g, q, v : torch.Tensor, each shaped like ``a``
        ``log R(a)``; and for ``d = s - a`` with ``s ~ N(0, 1)`` truncated to
        ``s > a``: ``E[d] = g = 1 / R - a``, ``E[d^2] = q = 1 - a g`` and
        ``Var[d] = v = 1 - g / R``. From ``a = 8`` on, ``g = 1 / (a + c)`` with
        ``c = 2 / (a + 3 / (a + 4 / ...))``, ``q = c g`` and ``v = g (c - g)``; the
        continued fraction (the costly part) is skipped when no entry needs it.
    """
    near = a.clamp(max=_CF_FROM)
    tail = _ndtr(-near)  # Q(a) >= Q(8) ~ 6e-16, in float32's range too
    half_sq = 0.5 * near.square()
    lam = torch.exp(-half_sq - _LOG_SQRT_2PI) / tail  # 1 / R; 0 once exp underflows
    g = lam - near
    log_r, q, v = tail.log() + half_sq + _LOG_SQRT_2PI, 1.0 - near * g, 1.0 - lam * g
    is_far = a >= _CF_FROM
    if not bool(is_far.any()):  # the continued fraction is the costly part: skip it
        return log_r, g, q, v
    far = a.clamp(min=_CF_FROM)
    c = torch.zeros_like(far)
    for k in range(_CF_TERMS, 1, -1):
        c = k / (far + c)
    g_far = 1.0 / (far + c)
    return (torch.where(is_far, -(far + g_far).log(), log_r), torch.where(is_far, g_far, g),
            torch.where(is_far, c * g_far, q), torch.where(is_far, g_far * (c - g_far), v))


def half_piece(field: torch.Tensor, precision: torch.Tensor):
    """The density ``∝ exp(-gamma h^2 / 2 + phi h)`` on ``h >= 0``, elementwise (broadcast).

    Returns
    -------
    log_z, mean, second, var : torch.Tensor
        ``log int_0^inf exp(-gamma h^2 / 2 + phi h) dh``, ``E[h]``, ``E[h^2]`` and
        ``Var[h]``, each of the broadcast shape of ``field`` and ``precision``.
    """
    sigma = precision.rsqrt()
    log_r, g, q, v = _mills(-field * sigma)
    var_scale = 1.0 / precision
    return sigma.log() + log_r, sigma * g, var_scale * q, var_scale * v


def half_sample(field: torch.Tensor, precision: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact draw from ``∝ exp(-gamma h^2 / 2 + phi h)`` on h >= 0 by inverting the CDF.

    ``w`` (uniform on [0, 1), shaped like the broadcast of the others) is the only
    randomness. With ``a = -phi sigma`` the draw is ``h = sigma d``, ``Q(a + d) =
    (1 - w) Q(a)``. Below ``a = 3`` this is ``ndtri`` of the smaller of the two tail
    probabilities; above, ``Q(a)`` may underflow, and ``d`` solves
    ``log Q(a + d) - log Q(a) = log(1 - w)``, i.e.
    ``log R(a + d) - log R(a) - a d - d^2 / 2 = log(1 - w)``, by Newton's method
    from the start ``a d + d^2 / 2 = -log(1 - w)``. That start lies at or beyond the
    root (``-d/dt log Q(t) = 1 / R(t) >= t``), so the concave equation's iterates
    descend to the root without overshooting.
    """
    sigma = precision.rsqrt()
    a = -field * sigma
    d = _invert_near(a.clamp(max=_NEWTON_FROM), w)
    is_far = a >= _NEWTON_FROM
    if bool(is_far.any()):  # Newton's method on those entries only
        w = w.expand_as(a)
        d = d.masked_scatter(is_far, _invert_far(a[is_far], w[is_far]))
    return sigma * d


def _invert_near(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``d >= 0`` with ``Q(a + d) = (1 - w) Q(a)`` for ``a < 3``, by ``ndtri``."""
    upper = _ndtr(-a)  # Q(a) > Q(3)
    p_low = _ndtr(a) + w * upper
    low_side = p_low < 0.5  # invert the smaller of the two tail probabilities
    s = torch.special.ndtri(torch.where(low_side, p_low, (1.0 - w) * upper))
    return (torch.where(low_side, s, -s) - a).clamp(min=0.0)  # a -inf lands on the edge


def _invert_far(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The same for ``a >= 3``, by Newton's method (see :func:`half_sample`)."""
    log_u = (1.0 - w).log()  # 1 - w in (0, 1]: finite
    d = -2.0 * log_u / (a + torch.sqrt(a.square() - 2.0 * log_u))
    log_r_a = _mills(a)[0]
    for _ in range(_NEWTON_STEPS):
        t = a + d
        log_r, g = _mills(t)[:2]
        gap = -(a * d + 0.5 * d.square()) + log_r - log_r_a - log_u
        d = (d + gap / (g + t)).clamp(min=0.0)  # the slope is -1 / R(t) = -(g + t)
    return d


def stat_grad_(out: torch.Tensor, stats, coefs) -> None:
    """``out = sum_k sum_b coefs[k][b] stats[k][b]`` (stats ``(n_k, n_params, *shape)``)."""
    out.zero_()
    for s, c in zip(stats, coefs, strict=True):
        out.add_(torch.tensordot(c.to(s.dtype), s, dims=1))


class ReLU(_BiasPrecision):
    """``n`` rectified Gaussian (ReLU) units ``h >= 0``: bias ``theta``, precision ``gamma``.

    The energy of a unit is ``gamma h^2 / 2 - theta h`` on ``h >= 0`` (``+inf`` below
    zero); ``params[0] = theta`` (``.bias``) and ``params[1] = gamma > 0``
    (``.precision``), each of shape (n,), both learnable. Given the input ``I`` a unit
    follows ``N((theta + I) / gamma, 1 / gamma)`` truncated to ``h >= 0``: its ``cgf``,
    mean and variance are closed forms (see the module docstring) and samples are exact.

    Meant as hidden units; as visible units they sample, train and save, and
    :meth:`fit_independent` gives the AIS base fitted to data (maximum likelihood,
    :mod:`harmonium.units._fit_relu`).

    Parameters
    ----------
    n : int
        Number of units.
    """

    def energy(self, x):
        """``sum_i gamma_i x_i^2 / 2 - theta_i x_i``, ``+inf`` if a unit is negative; (batch,)."""
        per_unit = 0.5 * self.precision * x.square() - self.bias * x
        return torch.where(x < 0, math.inf, per_unit).sum(1)

    def cgf(self, inputs):
        return half_piece(self.bias + inputs, self.precision)[0].sum(1)

    def mean_from_inputs(self, inputs):
        return half_piece(self.bias + inputs, self.precision)[1]

    def var_from_inputs(self, inputs):
        return half_piece(self.bias + inputs, self.precision)[3]

    def sample_from_inputs(self, inputs, *, generator=None):
        field = self.bias + inputs
        w = uniform_like(torch.empty_like(field), generator)
        return half_sample(field, self.precision, w)

    def mode_from_inputs(self, inputs):
        return ((self.bias + inputs) / self.precision).clamp(min=0.0)

    def check_support(self, x, name="x"):
        if not bool((torch.isfinite(x) & (x >= 0)).all()):
            raise ValueError(f"{name} must be finite and >= 0 for ReLU units")
        return x

    def energy_grad_(self, out, states, coefs) -> None:
        # E = theta * (-h) + gamma * h^2 / 2: the gradient is the statistic (-h, h^2 / 2)
        stat_grad_(out, [torch.stack([-x, 0.5 * x.square()], 1) for x in states], coefs)

    def cgf_grad_(self, out, inputs, means, coefs) -> None:
        # dcgf/dtheta = E[h | I], dcgf/dgamma = -E[h^2 | I] / 2
        with torch.no_grad():
            second = [half_piece(self.bias + i, self.precision)[2] for i in inputs]
        stat_grad_(out, [torch.stack([m, -0.5 * s], 1) for m, s in zip(means, second,
                                                                      strict=True)], coefs)

    def fit_independent(self, x):
        from harmonium.units._fit_relu import fit_relu  # it builds on this module

        return ReLU.from_params(fit_relu(x), requires_grad=False)

    def project_(self) -> None:
        with torch.no_grad():
            self.params[1].clamp_(min=MIN_PRECISION)
