"""The classical Hopfield network: +1/-1 units, symmetric weights, zero diagonal.

Conventions (``docs/math.md``): states x in {-1, +1}^d, energy
``E(x) = -1/2 x'Wx - b'x``, local field ``h = xW + b`` and update ``x_i = sign(h_i)``
with ``sign(0) = +1``.

Storage rules
-------------
All three rules treat the bias as the weights of an always-on unit: with
``bias=True`` a pattern xi is stored as the augmented pattern (xi, 1), and b is the
weight column of that extra unit.

``"hebbian"``
    ``W = X'X - n I`` and ``b = sum_mu xi^mu`` (the lecture's form; the dynamics do not
    depend on a positive scale, so weights are not divided by d).
``"storkey"``
    Storkey (1997), one pattern at a time:
    ``w_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / m`` with
    ``h_ij = sum_{k != i, j} w_ik xi_k`` and m the number of (augmented) units.
``"pseudoinverse"``
    The projection rule (Personnaz, Guyon and Dreyfus 1985): the augmented matrix is the
    orthogonal projector onto the span of the stored patterns, updated incrementally, with
    the diagonal removed from ``W`` (and kept aside so that later ``store`` calls stay
    exact). Every linearly independent set is a set of fixed points as long as no unit
    axis lies in the span of the patterns; storing a pattern already in the span changes
    nothing.

Dynamics
--------
Asynchronous recall visits the units in a random order (one permutation per sweep,
shared by the batch) and updates one unit at a time, so the energy never increases; it is
exact and batched (:mod:`harmonium.models._hopfield_async`). Synchronous recall updates
all units at once and reports 2-cycles.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from harmonium._numerics import as_batch, check_positive_int, check_spin, generator_device
from harmonium.io import savable, state_tensor, state_value
from harmonium.models._hopfield_async import recall_async
from harmonium.models._hopfield_rules import RULES, add_patterns
from harmonium.models.memory import AssociativeMemory, RecallResult, recall_sync, sign

__all__ = ["RULES", "HopfieldNetwork", "RecallResult", "random_patterns"]


def random_patterns(n: int, d: int, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Independent uniform +1/-1 patterns, shape (n, d), drawn on the generator's device."""
    n, d = check_positive_int(n, "n"), check_positive_int(d, "d")
    bits = torch.randint(0, 2, (n, d), generator=generator,
                         device=generator_device(generator))
    return (2 * bits - 1).to(dtype=dtype, device=device)


@savable
class HopfieldNetwork(nn.Module, AssociativeMemory):
    """Classical Hopfield associative memory.

    Parameters
    ----------
    n_units : int
        Number of +1/-1 units d.
    rule : {"hebbian", "storkey", "pseudoinverse"}
        Storage rule (see the module docstring).
    bias : bool
        Learn a bias (the weights of an always-on unit). ``bias=False`` keeps b = 0, the
        textbook form.
    dtype : torch.dtype
        Dtype of the weights (float32 by default).
    device : torch.device or str, optional
        Where the weights live; recall runs there.

    Attributes
    ----------
    weight : torch.Tensor, shape (d, d)
        Symmetric, zero diagonal.
    bias : torch.Tensor, shape (d,)
        Zero when ``bias=False``.
    n_stored : int
        Number of patterns stored so far.

    Examples
    --------
    >>> import torch
    >>> from harmonium import HopfieldNetwork
    >>> g = torch.Generator().manual_seed(0)
    >>> patterns = torch.randint(0, 2, (5, 100), generator=g).float() * 2 - 1
    >>> net = HopfieldNetwork(100)
    >>> net.store(patterns)
    HopfieldNetwork(n_units=100, rule='hebbian', bias=True, n_stored=5)
    >>> bool((net.recall(patterns, generator=g).states == patterns).all())
    True
    """

    modes = ("async", "sync")

    def __init__(
        self,
        n_units: int,
        rule: str = "hebbian",
        bias: bool = True,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.n_units = check_positive_int(n_units, "n_units")
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        self.rule = rule
        self.use_bias = bias
        self.n_stored = 0
        d = self.n_units
        self.register_buffer("weight", torch.zeros(d, d, dtype=dtype, device=device))
        self.register_buffer("bias", torch.zeros(d, dtype=dtype, device=device))
        # diagonal of the augmented projector (pseudoinverse rule only; zeros otherwise)
        self.register_buffer("_diag", torch.zeros(d + bias, dtype=dtype, device=device))

    def extra_repr(self) -> str:
        return (
            f"n_units={self.n_units}, rule={self.rule!r}, bias={self.use_bias}, "
            f"n_stored={self.n_stored}"
        )

    def __repr__(self) -> str:
        return f"HopfieldNetwork({self.extra_repr()})"

    @property
    def n_features(self) -> int:
        """Number of units d (the width of every state)."""
        return self.n_units

    # ------------------------------------------------------------------ inputs
    def _spins(self, x, name: str) -> torch.Tensor:
        t = as_batch(
            x, name, n_features=self.n_units, dtype=self.weight.dtype,
            device=self.weight.device, allow_1d=True,
        )
        return check_spin(t, name)

    # ------------------------------------------------------------------ storage
    def _augmented(self, dtype: torch.dtype) -> torch.Tensor:
        """The (m, m) matrix of the network with the always-on unit appended."""
        d = self.n_units
        m = d + self.use_bias
        a = torch.zeros(m, m, dtype=dtype, device=self.weight.device)
        a[:d, :d] = self.weight
        if self.use_bias:
            a[:d, d] = self.bias
            a[d, :d] = self.bias
        a.diagonal().copy_(self._diag)
        return a

    def _set_augmented(self, a: torch.Tensor, keep_diag: bool) -> None:
        d = self.n_units
        a = (a + a.T) / 2  # exact symmetry despite rounding
        self._diag.copy_(a.diagonal() if keep_diag else torch.zeros_like(self._diag))
        w = a[:d, :d].clone()
        w.fill_diagonal_(0)
        self.weight.copy_(w)
        if self.use_bias:
            self.bias.copy_(a[:d, d])

    def store(self, patterns) -> HopfieldNetwork:
        """Add patterns to the memory.

        Parameters
        ----------
        patterns : array-like or torch.Tensor, shape (n, d) or (d,)
            +1/-1 patterns. May be called again to add more.

        Returns
        -------
        HopfieldNetwork
            ``self``.

        Raises
        ------
        ValueError
            If the patterns are not +1/-1, have the wrong width, are empty or non-finite.
        """
        x = self._spins(patterns, "patterns")
        if self.use_bias:
            x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        # the projector needs float64 to stay one; the other rules add +-1 products
        work = torch.float64 if self.rule == "pseudoinverse" else self.weight.dtype
        a = self._augmented(work)
        add_patterns(a, x.to(work), self.rule, torch.finfo(self.weight.dtype).eps)
        self._set_augmented(a, keep_diag=self.rule == "pseudoinverse")
        self.n_stored += x.shape[0]
        return self

    # ------------------------------------------------------------------ energy
    def energy(self, states) -> torch.Tensor:
        """Energy ``E(x) = -1/2 x'Wx - b'x`` of each state.

        Parameters
        ----------
        states : array-like or torch.Tensor, shape (n, d) or (d,)
            +1/-1 states.

        Returns
        -------
        torch.Tensor, shape (n,)
        """
        x = self._spins(states, "states")
        return -0.5 * ((x @ self.weight) * x).sum(1) - x @ self.bias

    def fields(self, states) -> torch.Tensor:
        """Local fields ``h = xW + b``, shape (n, d), of +1/-1 ``states`` (n, d)."""
        return self._spins(states, "states") @ self.weight + self.bias

    def is_fixed_point(self, states) -> torch.Tensor:
        """Whether each state (n, d) is unchanged by an update of any unit: (n,) bool."""
        x = self._spins(states, "states")
        return (sign(x @ self.weight + self.bias) == x).all(1)

    # ------------------------------------------------------------------ dynamics
    def recall(
        self,
        probes,
        mode: str = "async",
        max_sweeps: int = 100,
        *,
        generator: torch.Generator | None = None,
        record_energy: bool = False,
    ) -> RecallResult:
        """Run the dynamics from each probe until a fixed point (or a 2-cycle).

        Parameters
        ----------
        probes : array-like or torch.Tensor, shape (n, d) or (d,)
            +1/-1 starting states.
        mode : {"async", "sync"}
            ``"async"``: random order, one unit at a time (energy never increases).
            ``"sync"``: all units at once; 2-cycles are detected and reported.
        max_sweeps : int
            Most sweeps (async) or parallel steps (sync) per probe.
        generator : torch.Generator, optional
            Source of the random update orders (async mode), drawn on its device.
        record_energy : bool
            Also return the energy of every probe after each block of unit updates
            (async) or each step (sync), for plotting.

        Returns
        -------
        RecallResult
            ``.states`` (n, d), ``.converged`` (n,), ``.sweeps`` (n,), ``.cycled`` (n,)
            and, if asked, ``.energy`` (n_records, n) and ``.steps`` (n_records,).

        Raises
        ------
        ValueError
            Probes not +1/-1, wrong width, empty; ``mode`` unknown; ``max_sweeps < 1``.
        """
        self._check_mode(mode)
        max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
        x = self._spins(probes, "probes").clone()
        with torch.no_grad():
            if mode == "async":
                return recall_async(self.weight, self.bias, x, max_sweeps, generator,
                                    record_energy)
            w, b = self.weight, self.bias
            energy = (lambda s: -0.5 * ((s @ w + 2 * b) * s).sum(1)) if record_energy else None
            return recall_sync(lambda s: sign(s @ w + b), x, max_sweeps, energy)

    def unlearn(
        self,
        n_dreams: int,
        eta: float,
        *,
        generator: torch.Generator | None = None,
        max_sweeps: int = 100,
        progress: bool = False,
    ) -> HopfieldNetwork:
        """Dream and forget (Hopfield, Feinstein and Palmer 1983).

        Each dream relaxes a random state with asynchronous dynamics to an attractor x
        and subtracts ``eta x x'`` from W (diagonal kept at zero) and, with a bias,
        ``eta x`` from b (the always-on unit's weights). Spurious attractors, which are
        visited often, are flattened more than the stored memories.

        Parameters
        ----------
        n_dreams : int
            Number of dreams (one at a time: each sees the previous ones' effect).
        eta : float
            Unlearning rate, in the units of the stored weights (Hebbian weights grow by
            1 per pattern per pair).
        generator : torch.Generator, optional
            Source of the random starting states and update orders.
        max_sweeps : int
            Most sweeps per relaxation.
        progress : bool
            Show a progress bar.

        Returns
        -------
        HopfieldNetwork
            ``self``.
        """
        n_dreams = check_positive_int(n_dreams, "n_dreams")
        if not isinstance(eta, (int, float)) or not eta > 0 or eta == float("inf"):
            raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
        for _ in tqdm(range(n_dreams), desc="dreaming", disable=not progress):
            start = random_patterns(1, self.n_units, generator=generator,
                                    dtype=self.weight.dtype, device=self.weight.device)
            x = self.recall(start, max_sweeps=max_sweeps, generator=generator).states[0]
            self.weight -= eta * torch.outer(x, x)
            self.weight.fill_diagonal_(0)
            if self.use_bias:
                self.bias -= eta * x
        return self

    # ------------------------------------------------------------------ saving
    def _to_state(self) -> dict:
        state = {
            "n_units": self.n_units,
            "rule": self.rule,
            "bias": self.use_bias,
            "n_stored": self.n_stored,
            "weight": self.weight,
            "bias_vector": self.bias,
        }
        if self.rule == "pseudoinverse":
            state["projection_diagonal"] = self._diag
        return state

    @classmethod
    def _from_state(cls, state: dict) -> HopfieldNetwork:
        own = "HopfieldNetwork"
        n = state_value(state, "n_units", int, owner=own)
        use_bias = state_value(state, "bias", bool, owner=own)
        weight = state_tensor(state, "weight", (n, n), owner=own)  # bounds n by the file
        bias = state_tensor(state, "bias_vector", (n,), owner=own, dtype=weight.dtype)
        net = cls(n, state_value(state, "rule", str, owner=own), use_bias,
                  dtype=weight.dtype, device=weight.device)
        n_stored = state_value(state, "n_stored", int, owner=own)
        if n_stored < 0:
            raise ValueError(f"the {own} state's 'n_stored' must be >= 0, got {n_stored}")
        net.weight.copy_(weight)
        net.bias.copy_(bias)
        if net.rule == "pseudoinverse":
            net._diag.copy_(state_tensor(state, "projection_diagonal", (n + use_bias,),
                                         owner=own, dtype=weight.dtype))
        net.n_stored = n_stored
        return net
