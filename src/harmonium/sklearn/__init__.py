"""scikit-learn estimators (the only part of harmonium that imports scikit-learn)."""

from harmonium.sklearn.rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM"]
