"""Quadrature oracles for ReLU-family tests: half-line Gaussian integrals by scipy."""

import itertools
import math

from scipy import integrate


def log_quad_half(field, gamma, power=0):
    """log int_0^inf h^power exp(-gamma h^2 / 2 + field h) dh by adaptive quadrature.

    The exponent is shifted by its maximum on h >= 0, and the range split at the
    mode and at a few of its length scales, so that quad sees every part of the mass.
    """
    mode = max(field / gamma, 0.0)
    peak = -gamma * mode**2 / 2 + field * mode
    scale = min(1 / math.sqrt(gamma), 1 / max(abs(field), 1e-12))
    cuts = sorted({0.0, mode, *(max(mode + k * scale, 0.0) for k in (-3, 3, 30)),
                   mode + 60 / math.sqrt(gamma) + 60 * scale})
    total = sum(integrate.quad(lambda h: h**power * math.exp(-gamma * h * h / 2 + field * h
                                                             - peak),
                               lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
                for lo, hi in itertools.pairwise(cuts) if hi > lo)
    return math.log(total) + peak
