"""Maximum-likelihood independent ReLU and dReLU layers: the AIS base fitted to data.

An independent layer of ReLU-family units is an exponential family per unit, so its
maximum-likelihood fit matches the model's moments to the data's. A ReLU unit has one
half-Gaussian piece on ``h >= 0`` with log-partition ``L(phi, gamma)``
(:func:`~harmonium.units.relu.half_piece`); the mean log-likelihood of data with
``m = mean(h)`` and ``q = mean(h^2)`` is ``phi m - gamma q / 2 - L(phi, gamma)``. A dReLU
unit has two such pieces, the negative one mirrored to ``h >= 0`` (field
``phi_m = -theta_m``, data ``-min(h, 0)``), and its log-partition is their
``logaddexp``. Both objectives are concave in ``(phi, gamma)``; they are maximised
here by L-BFGS over ``(phi, log(gamma - MIN_PRECISION))``, started from the
moment-matched Gaussian: precisions stay above the floor that training keeps too
(:data:`harmonium.units.relu.MIN_PRECISION`), which only binds for a side with almost
no data (where a vanishing precision would put a pReLU's asymmetry at its edge).

As for the other unit types (:data:`harmonium.units.base.SMOOTHING`), the data carry
``SMOOTHING`` pseudo-samples of the standard normal (for ReLU: of its absolute value),
so that every piece keeps some mass and the maximum is finite even when all data sit
on one side of zero or at zero.
"""

from __future__ import annotations

import math

import torch

from harmonium.units.base import SMOOTHING
from harmonium.units.relu import MIN_PRECISION, half_piece

# E[max(z, 0)] and E[max(z, 0)^2] of a standard normal z: each mirrored side's moments
_HALF_MEAN, _HALF_SECOND = 1.0 / math.sqrt(2.0 * math.pi), 0.5
_MIN_VARIANCE = 1e-6  # floor of the starting variance (a constant feature)
_ITERATIONS = 200


def _side_moments(y: torch.Tensor, pseudo_mean: float, pseudo_second: float):
    """Smoothed ``(mean(y), mean(y^2))`` per unit of mirrored side data ``y >= 0``."""
    n = y.shape[0]
    mean = (y.sum(0) + SMOOTHING * pseudo_mean) / (n + SMOOTHING)
    second = (y.square().sum(0) + SMOOTHING * pseudo_second) / (n + SMOOTHING)
    return mean, second


def _maximise(fields: torch.Tensor, precisions: torch.Tensor, objective) -> tuple:
    """L-BFGS on ``objective(fields, precisions)`` (a per-unit tensor, summed).

    The units are independent, so one run over all of them is one run per unit.
    Returns the maximising ``(fields, precisions)``, detached.
    """
    phi = fields.detach().clone().requires_grad_(True)
    excess = (precisions.detach() - MIN_PRECISION).clamp_min(MIN_PRECISION)
    log_excess = excess.log().requires_grad_(True)
    opt = torch.optim.LBFGS([phi, log_excess], max_iter=_ITERATIONS, tolerance_grad=1e-10,
                            tolerance_change=1e-14, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -objective(phi, MIN_PRECISION + log_excess.exp()).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return phi.detach(), MIN_PRECISION + log_excess.detach().exp()


def _gaussian_start(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Field ``mean / var`` and precision ``1 / var`` of the moment-matched Gaussian."""
    var = x.var(0, unbiased=False).clamp_min(_MIN_VARIANCE)
    return x.mean(0) / var, 1.0 / var


def fit_relu(x: torch.Tensor) -> torch.Tensor:
    """``(theta, gamma)`` of the maximum-likelihood independent ReLU layer of ``x``.

    Parameters
    ----------
    x : torch.Tensor, shape (n_samples, n)
        Data ``>= 0``, float64 for accuracy.

    Returns
    -------
    torch.Tensor, shape (2, n)
    """
    mean, second = _side_moments(x, 2.0 * _HALF_MEAN, 2.0 * _HALF_SECOND)  # |z|: twice
    start = _gaussian_start(x)

    def loglik(phi, gamma):
        return phi * mean - 0.5 * gamma * second - half_piece(phi, gamma)[0]

    return torch.stack(_maximise(*start, loglik))


def fit_drelu(x: torch.Tensor) -> torch.Tensor:
    """``(theta_p, theta_m, gamma_p, gamma_m)`` of the maximum-likelihood dReLU layer.

    Parameters
    ----------
    x : torch.Tensor, shape (n_samples, n)
        Real data, float64 for accuracy.

    Returns
    -------
    torch.Tensor, shape (4, n)
    """
    pos = _side_moments(x.clamp(min=0.0), _HALF_MEAN, _HALF_SECOND)
    neg = _side_moments(-x.clamp(max=0.0), _HALF_MEAN, _HALF_SECOND)
    field, precision = _gaussian_start(x)
    # both pieces of one parameter vector: (phi_p, phi_m) and (gamma_p, gamma_m)
    moments = [torch.stack(pair) for pair in zip(pos, neg, strict=True)]

    def loglik(phi, gamma):
        log_z = half_piece(phi, gamma)[0]
        return ((phi * moments[0] - 0.5 * gamma * moments[1]).sum(0)
                - torch.logaddexp(log_z[0], log_z[1]))

    phi, gamma = _maximise(torch.stack([field, -field]), torch.stack([precision, precision]),
                           loglik)
    return torch.stack([phi[0], -phi[1], gamma[0], gamma[1]])
