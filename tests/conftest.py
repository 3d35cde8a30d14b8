import os

# MKL's reproducible mode, which the CLI sets (harmonium.threads.configure), for this
# process and the ones it starts alike: MKL reads it once, so a CLI call in-process
# could not switch this process, but its children would inherit it and compute other
# bits than this process does.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# Two pytest-xdist workers on two cores: one thread each in every thread pool, not only
# torch's. NumPy's and SciPy's OpenBLAS and scikit-learn's own OpenMP runtime start a
# thread per core and spin while they wait; next to the other worker that stalled small
# tests 100-fold (0.8 s alone, 90 s in the full run). The variables must be set before
# those libraries load (they read them once); threadpoolctl covers any already loaded.
_WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))
if _WORKER:
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

if _WORKER:
    torch.set_num_threads(1)
    threadpool_limits(1)
# The CLI, called in-process by the tests, keeps this process's thread count (its own
# choice, harmonium.threads.choose_threads, would reset it); subprocesses inherit it.
os.environ.setdefault("HARMONIUM_THREADS", str(torch.get_num_threads()))

# Tests that run for a minute or more start first: two workers then split them at the
# start and fill the rest of the run with short tests, instead of one worker finishing
# a long test alone at the end (the README examples alone: 45 s to 4 min).
LONG_TESTS = (
    "test_readme_examples.py::test_every_example_runs_in_order",
    "test_demo_report.py::test_full_budget",
    "test_notebooks.py::test_notebook_runs",
    "test_report_browser.py::test_the_report_loads",
    "test_units_relu.py::test_ais_and_reverse_ais",
    "test_dbm.py::test_ais_against_exact_log_z",
    "test_nn.py::test_hopfield_pooling_learns",
    "test_precision.py::test_low_precision_training_reaches",
)


def _start_rank(item) -> int:
    """:data:`LONG_TESTS` in their order (longest first), then slow-marked, then the rest."""
    for rank, name in enumerate(LONG_TESTS):
        if name in item.nodeid:
            return rank
    return len(LONG_TESTS) + (item.get_closest_marker("slow") is None)


def pytest_collection_modifyitems(config, items):
    """Long tests first; a stable sort keeps the collected order otherwise."""
    items.sort(key=_start_rank)
