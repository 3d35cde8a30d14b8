"""MkDocs hook: serve repository files that live outside ``docs/``, without copying them.

- The notebooks (``notebooks/*.py``, jupytext percent format, rendered by mkdocs-jupyter)
  and the benchmark results (``benchmarks/results/*.md`` and the pictures they show)
  become pages of the site at the same paths as in the repository
  (``notebooks/recommender/``, ``benchmarks/results/movielens/``).
- The nav sections ``Notebooks`` and ``Benchmarks`` (empty in ``mkdocs.yml``) are filled
  with every such file, and any page of ``docs/`` that the nav does not list is appended
  to ``Guides``: a new notebook, result or guide appears without editing ``mkdocs.yml``.
- Links written for reading on the repository (``../benchmarks/results/x.md`` from a
  guide in ``docs/``) are rewritten to the site's path of the same file, so the same
  Markdown works on the repository and in the strict build.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
# repository folder -> patterns of its files served by the site; nav section of its pages
SERVED = {
    "notebooks": (("*.py",), "Notebooks"),
    "benchmarks/results": (("*.md", "*.png"), "Benchmarks"),
}
GUIDES = "Guides"
LINK = re.compile(r"(\]\()(\.\./[^)\s#]+)")


def _served_files() -> list[str]:
    """Repository-relative paths of the files served from outside ``docs/``, sorted."""
    return [f"{folder}/{path.name}" for folder, (patterns, _) in SERVED.items()
            for pattern in patterns for path in sorted((ROOT / folder).glob(pattern))]


def _listed(nav) -> set[str]:
    """Every page path named anywhere in a nav tree."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(set(), *(_listed(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(set(), *(_listed(v) for v in nav))
    return set()


def on_config(config):
    """Fill the ``Notebooks`` and ``Benchmarks`` sections; append unlisted guides."""
    pages = {section: [p for p in _served_files()
                       if p.startswith(folder + "/") and not p.endswith(".png")]
             for folder, (_, section) in SERVED.items()}
    docs = Path(config["docs_dir"])
    listed = _listed(config["nav"])
    pages[GUIDES] = [p.name for p in sorted(docs.glob("*.md")) if p.name not in listed]
    for entry in config["nav"]:
        if isinstance(entry, dict):
            for section, extra in pages.items():
                if section in entry:
                    entry[section] = list(entry[section] or []) + extra
    return config


@event_priority(100)  # before mkdocs-jupyter turns the notebooks into pages
def on_files(files, config):
    """Add the served repository files to the site's files."""
    for path in _served_files():
        files.append(File(path, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def _site_path(repo_path: str, docs_prefix: str) -> str:
    """Where a repository file is in the site (docs/x.md -> x.md; served files as is)."""
    if repo_path.startswith(docs_prefix + "/"):
        return repo_path[len(docs_prefix) + 1:]
    return repo_path


def on_page_markdown(markdown, page, config, files):
    """Rewrite ``../`` links that leave ``docs/`` to the site path of their target."""
    docs_prefix = Path(config["docs_dir"]).resolve().relative_to(ROOT).as_posix()
    page_repo_dir = Path(page.file.abs_src_path).resolve().parent.relative_to(ROOT).as_posix()
    page_site_dir = posixpath.dirname(page.file.src_uri) or "."

    def fix(match):
        target = posixpath.normpath(posixpath.join(page_repo_dir, match[2]))
        site = _site_path(target, docs_prefix)
        if files.get_file_from_path(site) is None:
            return match[0]  # left alone: the strict build reports it
        return match[1] + posixpath.relpath(site, page_site_dir)

    return LINK.sub(fix, markdown)
