"""A self-contained HTML report: headings, text and figures inlined as PNG."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; } figcaption { color: #555; }
.summary { background: #f3f3f3; padding: .5em 1em; font-family: monospace; }
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def write_report(sections, out_dir: Path, title: str = "harmonium demo") -> Path:
    """Write ``report.html`` and one PNG per figure into ``out_dir``.

    Parameters
    ----------
    sections : list of harmonium.demo.Section
    out_dir : Path
        Existing folder.
    title : str
        Page title.

    Returns
    -------
    Path
        The report's path.
    """
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        '<p class="summary">' + "<br>".join(html.escape(s.summary) for s in sections) + "</p>"
    )
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in section.paragraphs)
        for caption, fig in section.figures:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
            png = buf.getvalue()
            (out_dir / f"{_slug(section.title)}-{_slug(caption)[:40]}.png").write_bytes(png)
            encoded = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
                f'{encoded}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
