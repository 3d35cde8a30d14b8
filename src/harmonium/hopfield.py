"""Deprecated module: its names moved.

``add_noise``, ``capacity_curve`` and ``CapacityCurve`` live in
:mod:`harmonium.tasks.capacity`; ``HopfieldNetwork`` and ``random_patterns`` in
:mod:`harmonium.models.hopfield`; ``RecallResult`` in :mod:`harmonium.models.memory`.
Importing them from here still works, with a ``DeprecationWarning`` that names the new
place.
"""

from __future__ import annotations

import importlib
import warnings

_MOVED = {
    "add_noise": "harmonium.tasks.capacity",
    "capacity_curve": "harmonium.tasks.capacity",
    "CapacityCurve": "harmonium.tasks.capacity",
    "HopfieldNetwork": "harmonium.models.hopfield",
    "random_patterns": "harmonium.models.hopfield",
    "RecallResult": "harmonium.models.memory",
}


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(f"harmonium.hopfield is deprecated: import {name} from "
                      f"{_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(_MOVED)
