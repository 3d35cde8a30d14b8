"""Exact log-partition function and log-likelihood by enumeration.

The sum over the states of one discrete layer is done explicitly; the other layer is
summed analytically through its ``cgf``. The smaller enumerable layer is chosen, and
states are generated in chunks so memory stays bounded.
"""

from __future__ import annotations

import math

import torch

from harmonium.units import Units

__all__ = ["MAX_ENUMERATED_STATES", "log_likelihood_exact", "log_partition_exact"]

MAX_ENUMERATED_STATES = 2**24


def _n_states(layer: Units) -> float:
    try:
        return float(layer.n_states_per_unit()) ** layer.n_units
    except ValueError:
        return math.inf


@torch.no_grad()
def log_partition_exact(rbm) -> torch.Tensor:
    """``log Z`` of an RBM by enumerating its smaller discrete layer.

    Parameters
    ----------
    rbm : harmonium.RBM
        At least one layer must be discrete with at most 2**24 joint states.

    Returns
    -------
    torch.Tensor
        Scalar ``log Z`` in the model's dtype.

    Raises
    ------
    ValueError
        If neither layer can be enumerated within the limit.
    """
    n_h, n_v = _n_states(rbm.hidden), _n_states(rbm.visible)
    if min(n_h, n_v) > MAX_ENUMERATED_STATES:
        raise ValueError(
            f"exact log Z needs a discrete layer with at most {MAX_ENUMERATED_STATES} states; "
            f"this RBM has {n_v:.3g} visible and {n_h:.3g} hidden states: use "
            "harmonium.partition.ais instead"
        )
    if n_h <= n_v:
        layer, free_energy = rbm.hidden, rbm.free_energy_hidden
    else:
        layer, free_energy = rbm.visible, rbm.free_energy_visible
    parts = [torch.logsumexp(-free_energy(states), 0) for states in layer.enumerate_states()]
    return torch.logsumexp(torch.stack(parts), 0)


@torch.no_grad()
def log_likelihood_exact(rbm, data, log_z: torch.Tensor | None = None) -> torch.Tensor:
    """Mean log-probability ``mean_n log p(v_n)`` in nats, exactly.

    Parameters
    ----------
    rbm : harmonium.RBM
    data : array-like, shape (n_samples, *visible.shape)
    log_z : torch.Tensor, optional
        A precomputed :func:`log_partition_exact`.

    Returns
    -------
    torch.Tensor
        Scalar mean log-likelihood.
    """
    v = rbm.check_visible(data, "data")
    if log_z is None:
        log_z = log_partition_exact(rbm)
    return (-rbm.free_energy(v)).mean() - log_z
