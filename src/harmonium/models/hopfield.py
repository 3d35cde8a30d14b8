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
    axis lies in the span of the patterns.

Dynamics
--------
Asynchronous recall visits the units in a random order (one permutation per sweep,
shared by the batch) and updates one unit at a time, so the energy never increases.
It is exact and fast: units are processed in blocks of ``_BLOCK`` consecutive units of
the permutation; inside a block the fields of the block's own units are corrected after
every flip with a rank-1 update of a (batch, block) slice, and after the block the
fields of all units are corrected with one matrix product ``dX @ W[block]``. Each sweep
starts from fields recomputed from scratch (one matrix product), which also gives the
exact stability test that retires converged probes from the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from harmonium._numerics import as_batch, check_positive_int, check_spin
from harmonium.io import savable

__all__ = ["RULES", "HopfieldNetwork", "RecallResult", "random_patterns"]

RULES = ("hebbian", "storkey", "pseudoinverse")
_MODES = ("async", "sync")
_BLOCK = 32  # units per block in asynchronous sweeps


@dataclass
class RecallResult:
    """Outcome of :meth:`HopfieldNetwork.recall`.

    Attributes
    ----------
    states : torch.Tensor, shape (n, d)
        Final states (+1/-1).
    converged : torch.Tensor of bool, shape (n,)
        True where the final state is a fixed point of the dynamics.
    sweeps : torch.Tensor of int64, shape (n,)
        Number of sweeps (passes over all units; one parallel step in ``"sync"`` mode)
        that changed the state. A probe that already is a fixed point has 0.
    cycled : torch.Tensor of bool, shape (n,)
        ``"sync"`` mode: True where the dynamics entered a 2-cycle (the state returned is
        one of its two states). Always False in ``"async"`` mode.
    energy : torch.Tensor, shape (n_records, n), optional
        With ``record_energy=True``: energy of every probe after each recorded step
        (the first row is the probes' energy).
    steps : torch.Tensor of int64, shape (n_records,), optional
        Number of single-unit updates (async) or parallel steps (sync) at each record.
    """

    states: torch.Tensor
    converged: torch.Tensor
    sweeps: torch.Tensor
    cycled: torch.Tensor
    energy: torch.Tensor | None = None
    steps: torch.Tensor | None = None


def _sign(h: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1, in the dtype of ``h``."""
    return torch.where(h >= 0, 1.0, -1.0).to(h.dtype)


def random_patterns(n: int, d: int, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Independent uniform +1/-1 patterns, shape (n, d)."""
    n, d = check_positive_int(n, "n"), check_positive_int(d, "d")
    bits = torch.randint(0, 2, (n, d), generator=generator)
    return (2 * bits - 1).to(dtype=dtype, device=device)


@savable
class HopfieldNetwork(nn.Module):
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
        x = x.to(work)
        if self.rule == "hebbian":
            a.addmm_(x.T, x)
        elif self.rule == "storkey":
            # w += (xi xi' - xi h' - h xi' + 2 w) / m, h = w xi (derivation in the docs)
            m = x.shape[1]
            for xi in x:
                h = a @ xi
                a.mul_(1 + 2 / m).addr_(xi, xi - h, alpha=1 / m).addr_(h, xi, alpha=-1 / m)
                a.fill_diagonal_(0)
        else:
            residual = x - x @ a  # components outside the span stored so far
            _, s, vh = torch.linalg.svd(residual, full_matrices=False)
            tol = s.max() * max(residual.shape) * torch.finfo(work).eps
            basis = vh[s > tol]
            a.addmm_(basis.T, basis)
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
        return (_sign(x @ self.weight + self.bias) == x).all(1)

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
            Source of the random update orders (async mode).
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
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
        x = self._spins(probes, "probes").clone()
        with torch.no_grad():
            if mode == "async":
                return _recall_async(self.weight, self.bias, x, max_sweeps, generator,
                                     record_energy)
            return _recall_sync(self.weight, self.bias, x, max_sweeps, record_energy)

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
        weight = state["weight"]
        net = cls(state["n_units"], state["rule"], state["bias"], dtype=weight.dtype,
                  device=weight.device)
        if weight.shape != net.weight.shape or state["bias_vector"].shape != net.bias.shape:
            raise TypeError(f"weights of shape {tuple(weight.shape)} do not fit "
                            f"{net.n_units} units")
        net.weight.copy_(weight)
        net.bias.copy_(state["bias_vector"])
        if "projection_diagonal" in state:
            net._diag.copy_(state["projection_diagonal"])
        net.n_stored = int(state["n_stored"])
        return net


def _recall_async(w, b, x, max_sweeps, generator, record_energy) -> RecallResult:
    """Exact asynchronous dynamics, batched (see the module docstring)."""
    n, d = x.shape
    converged = torch.zeros(n, dtype=torch.bool, device=x.device)
    sweeps = torch.zeros(n, dtype=torch.int64, device=x.device)
    active = torch.arange(n, device=x.device)
    one = torch.ones((), dtype=x.dtype, device=x.device)
    xa, h = x.clone(), x @ w + b
    exact_sums = _integer_sums_are_exact(w, b)
    energy_now = -0.5 * ((h + b) * x).sum(1) if record_energy else None
    energies = [energy_now.clone()] if record_energy else []
    steps = [0]
    for sweep in range(max_sweeps + 1):
        stable = (_sign(h) == xa).all(1)
        if not exact_sums and bool(stable.any()):  # confirm with exact fields
            rows = stable.nonzero().squeeze(1)
            exact = xa[rows] @ w + b
            h[rows] = exact
            stable[rows] = (_sign(exact) == xa[rows]).all(1)
        converged[active[stable]] = True
        sweeps[active[stable]] = sweep
        if sweep == max_sweeps or bool(stable.all()):
            sweeps[active[~stable]] = max_sweeps
            break
        if bool(stable.any()):
            x[active] = xa
            active, xa, h = active[~stable], xa[~stable], h[~stable]
        # work in this sweep's random unit order: blocks become contiguous slices
        order = torch.randperm(d, generator=generator).to(x.device)
        x_p, h_p = xa.index_select(1, order), h.index_select(1, order)
        b_p = b[order]
        w_p = w.index_select(0, order).index_select(1, order)
        for start in range(0, d, _BLOCK):
            _async_block(w_p, h_p, x_p, start, min(start + _BLOCK, d), one)
            if record_energy:
                energy_now[active] = -0.5 * ((h_p + b_p) * x_p).sum(1)
                energies.append(energy_now.clone())
                steps.append(sweep * d + min(start + _BLOCK, d))
        xa.index_copy_(1, order, x_p)
        h.index_copy_(1, order, h_p)
    x[active] = xa
    result = RecallResult(x, converged, sweeps, torch.zeros_like(converged))
    if record_energy:
        result.energy = torch.stack(energies)
        result.steps = torch.tensor(steps, dtype=torch.int64)
    return result


def _integer_sums_are_exact(w, b) -> bool:
    """True when every field is a sum of integers small enough to be exact in the dtype
    (Hebbian weights), so incrementally updated fields equal recomputed ones."""
    limit = 2.0 / torch.finfo(w.dtype).eps
    integral = bool((w == w.round()).all()) and bool((b == b.round()).all())
    return integral and float(w.abs().sum(1).max() + b.abs().max()) < limit


def _async_block(w, h, x, start: int, stop: int, one) -> None:
    """Update units ``start..stop-1``, in this order, in every row of ``x`` (in place),
    keeping the fields ``h = xW + b`` exact. Rows in which no unit of the block is
    unstable at the start are left alone: a stable unit does not flip and changes no
    field, so the next one stays stable too."""
    h_sub, x_sub = h[:, start:stop], x[:, start:stop]
    moving = (_sign(h_sub) != x_sub).any(1)
    rows = moving.nonzero().squeeze(1)
    if rows.numel() == 0:
        return
    everyone = rows.numel() == x.shape[0]
    if not everyone:
        h_sub, x_sub = h_sub[rows], x_sub[rows]
    w_rows = w[start:stop]  # (k, d)
    # block-major copies, row j = unit start + j of every moving probe
    # a copy (never a view of h, even for one probe), corrected after every flip
    h_block = h_sub.T.clone(memory_format=torch.contiguous_format)
    x_plus_1 = (x_sub + 1).T.contiguous()
    up = torch.empty_like(h_block)  # 1 where the unit ends at +1, else 0
    for h_j, xp_j, up_j, w_j in zip(h_block.unbind(0), x_plus_1.unbind(0), up.unbind(0),
                                    w_rows[:, start:stop].unbind(0), strict=True):
        torch.heaviside(h_j, one, out=up_j)  # sign(h) = +1 for h >= 0
        # flip / 2 = up - (x + 1) / 2, in {-1, 0, +1}
        h_block.addr_(w_j, torch.sub(up_j, xp_j, alpha=0.5), alpha=2)
    change = (2 * up - x_plus_1).T  # new - old, (moving, k)
    if everyone:
        h.addmm_(change, w_rows)
        x[:, start:stop] += change
    else:
        h.index_add_(0, rows, change @ w_rows)
        x[:, start:stop].index_add_(0, rows, change)


def _recall_sync(w, b, x, max_sweeps, record_energy) -> RecallResult:
    """Synchronous dynamics with 2-cycle detection."""
    n = x.shape[0]
    converged = torch.zeros(n, dtype=torch.bool, device=x.device)
    cycled = torch.zeros_like(converged)
    sweeps = torch.full((n,), max_sweeps, dtype=torch.int64, device=x.device)
    previous = torch.full_like(x, 0.0)  # matches no spin state
    active = torch.arange(n, device=x.device)
    energies = [-0.5 * ((x @ w + b + b) * x).sum(1)] if record_energy else []
    for step in range(max_sweeps + 1):
        xa = x[active]
        new = _sign(xa @ w + b)
        fixed = (new == xa).all(1)
        cycle = (new == previous[active]).all(1) & ~fixed
        stop = fixed | cycle
        converged[active[fixed]] = True
        cycled[active[cycle]] = True
        sweeps[active[stop]] = step
        if step == max_sweeps:
            break
        move = active[~stop]
        previous[move] = x[move]
        x[move] = new[~stop]
        active = move
        if record_energy:
            energies.append(-0.5 * ((x @ w + b + b) * x).sum(1))
        if active.numel() == 0:
            break
    result = RecallResult(x, converged, sweeps, cycled)
    if record_energy:
        result.energy = torch.stack(energies)
        result.steps = torch.arange(len(energies), dtype=torch.int64)
    return result
