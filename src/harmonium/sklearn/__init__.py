"""scikit-learn estimators (the only part of harmonium that imports scikit-learn)."""

from harmonium.sklearn.dbn import DBNClassifier, DBNTransformer
from harmonium.sklearn.rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["BernoulliRBM", "DBNClassifier", "DBNTransformer", "GaussianBernoulliRBM"]
