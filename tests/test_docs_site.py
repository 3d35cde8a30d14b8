"""The documentation site builds with ``mkdocs build --strict`` (every warning an error).

Strict mode fails on a broken link or anchor, a page left out of the navigation, a
docstring the API reference cannot read, or a notebook that cannot be converted. The
notebooks are rendered without being executed here (``HARMONIUM_DOCS_EXECUTE=false``):
``tests/test_notebooks.py`` executes them. Nothing is downloaded.
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[1]


def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "HARMONIUM_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1",
           "JUPYTER_PLATFORM_DIRS": "1", "OMP_NUM_THREADS": "1"}
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    for page in ["index.html", "api/models/index.html", "notebooks/recommender/index.html",
                 "benchmarks/results/movielens/index.html", "math/index.html"]:
        assert (site / page).is_file(), page
    api = (site / "api/models/index.html").read_text()
    assert "HopfieldNetwork" in api and "Parameters" in api  # rendered from the docstrings
    # a guide's ../benchmarks/results/ link now points at the page inside the site
    dbn = (site / "dbn/index.html").read_text()
    assert 'href="../benchmarks/results/mnist_dbn/' in dbn
    assert "../../benchmarks/results/mnist_dbn.md" not in dbn
