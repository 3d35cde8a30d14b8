"""Structure of a Boltzmann machine: its unit kinds, couplings mask and colour classes.

The checks of the arguments that fix that structure (temperature, connectivity, unit
indices) live here too, so that the machine and its samplers share one wording.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from harmonium._numerics import generator_device
from harmonium.units import Bernoulli, Spin

__all__ = [
    "UNIT_TYPES",
    "bipartite_mask",
    "check_connectivity",
    "check_temperature",
    "check_unit_indices",
    "colour_classes",
    "random_couplings",
    "units_name_of",
]

#: the machine's ``units`` option -> the two-state unit class of its layer
UNIT_TYPES = {"binary": Bernoulli, "spin": Spin}
_NAME_OF_STATES = {(kind.low, kind.high): name for name, kind in UNIT_TYPES.items()}


def units_name_of(layer) -> str | None:
    """The ``units`` option whose states a unit layer has, or None if it has no such.

    The layer says what it is: two-state layers whose only parameter is the bias carry
    their states as ``low`` and ``high`` (0, 1 for Bernoulli, -1, 1 for Spin).
    """
    if not getattr(layer, "bias_only", False):
        return None
    return _NAME_OF_STATES.get((getattr(layer, "low", None), getattr(layer, "high", None)))


def check_temperature(value, name: str = "temperature", allow_zero: bool = False) -> float:
    """A finite temperature ``> 0`` (``>= 0`` with ``allow_zero``) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_connectivity(mask, n: int) -> torch.Tensor:
    """Validate a coupling mask (n, n): boolean, symmetric, False on the diagonal.

    Parameters
    ----------
    mask : array-like of bool or 0/1, shape (n, n), or None
        None means every pair of distinct units.
    n : int
        Number of units.

    Returns
    -------
    torch.Tensor of bool, shape (n, n), on the CPU
    """
    if mask is None:
        return ~torch.eye(n, dtype=torch.bool)
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if mask.shape != (n, n):
        raise ValueError(f"connectivity must have shape ({n}, {n}), got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        if not ((mask == 0) | (mask == 1)).all():
            raise ValueError("connectivity must be a boolean (0/1) matrix")
        mask = mask.bool()
    if not torch.equal(mask, mask.T):
        raise ValueError("connectivity must be symmetric")
    if mask.diagonal().any():
        raise ValueError("connectivity must be False on the diagonal (no self-couplings)")
    return mask.cpu()


def bipartite_mask(n_visible: int, n_hidden: int) -> torch.Tensor:
    """The connectivity of an RBM: visible-hidden pairs only, shape (n, n) of bool."""
    n = n_visible + n_hidden
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[:n_visible, n_visible:] = True
    mask[n_visible:, :n_visible] = True
    return mask


def check_unit_indices(value, n_units: int, name: str) -> torch.Tensor:
    """Validate a 1-D integer sequence of unit indices in ``[0, n_units)``; CPU int tensor."""
    idx = torch.as_tensor(value)
    if idx.ndim != 1 or idx.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name} must be a 1-D integer sequence of unit indices")
    if idx.numel() and (idx.min() < 0 or idx.max() >= n_units):
        raise ValueError(f"{name} must hold unit indices in [0, {n_units})")
    return idx.cpu()


def random_couplings(mask: torch.Tensor, weight_std: float, *,
                     generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Symmetric normal couplings of standard deviation ``weight_std`` inside ``mask``.

    Parameters
    ----------
    mask : torch.Tensor of bool, shape (n, n), on the CPU
        A checked connectivity (:func:`check_connectivity`).
    weight_std : float
    generator : torch.Generator, optional
        Drawn from on its own device; the result is on the CPU.
    dtype : torch.dtype

    Returns
    -------
    torch.Tensor, shape (n, n)
        Zero on the diagonal and outside ``mask``.
    """
    n = mask.shape[0]
    w = torch.randn(n, n, generator=generator, dtype=dtype, device=generator_device(generator))
    w = torch.triu(w.cpu() * weight_std, diagonal=1)
    return (w + w.T) * mask


def colour_classes(mask: torch.Tensor) -> list[torch.Tensor]:
    """Greedy colouring of the coupling graph.

    Parameters
    ----------
    mask : torch.Tensor of bool, shape (n, n)

    Returns
    -------
    list of torch.Tensor of int64, on the CPU
        Indices of mutually uncoupled units, together covering all ``n`` units; Gibbs
        sampling updates each class as one block.
    """
    adjacent = mask.cpu().numpy()
    n = adjacent.shape[0]
    colour = np.full(n, -1)
    for i in range(n):
        used = set(colour[adjacent[i]].tolist())
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return [torch.from_numpy(np.flatnonzero(colour == c)) for c in range(colour.max() + 1)]
