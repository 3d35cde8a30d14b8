"""Matplotlib figures. Each function returns a ``matplotlib.figure.Figure`` built
without pyplot (no global state); matplotlib is imported only when a figure is made."""

from __future__ import annotations

import numpy as np

__all__ = ["capacity_figure", "energy_figure", "filters_figure", "image_grid", "plot_history"]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def image_grid(rows, row_labels=None, col_labels=None, cmap: str = "gray",
               cell: float = 1.4):
    """A grid of grayscale images, one row per group (e.g. original/corrupted/recalled).

    Parameters
    ----------
    rows : sequence of array-like, each of shape (n_cols, height, width)
        Images of each row; values are shown on a fixed 0..1 scale.
    row_labels, col_labels : sequence of str, optional
    cmap : str
    cell : float
        Size of one image in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [np.asarray(r, dtype=float) for r in rows]
    if not rows or any(r.ndim != 3 for r in rows):
        raise ValueError("rows must be a non-empty list of (n_cols, height, width) arrays")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = _figure(cell * n_cols + (0.8 if row_labels else 0), cell * n_rows + 0.3)
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                ax.imshow(row[j], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.set_axis_off()
            if row_labels is not None and j == 0:
                ax.set_ylabel(row_labels[i])
            if col_labels is not None and i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=9)
    return fig


def energy_figure(steps, energies, labels=None, xlabel: str = "single-unit updates"):
    """Energy against update steps, one line per run.

    Parameters
    ----------
    steps : array-like, shape (n_records,)
    energies : array-like, shape (n_records, n_runs)
    labels : sequence of str, optional
        One per run.
    xlabel : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    steps = np.asarray(steps, dtype=float)
    energies = np.asarray(energies, dtype=float)
    if energies.ndim == 1:
        energies = energies[:, None]
    if energies.shape[0] != steps.shape[0]:
        raise ValueError(f"energies has {energies.shape[0]} records, steps {steps.shape[0]}")
    fig = _figure(6, 3.6)
    ax = fig.subplots()
    for k in range(energies.shape[1]):
        ax.plot(steps, energies[:, k], label=None if labels is None else labels[k])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("energy E(x)")
    ax.grid(alpha=0.3)
    if labels is not None:
        ax.legend(fontsize=8)
    return fig


def capacity_figure(curves, theory: float | None = 0.138):
    """Fraction of patterns recalled (and exact fixed points) against the load n / d.

    Parameters
    ----------
    curves : sequence of harmonium.tasks.capacity.CapacityCurve
    theory : float, optional
        Draw a vertical line at this load (default: Amit-Gutfreund-Sompolinsky 0.138).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(6, 4)
    ax = fig.subplots()
    for c in curves:
        label = f"{c.rule}, d={c.n_units}"
        line = ax.errorbar(c.alphas, c.recall_fraction, yerr=c.recall_stderr, marker="o",
                           ms=3, label=f"recalled ({label})")
        ax.plot(c.alphas, c.fixed_fraction, ls=":", color=line[0].get_color(),
                label=f"exact fixed points ({label})")
    if theory is not None:
        ax.axvline(theory, color="gray", ls="--", lw=1, label=f"alpha_c = {theory}")
    ax.set_xlabel("load alpha = patterns / units")
    ax.set_ylabel("fraction of stored patterns")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def filters_figure(weight, image_shape: tuple[int, int], n_cols: int = 10,
                   max_filters: int = 100, cell: float = 0.9):
    """RBM receptive fields: each hidden unit's weights as an image, contrast-stretched.

    Parameters
    ----------
    weight : array-like, shape (n_visible, n_hidden)
        ``rbm.weight`` with ``n_visible = height * width``.
    image_shape : (int, int)
        ``(height, width)`` of one filter.
    n_cols : int
        Filters per row.
    max_filters : int
        Show at most this many hidden units (the first ones).
    cell : float
        Size of one filter in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = np.asarray(weight, dtype=float)
    h, wd = image_shape
    if w.ndim != 2 or w.shape[0] != h * wd:
        raise ValueError(f"weight must have shape ({h * wd}, n_hidden), got {w.shape}")
    filters = w.T[:max_filters].reshape(-1, h, wd)
    lo = filters.min(axis=(1, 2), keepdims=True)
    span = np.maximum(filters.max(axis=(1, 2), keepdims=True) - lo, 1e-12)
    filters = (filters - lo) / span
    rows = [filters[i : i + n_cols] for i in range(0, len(filters), n_cols)]
    return image_grid(rows, cell=cell)


def plot_history(history, metrics=None):
    """Training curves: one panel per metric of a :class:`harmonium.training.History`.

    Parameters
    ----------
    history : harmonium.training.History
    metrics : list of str, optional
        Default: every recorded metric except ``epoch`` and ``seconds``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if metrics is None:
        metrics = [m for m in history.metrics if m not in ("epoch", "seconds")]
    if not metrics:
        raise ValueError("no metrics to plot")
    fig = _figure(3.2 * len(metrics), 2.8)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    epochs = history["epoch"]
    for ax, name in zip(axes, metrics, strict=True):
        ax.plot(epochs, history[name], marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    return fig
