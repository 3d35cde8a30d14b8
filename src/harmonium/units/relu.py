"""ReLU units: h >= 0 with E(h) = gamma h^2 / 2 - theta h, a Gaussian cut at zero.

The conditional of a unit given its input ``I`` is the normal distribution
``N(phi / gamma, 1 / gamma)`` (``phi = theta + I``) truncated to ``h >= 0`` (Nair and
Hinton 2010's rectified units made exact; Tubiana and Monasson 2019). With
``sigma = gamma^(-1/2)`` and the standardised truncation point ``a = -phi sigma``,

    cgf = log sigma + 1/2 log(pi / 2) + log erfcx(a / sqrt 2),
    E[h] = sigma g(a),   E[h^2] = sigma^2 (1 - a g(a)),   g(a) = lambda(a) - a,

where ``lambda(a) = phi_N(a) / Q(a)`` is the inverse Mills ratio of the standard
normal. The helpers below compute these for one half-line "piece" (field, precision)
without overflow or cancellation for fields of any sign and size: ``erfcx`` replaces
``exp(z^2) erfc(z)``, and far in the tail (``a >= 6``) ``g`` comes from the continued
fraction of the Mills ratio instead of the difference ``lambda - a``. The double ReLU
(:mod:`harmonium.units.drelu`) is built from two such pieces.
"""

from __future__ import annotations

import math

import torch

from harmonium._numerics import check_positive_int
from harmonium.parallel import uniform_like
from harmonium.units.base import Units

__all__ = ["ReLU"]

MIN_PRECISION = 1e-3
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_SQRT_HALF_PI = 0.5 * math.log(math.pi / 2.0)
_CF_FROM = 6.0  # from here on g(a) comes from the continued fraction
_CF_TERMS = 20  # relative error below 1e-15 for a >= 6
_NEWTON_FROM = 3.0  # tail sampling by Newton's method from here on
_NEWTON_STEPS = 3
_MILLS_NEGLIGIBLE = -12.0  # lambda(a) < 1e-31 below: erfcx would overflow (float32)


def _log_erfcx(z: torch.Tensor) -> torch.Tensor:
    """``log(exp(z^2) erfc(z))`` for every real ``z`` (no overflow, finite gradients)."""
    pos, neg = z.clamp(min=0.0), z.clamp(max=0.0)
    return torch.where(z >= 0, torch.special.erfcx(pos).log(),
                       neg.square() + torch.special.erfc(neg).log())


def _inverse_mills(a: torch.Tensor) -> torch.Tensor:
    """``lambda(a) = phi_N(a) / Q(a)``, the mean of N(0, 1) truncated to ``(a, inf)``."""
    return _SQRT_2_OVER_PI / torch.special.erfcx(a * _SQRT_HALF)


def _standard_moments(a: torch.Tensor):
    """Moments of ``d = s - a`` for ``s ~ N(0, 1)`` truncated to ``s > a``.

    Returns
    -------
    g, q, v : torch.Tensor, each shaped like ``a``
        ``E[d] = lambda(a) - a``, ``E[d^2] = 1 - a g`` and ``Var[d] = 1 - lambda g``.
        Below ``a = 6`` from ``lambda`` directly; above, from the continued fraction
        ``g = 1 / (a + c)``, ``c = 2 / (a + 3 / (a + 4 / ...))``, which gives
        ``E[d^2] = c g`` and ``Var[d] = g (c - g)`` without cancellation.
    """
    near = a.clamp(max=_CF_FROM)
    lam = _inverse_mills(near.clamp(min=_MILLS_NEGLIGIBLE))
    g_near = lam - near
    far = a.clamp(min=_CF_FROM)
    c = torch.zeros_like(far)
    for k in range(_CF_TERMS, 1, -1):
        c = k / (far + c)
    g_far = 1.0 / (far + c)
    is_far = a >= _CF_FROM
    g = torch.where(is_far, g_far, g_near)
    q = torch.where(is_far, c * g_far, 1.0 - near * g_near)
    v = torch.where(is_far, g_far * (c - g_far), 1.0 - lam * g_near)
    return g, q, v


def half_log_partition(field: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """``log int_0^inf exp(-gamma h^2 / 2 + phi h) dh``, elementwise (broadcast)."""
    sigma = precision.rsqrt()
    return sigma.log() + _LOG_SQRT_HALF_PI + _log_erfcx(-field * sigma * _SQRT_HALF)


def half_moments(field: torch.Tensor, precision: torch.Tensor):
    """``(E[h], E[h^2], Var[h])`` of the density ``∝ exp(-gamma h^2 / 2 + phi h)`` on h >= 0."""
    sigma = precision.rsqrt()
    g, q, v = _standard_moments(-field * sigma)
    var_scale = 1.0 / precision
    return sigma * g, var_scale * q, var_scale * v


def half_sample(field: torch.Tensor, precision: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact draw from ``∝ exp(-gamma h^2 / 2 + phi h)`` on h >= 0 by inverting the CDF.

    ``w`` (uniform on [0, 1), shaped like the broadcast of the others) is the only
    randomness. With ``a = -phi sigma`` the draw is ``h = sigma d``, ``Q(a + d) =
    (1 - w) Q(a)``. Below ``a = 3`` this is ``ndtri`` of the smaller of the two tail
    probabilities; above, ``Q(a)`` may underflow, and ``d`` solves
    ``log Q(a + d) - log Q(a) = log(1 - w)`` by Newton's method written with ``erfcx``,
    from the start ``a d + d^2 / 2 = -log(1 - w)``, which lies at or beyond the root
    (``-d/dt log Q(t) = lambda(t) >= t``), so the concave equation's iterates descend
    to the root without overshooting.
    """
    sigma = precision.rsqrt()
    a = -field * sigma
    u = 1.0 - w  # in (0, 1]: log u is finite
    near = a.clamp(max=_NEWTON_FROM)
    upper = torch.special.ndtr(-near)  # Q(a) >= Q(3)
    p_low = torch.special.ndtr(near) + w * upper
    s = torch.where(p_low < 0.5, torch.special.ndtri(p_low), -torch.special.ndtri(u * upper))
    d_near = (s - near).clamp(min=0.0)  # a zero-probability -inf lands on the edge
    far = a.clamp(min=_NEWTON_FROM)
    log_u = u.log()
    d = -2.0 * log_u / (far + torch.sqrt(far.square() - 2.0 * log_u))
    log_erfcx_far = _log_erfcx(far * _SQRT_HALF)
    for _ in range(_NEWTON_STEPS):
        t = far + d
        gap = -(far * d + 0.5 * d.square()) + _log_erfcx(t * _SQRT_HALF) - log_erfcx_far - log_u
        d = (d + gap / _inverse_mills(t)).clamp(min=0.0)
    return sigma * torch.where(a >= _NEWTON_FROM, d, d_near)


def stat_grad_(out: torch.Tensor, stats, coefs) -> None:
    """``out = sum_k sum_b coefs[k][b] stats[k][b]`` (stats ``(n_k, n_params, *shape)``)."""
    out.zero_()
    for s, c in zip(stats, coefs, strict=True):
        out.add_(torch.tensordot(c.to(s.dtype), s, dims=1))


class ReLU(Units):
    """``n`` rectified Gaussian (ReLU) units ``h >= 0``: bias ``theta``, precision ``gamma``.

    The energy of a unit is ``gamma h^2 / 2 - theta h`` on ``h >= 0`` (``+inf`` below
    zero); ``params[0] = theta`` (``.bias``) and ``params[1] = gamma > 0``
    (``.precision``), each of shape (n,), both learnable. Given the input ``I`` a unit
    follows ``N((theta + I) / gamma, 1 / gamma)`` truncated to ``h >= 0``: its ``cgf``,
    mean and variance are closed forms (see the module docstring) and samples are exact.

    These are meant as hidden units. As visible units they sample, train and save,
    but there is no fitted independent-units model for them
    (:meth:`fit_independent` raises), so AIS needs ``base=None`` or a ready layer.

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

    def energy(self, x):
        """``sum_i gamma_i x_i^2 / 2 - theta_i x_i``, ``+inf`` if a unit is negative; (batch,)."""
        per_unit = 0.5 * self.precision * x.square() - self.bias * x
        return torch.where(x < 0, math.inf, per_unit).sum(1)

    def cgf(self, inputs):
        return half_log_partition(self.bias + inputs, self.precision).sum(1)

    def mean_from_inputs(self, inputs):
        return half_moments(self.bias + inputs, self.precision)[0]

    def var_from_inputs(self, inputs):
        return half_moments(self.bias + inputs, self.precision)[2]

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
        second = [half_moments(self.bias.detach() + i, self.precision.detach())[1]
                  for i in inputs]
        stat_grad_(out, [torch.stack([m, -0.5 * s], 1) for m, s in zip(means, second,
                                                                      strict=True)], coefs)

    def fit_independent(self, x):
        raise TypeError("ReLU units have no fitted independent-units model (the AIS base "
                        "fitted to data); pass base=None or a ready layer to ais")

    def project_(self) -> None:
        with torch.no_grad():
            self.params[1].clamp_(min=MIN_PRECISION)
