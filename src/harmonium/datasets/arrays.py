"""Plain arrays: 0/1 <-> -1/+1 conversions and numeric ``.npy`` / ``.csv`` files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from harmonium._numerics import as_batch, check_binary, check_spin

__all__ = ["binary_to_spin", "load_array", "spin_to_binary"]


def binary_to_spin(x) -> torch.Tensor:
    """Map 0/1 data to -1/+1 spins: ``2x - 1``.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (n, d)
        Entries 0 or 1.

    Returns
    -------
    torch.Tensor, shape (n, d)
    """
    x = check_binary(as_batch(x, "x", allow_1d=True), "x")
    return 2 * x - 1


def spin_to_binary(x) -> torch.Tensor:
    """Map -1/+1 spins to 0/1: ``(x + 1) / 2``; x of shape (n, d), result (n, d)."""
    x = check_spin(as_batch(x, "x", allow_1d=True), "x")
    return (x + 1) / 2


def load_array(path: str | os.PathLike) -> np.ndarray:
    """A 2-D numeric array from a ``.npy`` file or a comma-separated ``.csv`` file.

    A ``.csv`` may start with one header line (skipped when it is not numeric);
    arrays of more dimensions (e.g. image stacks) are flattened to one row per sample.

    Returns
    -------
    numpy.ndarray, shape (n_samples, n_features), float64 (float32 kept)

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, unknown suffix, non-numeric or ragged content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path} is not a readable numeric .npy file ({exc})") from None
    elif suffix == ".csv":
        rows = [line.split(",") for line in path.read_text(encoding="utf-8").split()]
        try:
            np.array(rows[:1], dtype=float)
        except ValueError:
            rows = rows[1:]  # a header line
        try:
            arr = np.array(rows, dtype=float)
        except ValueError as exc:
            raise ValueError(f"{path}: not a numeric, rectangular CSV ({exc})") from None
    else:
        raise ValueError(f"{path}: expected a .npy or .csv file, got {suffix or 'no suffix'!r}")
    if arr.dtype == object or arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"{path}: expected a non-empty numeric 2-D array, got shape {arr.shape}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    return arr.reshape(len(arr), -1)
