"""Gaussian units: real x, E(x) = gamma x^2 / 2 - theta x with precision gamma > 0."""

from __future__ import annotations

import math

import torch

from harmonium.parallel import standard_normal
from harmonium.units._precision import _BiasPrecision

__all__ = ["Gaussian"]

MIN_PRECISION = 1e-3
MIN_VARIANCE = 1e-6  # floor of a fitted variance (a constant feature)


class Gaussian(_BiasPrecision):
    """``n`` real-valued units with bias ``theta`` and precision ``gamma = 1 / sigma^2``.

    Parameters are ``params[0] = theta`` (``.bias``) and ``params[1] = gamma``
    (``.precision``), both shape (n,); both are learnable (the Gaussian-Bernoulli RBM
    with learned variances). The conditional given input ``I`` is
    ``N((theta + I) / gamma, 1 / gamma)`` and
    ``cgf(I) = sum (theta + I)^2 / (2 gamma) + 1/2 log(2 pi / gamma)``.
    """

    def energy(self, x):
        return (0.5 * self.precision * x.square() - self.bias * x).sum(1)

    def cgf(self, inputs):
        gamma = self.precision
        field = self.bias + inputs
        return (field.square() / (2 * gamma) + 0.5 * torch.log(2 * math.pi / gamma)).sum(1)

    def mean_from_inputs(self, inputs):
        return (self.bias + inputs) / self.precision

    def var_from_inputs(self, inputs):
        return (1.0 / self.precision).expand_as(inputs)

    def sample_from_inputs(self, inputs, *, generator=None):
        mean = self.mean_from_inputs(inputs)
        noise = standard_normal(mean.shape, generator, dtype=mean.dtype, device=mean.device)
        return mean + noise * self.precision.rsqrt()

    def mode_from_inputs(self, inputs):
        return self.mean_from_inputs(inputs)

    def check_support(self, x, name="x"):
        return x  # every finite real is in the support; finiteness is checked on entry

    def fit_independent(self, x):
        var = x.var(0, unbiased=False).clamp_min(MIN_VARIANCE)
        return Gaussian.from_params(torch.stack([x.mean(0) / var, 1.0 / var]),
                                    requires_grad=False)

    def project_(self) -> None:
        with torch.no_grad():
            self.params[1].clamp_(min=MIN_PRECISION)
