"""Deep Boltzmann machines (Salakhutdinov and Hinton 2009): layers coupled in a chain.

A DBM has unit layers ``x_0 = v, x_1, ..., x_L`` (any unit types of
:mod:`harmonium.units`) and weights ``W_k`` between consecutive layers only::

    E(x) = sum_k E_k(x_k) - sum_{k < L} <x_k, W_k x_{k+1}>

Each pair of consecutive layers is held as an :class:`~harmonium.RBM` sharing its unit
layers with its neighbours, so fields, conditionals and interaction energies are the
RBM's. Layers of one parity are conditionally independent given the other parity:

- **Gibbs sweeps** (:meth:`DBM.gibbs`) draw the odd layers given the even ones, then
  the even layers given the odd ones.
- **Mean field** (:meth:`DBM.mean_field`) approximates ``p(h | v)`` by a factorial
  ``q`` whose layer ``k`` is the layer's own conditional given a field ``I_k``; the
  fixed point ``I_k = mu_{k-1} W_{k-1} + W_k mu_{k+1}`` is found by block coordinate
  ascent (odd hidden layers, then even ones), started from a bottom-up pass with
  doubled weights (the recognition pass of the paper).
- **The variational bound** (:meth:`DBM.mean_field_bound`): with ``mu_k`` the means of
  ``q`` and ``cgf_k`` the layers' log-partitions,

      log p(v) >= -E_0(v) + sum_k <mu_k, W_k mu_{k+1}>
                  + sum_{k >= 1} [cgf_k(I_k) - <I_k, mu_k>] - log Z

  (``mu_0 = v``): the hidden layers' own energies cancel between ``E_q[-E]`` and the
  entropy of ``q``, so the bound needs only ``cgf`` and the means of each unit type.

Training is :func:`harmonium.training.dbm.pretrain_dbm` and
:func:`harmonium.training.dbm.fit_dbm`, classification
:func:`harmonium.training.dbm.fine_tune_dbm`; ``log Z`` is
:func:`harmonium.partition.ais_dbm.ais_dbm`.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from harmonium._numerics import check_positive_int
from harmonium.io import savable, state_tensor, state_value
from harmonium.models._dbm_net import MeanFieldAugmentedNet, augment, classifier_from_state
from harmonium.models.rbm import RBM
from harmonium.units import Units

__all__ = ["DBM"]


def _check_fraction(value, name: str, *, upper_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (0 <= value < 1 if upper_open else 0 < value):
        expected = "in [0, 1)" if upper_open else "> 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


@savable
class DBM(nn.Module):
    """Deep Boltzmann machine over a chain of unit layers.

    Parameters
    ----------
    layers : sequence of Units
        ``[visible, hidden_1, ..., hidden_L]`` (at least two), e.g.
        ``[Bernoulli(784), Bernoulli(500), Bernoulli(1000)]``. The layer objects
        become the model's own.
    weight_std : float
        Standard deviation of the initial weights.
    generator : torch.Generator, optional
        Source of the initial weights.

    Attributes
    ----------
    rbms : torch.nn.ModuleList of RBM
        ``rbms[k]`` couples layers ``k`` and ``k + 1`` with weight ``W_k`` of shape
        ``layers[k].shape + layers[k + 1].shape``; consecutive RBMs share a layer.

    Examples
    --------
    >>> from harmonium.models.dbm import DBM
    >>> from harmonium.units import Bernoulli
    >>> dbm = DBM([Bernoulli(784), Bernoulli(500), Bernoulli(1000)])
    >>> [tuple(w.shape) for w in dbm.weights]
    [(784, 500), (500, 1000)]
    """

    def __init__(self, layers, *, weight_std: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__()
        if isinstance(layers, Units) or not hasattr(layers, "__len__"):
            raise TypeError("layers must be a sequence of unit layers such as "
                            f"[Bernoulli(784), Bernoulli(500)], got {layers!r}")
        layers = list(layers)
        if len(layers) < 2:
            raise ValueError(f"a DBM needs at least 2 layers, got {len(layers)}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("each layer of a DBM must be a distinct Units object")
        self.rbms = nn.ModuleList(
            RBM(a, b, weight_std=weight_std, generator=generator)
            for a, b in itertools.pairwise(layers))
        self.classifier: MeanFieldAugmentedNet | None = None

    # ----- structure ---------------------------------------------------------------------
    @property
    def layers(self) -> list[Units]:
        """The unit layers, visible first."""
        return [self.rbms[0].visible, *(r.hidden for r in self.rbms)]

    @property
    def weights(self) -> list[nn.Parameter]:
        """``W_0 ... W_{L-1}``, bottom first."""
        return [r.weight for r in self.rbms]

    @property
    def n_visible(self) -> int:
        return self.rbms[0].visible.n_units

    def extra_repr(self) -> str:
        return "-".join(str(layer.n_units) for layer in self.layers)

    # ----- validation --------------------------------------------------------------------
    def check_visible(self, v, name: str = "v", *, probabilities: bool = True) -> torch.Tensor:
        """Validate visible data (batch, *visible.shape); two-state units take values
        between their states (probabilities) unless ``probabilities=False``."""
        return self.rbms[0].check_visible(v, name, probabilities=probabilities)

    def check_states(self, states, name: str = "states") -> list[torch.Tensor]:
        """Validate full states: one tensor per layer, (batch, *layer.shape), in support."""
        layers = self.layers
        if not isinstance(states, (list, tuple)) or len(states) != len(layers):
            raise ValueError(f"{name} must be a list of {len(layers)} tensors (one per "
                             f"layer), got {type(states).__name__}")
        out = [self.check_visible(states[0], f"{name}[0]", probabilities=False)]
        for i, (rbm, x) in enumerate(zip(self.rbms, states[1:], strict=True)):
            layer, x = rbm.hidden, torch.as_tensor(x)
            if tuple(x.shape) != (out[0].shape[0], *layer.shape):
                raise ValueError(f"{name}[{i + 1}] must have shape "
                                 f"{(out[0].shape[0], *layer.shape)}, got {tuple(x.shape)}")
            x = x.to(rbm.weight)
            if not torch.isfinite(x).all():
                raise ValueError(f"{name}[{i + 1}] contains NaN or infinite values")
            out.append(layer.check_support(x, f"{name}[{i + 1}]"))
        return out

    # ----- fields and energies ------------------------------------------------------------
    def inputs_to(self, k: int, states) -> torch.Tensor:
        """Input field of layer ``k`` from its neighbours, shape (batch, *layers[k].shape).

        ``states`` is a list with one tensor (states or means) per layer; only the
        entries of layers ``k - 1`` and ``k + 1`` are read.
        """
        field = None
        if k > 0:
            field = self.rbms[k - 1].inputs_h_from_v(states[k - 1])
        if k < len(self.rbms):
            down = self.rbms[k].inputs_v_from_h(states[k + 1])
            field = down if field is None else field + down
        return field

    def energy(self, states) -> torch.Tensor:
        """Joint energy ``E(x_0, ..., x_L)``, shape (batch,).

        Parameters
        ----------
        states : list of array-like
            One (batch, *layers[k].shape) tensor per layer, in the units' support.
        """
        return self.energy_unchecked(self.check_states(states))

    def energy_unchecked(self, states) -> torch.Tensor:
        """:meth:`energy` without validation, shape (batch,)."""
        total = sum(layer.energy(x) for layer, x in zip(self.layers, states, strict=True))
        for k, rbm in enumerate(self.rbms):
            total = total + rbm.interaction_energy(states[k], states[k + 1])
        return total

    # ----- sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def random_states(self, n: int, *, generator=None) -> list[torch.Tensor]:
        """Draw ``n`` states of every layer from its bias-only distribution (chain starts).

        Returns
        -------
        list of torch.Tensor, each (n, *layers[k].shape)
        """
        n = check_positive_int(n, "n")
        w = self.rbms[0].weight
        return [layer.sample_from_inputs(torch.zeros(n, *layer.shape, dtype=w.dtype,
                                                     device=w.device), generator=generator)
                for layer in self.layers]

    @torch.no_grad()
    def gibbs(self, states, steps: int = 1, *, clamp_visible: bool = False,
              generator=None) -> list[torch.Tensor]:
        """Run ``steps`` sweeps: odd layers given even ones, then even layers given odd.

        Parameters
        ----------
        states : list of torch.Tensor
            One (batch, *layers[k].shape) tensor per layer (not modified).
        steps : int
        clamp_visible : bool
            Keep layer 0 fixed (sample ``p(h | v)``).
        generator : torch.Generator, optional

        Returns
        -------
        list of torch.Tensor
            The new states, one per layer.
        """
        steps = check_positive_int(steps, "steps")
        states = self.check_states(states)
        return self.gibbs_unchecked(states, steps, clamp_visible=clamp_visible,
                                    generator=generator)

    def gibbs_unchecked(self, states, steps: int, *, clamp_visible: bool = False,
                        generator=None) -> list[torch.Tensor]:
        """:meth:`gibbs` without validation (the inner loop of training)."""
        states, layers = list(states), self.layers
        first_even = 2 if clamp_visible else 0
        for _ in range(steps):
            for start in (1, first_even):
                for k in range(start, len(layers), 2):
                    states[k] = layers[k].sample_from_inputs(self.inputs_to(k, states),
                                                             generator=generator)
        return states

    # ----- mean field --------------------------------------------------------------------
    def mean_field_fields(self, v: torch.Tensor, steps: int = 30, tol: float = 1e-5,
                          damping: float = 0.0) -> tuple[list, list]:
        """Mean-field fields and means of the hidden layers given ``v`` (no validation).

        Returns
        -------
        fields, means : lists of torch.Tensor, one per layer
            Entry 0 is ``None`` / ``v``; ``means[k] = mean_from_inputs(fields[k])`` of the
            last block update.
        """
        layers, depth = self.layers, len(self.rbms)
        means, fields = [v], [None]
        for k in range(1, depth + 1):  # recognition pass: doubled input below the top
            up = self.rbms[k - 1].inputs_h_from_v(means[-1])
            fields.append(up * 2 if k < depth else up)
            means.append(layers[k].mean_from_inputs(fields[-1]))
        for _ in range(steps):
            change = 0.0
            for start in (1, 2):
                for k in range(start, depth + 1, 2):
                    fields[k] = self.inputs_to(k, means)
                    new = layers[k].mean_from_inputs(fields[k])
                    if damping:
                        new = damping * means[k] + (1 - damping) * new
                    change = max(change, (new - means[k]).abs().max().item())
                    means[k] = new
            if change < tol:
                break
        return fields, means

    @torch.no_grad()
    def mean_field(self, v, *, steps: int = 30, tol: float = 1e-5,
                   damping: float = 0.0) -> list[torch.Tensor]:
        """Means of the factorial approximation ``q(h | v)`` at its fixed point.

        Parameters
        ----------
        v : array-like, shape (batch, *visible.shape)
        steps : int
            At most this many rounds of block updates (odd hidden layers, then even).
        tol : float
            Stop once no mean moves by more than ``tol`` in a round.
        damping : float in [0, 1)
            ``mu <- damping * mu + (1 - damping) * mu_new`` (0: plain updates, which
            never decrease the bound).

        Returns
        -------
        list of torch.Tensor
            ``mu_1 ... mu_L``, each (batch, *layers[k].shape).
        """
        steps = check_positive_int(steps, "steps")
        tol = _check_fraction(tol, "tol", upper_open=False)
        damping = _check_fraction(damping, "damping", upper_open=True)
        return self.mean_field_fields(self.check_visible(v), steps, tol, damping)[1][1:]

    def bound_from_fields(self, v: torch.Tensor, fields) -> torch.Tensor:
        """``log p*(v)`` lower bound of the factorial ``q`` given by the hidden ``fields``.

        The unnormalised bound (add ``-log Z`` for ``log p(v)``), shape (batch,).
        """
        layers = self.layers
        means = [v] + [layer.mean_from_inputs(f) for layer, f in zip(layers[1:], fields[1:],
                                                                     strict=True)]
        total = -layers[0].energy(v)
        for k, rbm in enumerate(self.rbms):
            total = total - rbm.interaction_energy(means[k], means[k + 1])
            field = fields[k + 1]
            total = total + layers[k + 1].cgf(field) - (field * means[k + 1]).flatten(1).sum(1)
        return total

    @torch.no_grad()
    def mean_field_bound(self, v, log_z: float = 0.0, *, steps: int = 30,
                         tol: float = 1e-5) -> torch.Tensor:
        """Variational lower bound on ``log p(v)`` with the mean-field ``q(h | v)``.

        Parameters
        ----------
        v : array-like, shape (batch, *visible.shape)
        log_z : float
            ``log Z`` (e.g. an AIS estimate); 0 gives the unnormalised bound.
        steps, tol
            As in :meth:`mean_field`.

        Returns
        -------
        torch.Tensor, shape (batch,)
            ``E_q[-E(v, h)] + H(q) - log_z`` (computed in float64).
        """
        steps = check_positive_int(steps, "steps")
        tol = _check_fraction(tol, "tol", upper_open=False)
        v = self.check_visible(v)
        fields = self.mean_field_fields(v, steps, tol)[0]
        model64 = self if v.dtype == torch.float64 else copy.deepcopy(self).double()
        fields64 = [None] + [f.double() for f in fields[1:]]
        return model64.bound_from_fields(v.double(), fields64) - float(log_z)

    # ----- classification -----------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, x, *, steps: int = 30) -> torch.Tensor:
        """Class probabilities of the fine-tuned mean-field-augmented network.

        Parameters
        ----------
        x : array-like, shape (n_samples, *visible.shape)
        steps : int
            Mean-field rounds for the augmented input.

        Returns
        -------
        torch.Tensor, shape (n_samples, n_classes)
        """
        if self.classifier is None:
            raise ValueError("this DBM has no classifier: run harmonium.training.dbm."
                             "fine_tune_dbm first")
        x = self.check_visible(x, "x")
        steps = check_positive_int(steps, "steps")
        return torch.softmax(self.classifier(augment(self, x, steps)), 1)

    def predict(self, x, *, steps: int = 30) -> torch.Tensor:
        """Most probable class of each sample, shape (n_samples,) int64."""
        return self.predict_proba(x, steps=steps).argmax(1)

    # ----- saving ------------------------------------------------------------------------
    def _to_state(self) -> dict:
        state = {"layers": [layer.to_state() for layer in self.layers],
                 "weights": self.weights}
        if self.classifier is not None:
            state["classifier"] = dict(self.classifier.state_dict())
        return state

    @classmethod
    def _from_state(cls, state: dict) -> DBM:
        own = "DBM"
        saved = state_value(state, "layers", list, owner=own)
        if len(saved) < 2:
            raise ValueError(f"the DBM state needs at least 2 layers, got {len(saved)}")
        layers = []
        for i, layer_state in enumerate(saved):
            try:
                layers.append(Units.layer_from_state(
                    state_value({"layer": layer_state}, "layer", dict, owner=own)))
            except ValueError as exc:
                raise ValueError(f"the DBM's layer {i}: {exc}") from None
        weights = state_value(state, "weights", list, owner=own)
        if len(weights) != len(layers) - 1:
            raise ValueError(f"the DBM state has {len(layers)} layers and {len(weights)} "
                             f"weights; expected {len(layers) - 1}")
        dtype = layers[0].params.dtype
        tensors = [state_tensor({"w": w}, "w", (*a.shape, *b.shape), owner=own, dtype=dtype)
                   for w, a, b in zip(weights, layers[:-1], layers[1:], strict=True)]
        dbm = cls(layers, weight_std=0.0)
        with torch.no_grad():
            for rbm, w in zip(dbm.rbms, tensors, strict=True):
                rbm.weight.copy_(w)
        if "classifier" in state:
            dbm.classifier = classifier_from_state(
                dbm, state_value(state, "classifier", dict, owner=own))
        return dbm
