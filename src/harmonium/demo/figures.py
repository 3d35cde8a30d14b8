"""Figures of the demo report: image montages, class counts, training curves.

A montage draws a whole grid of small images as one picture in one axes (a grid of
100 matplotlib axes takes seconds to lay out and to save); labels are tick labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_bars", "curves_figure", "enlarge_text", "montage"]

# font size of labels and titles, points (16.7 px at the report's 100 dpi)
FONT_PT = 12


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def montage(rows, row_labels=None, col_labels=None, *, cell: float = 0.6):
    """A grid of grayscale images drawn as one picture, one row per group.

    Parameters
    ----------
    rows : sequence of array-like, each of shape (n_cols, height, width)
        Images of each row, values in [0, 1] (shown on that fixed scale); rows may be
        shorter than the longest (the rest is left blank).
    row_labels, col_labels : sequence of str, optional
        Labels left of each row and above each column.
    cell : float
        Size of one image in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [np.asarray(r, dtype=float) for r in rows]
    if not rows or any(r.ndim != 3 or r.shape[1:] != rows[0].shape[1:] for r in rows):
        raise ValueError("rows must be a non-empty list of (n_cols, height, width) arrays "
                         "of one image size")
    h, w = rows[0].shape[1:]
    n_cols, gap = max(len(r) for r in rows), max(1, h // 8)
    canvas = np.full((len(rows) * (h + gap) - gap, n_cols * (w + gap) - gap), np.nan)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            canvas[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = image
    # room for the row labels (about 0.6 em per character)
    longest = max((len(str(label)) for label in row_labels), default=0) if row_labels else 0
    margin = 0.2 + 0.6 * longest * FONT_PT / 72
    fig = _figure(cell * n_cols + margin, cell * len(rows) + (0.5 if col_labels else 0.2))
    ax = fig.subplots()
    ax.imshow(np.ma.masked_invalid(canvas), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_facecolor("white")
    ax.set_yticks([i * (h + gap) + (h - 1) / 2 for i in range(len(rows))],
                  row_labels if row_labels is not None else [])
    ax.set_xticks([j * (w + gap) + (w - 1) / 2 for j in range(n_cols)] if col_labels else [],
                  col_labels if col_labels else [])
    ax.xaxis.tick_top()
    ax.tick_params(length=0, labelsize=FONT_PT)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def class_bars(counts: dict, *, xlabel: str, ylabel: str):
    """Grouped bars: one group per class, one bar per named count vector.

    Parameters
    ----------
    counts : dict of str -> array-like, shape (n_classes,)
        Legend label -> value per class (e.g. fraction of samples read as that class).
    xlabel, ylabel : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = {k: np.asarray(v, dtype=float) for k, v in counts.items()}
    n_classes = len(next(iter(values.values())))
    fig = _figure(7.5, 3.4)
    ax = fig.subplots()
    width = 0.8 / len(values)
    for k, (label, v) in enumerate(values.items()):
        ax.bar(np.arange(n_classes) + (k - (len(values) - 1) / 2) * width, v, width,
               label=label)
    ax.set_xticks(range(n_classes))
    ax.set_xlabel(xlabel, fontsize=FONT_PT)
    ax.set_ylabel(ylabel, fontsize=FONT_PT)
    ax.tick_params(labelsize=FONT_PT - 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=FONT_PT - 2)
    return fig


def curves_figure(history, panels):
    """Training curves, one panel per quantity, titled in words with a y-axis title.

    Parameters
    ----------
    history : harmonium.training.History
    panels : sequence of (str, str, sequence of (str, str))
        ``(title, y-axis title, [(metric, legend label), ...])`` of each panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(3.1 * len(panels), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    epochs = history["epoch"]
    for ax, (title, ylabel, lines) in zip(axes, panels, strict=True):
        for metric, label in lines:
            ax.plot(epochs, history[metric], marker="o", ms=2, label=label)
        ax.set_title(title, fontsize=FONT_PT)
        ax.set_xlabel("epoch", fontsize=FONT_PT - 1)
        ax.set_ylabel(ylabel, fontsize=FONT_PT - 1)
        ax.tick_params(labelsize=FONT_PT - 3)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=FONT_PT - 3)
    return fig


def enlarge_text(fig, minimum: float = FONT_PT):
    """Raise every text of ``fig`` smaller than ``minimum`` points to ``minimum``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Changed in place (its constrained layout makes room when it is drawn).
    minimum : float
        Font size in points.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig``.
    """
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < minimum:
            text.set_fontsize(minimum)
    return fig
