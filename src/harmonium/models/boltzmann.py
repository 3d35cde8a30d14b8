"""The general Boltzmann machine (Ackley, Hinton and Sejnowski 1985).

``n = n_visible + n_hidden`` two-state units (binary {0, 1} or spin {-1, +1}); the first
``n_visible`` are visible. Any pair of units may be coupled, inside or across the two
groups; the couplings ``W`` are symmetric with a zero diagonal, and the machine is at
temperature ``T``:

    E(x) = -1/2 x'Wx - b'x,        p(x) = exp(-E(x) / T) / Z

(the Hopfield convention of ``docs/math.md``). Unit ``i`` given all the others is a
two-state unit with field ``h_i = (xW + b)_i``: ``p(x_i = high) = sigmoid((high - low)
h_i / T)``, i.e. ``sigmoid(h_i / T)`` for binary and ``sigmoid(2 h_i / T)`` for spin units.

Which pairs may be coupled is the ``connectivity`` mask (default: all pairs). Units that
share no coupling are conditionally independent, so Gibbs sampling updates them together:
the mask is greedily graph-coloured once, and a sweep updates one colour class at a time.
A fully connected machine has one unit per class (sequential Gibbs); the connectivity of
an RBM (:meth:`BoltzmannMachine.from_rbm`) has two classes (block Gibbs).

At ``T = 0`` a sweep sets every unit to its most probable state (``sign(h_i)`` for spin
units, ties to +1): the asynchronous dynamics of a Hopfield network
(:meth:`BoltzmannMachine.from_hopfield`).

The class is a thin shell over plain functions: structure and checks in
``_boltzmann_structure``, sampling in ``_boltzmann_gibbs``, enumeration in
``_boltzmann_exact``, the constructors from other models in ``_boltzmann_bridges``.
Training (the Ackley-Hinton-Sejnowski rule with persistent chains) is in
:mod:`harmonium.training.boltzmann`.
"""

from __future__ import annotations

import torch
from torch import nn

from harmonium._numerics import as_batch, check_positive_int
from harmonium.io import savable, state_tensor, state_value
from harmonium.models import _boltzmann_bridges as _bridges
from harmonium.models import _boltzmann_exact as _exact
from harmonium.models import _boltzmann_gibbs as _gibbs
from harmonium.models._boltzmann_exact import MAX_EXACT_UNITS
from harmonium.models._boltzmann_structure import (
    UNIT_TYPES,
    check_connectivity,
    check_temperature,
    colour_classes,
    random_couplings,
)

__all__ = ["MAX_EXACT_UNITS", "BoltzmannMachine"]


@savable
class BoltzmannMachine(nn.Module):
    """Boltzmann machine with symmetric couplings between all (allowed) pairs of units.

    Parameters
    ----------
    n_visible : int
        Number of visible units (>= 1).
    n_hidden : int
        Number of hidden units (>= 0). With none, the machine models the visible units
        directly (a stochastic Hopfield network).
    units : {"binary", "spin"}
        States {0, 1} or {-1, +1} for every unit.
    temperature : float
        ``T > 0``: ``p(x)`` is proportional to ``exp(-E(x) / T)``.
    connectivity : array-like of bool, shape (n, n), optional
        Which pairs may be coupled (symmetric, False on the diagonal); default all
        pairs. Couplings outside the mask stay zero, also during training.
    weight_std : float
        Standard deviation of the initial couplings.
    generator : torch.Generator, optional
        Source of the initial couplings.
    dtype : torch.dtype
        Parameter dtype (float32 by default).

    Attributes
    ----------
    weight : torch.nn.Parameter, shape (n, n)
        Couplings ``W`` (symmetric, zero diagonal, zero outside ``connectivity``).
    bias : torch.Tensor, shape (n,)
        Biases ``b`` (a view of the units' parameters).
    connectivity : torch.Tensor of bool, shape (n, n)
    blocks : list of torch.Tensor
        The colour classes: index tensors of units that Gibbs updates together.

    Examples
    --------
    >>> import torch
    >>> from harmonium import BoltzmannMachine
    >>> bm = BoltzmannMachine(6, 4, generator=torch.Generator().manual_seed(0))
    >>> x = bm.sample(5, sweeps=10, generator=torch.Generator().manual_seed(1))
    >>> x.shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int = 0,
        units: str = "binary",
        temperature: float = 1.0,
        *,
        connectivity=None,
        weight_std: float = 0.01,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.n_visible = check_positive_int(n_visible, "n_visible")
        self.n_hidden = check_positive_int(n_hidden, "n_hidden", minimum=0)
        if units not in UNIT_TYPES:
            raise ValueError(f"units must be one of {tuple(UNIT_TYPES)}, got {units!r}")
        self.unit_type = units
        self.temperature = check_temperature(temperature)
        n = self.n_units
        self.layer = UNIT_TYPES[units](n).to(dtype)
        self.register_buffer("connectivity", check_connectivity(connectivity, n))
        self.weight = nn.Parameter(
            random_couplings(self.connectivity, weight_std, generator=generator, dtype=dtype)
        )
        self.blocks = colour_classes(self.connectivity)

    # ----- shapes and views -----------------------------------------------------------
    @property
    def n_units(self) -> int:
        """Total number of units ``n_visible + n_hidden``."""
        return self.n_visible + self.n_hidden

    @property
    def bias(self) -> torch.Tensor:
        """Biases ``b``, shape (n,)."""
        return self.layer.bias

    @property
    def visible_units(self) -> torch.Tensor:
        """Indices ``0 .. n_visible - 1`` of the visible units."""
        return torch.arange(self.n_visible)

    @property
    def hidden_units(self) -> torch.Tensor:
        """Indices ``n_visible .. n - 1`` of the hidden units."""
        return torch.arange(self.n_visible, self.n_units)

    def extra_repr(self) -> str:
        return (
            f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
            f"units={self.unit_type!r}, temperature={self.temperature:g}"
        )

    # ----- validation -----------------------------------------------------------------
    def _check(self, x, name: str, width: int) -> torch.Tensor:
        p = self.weight
        x = as_batch(x, name, n_features=width, dtype=p.dtype, device=p.device, allow_1d=True)
        return self.layer.check_support(x, name)

    def check_states(self, x, name: str = "x") -> torch.Tensor:
        """Validate full states (n_samples, n) or (n,) and return them as a tensor."""
        return self._check(x, name, self.n_units)

    def check_visible(self, v, name: str = "v") -> torch.Tensor:
        """Validate visible states (n_samples, n_visible) or (n_visible,)."""
        return self._check(v, name, self.n_visible)

    # ----- energy ---------------------------------------------------------------------
    def energy_unchecked(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`energy` without input validation (for inner loops), shape (batch,)."""
        return -0.5 * ((x @ self.weight) * x).sum(1) - x @ self.bias

    def energy(self, x) -> torch.Tensor:
        """Energy ``E(x) = -1/2 x'Wx - b'x`` of full states.

        Parameters
        ----------
        x : array-like, shape (batch, n) or (n,)

        Returns
        -------
        torch.Tensor, shape (batch,)
            ``p(x)`` is proportional to ``exp(-E(x) / T)``.
        """
        return self.energy_unchecked(self.check_states(x))

    def fields(self, x) -> torch.Tensor:
        """Local fields ``h = xW + b`` of full states (batch, n), shape (batch, n)."""
        return self.check_states(x) @ self.weight + self.bias

    # ----- Gibbs sampling -------------------------------------------------------------
    @torch.no_grad()
    def gibbs_unchecked(self, x, sweeps=1, *, free=None, order=None, temperature=None,
                        generator=None):
        """:meth:`gibbs` without input validation; updates ``x`` in place and returns it."""
        temperature = self.temperature if temperature is None else temperature
        schedule = _gibbs.sweep_schedule(self, free, order)
        return _gibbs.gibbs_in_place(self, x, sweeps, schedule, temperature, generator)

    def gibbs(
        self,
        x,
        sweeps: int = 1,
        *,
        free=None,
        order=None,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Gibbs sweeps: resample each unit from its conditional given all the others.

        Parameters
        ----------
        x : array-like, shape (batch, n)
            Initial states of ``batch`` independent chains (not modified).
        sweeps : int
            Number of sweeps over the units (>= 1).
        free : sequence of int, optional
            Units to resample (default all); the others stay clamped, e.g.
            ``free=bm.hidden_units`` samples the hidden units given the visible ones.
        order : 1-D integer tensor, optional
            Update these units one at a time in this order in every sweep (overrides the
            colour blocks; indices may repeat). Default: the colour classes in turn.
        temperature : float, optional
            Sampling temperature (default the machine's ``T``); ``0`` sets each unit to
            its most probable state (ties to ``high``): deterministic descent of E.
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor, shape (batch, n)
        """
        sweeps, temperature = _gibbs.check_run(sweeps, temperature)
        x = self.check_states(x).clone()
        return self.gibbs_unchecked(x, sweeps, free=free, order=order,
                                    temperature=temperature, generator=generator)

    def random_states(self, n_samples: int, *, generator=None) -> torch.Tensor:
        """Uniformly random states, shape (n_samples, n)."""
        return _gibbs.random_states(self, check_positive_int(n_samples, "n_samples"), generator)

    def sample(
        self,
        n_samples: int,
        sweeps: int = 100,
        *,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Run ``n_samples`` chains from uniform random states for ``sweeps`` sweeps.

        Returns
        -------
        torch.Tensor, shape (n_samples, n)
            Full states (visible first).
        """
        x = self.random_states(n_samples, generator=generator)
        sweeps, temperature = _gibbs.check_run(sweeps, temperature)
        return self.gibbs_unchecked(x, sweeps, temperature=temperature, generator=generator)

    @torch.no_grad()
    def mean_field(self, v, steps: int = 10, *, damping: float = 0.5) -> torch.Tensor:
        """Mean-field posterior of the hidden units given visible states.

        Iterates ``mu <- damping mu + (1 - damping) E[x_h | field(v, mu)]`` from
        ``E[x_h | v]`` with the hidden-hidden fields of the current means (the naive
        mean-field fixed point of Salakhutdinov and Hinton 2009).

        Parameters
        ----------
        v : array-like, shape (batch, n_visible)
        steps : int
            Number of fixed-point iterations (>= 1).
        damping : float
            In [0, 1).

        Returns
        -------
        torch.Tensor, shape (batch, n_hidden)
        """
        v = self.check_visible(v)
        steps = check_positive_int(steps, "steps")
        if not (isinstance(damping, (int, float)) and 0 <= damping < 1):
            raise ValueError(f"damping must be in [0, 1), got {damping!r}")
        return self.mean_field_unchecked(v, steps, damping)

    def mean_field_unchecked(self, v, steps=10, damping=0.5):
        """:meth:`mean_field` without input validation."""
        return _gibbs.mean_field_hidden(self, v, steps, damping)

    # ----- exact enumeration ----------------------------------------------------------
    @torch.no_grad()
    def log_partition_exact(self) -> torch.Tensor:
        """``log Z = log sum_x exp(-E(x) / T)`` by enumerating all ``2**n`` states.

        Returns
        -------
        torch.Tensor
            Scalar in the model's dtype.

        Raises
        ------
        ValueError
            With more than 24 units.
        """
        return _exact.log_partition(self)

    @torch.no_grad()
    def free_energy(self, v) -> torch.Tensor:
        """``F(v) = -log sum_h exp(-E(v, h) / T)`` by enumerating the hidden states.

        Parameters
        ----------
        v : array-like, shape (batch, n_visible)

        Returns
        -------
        torch.Tensor, shape (batch,)
            ``p(v) = exp(-F(v)) / Z``.
        """
        return _exact.free_energy(self, self.check_visible(v))

    @torch.no_grad()
    def log_likelihood_exact(self, v, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """Mean ``log p(v)`` over the rows of ``v`` (nats), exactly.

        Parameters
        ----------
        v : array-like, shape (batch, n_visible)
        log_z : torch.Tensor, optional
            A precomputed :meth:`log_partition_exact`.

        Returns
        -------
        torch.Tensor
            Scalar.
        """
        f = self.free_energy(v)
        if log_z is None:
            log_z = self.log_partition_exact()
        return (-f).mean() - log_z

    # ----- bridges ----------------------------------------------------------------------
    @classmethod
    def from_hopfield(cls, net, temperature: float = 1.0) -> BoltzmannMachine:
        """The Boltzmann machine with a Hopfield network's weights and biases.

        Spin units, no hidden units, the same energy ``-1/2 x'Wx - b'x``. At
        ``temperature -> 0`` (``gibbs(..., temperature=0)``) a Gibbs sweep in a given
        unit order is the network's asynchronous update in that order.

        Parameters
        ----------
        net : harmonium.HopfieldNetwork
        temperature : float
            ``T > 0`` of the stochastic network.
        """
        return _bridges.machine_from_hopfield(cls, net, temperature)

    @classmethod
    def from_rbm(cls, rbm) -> BoltzmannMachine:
        """The RBM as a Boltzmann machine with the lateral couplings removed.

        Both layers must have the same two states, {0, 1} (Bernoulli, ``units="binary"``)
        or {-1, +1} (Spin, ``units="spin"``), as their ``low`` and ``high`` attributes
        say; the biases are their only parameters. Visible units come first;
        the connectivity is bipartite, so Gibbs sampling alternates two blocks, and
        ``free_energy``/``log_partition_exact`` equal the RBM's.

        Parameters
        ----------
        rbm : harmonium.RBM
        """
        return _bridges.machine_from_rbm(cls, rbm)

    # ----- saving ---------------------------------------------------------------------
    def _to_state(self) -> dict:
        return {
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "units": self.unit_type,
            "temperature": self.temperature,
            "weight": self.weight,
            "bias": self.bias,
            "connectivity": self.connectivity,
        }

    @classmethod
    def _from_state(cls, state: dict) -> BoltzmannMachine:
        own = "BoltzmannMachine"
        sizes = [state_value(state, key, int, owner=own) for key in ("n_visible", "n_hidden")]
        n = sum(sizes)
        w = state_tensor(state, "weight", (n, n), owner=own)  # bounds n by the file
        bias = state_tensor(state, "bias", (n,), owner=own, dtype=w.dtype)
        connectivity = state_tensor(state, "connectivity", (n, n), owner=own, dtype=torch.bool)
        bm = cls(*sizes, state_value(state, "units", str, owner=own),
                 state_value(state, "temperature", float, owner=own),
                 connectivity=connectivity.cpu(), weight_std=0.0, dtype=w.dtype).to(w.device)
        with torch.no_grad():
            bm.weight.copy_(w)
            bm.layer.params[0].copy_(bias)
        return bm
