"""``harmonium demo``: the classic demonstrations on bundled data, as one HTML report.

Each section is a module of this package with a function
``run(generator) -> Section``; :func:`run_demo` runs them in order and writes one
self-contained HTML file (figures inlined as PNG) plus the figures as separate files
named ``<section>-<figure name>.png``. Every figure and table comes with the paragraph
shown right above it (which refers to it by number) and a caption saying what to look at.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harmonium.demo.report import write_report

__all__ = ["SECTIONS", "Caption", "Section", "run_demo"]

log = logging.getLogger(__name__)

# section modules in report order
SECTIONS = ["hopfield", "memory", "rbm", "dbn", "recommend"]


@dataclass(frozen=True)
class Caption:
    """The words around one figure or table of the report.

    Attributes
    ----------
    name : str
        Short file name of the figure, whole words joined by ``-`` (e.g. ``"samples"``);
        the PNG is saved as ``<section>-<name>.png``.
    lead : str
        The paragraph shown right above the figure; ``{ref}`` in it becomes the
        figure's number (``"Figure 3"`` or ``"Table 1"``).
    text : str
        The caption: what the figure shows and what to look at.
    """

    name: str
    lead: str
    text: str


@dataclass
class Section:
    """One part of the report.

    Attributes
    ----------
    title : str
        Heading of the section.
    summary : str
        One line printed on the terminal, e.g. ``"Hopfield: 6/6 images recalled"``.
    paragraphs : list of str
        Introductory text shown above the first figure (plain text, escaped).
    figures : list of (Caption, matplotlib.figure.Figure)
        Figures in order, each with its lead paragraph and caption.
    tables : list of (Caption, list of list of str)
        Tables shown after the figures: header row first, then the rows.
    """

    title: str
    summary: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)


def run_demo(
    out_dir: str | Path, *, seed: int = 0, sections: list[str] | None = None
) -> tuple[Path, list[str]]:
    """Run the demo sections and write ``out_dir/report.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the report and its figures (created if missing).
    seed : int
        Seed of the ``torch.Generator`` handed to every section.
    sections : list of str, optional
        Names from :data:`SECTIONS` to run (default: all).

    Returns
    -------
    report : Path
        Path of the HTML report.
    summaries : list of str
        The one-line summary of each section.
    """
    names = SECTIONS if sections is None else sections
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown demo sections {unknown}; expected some of {SECTIONS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(seed)
        section = importlib.import_module(f"harmonium.demo.{name}").run(generator)
        log.info("demo section %s took %.1f s", name, time.perf_counter() - start)
        results.append((name, section))
    return write_report(results, out_dir), [s.summary for _, s in results]
