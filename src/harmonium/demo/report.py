"""A self-contained HTML report: headings, text, figures inlined as PNG, tables.

Figures and tables are numbered through the report ("Figure 1", "Table 1"); each is
preceded by its own lead paragraph (which names it by that number) and carries a
caption. Every figure is also saved as ``<section>-<name>.png``.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

__all__ = ["DISPLAY_PX", "DPI", "displayed_text_px", "figure_file", "write_report"]

# widest a figure is shown in the page (the body's max-width less its margins), pixels
DISPLAY_PX = 940
# resolution the figures are rendered at (pixels per inch)
DPI = 100

_STYLE = f"""
body {{ font-family: system-ui, sans-serif; max-width: {DISPLAY_PX + 40}px; margin: 2em auto;
  padding: 0 20px; color: #222; line-height: 1.45; }}
h1 {{ border-bottom: 2px solid #444; }} h2 {{ margin-top: 2em; border-bottom: 1px solid #bbb; }}
figure {{ margin: .5em 0 2em; }} figure img {{ max-width: 100%; }}
figcaption, caption {{ color: #555; text-align: left; }}
table {{ border-collapse: collapse; margin: .5em 0 2em; }}
td, th {{ border-bottom: 1px solid #ccc; padding: .25em .8em; text-align: left; }}
.summary {{ background: #f3f3f3; padding: .5em 1em; font-family: monospace; }}
"""


def _slug(text: str) -> str:
    """Lower-case words of ``text`` joined by ``-`` (never cut inside a word)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def figure_file(section: str, name: str) -> str:
    """The PNG file name of figure ``name`` of ``section``: ``rbm-samples.png``."""
    return f"{_slug(section)}-{_slug(name)}.png"


def displayed_text_px(fig) -> float:
    """Height in page pixels of the smallest visible text of ``fig`` as the report shows it.

    The figure is rendered at :data:`DPI` (trimmed to its content, which only narrows
    it) and shown at most :data:`DISPLAY_PX` wide, so a wide figure's text shrinks by
    ``DISPLAY_PX / width``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    float
        ``min(font size in points) * DPI / 72 * shrink``; ``inf`` for a figure without text.
    """
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    if not sizes:
        return float("inf")
    width_px = fig.get_size_inches()[0] * DPI
    return min(sizes) * DPI / 72 * min(1.0, DISPLAY_PX / width_px)


def _figure_html(fig, number: int, caption, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    png = buf.getvalue()
    path.write_bytes(png)
    text = html.escape(caption.text)
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure id="figure-{number}"><img alt="{text}" src="data:image/png;base64,'
            f'{encoded}"><figcaption>Figure {number}. {text}</figcaption></figure>')


def _table_html(rows, number: int, caption) -> str:
    header, *body = rows
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    lines = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                    for row in body)
    return (f'<table id="table-{number}"><caption>Table {number}. '
            f"{html.escape(caption.text)}</caption><tr>{head}</tr>{lines}</table>")


def write_report(sections, out_dir: Path, title: str = "harmonium demo") -> Path:
    """Write ``report.html`` and one PNG per figure into ``out_dir``.

    Parameters
    ----------
    sections : list of (str, harmonium.demo.Section)
        Each section with its short name (the prefix of its figures' file names).
    out_dir : Path
        Existing folder.
    title : str
        Page title.

    Returns
    -------
    Path
        The report's path.
    """
    parts = [f"<h1>{html.escape(title)}</h1>", '<p class="summary">'
             + "<br>".join(html.escape(s.summary) for _, s in sections) + "</p>"]
    n_figures = n_tables = 0
    for name, section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in section.paragraphs)
        for caption, fig in section.figures:
            n_figures += 1
            parts.append(f"<p>{html.escape(caption.lead.format(ref=f'Figure {n_figures}'))}</p>")
            parts.append(_figure_html(fig, n_figures, caption,
                                      out_dir / figure_file(name, caption.name)))
        for caption, rows in section.tables:
            n_tables += 1
            parts.append(f"<p>{html.escape(caption.lead.format(ref=f'Table {n_tables}'))}</p>")
            parts.append(_table_html(rows, n_tables, caption))
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title><style>{_STYLE}</style></head><body>{''.join(parts)}"
        "</body></html>"
    )
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
