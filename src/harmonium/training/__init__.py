"""Training: the one loop, gradient transforms, negative-phase methods and the trainers.

``fit`` (RBMs), ``fit_greedy`` (DBNs), ``fine_tune``, ``fit_boltzmann``, the DBM's
``pretrain_dbm`` / ``fit_dbm`` / ``fine_tune_dbm`` and the recommender all run on
:func:`harmonium.training.loop.train`; gradient modifiers are transforms from
:mod:`harmonium.training.transforms`.
"""

from harmonium.training.dbm import fine_tune_dbm, fit_dbm, pretrain_dbm
from harmonium.training.fit import check_training_data, fit
from harmonium.training.gradient import RBMBatch, compute_gradients
from harmonium.training.history import History
from harmonium.training.loop import Loop, TrainingDiverged, train
from harmonium.training.methods import CD, PCD
from harmonium.training.transforms import L1, FreezeParameter, Sparsity, WeightDecay, chain

__all__ = ["CD", "L1", "PCD", "FreezeParameter", "History", "Loop", "RBMBatch", "Sparsity",
           "TrainingDiverged", "WeightDecay", "chain", "check_training_data",
           "compute_gradients", "fine_tune_dbm", "fit", "fit_dbm", "pretrain_dbm", "train"]
