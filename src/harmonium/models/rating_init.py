"""Rating RBMs initialised for their ratings (Salakhutdinov, Mnih and Hinton 2007).

Weights start as small Gaussian draws and visible biases at the log base rates of each
unit's rating levels; :func:`add_units` grows a trained model by new visible units
(new users or items) initialised the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium._numerics import generator_device
from harmonium.models.rating_rbm import make_rating_rbm
from harmonium.models.rbm import RBM

__all__ = ["add_units", "base_rate_bias", "init_rating_rbm"]


def base_rate_bias(unit: np.ndarray, level: np.ndarray, n_units: int, n_levels: int):
    """Visible biases at the log base rates of each unit's levels (the paper's start).

    Counts get one pseudo-rating per level, so unrated levels get a finite bias.

    Parameters
    ----------
    unit, level : numpy.ndarray of int, shape (n,)
        Visible unit and level of each rating.
    n_units, n_levels : int

    Returns
    -------
    torch.Tensor of float64, shape (n_units, n_levels)
    """
    counts = np.bincount(unit * n_levels + level, minlength=n_units * n_levels)
    counts = counts.reshape(n_units, n_levels)
    p = (counts + 1.0) / (counts.sum(1, keepdims=True) + n_levels)
    return torch.from_numpy(np.log(p))


def _normal(shape, std: float, generator, dtype, device) -> torch.Tensor:
    """N(0, std^2) draws made on the generator's device (else ``device``), then moved."""
    w = torch.randn(shape, generator=generator, dtype=dtype,
                    device=generator_device(generator, device))
    return (w * std).to(device)


def init_rating_rbm(
    unit: np.ndarray,
    level: np.ndarray,
    n_units: int,
    n_levels: int,
    n_hidden: int,
    *,
    weight_std: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> RBM:
    """A rating RBM ready to learn the given ratings (the paper's initialisation).

    Weights are N(0, ``weight_std``^2), drawn on the generator's device; visible biases
    are the log base rates of each unit's levels (:func:`base_rate_bias`); hidden
    biases are zero.

    Parameters
    ----------
    unit, level : numpy.ndarray of int, shape (n,)
        Visible unit and level of each training rating.
    n_units, n_levels, n_hidden : int
    weight_std : float
    generator : torch.Generator, optional
    dtype : torch.dtype
    device : torch.device or str, optional

    Returns
    -------
    harmonium.RBM
        Weight of shape ``(n_units, n_levels, n_hidden)``.
    """
    device = torch.device("cpu" if device is None else device)
    rbm = make_rating_rbm(n_units, n_levels, n_hidden).to(dtype=dtype, device=device)
    with torch.no_grad():
        rbm.weight.copy_(_normal(rbm.weight.shape, weight_std, generator, dtype, device))
        rbm.visible.params[0].copy_(base_rate_bias(unit, level, n_units, n_levels))
    return rbm


def add_units(
    rbm: RBM,
    unit: np.ndarray,
    level: np.ndarray,
    n_units: int,
    *,
    weight_std: float,
    generator: torch.Generator | None = None,
) -> RBM:
    """``rbm`` with visible units appended up to ``n_units``, initialised for the ratings.

    The new units get N(0, ``weight_std``^2) weights and base-rate biases
    (:func:`base_rate_bias` of the ratings); the existing parameters are copied.

    Parameters
    ----------
    rbm : harmonium.RBM
        A rating RBM with at most ``n_units`` visible units.
    unit, level : numpy.ndarray of int, shape (n,)
        Visible unit and level of each rating (all units).
    n_units : int
    weight_std : float
    generator : torch.Generator, optional

    Returns
    -------
    harmonium.RBM
        ``n_units`` visible units, on ``rbm``'s device and dtype.
    """
    old, k, weight = rbm.n_visible, rbm.visible.n_categories, rbm.weight.detach()
    extra = _normal((n_units - old, k, rbm.n_hidden), weight_std, generator, weight.dtype,
                    weight.device)
    bias = base_rate_bias(unit, level, n_units, k)[old:].to(weight)
    return RBM._from_state({
        "visible": {"type": "Categorical",
                    "params": torch.cat([rbm.visible.bias.detach(), bias]).unsqueeze(0)},
        "hidden": {"type": "Bernoulli", "params": rbm.hidden.params.detach().clone()},
        "weight": torch.cat([weight, extra]),
    })
