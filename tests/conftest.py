import os

# MKL's reproducible mode, which the CLI sets (harmonium.threads.configure), for this
# process and the ones it starts alike: MKL reads it once, so a CLI call in-process
# could not switch this process, but its children would inherit it and compute other
# bits than this process does.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# One thread in every thread pool of every test process, not only torch's: NumPy's and
# SciPy's OpenBLAS, scikit-learn's OpenMP runtime and torch's start a thread per core
# and spin while they wait; two pytest-xdist workers on two cores then stalled small
# tests 75-fold (1.1 s alone, 83 s in the full run). The pools read these variables
# once, when they load, so they are set here, in the process that collects the tests:
# pytest-xdist starts its workers (and tests start their subprocesses) with this
# environment, before any of those libraries loads. Set from outside, they are kept.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
_WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

if _WORKER:
    torch.set_num_threads(1)
    threadpool_limits(1)
# The CLI, called in-process by the tests, keeps this process's thread count (its own
# choice, harmonium.threads.choose_threads, would reset it); subprocesses inherit it.
os.environ.setdefault("HARMONIUM_THREADS", str(torch.get_num_threads()))

# The longest tests start first: two workers then split them at the start and fill
# the rest of the run with short tests, instead of one worker finishing a long test
# alone at the end (the README examples alone take about a minute).
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
    """Modules with long tests first, each module kept whole.

    A module moves by its longest test; its tests stay together and in their collected
    order, so a module-scoped fixture is built once and torn down after the module's
    last test (split modules rebuilt fixtures, and removed files still in use).
    """
    module_rank: dict = {}
    for item in items:
        module_rank[item.module] = min(module_rank.get(item.module, len(LONG_TESTS) + 1),
                                       _start_rank(item))
    items.sort(key=lambda item: module_rank[item.module])
