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

#: pseudo-count added to every state when an independent-units model is fitted to data
SMOOTHING = 0.5

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
        """Rebuild a layer of its registered type from :meth:`to_state`'s dict.

        Raises
        ------
        ValueError
            If the type is unknown or ``params`` is not a finite floating tensor of
            shape ``(n_params, n_units, ...)``.
        """
        from harmonium.io import state_tensor, state_value  # io sits above units

        kind = unit_type(state_value(state, "type", str, owner="unit layer"))
        params = state_tensor(state, "params", owner=f"{kind.__name__} layer")
        if params.dim() < 2 or 0 in params.shape:  # the type checks n_params
            raise ValueError(
                f"the {kind.__name__} layer's params must be a tensor of shape "
                f"(n_params, n_units, ...) with n_units >= 1, got {tuple(params.shape)}")
        return kind._from_state(state)

    @classmethod
    def _from_state(cls, state: dict) -> Units:
        return cls.from_params(state["params"])

    def with_params(self, params: torch.Tensor) -> Units:
        """A layer of this type and layout holding ``params`` (not copied, no gradient)."""
        return type(self).from_params(params, requires_grad=False)

    def layout(self) -> tuple:
        """What two layers must share to be interpolated: type and shape."""
        return (type(self), self.shape)

    def scaled(self, beta: float) -> Units:
        """This layer with its energy multiplied by ``beta`` (parameters detached)."""
        return self.with_params(self.params.detach() * beta)

    def mixed(self, other: Units, beta: float) -> Units:
        """Layer with energy ``(1 - beta) E_other + beta E_self`` (parameters detached).

        Every unit energy is linear in ``params``, so this is the linear interpolation
        of the parameter tensors: the path AIS anneals along.
        """
        if not isinstance(other, Units) or other.layout() != self.layout():
            raise ValueError(f"cannot mix {self!r} with {other!r}: the layouts differ")
        return self.with_params(
            (1.0 - beta) * other.params.detach() + beta * self.params.detach()
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

    def gauge_weights_(self, weight: torch.Tensor) -> torch.Tensor | None:
        """Move the weights to this layer into its gauge, in place.

        Parameters
        ----------
        weight : torch.Tensor, shape (*shape, *other_shape)
            The weights between this layer and the other one, this layer's axes first.

        Returns
        -------
        torch.Tensor of shape other_shape, or None
            ``d`` such that for every state ``x`` of this layer the other layer's
            input ``x W`` became ``x W + d`` (the other layer absorbs it with
            :meth:`absorb_input_`); ``None`` when the weights have no gauge here
            (every change of them changes the distribution), the default.
        """
        return None

    def absorb_input_(self, d: torch.Tensor) -> None:
        """Make every input this layer receives larger by ``d`` without changing anything.

        Afterwards the layer given the input ``I + d`` is the layer given ``I`` before,
        and its energy is larger by ``<d, x>``, which the interaction ``-<v, W h>`` of
        the moved weights pays back. The default is for units whose linear field is
        the bias (the energy's ``-theta x`` term): ``theta -= d``.

        Parameters
        ----------
        d : torch.Tensor, shape (*shape)
        """
        with torch.no_grad():
            self.params[0].sub_(d)

    # ----- what training, estimation and monitoring ask of a layer -------------------
    #: ``E(x) = -theta.x`` and ``cgf`` depends on ``theta + I`` alone (Bernoulli, Spin,
    #: Categorical): parameter gradients are then weighted sums of states or means.
    bias_only: bool = False

    #: Range of the conditional means of each unit (state indicator), or ``None``
    #: when unbounded: ``(0, 1)`` for Bernoulli and Categorical units.
    mean_bounds: tuple[float, float] | None = None

    def precision_range(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The smallest and largest quadratic precision of each unit, or ``None``.

        For unbounded real units whose energy grows as ``gamma x^2 / 2`` (``gamma``
        may differ on the two sides of zero): the two bounds :meth:`harmonium.RBM.
        check_proper` tests the joint distribution with. ``None`` for bounded units
        (any coupling then gives a proper joint) and for units with no such precision.
        This default reads a parameter named ``precision`` (Gaussian, ReLU).

        Returns
        -------
        (torch.Tensor, torch.Tensor) or None
            Each detached, shape (n_units,).
        """
        if self.mean_bounds is not None or "precision" not in self.param_names:
            return None
        gamma = self.params[self.param_names.index("precision")].detach().flatten()
        return gamma, gamma

    def energy_grad_(self, out: torch.Tensor, states, coefs) -> None:
        """Write ``d/dparams sum_k sum_b coefs[k][b] E(states[k][b])`` into ``out``.

        Parameters
        ----------
        out : torch.Tensor, shape (n_params, *shape)
            Overwritten (a reused gradient buffer).
        states : sequence of torch.Tensor, each (n_k, *shape)
        coefs : sequence of torch.Tensor, each (n_k,)
        """
        # *the bias-only shortcuts sum last to first (an RBM's negative phase, then its
        # data): the order of earlier releases, so training stays bit for bit the same
        if self.bias_only:  # dE/dtheta = -x
            pairs = zip(reversed(states), reversed(coefs), strict=True)  # last to first*
            x, c = next(pairs)
            flat = out.view(-1).addmv_(x.flatten(1).T, c, beta=0.0, alpha=-1.0)  # set
            for x, c in pairs:
                flat.addmv_(x.flatten(1).T, c, alpha=-1.0)
            return
        self._autograd_into(out, self.energy, states, coefs)

    def cgf_grad_(self, out: torch.Tensor, inputs, means, coefs) -> None:
        """Write ``d/dparams sum_k sum_b coefs[k][b] cgf(inputs[k][b])`` into ``out``.

        Parameters
        ----------
        out : torch.Tensor, shape (n_params, *shape)
            Overwritten (a reused gradient buffer).
        inputs : sequence of torch.Tensor, each (n_k, *shape)
            Input fields.
        means : sequence of torch.Tensor, each (n_k, *shape)
            ``mean_from_inputs(inputs[k])``, already computed by the caller.
        coefs : sequence of torch.Tensor, each (n_k,)
        """
        if self.bias_only:  # dcgf/dtheta = E[x | I]
            pairs = zip(reversed(means), reversed(coefs), strict=True)  # last to first*
            m, c = next(pairs)
            flat = out.view(-1).addmv_(m.flatten(1).T, c, beta=0.0)  # set
            for m, c in pairs:
                flat.addmv_(m.flatten(1).T, c)
            return
        self._autograd_into(out, self.cgf, inputs, coefs)

    def _autograd_into(self, out, term, args, coefs) -> None:
        with torch.enable_grad():
            total = sum((c * term(a)).sum() for a, c in zip(args, coefs, strict=True))
            (grad,) = torch.autograd.grad(total, self.params)
        out.copy_(grad)

    def annealing_start(self) -> torch.Tensor:
        """Parameters of this layer at the start (``beta = 0``) of an annealing path.

        The bias is zeroed and every other parameter (a Gaussian precision) is kept, so
        the layer stays a proper distribution; shape ``(n_params, *shape)``.
        """
        start = self.params.detach().clone()
        start[0] = 0.0
        return start

    def fit_independent(self, x: torch.Tensor) -> Units:
        """The maximum-likelihood independent-units layer of data ``x`` (the AIS base).

        Parameters
        ----------
        x : torch.Tensor, shape (n_samples, *shape)
            Data in the layer's support, float64 for accuracy.

        Returns
        -------
        Units
            A detached layer of this type and shape, in ``x``'s dtype.
        """
        raise TypeError(f"no independent-units model for {type(self).__name__} units")

    def discretize(self, x: torch.Tensor) -> torch.Tensor | None:
        """``x`` moved into the discrete support (mean activities rounded), or ``None``.

        ``None`` for continuous units, which have no discrete states to score.
        """
        return None

    def flip_deltas(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Changes of each unit's state and energy when it moves to each other state.

        The pseudo-likelihood's ingredient: every other state of unit ``i`` differs from
        ``x`` in unit ``i`` alone.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, *shape)
            Discrete states.

        Returns
        -------
        d_states : torch.Tensor, shape (batch, n_units, m, width)
            New minus current state of the unit, for its ``m`` other states; ``width``
            is 1 for scalar units and ``k`` for one-hot ones.
        d_energy : torch.Tensor, shape (batch, n_units, m)
            The matching changes of the layer's own energy ``E(x)``.
        """
        raise ValueError(
            f"{type(self).__name__} units have no discrete states to flip "
            "(pseudo-likelihood needs discrete visible units)"
        )

    def check_data(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Check training data: the support, or for two-state units the interval between.

        Two-state units also accept values between their states, read as probabilities
        (grey-level images scaled to [0, 1]); every other unit type needs its support.
        """
        return self.check_support(x, name)

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
