"""scikit-learn estimators over :class:`harmonium.RBM` (thin shells over ``harmonium.fit``).

``BernoulliRBM`` is a drop-in for :class:`sklearn.neural_network.BernoulliRBM`: same
parameters and defaults, same attributes and methods, plus ``method``, ``k`` and
``device``. Differences, on purpose:

- ``score_samples`` is the *exact* per-sample pseudo-log-likelihood
  ``sum_i log p(v_i | v_-i)`` (deterministic), not scikit-learn's one-random-bit
  estimate of it; inputs are rounded to {0, 1} first.
- Like scikit-learn, ``X`` holds visible-unit probabilities (e.g. grey levels in
  [0, 1]); values outside [0, 1], which scikit-learn silently uses in its formulas,
  are clipped to [0, 1].
- By default training runs in float64 whatever the input dtype
  (``compute_dtype="float64"``): fits of float32 and float64 copies of the same data
  with the same seed then agree to float32 rounding (scikit-learn asks 1e-6), since
  both draw the same random numbers. Torch draws a different random stream for each
  dtype, so with ``compute_dtype="input"`` (float32 arithmetic for float32 input,
  about 2.4 times faster for 784 x 500 on a CPU core) the two fits differ by sampling
  noise. Attributes and outputs have the input's dtype either way.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from harmonium.models.rbm import RBM
from harmonium.partition.pseudo import pseudo_log_likelihood
from harmonium.training.fit import fit
from harmonium.training.methods import CD, PCD
from harmonium.training.transforms import FreezeParameter
from harmonium.units import Bernoulli, Gaussian

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM"]

_DTYPES = (np.float64, np.float32)
_COMPUTE_DTYPES = ("float64", "input")
#: rows of the training data the per-iteration lines of ``verbose`` are computed on
_VERBOSE_ROWS = 1000


class _RBMEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared fit / partial_fit / transform over an RBM with Bernoulli hidden units."""

    def _visible_layer(self, n_features: int):
        raise NotImplementedError

    def _prepare(self, X) -> np.ndarray:
        """Map validated ``X`` to the visible units' domain."""
        return X

    def _gradient_transforms(self) -> tuple:
        """Gradient transforms passed to :func:`harmonium.fit` (none by default)."""
        return ()

    #: the per-epoch metric ``verbose`` prints: (key in the fit history, label)
    _verbose_metric = ("pseudo_ll", "pseudo-likelihood")

    def _check_params(self):
        if self.method not in ("pcd", "cd"):
            raise ValueError(f"method must be 'pcd' or 'cd', got {self.method!r}")
        for name in ("n_components", "batch_size", "n_iter", "k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.compute_dtype not in _COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be 'float64' or 'input', "
                             f"got {self.compute_dtype!r}")

    def _validate(self, X, reset: bool) -> torch.Tensor:
        X = validate_data(self, X, accept_sparse="csr", dtype=_DTYPES, reset=reset)
        if hasattr(X, "toarray"):
            X = X.toarray()
        return torch.tensor(self._prepare(X), device=self.device)

    def _generator(self) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.set_state(self._rng_state)
        return g

    def _init_model(self, x: torch.Tensor) -> None:
        self._check_params()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        g = torch.Generator(device=self.device).manual_seed(seed)
        # the initial weights are drawn in float32 for every dtype (one random stream)
        self._dtype = x.dtype
        self.__dict__.pop("h_samples_", None)  # CD keeps no chains
        native = self.compute_dtype == "input" or torch.device(self.device).type == "mps"
        dtype = x.dtype if native else torch.float64  # MPS has no float64
        self.rbm_ = RBM(
            self._visible_layer(x.shape[1]), Bernoulli(int(self.n_components)), generator=g
        ).to(device=self.device, dtype=dtype)
        k = int(self.k)
        self._method = PCD(int(self.batch_size), k) if self.method == "pcd" else CD(k)
        self._rng_state = g.get_state()

    def _print_iteration(self, epoch: int, record: dict, model) -> None:
        """``fit`` callback of ``verbose``: scikit-learn's line for each iteration."""
        key, label = self._verbose_metric
        print(f"[{type(self).__name__}] Iteration {epoch}, {label} = {record[key]:.2f}, "
              f"time = {record['seconds']:.2f}s", flush=True)

    def _train(self, x: torch.Tensor, epochs: int, batch_size: int, *,
               report: bool = False) -> None:
        g = self._generator()
        x = x.to(self.rbm_.weight.dtype)
        fit(self.rbm_, x, self._method, epochs=epochs, batch_size=batch_size,
            lr=float(self.learning_rate), momentum=0.0, transforms=self._gradient_transforms(),
            generator=g, monitor=_VERBOSE_ROWS if report else 0, progress=False,
            callbacks=(self._print_iteration,) if report else ())
        chains = getattr(self._method, "chains", None)
        if chains is not None:  # the persistent chains' hidden units, as scikit-learn's
            with torch.no_grad():
                h = self.rbm_.sample_h_from_v(chains, generator=g)
            self.h_samples_ = self._to_numpy(h, self._out_dtype)
        self._rng_state = g.get_state()

    def fit(self, X, y=None):
        """Fit the model to ``X`` (n_samples, n_features); returns self."""
        x = self._validate(X, reset=True)
        self._init_model(x)
        self._train(x, int(self.n_iter), int(self.batch_size), report=self.verbose > 0)
        return self

    def partial_fit(self, X, y=None):
        """One gradient step on ``X`` taken as one mini-batch; returns self."""
        first = not hasattr(self, "rbm_")
        x = self._validate(X, reset=first)
        if first:
            self._init_model(x)
        self._train(x, 1, x.shape[0])
        return self

    def _to_numpy(self, t: torch.Tensor, dtype) -> np.ndarray:
        return t.detach().cpu().numpy().astype(dtype, copy=False)

    def transform(self, X):
        """Hidden-unit probabilities ``P(h = 1 | v)``, shape (n_samples, n_components)."""
        check_is_fitted(self)
        x = self._validate(X, reset=False)
        with torch.no_grad():
            return self._to_numpy(self.rbm_.mean_h_from_v(x.to(self.rbm_.weight)), self._out_dtype)

    def _gibbs(self, v) -> np.ndarray:
        check_is_fitted(self)
        x = self._validate(v, reset=False)
        g = self._generator()
        out = self.rbm_.gibbs(x.to(self.rbm_.weight), 1, generator=g)
        self._rng_state = g.get_state()
        return self._to_numpy(out, self._out_dtype)

    @property
    def components_(self) -> np.ndarray:
        """Weights, shape (n_components, n_features)."""
        return self._to_numpy(self.rbm_.weight.T, self._out_dtype)

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """Hidden biases, shape (n_components,)."""
        return self._to_numpy(self.rbm_.hidden.bias, self._out_dtype)

    @property
    def intercept_visible_(self) -> np.ndarray:
        """Visible biases, shape (n_features,)."""
        return self._to_numpy(self.rbm_.visible.bias, self._out_dtype)

    @property
    def _out_dtype(self):
        check_is_fitted(self)
        return np.dtype(str(self._dtype).removeprefix("torch."))

    @property
    def _n_features_out(self) -> int:
        return int(self.n_components)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class BernoulliRBM(_RBMEstimator):
    """Bernoulli RBM with binary visible and hidden units (scikit-learn drop-in).

    Parameters
    ----------
    n_components : int, default 256
        Number of hidden units.
    learning_rate : float, default 0.1
        SGD step on the mean gradient of a mini-batch.
    batch_size : int, default 10
    n_iter : int, default 10
        Passes over the data.
    verbose : int, default 0
        When > 0, ``fit`` prints a line per iteration as scikit-learn does,
        ``[BernoulliRBM] Iteration 1, pseudo-likelihood = -20.51, time = 0.12s``: the
        mean exact pseudo-log-likelihood of up to 1000 evenly spaced training rows and
        the iteration's training time.
    random_state : int, RandomState or None
        Seeds the initial weights and all sampling.
    method : {"pcd", "cd"}, default "pcd"
        Persistent CD with ``batch_size`` chains (as scikit-learn), or CD.
    k : int, default 1
        Gibbs sweeps per update.
    device : str, default "cpu"
        Torch device, e.g. "cuda".
    compute_dtype : {"float64", "input"}, default "float64"
        Train in float64 (same-seed fits of float32 and float64 data agree), or in the
        input's dtype (faster for float32; see the module notes). On "mps" devices,
        which have no float64, always the input's dtype.

    Attributes
    ----------
    components_ : ndarray, shape (n_components, n_features)
    intercept_hidden_ : ndarray, shape (n_components,)
    intercept_visible_ : ndarray, shape (n_features,)
    h_samples_ : ndarray, shape (batch_size, n_components)
        Hidden states of the persistent chains (``method="pcd"`` only): a draw of the
        hidden units given the chains' visible states after the last update.
    n_features_in_ : int
    rbm_ : harmonium.RBM
        The underlying model (``harmonium.save`` it, sample it, ...), in
        ``compute_dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from harmonium.sklearn import BernoulliRBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> BernoulliRBM(n_components=2, random_state=0).fit(X).transform(X).shape
    (4, 2)
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, method="pcd", k=1, device="cpu",
                 compute_dtype="float64"):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.method = method
        self.k = k
        self.device = device
        self.compute_dtype = compute_dtype

    def _visible_layer(self, n_features):
        return Bernoulli(n_features)

    def _prepare(self, X):
        return np.clip(X, 0.0, 1.0)

    def gibbs(self, v):
        """One Gibbs sweep ``v -> h -> v'``; returns the boolean sample v', shape like v."""
        return self._gibbs(v).astype(bool)

    def score_samples(self, X):
        """Exact pseudo-log-likelihood of each sample (X rounded to {0, 1}), shape (n,)."""
        check_is_fitted(self)
        x = self._validate(X, reset=False)
        pll = pseudo_log_likelihood(self.rbm_, (x >= 0.5).to(self.rbm_.weight))
        return self._to_numpy(pll, self._out_dtype)


class GaussianBernoulliRBM(_RBMEstimator):
    """RBM with Gaussian visible and Bernoulli hidden units, for real-valued data.

    Features are standardised (``mean_``, ``scale_``) before training, so unit
    variances are a sound start; ``learn_variance=True`` also learns each visible
    unit's precision (Cho, Ilin and Raiko 2011).

    Parameters
    ----------
    n_components : int, default 256
    learning_rate : float, default 0.01
    batch_size : int, default 10
    n_iter : int, default 10
    verbose : int, default 0
        When > 0, ``fit`` prints a line per iteration (the reconstruction error of up
        to 1000 evenly spaced training rows, standardised units, and the time).
    random_state : int, RandomState or None
    method : {"pcd", "cd"}, default "pcd"
    k : int, default 1
    learn_variance : bool, default False
    device : str, default "cpu"
    compute_dtype : {"float64", "input"}, default "float64"
        As in :class:`BernoulliRBM`.

    Attributes
    ----------
    components_, intercept_hidden_, intercept_visible_ : ndarray
        As in :class:`BernoulliRBM` (in standardised units).
    precision_ : ndarray, shape (n_features,)
        Precision of each visible unit (1 / variance, standardised units).
    mean_, scale_ : ndarray, shape (n_features,)
        Standardisation.
    h_samples_ : ndarray, shape (batch_size, n_components)
        As in :class:`BernoulliRBM`.
    rbm_ : harmonium.RBM
    """

    def __init__(self, n_components=256, *, learning_rate=0.01, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, method="pcd", k=1, learn_variance=False,
                 device="cpu", compute_dtype="float64"):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.method = method
        self.k = k
        self.learn_variance = learn_variance
        self.device = device
        self.compute_dtype = compute_dtype

    _verbose_metric = ("recon_error", "reconstruction error")

    def _visible_layer(self, n_features):
        return Gaussian(n_features)

    def _gradient_transforms(self):
        return () if self.learn_variance else (FreezeParameter("visible", "precision"),)

    def _prepare(self, X):
        if not hasattr(self, "mean_") or getattr(self, "_refit", False):
            self.mean_ = X.mean(0)
            std = X.std(0)
            self.scale_ = np.where(std > 0, std, 1.0).astype(X.dtype)
        return (X - self.mean_) / self.scale_

    def fit(self, X, y=None):
        """Standardise and fit ``X`` (n_samples, n_features); returns self."""
        self._refit = True
        try:
            return super().fit(X, y)
        finally:
            self._refit = False

    @property
    def precision_(self) -> np.ndarray:
        return self._to_numpy(self.rbm_.visible.precision, self._out_dtype)

    def score_samples(self, X):
        """Negative free energy ``-F(x)`` = log p(x) + log Z (standardised x), shape (n,)."""
        check_is_fitted(self)
        x = self._validate(X, reset=False)
        with torch.no_grad():
            score = -self.rbm_.free_energy_visible(x.to(self.rbm_.weight))
        return self._to_numpy(score, self._out_dtype)

    def gibbs(self, v):
        """One Gibbs sweep ``v -> h -> v'`` in the original units, shape like v."""
        return self._gibbs(v) * self.scale_ + self.mean_
