"""Gradient transforms: composable modifiers of the gradients in ``.grad``.

In the spirit of optax's ``GradientTransformation``, a transform is a pair of functions
with explicit state, here an object with two methods:

``init(model) -> state``
    The transform's state (a dict of tensors and JSON values; ``{}`` when stateless),
    owned by the training loop and saved in its checkpoints.
``update(model, state, batch) -> state``
    Modify the gradients already written into the model's ``.grad`` tensors, in
    place, and return the new state. ``batch`` is what the step reported about the
    mini-batch (for an RBM, a :class:`~harmonium.training.gradient.RBMBatch`); most
    transforms ignore it.

:func:`chain` composes transforms in order. The loop runs the chain after the step
has written the gradients and before the optimiser steps, so a user adds a modifier
by passing an object with these two methods, without editing the library.
"""

from __future__ import annotations

import math

import torch

from harmonium import parallel

__all__ = ["L1", "Chain", "FreezeParameter", "Sparsity", "WeightDecay", "chain"]


def _check_coefficient(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class _Stateless:
    """Transforms that keep no state: ``init`` returns ``{}``."""

    def init(self, model) -> dict:
        return {}


class WeightDecay(_Stateless):
    """Add ``coef * W`` to the gradient of the couplings (an L2 penalty ``coef/2 |W|^2``).

    Parameters
    ----------
    coef : float
        Penalty weight (>= 0).
    mask_attr : str, optional
        Name of a model attribute holding a 0/1 tensor that restricts the penalty to
        allowed couplings (a Boltzmann machine's ``connectivity``).
    """

    def __init__(self, coef: float, mask_attr: str | None = None):
        self.coef = _check_coefficient(coef, "weight_decay")
        self.mask_attr = mask_attr

    def __repr__(self) -> str:
        return f"WeightDecay({self.coef:g})"

    @torch.no_grad()
    def update(self, model, state: dict, batch=None) -> dict:
        weight = model.weight
        if self.mask_attr is None:
            weight.grad.add_(weight, alpha=self.coef)
        else:
            weight.grad.add_(weight * getattr(model, self.mask_attr), alpha=self.coef)
        return state


class L1(_Stateless):
    """Add ``coef * sign(W)`` to the gradient of the couplings (an L1 penalty).

    Parameters
    ----------
    coef : float
        Penalty weight (>= 0).
    """

    def __init__(self, coef: float):
        self.coef = _check_coefficient(coef, "l1")

    def __repr__(self) -> str:
        return f"L1({self.coef:g})"

    @torch.no_grad()
    def update(self, model, state: dict, batch=None) -> dict:
        model.weight.grad.add_(model.weight.sign(), alpha=self.coef)
        return state


class Sparsity:
    """Penalise hidden activations away from a target (Lee, Ekanadham and Ng 2008).

    Adds the gradient of ``cost * sum_j BCE(target, q_j)``, where ``q_j`` is the
    batch-mean activation of hidden unit ``j`` on the data, with respect to the
    weights and the hidden parameters. Needs hidden units whose means lie in [0, 1].

    Parameters
    ----------
    target : float
        Target mean activation, in (0, 1).
    cost : float
        Penalty weight (>= 0).
    """

    def __init__(self, target: float, cost: float = 0.1):
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not (
            0.0 < target < 1.0
        ):
            raise ValueError(f"sparsity must be in (0, 1), got {target!r}")
        self.target = float(target)
        self.cost = _check_coefficient(cost, "sparsity_cost")

    def __repr__(self) -> str:
        return f"Sparsity({self.target:g}, cost={self.cost:g})"

    def init(self, model) -> dict:
        if model.hidden.mean_bounds != (0.0, 1.0):
            raise ValueError("a sparsity target needs hidden units with means in [0, 1] "
                             "such as Bernoulli units")
        return {}

    def update(self, model, state: dict, batch) -> dict:
        if parallel.world()[1] > 1:
            raise ValueError("Sparsity is not data-parallel yet: train in one process")
        hidden = model.hidden
        inputs = batch.inputs_h.detach().requires_grad_(True)
        wrt = (inputs, hidden.params) if hidden.params.requires_grad else (inputs,)
        with torch.enable_grad():
            eps = torch.finfo(inputs.dtype).eps
            q = hidden.mean_from_inputs(inputs).mean(0).clamp(eps, 1.0 - eps)
            bce = -(self.target * torch.log(q) + (1.0 - self.target) * torch.log1p(-q))
            grads = torch.autograd.grad(self.cost * bce.sum(), wrt)
        with torch.no_grad():
            v = batch.v_data.flatten(1)
            grad_w = model.weight.grad.view(v.shape[1], -1)
            grad_w.addmm_(v.T, grads[0].flatten(1))
            if len(grads) > 1:
                hidden.params.grad.add_(grads[1])
        return state


class FreezeParameter:
    """Zero the gradient of one named parameter of a layer (keep it fixed).

    Parameters
    ----------
    layer : {"visible", "hidden"}
    name : str
        One of the layer's ``param_names``, e.g. ``"precision"``.
    """

    def __init__(self, layer: str, name: str):
        if layer not in ("visible", "hidden"):
            raise ValueError(f"layer must be 'visible' or 'hidden', got {layer!r}")
        self.layer, self.name = layer, name

    def __repr__(self) -> str:
        return f"FreezeParameter({self.layer!r}, {self.name!r})"

    def init(self, model) -> dict:
        names = getattr(model, self.layer).param_names
        if self.name not in names:
            raise ValueError(f"the {self.layer} layer has parameters {names}, not {self.name!r}")
        return {}

    @torch.no_grad()
    def update(self, model, state: dict, batch=None) -> dict:
        layer = getattr(model, self.layer)
        if layer.params.grad is not None:
            layer.params.grad[layer.param_names.index(self.name)] = 0.0
        return state


class Chain:
    """Transforms applied in order; the state is the list of their states."""

    def __init__(self, *transforms):
        for t in transforms:
            if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
                raise TypeError(f"a gradient transform needs init and update methods, got {t!r}")
        self.transforms = list(transforms)

    def __repr__(self) -> str:
        return f"chain({', '.join(map(repr, self.transforms))})"

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def init(self, model) -> dict:
        return {str(i): t.init(model) for i, t in enumerate(self.transforms)}

    def update(self, model, state: dict, batch=None) -> dict:
        return {str(i): t.update(model, state[str(i)], batch)
                for i, t in enumerate(self.transforms)}


def chain(*transforms) -> Chain:
    """Compose gradient transforms, applied left to right.

    Examples
    --------
    >>> from harmonium.training.transforms import L1, WeightDecay, chain
    >>> chain(WeightDecay(1e-4), L1(1e-5))
    chain(WeightDecay(0.0001), L1(1e-05))
    """
    return Chain(*transforms)
