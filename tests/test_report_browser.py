"""The report of ``harmonium demo`` opened in a real browser (headless Chromium).

The report is written by the ``demo`` command (in-process) with the demo's training
budgets cut to a few epochs and sweeps: what a browser checks (the page loads without
console errors, every figure decodes, nothing is fetched from outside the page) does not
depend on how long the models trained.

The browser is Debian's ``chromium`` driven through the ``playwright`` package (which
never downloads a browser of its own here). Without either the test is skipped, saying
what to install; ``HARMONIUM_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes it fail instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from demo_budgets import tiny_demo_budgets
from harmonium.cli.main import main

# what the page reports about each <img> once loaded
IMAGES_JS = """() => Array.from(document.images, img => ({
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    shown: img.getBoundingClientRect().width}))"""
VIEWPORT = {"width": 1000, "height": 800}


def _missing_browser() -> str | None:
    """Why the browser cannot be driven here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    if shutil.which("chromium") is None:
        return "no chromium on PATH: install Debian's chromium package (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module; skipped (or failed under
    HARMONIUM_REQUIRE_BROWSER=1) when there is none."""
    reason = _missing_browser()
    if reason and os.environ.get("HARMONIUM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HARMONIUM_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=shutil.which("chromium"))
        yield chromium
        chromium.close()


def open_page(browser, path: Path, screenshot: Path | None = None):
    """Load ``path`` in a new tab.

    Returns
    -------
    problems : list of str
        Console errors, uncaught page errors, failed requests, requests that left the
        page's own file (``data:`` images do not count as requests).
    images : list of dict
        For each ``<img>`` in document order: ``complete``, natural ``width`` and
        ``height`` in pixels, and the ``shown`` width on the page.
    """
    page = browser.new_page(viewport=VIEWPORT)
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: r.url == path.as_uri() or problems.append(f"fetched: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    images = page.evaluate(IMAGES_JS)
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems, images


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as picture:
        return picture.size


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The folder ``harmonium demo`` wrote, at the tiny budgets."""
    out = tmp_path_factory.mktemp("demo")
    with tiny_demo_budgets():
        assert main(["demo", "--out", str(out)]) == 0
    return out


def test_the_report_loads_cleanly_with_every_figure_in_a_real_browser(
        browser, report, tmp_path):
    shot = tmp_path / "report.png"
    problems, images = open_page(browser, report / "report.html", screenshot=shot)
    assert problems == []
    figures = sorted(report.glob("*.png"))
    assert len(images) == len(figures) > 0
    bad = [k for k, img in enumerate(images) if not (img["complete"] and img["width"] > 0)]
    assert bad == [], f"images {bad} did not load"
    # the page shows the figure files' pictures, each within the window's width
    on_disk = sorted(_png_size(f) for f in figures)
    assert sorted((img["width"], img["height"]) for img in images) == on_disk
    assert all(0 < img["shown"] <= VIEWPORT["width"] for img in images)
    # the screenshot is the whole page: window-wide, taller than the window, not blank
    with Image.open(shot) as picture:
        assert picture.width == VIEWPORT["width"] and picture.height > VIEWPORT["height"]
        assert len(picture.convert("L").getcolors(256)) > 2


def test_the_checks_catch_a_broken_image_and_a_console_error(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><title>t</title><img alt='gone' src='missing.png'>"
                    "<script>console.error('boom')</script>", encoding="utf-8")
    problems, images = open_page(browser, page)
    assert "console: boom" in problems
    assert any(p.startswith("failed: ") and p.endswith("missing.png") for p in problems)
    # a broken image is "complete" too: only its natural width tells
    assert images == [{"complete": True, "width": 0, "height": 0, "shown": images[0]["shown"]}]
