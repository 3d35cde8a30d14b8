"""scikit-learn estimators over :class:`harmonium.DBN` (thin shells over the core).

``DBNTransformer`` pretrains a stack of Bernoulli RBMs greedily
(:func:`harmonium.fit_greedy`) and transforms data by the up pass. ``DBNClassifier``
pretrains the same way, then unrolls the stack and fine-tunes it with a softmax output
by backpropagation (:func:`harmonium.fine_tune`).

Inputs are min-max scaled per feature to [0, 1] with the training data's range (values
outside it at predict time are clipped), since the visible units are Bernoulli units
read as probabilities.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from harmonium.models.dbn import DBN
from harmonium.training.finetune import fine_tune
from harmonium.training.greedy import fit_greedy
from harmonium.training.methods import CD, PCD

__all__ = ["DBNClassifier", "DBNTransformer"]


class _DBNEstimator(BaseEstimator):
    """Shared parameter checks, scaling and greedy pretraining."""

    def _check_params(self) -> None:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)) or not sizes or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes
        ):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes!r}")
        self._sizes = [int(s) for s in sizes]
        if self.method not in ("cd", "pcd"):
            raise ValueError(f"method must be 'cd' or 'pcd', got {self.method!r}")
        for name in self._int_params:
            value, minimum = getattr(self, name), 0 if name == "pretrain_epochs" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
                value < minimum
            ):
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        for name in self._rate_params:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                value > 0 if name.endswith("lr") else value >= 0
            ):
                raise ValueError(f"{name} must be a number {'>' if name.endswith('lr') else '>='}"
                                 f" 0, got {value!r}")

    _int_params = ("pretrain_epochs", "batch_size", "k")
    _rate_params = ("pretrain_lr",)

    def _scaled(self, X, y="no_validation", reset: bool = False):
        if reset and not (isinstance(y, str) and y == "no_validation"):
            X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        else:
            X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        if reset:
            self._min = X.min(0)
            span = X.max(0) - self._min
            self._span = np.where(span > 0, span, 1.0)
        x = np.clip((X - self._min) / self._span, 0.0, 1.0)
        return torch.from_numpy(x.astype(np.float32)), y

    def _pretrained(self, x: torch.Tensor, g: torch.Generator) -> DBN:
        dbn = DBN([x.shape[1], *self._sizes], generator=g)
        if self.pretrain_epochs:
            k = int(self.k)
            method = CD(k) if self.method == "cd" else PCD(int(self.batch_size), k)
            fit_greedy(dbn, x, method=method, epochs=int(self.pretrain_epochs),
                       lr=float(self.pretrain_lr), batch_size=int(self.batch_size), monitor=0,
                       generator=g, progress=self.verbose > 0)
        return dbn

    def _generator(self) -> torch.Generator:
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return torch.Generator().manual_seed(seed)


class DBNTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _DBNEstimator):
    """Unsupervised deep belief net features: greedy RBM pretraining, up-pass transform.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (256,)
        Hidden layer widths, bottom first.
    pretrain_epochs : int, default 10
        Epochs of RBM training per layer.
    pretrain_lr : float, default 0.05
        Learning rate of the RBM training (momentum 0.5).
    batch_size : int, default 32
    method : {"cd", "pcd"}, default "cd"
        Contrastive divergence or persistent CD (``batch_size`` chains).
    k : int, default 1
        Gibbs sweeps per update.
    random_state : int, RandomState or None
    verbose : int, default 0
        Show progress bars when > 0.

    Attributes
    ----------
    dbn_ : harmonium.DBN
        The pretrained model.
    n_features_in_ : int
    """

    def __init__(self, hidden_layer_sizes=(256,), *, pretrain_epochs=10, pretrain_lr=0.05,
                 batch_size=32, method="cd", k=1, random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.method = method
        self.k = k
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Pretrain on ``X`` (n_samples, n_features); returns self."""
        self._check_params()
        x, _ = self._scaled(X, reset=True)
        self.dbn_ = self._pretrained(x, self._generator())
        return self

    def transform(self, X):
        """Top-layer mean activities, shape (n_samples, hidden_layer_sizes[-1])."""
        check_is_fitted(self)
        x, _ = self._scaled(X)
        return self.dbn_.transform(x).numpy().astype(np.float64)

    @property
    def _n_features_out(self) -> int:
        return self.dbn_.layer_sizes[-1]


class DBNClassifier(ClassifierMixin, TransformerMixin, _DBNEstimator):
    """Deep belief net classifier: greedy RBM pretraining, then backprop fine-tuning.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (256,)
        Hidden layer widths, bottom first.
    pretrain_epochs : int, default 10
        Epochs of RBM training per layer (0: no pretraining, a plain sigmoid network
        from small random weights).
    pretrain_lr : float, default 0.05
    batch_size : int, default 32
        Mini-batch size of both phases.
    method : {"cd", "pcd"}, default "cd"
    k : int, default 1
    fine_tune_epochs : int, default 30
    fine_tune_lr : float, default 0.01
        Adam learning rate (cosine-decayed to 0).
    weight_decay : float, default 1e-4
        L2 penalty during fine-tuning.
    random_state : int, RandomState or None
    verbose : int, default 0

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    dbn_ : harmonium.DBN
        The pretrained model; ``dbn_.classifier`` is the fine-tuned network.
    n_features_in_ : int
    """

    _int_params = (*_DBNEstimator._int_params, "fine_tune_epochs")
    _rate_params = (*_DBNEstimator._rate_params, "fine_tune_lr", "weight_decay")

    def __init__(self, hidden_layer_sizes=(256,), *, pretrain_epochs=10, pretrain_lr=0.05,
                 batch_size=32, method="cd", k=1, fine_tune_epochs=30, fine_tune_lr=0.01,
                 weight_decay=1e-4, random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.method = method
        self.k = k
        self.fine_tune_epochs = fine_tune_epochs
        self.fine_tune_lr = fine_tune_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Pretrain on ``X`` (n_samples, n_features), fine-tune on labels ``y``; returns self."""
        self._check_params()
        x, y = self._scaled(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"DBNClassifier needs at least 2 classes in y, got 1 class "
                             f"({self.classes_[0]!r})")
        g = self._generator()
        self.dbn_ = self._pretrained(x, g)
        fine_tune(self.dbn_, x, torch.from_numpy(codes.astype(np.int64)),
                  epochs=int(self.fine_tune_epochs), batch_size=int(self.batch_size),
                  lr=float(self.fine_tune_lr), weight_decay=float(self.weight_decay),
                  n_classes=len(self.classes_), generator=g, progress=self.verbose > 0)
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        x, _ = self._scaled(X)
        return self.dbn_.predict_proba(x).numpy().astype(np.float64)

    def predict(self, X):
        """Most probable class of each sample, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    def transform(self, X):
        """Last hidden layer of the fine-tuned network, shape (n_samples, sizes[-1])."""
        check_is_fitted(self)
        x, _ = self._scaled(X)
        with torch.no_grad():
            return self.dbn_.classifier[:-1](x).numpy().astype(np.float64)
