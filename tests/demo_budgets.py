"""The demo's sections at tiny training budgets, for tests of the report's structure and
of how it loads in a browser (neither depends on how long the models trained)."""

import contextlib

import pytest

from harmonium.demo import dbn as dbn_section
from harmonium.demo import rbm as rbm_section
from harmonium.demo import recommend as recommend_section

# (module, budget constant, tiny value)
TINY_BUDGETS = [
    (rbm_section, "EPOCHS", 2), (rbm_section, "PT_STEPS", 5), (rbm_section, "GIBBS_SWEEPS", 5),
    (dbn_section, "EPOCHS", [1, 1]), (dbn_section, "FINE_TUNE_EPOCHS", 1),
    (dbn_section, "DREAM_STEPS", 2), (recommend_section, "EPOCHS", 2),
]


@contextlib.contextmanager
def tiny_demo_budgets():
    """Within the block every demo section trains at its tiny budget."""
    with pytest.MonkeyPatch.context() as patch:
        for module, name, value in TINY_BUDGETS:
            assert hasattr(module, name), f"the demo has no budget {module.__name__}.{name}"
            patch.setattr(module, name, value)
        yield
