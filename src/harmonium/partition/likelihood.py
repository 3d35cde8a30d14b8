"""Mean test log-likelihood of an RBM from an estimate of ``log Z``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harmonium.partition.ais import AISResult

__all__ = ["LogLikelihood", "log_likelihood"]


@dataclass(frozen=True)
class LogLikelihood:
    """Mean log-probability of data, in nats, with its two sources of uncertainty.

    Attributes
    ----------
    mean : float
        ``mean_n log p(v_n) = -mean_n F(v_n) - log Z``.
    std_err_data : float
        Standard error of the mean over the data rows (sampling of the test set).
    std_err_log_z : float
        Standard error of the ``log Z`` estimate (0 for an exact ``log Z``).
    log_z : float
        The ``log Z`` used.
    low, high : float
        The bracket implied by ``log Z`` (for an :class:`AISResult`, its
        ``bracket(3)`` mapped through ``-log Z``; otherwise both equal ``mean``).
    n_samples : int
        Number of data rows.
    """

    mean: float
    std_err_data: float
    std_err_log_z: float
    log_z: float
    low: float
    high: float
    n_samples: int

    def __float__(self) -> float:
        return self.mean

    def __str__(self) -> str:
        return (
            f"{self.mean:.3f} nats (log Z bracket [{self.low:.3f}, {self.high:.3f}], "
            f"± {self.std_err_data:.3f} over {self.n_samples} samples)"
        )


@torch.no_grad()
def log_likelihood(rbm, data, log_z) -> LogLikelihood:
    """Mean log-probability ``mean_n log p(v_n)`` of data under an RBM, in nats.

    Parameters
    ----------
    rbm : harmonium.RBM
    data : array-like, shape (n_samples, *visible.shape)
    log_z : float, 0-d tensor, or AISResult
        An estimate of ``log Z``: exact (:func:`log_partition_exact`), or from
        :func:`ais` / :func:`reverse_ais`, whose uncertainty and 3-sigma bracket are
        carried over. AIS underestimates ``log Z``, so its log-likelihood tends to be
        optimistic; reverse AIS gives the conservative side.

    Returns
    -------
    LogLikelihood
        ``float(result)`` is the mean.
    """
    if isinstance(log_z, AISResult):
        z, se = log_z.log_z, log_z.log_z_std_err
        z_low, z_high = log_z.bracket(3.0)
    else:
        if isinstance(log_z, bool) or not isinstance(log_z, (float, int, torch.Tensor)):
            raise TypeError(f"log_z must be a float, a tensor or an AISResult, got {log_z!r}")
        z = float(torch.as_tensor(log_z).item())
        if not math.isfinite(z):
            raise ValueError(f"log_z must be finite, got {z}")
        se, z_low, z_high = 0.0, z, z
    v = rbm.check_visible(data, "data")
    log_p = -rbm.free_energy_visible(v).double()
    n = log_p.numel()
    sem = (log_p.std() / math.sqrt(n)).item() if n > 1 else math.nan
    mean_f = log_p.mean().item()
    return LogLikelihood(mean_f - z, sem, se, z, mean_f - z_high, mean_f - z_low, n)
