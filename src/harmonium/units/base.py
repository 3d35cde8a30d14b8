"""The interface every unit type implements.

A layer of units answers one question: given the input field ``I`` from the other
layer, what is the distribution of my units? With its own energy ``E(x)`` (its bias
terms), the conditional is ``p(x | I) ∝ exp(-E(x) + <I, x>)`` and its log-partition
``cgf(I) = log sum_x exp(-E(x) + <I, x>)`` (see docs/math.md).

Parameters live in one tensor ``params`` of shape ``(n_params, *shape)`` with named
views (``bias``, ``precision``), so that annealing (scaling the energy by ``beta``),
interpolating two layers (AIS from a base-rate model), optimisers and device moves
are written once, here.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["Units", "unit_type"]

# every concrete unit class by name, filled by Units.__init_subclass__ (for loading)
_REGISTRY: dict[str, type[Units]] = {}


def unit_type(name: str) -> type[Units]:
    """The unit class registered under ``name`` (e.g. ``"Bernoulli"``).

    Raises
    ------
    ValueError
        If no unit class of that name has been defined.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown unit type {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


class Units(nn.Module):
    """Abstract layer of units of shape ``shape`` with parameters ``params``.

    Subclasses set ``param_names`` and implement the per-unit formulas. Inputs and
    states have shape ``(batch, *shape)``; per-sample reductions return ``(batch,)``.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample of the layer: ``(n,)`` or ``(n, k)`` for categorical units.
    params : torch.Tensor, shape (n_params, *shape)
        Initial parameters.
    """

    param_names: tuple[str, ...] = ("bias",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private helpers are not unit types
            _REGISTRY[cls.__name__] = cls

    def __init__(self, shape: tuple[int, ...], params: torch.Tensor):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if tuple(params.shape) != (len(self.param_names), *self.shape):
            raise ValueError(
                f"params must have shape {(len(self.param_names), *self.shape)}, "
                f"got {tuple(params.shape)}"
            )
        self.params = nn.Parameter(params)

    # ----- construction helpers -------------------------------------------------------
    @classmethod
    def from_params(cls, params: torch.Tensor, *, requires_grad: bool = True) -> Units:
        """A layer of this type with the given parameter tensor (not copied)."""
        obj = cls.__new__(cls)
        Units.__init__(obj, tuple(params.shape[1:]), params)
        obj.params.requires_grad_(requires_grad)
        return obj

    def to_state(self) -> dict:
        """Everything needed to rebuild this layer: its type name and parameters."""
        return {"type": type(self).__name__, "params": self.params}

    @classmethod
    def layer_from_state(cls, state: dict) -> Units:
        """Rebuild a layer of its registered type from :meth:`to_state`'s dict."""
        if not isinstance(state, dict):
            raise ValueError(f"a unit layer state must be a dict, got {type(state).__name__}")
        kind = unit_type(state.get("type"))
        params = state.get("params")
        if not isinstance(params, torch.Tensor) or params.dim() < 2:
            raise ValueError(f"the {kind.__name__} layer's params must be a tensor of 2+ axes")
        return kind._from_state(state)

    @classmethod
    def _from_state(cls, state: dict) -> Units:
        return cls.from_params(state["params"])

    def scaled(self, beta: float) -> Units:
        """This layer with its energy multiplied by ``beta`` (parameters detached)."""
        return type(self).from_params(self.params.detach() * beta, requires_grad=False)

    def mixed(self, other: Units, beta: float) -> Units:
        """Layer with energy ``(1 - beta) E_other + beta E_self`` (parameters detached).

        Every unit energy is linear in ``params``, so this is the linear interpolation
        of the parameter tensors: the path AIS anneals along.
        """
        if type(other) is not type(self) or other.shape != self.shape:
            raise ValueError(
                f"cannot mix {type(self).__name__}{self.shape} with "
                f"{type(other).__name__}{other.shape}"
            )
        return type(self).from_params(
            (1.0 - beta) * other.params.detach() + beta * self.params.detach(),
            requires_grad=False,
        )

    @property
    def n_units(self) -> int:
        """Number of units (categorical units count once, not once per state)."""
        return self.shape[0]

    @property
    def bias(self) -> torch.Tensor:
        """The linear field ``theta`` of each unit, shape ``shape``."""
        return self.params[0]

    def extra_repr(self) -> str:
        return ", ".join(str(s) for s in self.shape)

    def _sum_units(self, per_unit: torch.Tensor) -> torch.Tensor:
        """Sum a ``(batch, *shape)`` tensor over the unit axes to ``(batch,)``."""
        return per_unit.flatten(1).sum(1)

    # ----- the interface --------------------------------------------------------------
    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy of the layer's own terms, ``(batch, *shape) -> (batch,)``."""
        return -self._sum_units(x * self.bias)

    def cgf(self, inputs: torch.Tensor) -> torch.Tensor:
        """Log-partition ``log sum_x exp(-E(x) + <I, x>)``, ``(batch, *shape) -> (batch,)``."""
        raise NotImplementedError

    def mean_from_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Conditional mean ``E[x | I]`` (the gradient of ``cgf``), shape ``(batch, *shape)``."""
        raise NotImplementedError

    def var_from_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Conditional variance of each unit (each state indicator), ``(batch, *shape)``."""
        raise NotImplementedError

    def sample_from_inputs(
        self, inputs: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``x ~ p(x | I)``, shape ``(batch, *shape)``."""
        raise NotImplementedError

    def mode_from_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Most probable state given ``I``, shape ``(batch, *shape)``."""
        raise NotImplementedError

    def check_support(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Raise ``ValueError`` unless ``x`` (batch, *shape) lies in the units' support."""
        raise NotImplementedError

    def project_(self) -> None:
        """Move parameters back into their valid domain after an optimiser step."""

    def states_from_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """States of a discrete layer from state indices ``(m, n_units)`` -> ``(m, *shape)``."""
        raise ValueError(f"{type(self).__name__} units are continuous: they cannot be enumerated")

    def enumerate_states(self, chunk: int = 2**14):
        """Yield all states of a discrete layer in chunks of shape ``(<= chunk, *shape)``."""
        it = itertools.product(range(self.n_states_per_unit()), repeat=self.n_units)
        while idx := list(itertools.islice(it, chunk)):
            yield self.states_from_indices(torch.tensor(idx, device=self.params.device))

    def n_states_per_unit(self) -> int:
        """Number of states of one unit of a discrete layer."""
        raise ValueError(f"{type(self).__name__} units are continuous: they cannot be enumerated")
