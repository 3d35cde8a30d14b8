"""Capacity experiments for classical Hopfield networks, and the corruption they use.

:func:`capacity_curve` measures how many random patterns a
:class:`~harmonium.HopfieldNetwork` holds per load n / d; :func:`add_noise` flips a
given fraction of the units of each state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from harmonium._numerics import as_batch, check_positive_int, check_spin, generator_device
from harmonium.models.hopfield import RULES, HopfieldNetwork, random_patterns

__all__ = ["MAX_ALPHA", "CapacityCurve", "add_noise", "capacity_curve"]

# Gardner's bound (1988): no storage rule makes more than 2 d random patterns fixed points
MAX_ALPHA = 2.0


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def add_noise(states, fraction: float, *, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """Flip exactly ``round(fraction * d)`` randomly chosen units of each state.

    Parameters
    ----------
    states : array-like or torch.Tensor, shape (n, d)
        +1/-1 states.
    fraction : float in [0, 1]
    generator : torch.Generator, optional
        Source of the choice of units, drawn on its device.

    Returns
    -------
    torch.Tensor, shape (n, d)
        A corrupted copy.
    """
    x = check_spin(as_batch(states, "states", allow_1d=True), "states")
    k = round(_check_fraction(fraction, "fraction") * x.shape[1])
    scores = torch.rand(x.shape, generator=generator,
                        device=generator_device(generator)).to(x.device)
    flip = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    flip.scatter_(1, scores.argsort(1)[:, :k], True)
    return torch.where(flip, -x, x)


@dataclass
class CapacityCurve:
    """Result of :func:`capacity_curve`.

    Attributes
    ----------
    n_units : int
    rule : str
    bias : bool
    flip_fraction : float
        Fraction of bits flipped in each probe.
    overlap_threshold : float
        A pattern counts as recalled when the final overlap ``x.xi / d`` reaches this.
    n_trials : int
    alphas : numpy.ndarray, shape (k,)
        Loads n / d actually used (n rounded to an integer).
    n_patterns : numpy.ndarray of int, shape (k,)
    fixed_fraction : numpy.ndarray, shape (k,)
        Fraction of stored patterns that are exact fixed points.
    recall_fraction : numpy.ndarray, shape (k,)
        Fraction of stored patterns recalled from their probes.
    recall_stderr : numpy.ndarray, shape (k,)
        Standard error of ``recall_fraction`` over trials (0 for one trial).
    """

    n_units: int
    rule: str
    bias: bool
    flip_fraction: float
    overlap_threshold: float
    n_trials: int
    alphas: np.ndarray
    n_patterns: np.ndarray
    fixed_fraction: np.ndarray
    recall_fraction: np.ndarray
    recall_stderr: np.ndarray

    def crossing(self, level: float = 0.5, curve: str = "recall") -> float:
        """Load at which the curve first falls below ``level`` (linear interpolation).

        Returns NaN if the curve never crosses it within the measured loads.
        """
        y = self.recall_fraction if curve == "recall" else self.fixed_fraction
        return _crossing(self.alphas, y, level)

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays as lists)."""
        return {k: v.tolist() if isinstance(v, np.ndarray) else v
                for k, v in asdict(self).items()}

    def plot(self):
        """Figure of the fixed-point and recall fractions against the load.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from harmonium.plot import capacity_figure

        return capacity_figure([self])


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    below = np.nonzero(y < level)[0]
    if below.size == 0 or below[0] == 0:
        return math.nan
    i = below[0]
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (y0 - level) * (x1 - x0) / (y0 - y1))


def capacity_curve(
    n_units: int = 200,
    alphas=None,
    *,
    rule: str = "hebbian",
    bias: bool = False,
    flip_fraction: float = 0.0,
    overlap_threshold: float = 0.9,
    n_trials: int = 3,
    max_sweeps: int = 100,
    generator: torch.Generator | None = None,
    device=None,
    progress: bool = True,
) -> CapacityCurve:
    """Measure how many random patterns a network holds, per load alpha = n / d.

    For each load and trial: store ``n = round(alpha d)`` independent random patterns,
    count those that are exact fixed points, start asynchronous recall from each pattern
    with ``flip_fraction`` of its bits flipped, and count those whose final overlap
    reaches ``overlap_threshold``.

    Parameters
    ----------
    n_units : int
        Number of units d.
    alphas : sequence of float, optional
        Loads in (0, ``MAX_ALPHA``] (default 0.02, 0.04, ..., 0.30); beyond 2 no rule
        stores the patterns (Gardner 1988).
    rule : {"hebbian", "storkey", "pseudoinverse"}
    bias : bool
        Learn a bias (default False: the textbook network the theory describes).
    flip_fraction : float in [0, 1]
    overlap_threshold : float in [0, 1]
    n_trials : int
        Independent sets of patterns per load.
    max_sweeps : int
    generator : torch.Generator, optional
    device : torch.device or str, optional
    progress : bool
        Show a progress bar.

    Returns
    -------
    CapacityCurve
        Data with ``.plot()`` and ``.crossing()``.
    """
    d = check_positive_int(n_units, "n_units", minimum=2)
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    n_trials = check_positive_int(n_trials, "n_trials")
    flip_fraction = _check_fraction(flip_fraction, "flip_fraction")
    overlap_threshold = _check_fraction(overlap_threshold, "overlap_threshold")
    alphas = np.arange(1, 16) * 0.02 if alphas is None else np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all((alphas > 0) & (alphas <= MAX_ALPHA)):
        raise ValueError(f"alphas must be a non-empty list of loads in (0, {MAX_ALPHA:g}] (no "
                         f"rule stores more than {MAX_ALPHA:g} d random patterns), got {alphas}")
    counts = np.maximum(1, np.round(np.sort(alphas) * d)).astype(int)
    fixed = np.zeros((len(counts), n_trials))
    recalled = np.zeros((len(counts), n_trials))
    bar = tqdm(total=len(counts) * n_trials, desc=f"capacity d={d} {rule}", disable=not progress)
    for i, n in enumerate(counts):
        for t in range(n_trials):
            patterns = random_patterns(int(n), d, generator=generator, device=device)
            net = HopfieldNetwork(d, rule, bias, device=device).store(patterns)
            fixed[i, t] = net.is_fixed_point(patterns).double().mean().item()
            probes = add_noise(patterns, flip_fraction, generator=generator)
            states = net.recall(probes, max_sweeps=max_sweeps, generator=generator).states
            overlap = (states * patterns).mean(1)
            recalled[i, t] = (overlap >= overlap_threshold).double().mean().item()
            bar.update()
            bar.set_postfix(alpha=f"{n / d:.3f}", recalled=f"{recalled[i, t]:.2f}")
    bar.close()
    stderr = recalled.std(1, ddof=1) / math.sqrt(n_trials) if n_trials > 1 else np.zeros(
        len(counts))
    return CapacityCurve(
        n_units=d, rule=rule, bias=bias, flip_fraction=flip_fraction,
        overlap_threshold=overlap_threshold, n_trials=n_trials, alphas=counts / d,
        n_patterns=counts, fixed_fraction=fixed.mean(1), recall_fraction=recalled.mean(1),
        recall_stderr=stderr,
    )
