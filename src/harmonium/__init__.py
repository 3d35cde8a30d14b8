"""harmonium: Hopfield networks and Boltzmann machines in PyTorch.

The public names below are imported on first use, so ``import harmonium`` stays quick
and each capability loads only what it needs.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "save": "harmonium.io",
    "load": "harmonium.io",
    "HopfieldNetwork": "harmonium.models.hopfield",
    "RBM": "harmonium.models.rbm",
    "ModernHopfield": "harmonium.models.modern_hopfield",
    "DenseAssociativeMemory": "harmonium.models.dense",
    "BoltzmannMachine": "harmonium.models.boltzmann",
    "fit_boltzmann": "harmonium.training.boltzmann",
    "DBN": "harmonium.models.dbn",
    "dream": "harmonium.models.dbn",
    "DBM": "harmonium.models.dbm",
    "fit_greedy": "harmonium.training.greedy",
    "fine_tune": "harmonium.training.finetune",
    "fit": "harmonium.training.fit",
    "CD": "harmonium.training.methods",
    "PCD": "harmonium.training.methods",
    "PT": "harmonium.training.tempering",
    "Centered": "harmonium.training.centering",
    "ParallelTempering": "harmonium.sampling.tempering",
    "generate": "harmonium.tasks.generate",
    "inpaint": "harmonium.tasks.inpaint",
    "RBMRecommender": "harmonium.tasks.recommend",
    "PottsModel": "harmonium.models.potts",
    "fit_potts": "harmonium.training.potts",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'harmonium' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
