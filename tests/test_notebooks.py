"""The notebooks in ``notebooks/`` run from top to bottom without an error.

Each notebook is a jupytext percent-format ``.py`` file; the test converts it to a
notebook and executes it in a fresh IPython kernel with nbclient, with one thread and no
MovieLens folder (the recommender notebook then generates its ratings), in a temporary
working directory. A cell that raises fails the test. The executed notebook is written
next to the run (``tmp_path``) for inspection.
"""

import os
import pathlib

import pytest

os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path warning, off

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.py"))


def test_the_notebooks_are_found():
    assert {p.stem for p in NOTEBOOKS} >= {
        "hopfield_memories", "boltzmann_machines", "recommender"}


def _outputs_of_type(nb, output_type: str) -> list:
    return [out for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == output_type]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HARMONIUM_MOVIELENS", "")  # generated ratings, never a local folder
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=600, startup_timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    nbformat.write(nb, tmp_path / f"{path.stem}.ipynb")
    assert not _outputs_of_type(nb, "error")
    figures = [out for out in _outputs_of_type(nb, "display_data")
               if "image/png" in out.get("data", {})]
    assert figures, f"{path.name} showed no figure"
