"""Rating RBMs initialised for their ratings (Salakhutdinov, Mnih and Hinton 2007).

Weights start as small Gaussian draws and visible biases at the log base rates of each
unit's rating levels; :func:`add_units` grows a trained model by new visible units
(new users or items) initialised the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium._numerics import generator_device
from harmonium.models.rating_factored import FactoredRatingRBM, make_factored_rating_rbm
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
    n_factors: int | None = None,
) -> RBM | FactoredRatingRBM:
    """A rating RBM ready to learn the given ratings (the paper's initialisation).

    Weights are N(0, ``weight_std``^2), drawn on the generator's device (with
    ``n_factors``, the factors of a :class:`FactoredRatingRBM` are drawn so that the
    entries of ``W = A B`` have that spread); visible biases are the log base rates of
    each unit's levels (:func:`base_rate_bias`); hidden biases are zero.

    Parameters
    ----------
    unit, level : numpy.ndarray of int, shape (n,)
        Visible unit and level of each training rating.
    n_units, n_levels, n_hidden : int
    weight_std : float
    generator : torch.Generator, optional
    dtype : torch.dtype
    device : torch.device or str, optional
    n_factors : int, optional
        The rank of a factored model (Salakhutdinov, Mnih and Hinton 2007, section 5).

    Returns
    -------
    harmonium.RBM or FactoredRatingRBM
        Weight of shape ``(n_units, n_levels, n_hidden)``, or its factors
        ``(n_units, n_levels, n_factors)`` and ``(n_factors, n_hidden)``.
    """
    device = torch.device("cpu" if device is None else device)
    if n_factors is not None:
        rbm = make_factored_rating_rbm(n_units, n_levels, n_hidden, n_factors,
                                       weight_std=weight_std, generator=generator,
                                       dtype=dtype, device=device)
    else:
        rbm = make_rating_rbm(n_units, n_levels, n_hidden).to(dtype=dtype, device=device)
        with torch.no_grad():
            rbm.weight.copy_(_normal(rbm.weight.shape, weight_std, generator, dtype, device))
    with torch.no_grad():
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
) -> RBM | FactoredRatingRBM:
    """``rbm`` with visible units appended up to ``n_units``, initialised for the ratings.

    The new units get N(0, ``weight_std``^2) weights (for a factored model, rows of
    ``A`` drawn as :func:`init_rating_rbm` draws them) and base-rate biases
    (:func:`base_rate_bias` of the ratings); the existing parameters are copied.

    Parameters
    ----------
    rbm : harmonium.RBM or FactoredRatingRBM
        A rating RBM with at most ``n_units`` visible units.
    unit, level : numpy.ndarray of int, shape (n,)
        Visible unit and level of each rating (all units).
    n_units : int
    weight_std : float
    generator : torch.Generator, optional

    Returns
    -------
    harmonium.RBM or FactoredRatingRBM
        ``n_units`` visible units, on ``rbm``'s device and dtype.
    """
    old, k, state = rbm.n_visible, rbm.visible.n_categories, rbm._to_state()
    key = "factor_a" if "factor_a" in state else "weight"
    rows = state[key].detach()
    std = weight_std if key == "weight" else (weight_std / rows.shape[2] ** 0.5) ** 0.5
    extra = _normal((n_units - old, *rows.shape[1:]), std, generator, rows.dtype, rows.device)
    bias = base_rate_bias(unit, level, n_units, k)[old:].to(rows)
    state.update({
        "visible": {"type": "Categorical",
                    "params": torch.cat([rbm.visible.bias.detach(), bias]).unsqueeze(0)},
        "hidden": {"type": "Bernoulli", "params": rbm.hidden.params.detach().clone()},
        key: torch.cat([rows, extra]),
    })
    if "factor_b" in state:  # not shared with the old model
        state["factor_b"] = state["factor_b"].detach().clone()
    return type(rbm)._from_state(state)
