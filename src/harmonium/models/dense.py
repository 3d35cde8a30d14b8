"""Dense associative memory (Krotov and Hopfield 2016; Demircigil et al. 2017).

States s in {-1, +1}^d; stored patterns xi^mu are the rows of X (m, d). The energy is

    E(s) = -sum_mu F(xi^mu . s)

with the interaction ``F(x) = x^n`` ("polynomial", degree n) or ``F(x) = exp(x)``
("exponential"). Degree 2 is the classical Hebbian network without bias
(``E = -s'X'Xs``, i.e. weights ``X'X - m I`` up to a constant); higher degrees store far
more patterns: about ``d^(n-1) / (2 (2n-3)!! ln d)`` for error-free recall with the
polynomial, exponentially many in d with the exponential.

Dynamics: a unit takes the sign that gives the lower energy with the others fixed,

    s_i <- sign( sum_mu F(xi^mu_i + b_mu) - F(-xi^mu_i + b_mu) ),
    b_mu = sum_{j != i} xi^mu_j s_j,

with sign(0) = +1, so the energy never increases. Units are visited asynchronously in a
random order (one permutation per sweep, shared by the batch), exactly like
:class:`harmonium.HopfieldNetwork`, with the overlaps ``X s`` of every probe kept up to
date after each flip.

Numerics: dynamics and energies are evaluated in float64; polynomial terms are
integers there and exact while ``m d^n < 2^53``. The exponential interaction never forms
``exp(x)`` of an overlap (``exp(784)`` overflows): :meth:`DenseAssociativeMemory.energy`
reports ``-log(-E) = -logsumexp(X s)``, a monotone transform of E, and energy
differences are differences of log-sum-exps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harmonium._numerics import as_batch, check_positive_int, check_spin, generator_device
from harmonium.io import savable, state_tensor, state_value
from harmonium.models.memory import AssociativeMemory, RecallResult, recall_sync, sign

__all__ = ["INTERACTIONS", "DenseAssociativeMemory"]

INTERACTIONS = ("polynomial", "exponential")


@savable
class DenseAssociativeMemory(nn.Module, AssociativeMemory):
    """Dense associative memory on +1/-1 units.

    Parameters
    ----------
    n_units : int
        Number of +1/-1 units d.
    interaction : {"polynomial", "exponential"}
        ``F(x) = x^degree`` or ``F(x) = exp(x)``.
    degree : int
        Degree n >= 2 of the polynomial interaction (ignored for ``"exponential"``).
    dtype : torch.dtype
        Dtype of the stored patterns (float32 by default).
    device : torch.device or str, optional
        Where the patterns live; recall runs there.

    Attributes
    ----------
    patterns : torch.Tensor, shape (m, d)
        The stored patterns.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randint(0, 2, (40, 64), generator=g).float() * 2 - 1
    >>> mem = DenseAssociativeMemory(64, degree=3).store(x)
    >>> bool(mem.is_fixed_point(x).all())   # 40 patterns on 64 units
    True
    """

    modes = ("async", "sync")

    def __init__(
        self,
        n_units: int,
        interaction: str = "polynomial",
        degree: int = 3,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.n_units = check_positive_int(n_units, "n_units")
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}")
        self.interaction = interaction
        self.degree = check_positive_int(degree, "degree", minimum=2)
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        self.register_buffer("patterns", torch.zeros(0, self.n_units, dtype=dtype, device=device))

    def extra_repr(self) -> str:
        deg = f", degree={self.degree}" if self.interaction == "polynomial" else ""
        return (f"n_units={self.n_units}, interaction={self.interaction!r}{deg}, "
                f"n_stored={self.n_stored}")

    def __repr__(self) -> str:
        return f"DenseAssociativeMemory({self.extra_repr()})"

    @property
    def n_features(self) -> int:
        """Number of units d (the width of every state)."""
        return self.n_units

    @property
    def n_stored(self) -> int:
        """Number of stored patterns m."""
        return self.patterns.shape[0]

    # ------------------------------------------------------------------ inputs
    def _spins(self, x, name: str) -> torch.Tensor:
        t = as_batch(x, name, n_features=self.n_units, dtype=self.patterns.dtype,
                     device=self.patterns.device, allow_1d=True)
        return check_spin(t, name)

    def _work(self) -> tuple[torch.Tensor, torch.dtype]:
        """Stored patterns in the working dtype, float64 (exact integer overlaps)."""
        if self.n_stored == 0:
            raise ValueError("the memory is empty: call store(patterns) first")
        return self.patterns.to(torch.float64), torch.float64

    # ------------------------------------------------------------------ storage
    def store(self, patterns) -> DenseAssociativeMemory:
        """Add +1/-1 patterns (n, d) to the memory; returns ``self``."""
        x = self._spins(patterns, "patterns")
        self.patterns = torch.cat([self.patterns, x])
        return self

    # ------------------------------------------------------------------ energy
    def energy(self, states) -> torch.Tensor:
        """Energy of each +1/-1 state (n, d), shape (n,).

        Polynomial: ``-sum_mu (xi^mu . s)^n``. Exponential: ``-logsumexp_mu(xi^mu . s)``
        (``-log(-E)``, which orders states like E and never overflows).
        """
        x, dtype = self._work()
        h = self._spins(states, "states").to(dtype) @ x.T
        if self.interaction == "exponential":
            return (-torch.logsumexp(h, dim=1)).to(self.patterns.dtype)
        return (-h.pow(self.degree).sum(1)).to(self.patterns.dtype)

    def energy_gaps(self, states) -> torch.Tensor:
        """Energy cost of setting each unit to -1 rather than +1, all units at once.

        ``gaps[k, i] = energy(s with s_i = -1) - energy(s with s_i = +1)`` for state k
        (in the scale :meth:`energy` reports); the update sets ``s_i = sign(gaps[k, i])``.

        Parameters
        ----------
        states : array-like, shape (n, d)
            +1/-1 states.

        Returns
        -------
        torch.Tensor, shape (n, d)
        """
        x, dtype = self._work()
        s = self._spins(states, "states").to(dtype)
        return self._gaps(s, s @ x.T, x).to(self.patterns.dtype)

    def _gaps(self, s, h, x):
        """All-unit gaps from overlaps h = s X' (n, m); vectorised by matrix products."""
        if self.interaction == "exponential":
            top = h.amax(1, keepdim=True)
            e = torch.exp((h - top).clamp_min(-700.0))  # no subnormals
            lse = top + torch.log(e.sum(1, keepdim=True))
            up = top + torch.log(e @ torch.exp(2 * x))  # lse_mu(h_mu + 2 xi_mu,i)
            down = top + torch.log(e @ torch.exp(-2 * x))
            return torch.where(s > 0, lse - down, up - lse)
        powers = [h.pow(q) for q in range(self.degree)]
        return self._polynomial_gaps(s, [p @ x for p in powers],
                                     [p.sum(1, keepdim=True) for p in powers])

    def _polynomial_gaps(self, s, weighted, sums):
        """Polynomial gaps from power sums of the overlaps h = s X'.

        sum_mu (b+a)^n - (b-a)^n with a = xi_mu,i and b = h_mu - a s_i (the overlap
        without unit i) expands into sums over mu of a h^q (``weighted[q]``) and h^q
        (``sums[q]``), q < n: matrix products instead of a (batch, m, d) tensor.
        """
        n = self.degree
        gaps = torch.zeros_like(s)
        for k in range(1, n + 1, 2):
            for j in range(n - k + 1):
                q = n - k - j
                term = weighted[q] if j % 2 == 0 else sums[q]
                gaps += 2 * math.comb(n, k) * math.comb(n - k, j) * (-s) ** j * term
        return gaps

    def is_fixed_point(self, states) -> torch.Tensor:
        """Whether no single-unit update changes each state (n, d): (n,) bool."""
        s = self._spins(states, "states")
        return (sign(self.energy_gaps(s)).to(s.dtype) == s).all(1)

    # ------------------------------------------------------------------ dynamics
    def recall(
        self,
        probes,
        mode: str = "async",
        max_sweeps: int = 100,
        *,
        generator: torch.Generator | None = None,
    ) -> RecallResult:
        """Recall from each probe until a fixed point (or, synchronously, a 2-cycle).

        Parameters
        ----------
        probes : array-like, shape (n, d) or (d,)
            +1/-1 starting states.
        mode : {"async", "sync"}
            ``"async"``: random order, one unit at a time (energy never increases).
            ``"sync"``: every unit takes the sign of its energy gap at once; 2-cycles are
            detected and reported.
        max_sweeps : int
            Most sweeps (passes over all units; parallel steps in sync mode) per probe.
        generator : torch.Generator, optional
            Source of the random update orders (async mode), drawn on its device.

        Returns
        -------
        RecallResult
            ``.states`` (n, d), ``.converged`` (n,), ``.sweeps`` (n,) (sweeps that changed
            the state), ``.cycled`` (n,) (always False in async mode).

        Raises
        ------
        ValueError
            Probes not +1/-1, wrong width, empty; ``mode`` unknown; ``max_sweeps < 1``;
            an empty memory.
        """
        self._check_mode(mode)
        max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
        s0 = self._spins(probes, "probes")
        x, dtype = self._work()
        s = s0.to(dtype, copy=True)  # the dynamics work in place
        with torch.no_grad():
            if mode == "sync":
                result = recall_sync(lambda t: sign(self._gaps(t, t @ x.T, x)), s, max_sweeps)
            else:
                converged, sweeps = self._recall(s, x, max_sweeps, generator)
                result = RecallResult(s, converged, sweeps, torch.zeros_like(converged))
        result.states = result.states.to(s0.dtype)
        return result

    def _recall(self, s, x, max_sweeps, generator):
        """Asynchronous sweeps, in place on the states s (n, d): (converged, sweeps)."""
        n, d = s.shape
        converged = torch.zeros(n, dtype=torch.bool, device=s.device)
        sweeps = torch.zeros(n, dtype=torch.int64, device=s.device)
        active = torch.arange(n, device=s.device)
        xt = x.T.contiguous()  # (d, m): row i is unit i of every pattern
        sweep_fn = self._sweep_exponential if self.interaction == "exponential" else (
            self._sweep_polynomial)
        for sweep in range(max_sweeps + 1):
            sa = s[active]
            h = sa @ x.T
            stable = (sign(self._gaps(sa, h, x)) == sa).all(1)
            converged[active[stable]] = True
            sweeps[active[stable]] = sweep
            if sweep == max_sweeps or bool(stable.all()):
                sweeps[active[~stable]] = max_sweeps
                break
            active, sa, h = active[~stable], sa[~stable], h[~stable]
            order = torch.randperm(d, generator=generator,
                                   device=generator_device(generator)).tolist()
            sweep_fn(sa, h, xt, order)
            s[active] = sa
        return converged, sweeps

    def _sweep_polynomial(self, sa, h, xt, order):
        """One asynchronous pass, in place on states sa (B, d) and overlaps h (B, m).

        The powers h^q (q < n) and their row sums are kept up to date on flipped rows,
        so a unit costs n - 1 matrix-vector products.
        """
        powers = [h.pow(q) for q in range(self.degree)]
        sums = [p.sum(1) for p in powers]
        for i in order:
            a, old = xt[i], sa[:, i]
            new = sign(self._polynomial_gaps(old, [p @ a for p in powers], sums))
            flipped = (new != old).nonzero().squeeze(1)
            if flipped.numel():
                h[flipped] += new[flipped][:, None] * 2 * a
                for q in range(1, self.degree):
                    powers[q][flipped] = h[flipped].pow(q)
                    sums[q][flipped] = powers[q][flipped].sum(1)
                sa[flipped, i] = new[flipped]

    def _sweep_exponential(self, sa, h, xt, order):
        """As :meth:`_sweep_polynomial` for F = exp, with e = exp(h - top) kept up to date.

        Unit i compares sum_mu exp(h_mu) with sum_mu exp(h_mu -+ 2 xi_mu,i): two
        matrix-vector products with exp(+-2 xi) instead of two log-sum-exps. The shift
        ``top`` (largest overlap) is refreshed every 64 units, so e stays within
        exp(+-128) of its refreshed value (float64): exponents are clipped at -550 so
        that no entry becomes subnormal (subnormal arithmetic is 100x slower), which
        changes the sums by less than m exp(-400) relative.
        """
        up_t, down_t = torch.exp(2 * xt), torch.exp(-2 * xt)
        for pos, i in enumerate(order):
            if pos % 64 == 0:
                e = torch.exp((h - h.amax(1, keepdim=True)).clamp_min(-550.0))
            old = sa[:, i]
            total = e.sum(1)
            plus = torch.where(old > 0, total, e @ up_t[i])
            minus = torch.where(old > 0, e @ down_t[i], total)
            new = sign(plus - minus)
            flipped = (new != old).nonzero().squeeze(1)
            if flipped.numel():
                up = new[flipped] > 0
                h[flipped] += new[flipped][:, None] * 2 * xt[i]
                e[flipped] *= torch.where(up[:, None], up_t[i], down_t[i])
                sa[flipped, i] = new[flipped]

    # ------------------------------------------------------------------ saving
    def _to_state(self) -> dict:
        return {"n_units": self.n_units, "interaction": self.interaction,
                "degree": self.degree, "patterns": self.patterns}

    @classmethod
    def _from_state(cls, state: dict) -> DenseAssociativeMemory:
        own = "DenseAssociativeMemory"
        n = state_value(state, "n_units", int, owner=own)
        p = state_tensor(state, "patterns", (None, n), owner=own)
        mem = cls(n, state_value(state, "interaction", str, owner=own),
                  state_value(state, "degree", int, owner=own), dtype=p.dtype, device=p.device)
        mem.patterns = p.clone()
        return mem
