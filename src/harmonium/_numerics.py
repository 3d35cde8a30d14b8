"""Stable numerical helpers and input checks shared by every module.

Nothing here knows about models: these are the few primitives (softplus, log 2cosh,
log-mean-exp) and the input validation that the public functions call before doing any
work, so that bad input fails early with a message that says what was expected.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn.functional import softplus

__all__ = [
    "as_batch",
    "check_binary",
    "check_positive_int",
    "check_spin",
    "generator_device",
    "log_2cosh",
    "logmeanexp",
    "seeded_generator",
    "softplus",
]


def log_2cosh(x: torch.Tensor) -> torch.Tensor:
    """``log(2 cosh x)`` without overflow: ``|x| + softplus(-2|x|)``."""
    a = x.abs()
    return a + softplus(-2.0 * a)


def logmeanexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(mean(exp(x)))`` along ``dim``, stable for large ``|x|``."""
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


def generator_device(generator: torch.Generator | None, default=None):
    """Where random draws from ``generator`` must be made: its device, else ``default``.

    A CUDA generator only draws on the GPU, so code that draws first and moves the result
    asks for the generator's device.
    """
    return default if generator is None else generator.device


def seeded_generator(generator: torch.Generator | None, device) -> torch.Generator:
    """The caller's ``generator``, or a freshly (randomly) seeded one on ``device``.

    Trainers need a generator object of their own: the loop checkpoints its state.
    """
    if generator is None:
        generator = torch.Generator(device=device)
        generator.seed()
    return generator


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def as_batch(
    x,
    name: str = "x",
    *,
    n_features: int | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    allow_1d: bool = False,
) -> torch.Tensor:
    """Convert array-like input to a finite 2-D float tensor of shape ``(n, n_features)``.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (n, n_features) (or (n_features,) if allow_1d)
        The batch. Lists, NumPy arrays and tensors are accepted.
    name : str
        Name used in error messages.
    n_features : int, optional
        Expected width; a mismatch raises ``ValueError``.
    dtype, device : optional
        Target dtype (default: the input's float dtype, else float32) and device.
    allow_1d : bool
        Promote a single vector to a batch of one.

    Returns
    -------
    torch.Tensor, shape (n, n_features)

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        If ``x`` is empty, has the wrong number of dimensions or width, or holds NaN/inf.
    """
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dtype == torch.bool or not t.is_floating_point():
        t = t.to(torch.get_default_dtype() if dtype is None else dtype)
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device)
    if t.ndim == 1 and allow_1d:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        expected = "(n_samples, n_features)" + (" or (n_features,)" if allow_1d else "")
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one sample")
    if n_features is not None and t.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features, got {t.shape[1]}")
    # one pass: NaN propagates into both extremes, +-inf shows in one of them
    if not all(torch.isfinite(extreme) for extreme in torch.aminmax(t)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def check_spin(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Raise ``ValueError`` unless every entry of ``x`` is -1 or +1."""
    if not ((x == 1) | (x == -1)).all():
        bad = x[(x != 1) & (x != -1)].flatten()[0].item()
        raise ValueError(
            f"{name} must contain only -1 and +1 (spin states), found {bad!r}; "
            "convert 0/1 data with harmonium.datasets.binary_to_spin"
        )
    return x


def check_binary(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Raise ``ValueError`` unless every entry of ``x`` is 0 or 1."""
    if not ((x == 0) | (x == 1)).all():
        bad = x[(x != 0) & (x != 1)].flatten()[0].item()
        raise ValueError(f"{name} must contain only 0 and 1, found {bad!r}")
    return x
