"""Training: negative-phase methods (CD, PCD; PT in tempering.py), gradients and ``fit``."""

from harmonium.training.fit import check_training_data, fit
from harmonium.training.gradient import compute_gradients
from harmonium.training.history import History
from harmonium.training.methods import CD, PCD

__all__ = ["CD", "PCD", "History", "check_training_data", "compute_gradients", "fit"]
