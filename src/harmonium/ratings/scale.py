"""Rating scales: the levels ``low, low + step, ..., high`` and each rating's level."""

from __future__ import annotations

import numpy as np

__all__ = ["level_indices", "rating_levels"]


def _scale_of_data(ratings: np.ndarray) -> tuple[float, float, float]:
    low, high = float(ratings.min()), float(ratings.max())
    if np.all(ratings == np.round(ratings)):
        return low, high, 1.0
    if np.all(2 * ratings == np.round(2 * ratings)):
        return low, high, 0.5
    raise ValueError(
        "cannot infer the rating scale (ratings are not whole or half stars): "
        "pass rating_scale=(low, high, step)"
    )


def _scale_given(scale) -> tuple[float, float, float]:
    if len(scale) not in (2, 3):
        raise ValueError(f"rating_scale must be (low, high) or (low, high, step), got {scale}")
    low, high = float(scale[0]), float(scale[1])
    step = float(scale[2]) if len(scale) == 3 else 1.0
    if not (step > 0 and high > low):
        raise ValueError(f"rating_scale needs low < high and step > 0, got {scale}")
    return low, high, step


def rating_levels(scale, ratings: np.ndarray) -> np.ndarray:
    """The rating levels of a scale, or of the data when no scale is given.

    Parameters
    ----------
    scale : (low, high) or (low, high, step), or None
        The scale (step 1 when omitted); None infers it from ``ratings``: whole stars
        from min to max, or half stars if any rating is a half star.
    ratings : numpy.ndarray of float, shape (n,)

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
        ``low + step * arange(k)``, k >= 2.

    Raises
    ------
    ValueError
        A malformed scale, a range that is not a multiple of the step, fewer than two
        levels, or ratings that are neither whole nor half stars (when inferring).
    """
    low, high, step = _scale_of_data(ratings) if scale is None else _scale_given(scale)
    k = round((high - low) / step) + 1
    if k < 2:
        raise ValueError(
            f"all ratings equal {low}: pass rating_scale=(low, high, step) to give the scale"
        )
    if abs(low + (k - 1) * step - high) > 1e-6 * step:
        raise ValueError(
            f"rating_scale ({low}, {high}, {step}): high - low is not a multiple of step"
        )
    return low + step * np.arange(k)


def level_indices(ratings: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The level of each rating.

    Parameters
    ----------
    ratings : numpy.ndarray of float, shape (n,)
    levels : numpy.ndarray of float, shape (k,)
        Evenly spaced levels (:func:`rating_levels`).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Indices into ``levels``.

    Raises
    ------
    ValueError
        If a rating is off the scale (outside it or between two levels).
    """
    step = levels[1] - levels[0]
    pos = (ratings - levels[0]) / step
    idx = np.round(pos)
    bad = (np.abs(pos - idx) > 1e-6) | (idx < 0) | (idx >= len(levels))
    if bad.any():
        j = int(bad.argmax())
        raise ValueError(
            f"rating {ratings[j]} at row {j} is outside the scale {levels[0]:g}..{levels[-1]:g} "
            f"in steps of {step:g}"
        )
    return idx.astype(np.int64)
