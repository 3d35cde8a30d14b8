"""Modern (continuous) Hopfield networks: Ramsauer et al. 2020 and Millidge et al. 2022.

Stored patterns are the rows of ``memories`` (m, d); a state (query) ``xi`` is a real
vector of width d. With inverse temperature ``beta`` the energy is

    E(xi) = -lse(beta, X xi) + 1/2 xi'xi + log(m) / beta + 1/2 M^2,

where ``lse(beta, z) = log(sum exp(beta z)) / beta`` and M is the largest stored norm
(the constants make E >= 0). The update

    xi_new = X' softmax(beta X xi)

is the concave-convex procedure on E, so it never increases E (Ramsauer et al. 2020,
theorem 1); it is softmax attention with the state as query and the memories as keys
and values. One step retrieves a stored pattern when the patterns are well separated.

The functional core (:func:`energy`, :func:`update`, :func:`recall`; in
:mod:`harmonium.models._modern_core`) is pure torch and batched over any leading
dimensions. :class:`ModernHopfield` is the user object, an
:class:`~harmonium.models.memory.AssociativeMemory` like the binary memories: it stores
real vectors (images, embeddings), recalls from corrupted or partly observed queries,
and follows the Universal Hopfield Networks view (similarity, softmax separation,
projection) with dot, Euclidean or Manhattan similarity, and softmax, sparsemax or
1.5-entmax separation (:mod:`harmonium.sparse`; sparse Hopfield networks, Hu et al. 2023,
Martins et al. 2023: the energy's entropy term becomes the Gini or Tsallis-1.5 one, and
retrieval puts exactly zero weight on all but a few stored patterns).

``retrieve`` (function and method) and ``Retrieval`` are deprecated names of
:func:`recall`, :meth:`ModernHopfield.recall` and
:class:`~harmonium.models.memory.RecallResult`.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch.nn.functional import normalize as _unit_rows

from harmonium._numerics import as_batch, check_positive_int
from harmonium.io import savable, state_tensor, state_value
from harmonium.models._modern_core import check_beta, energy, iterate, recall, update
from harmonium.models.memory import AssociativeMemory, RecallResult
from harmonium.sparse import check_separation, conjugate, entropy_gap, separate

__all__ = ["ModernHopfield", "energy", "recall", "update"]

SIMILARITIES = ("dot", "euclidean", "manhattan")
_DEPRECATED = {"Retrieval": "harmonium.models.memory.RecallResult",
               "retrieve": "harmonium.models.modern_hopfield.recall"}


def _retrieve(xi, memories, beta, max_steps: int = 1, tol: float = 1e-6) -> RecallResult:
    return recall(xi, memories, beta, max_sweeps=max_steps, tol=tol)


def __getattr__(name: str):
    if name in _DEPRECATED:
        warnings.warn(f"harmonium.models.modern_hopfield.{name} is deprecated: use "
                      f"{_DEPRECATED[name]}", DeprecationWarning, stacklevel=2)
        return RecallResult if name == "Retrieval" else _retrieve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_tol(tol) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < math.inf:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    return float(tol)


@savable
class ModernHopfield(AssociativeMemory):
    """Modern Hopfield associative memory for real vectors (images, embeddings).

    Retrieval is ``z = X' p(beta * sim(X, q))`` (Millidge et al. 2022): the
    similarity of the query to every stored pattern, separated by ``p`` (softmax by
    default), projected back onto the stored patterns.

    Parameters
    ----------
    beta : float
        Inverse temperature (> 0). Large beta retrieves the most similar stored pattern;
        small beta returns a blend (metastable states; beta -> 0 gives the mean). The
        scale of a good beta follows the scale of the similarities: for images in
        [0, 1] with d = 784 the default 1.0 already separates strongly; for unit-length
        vectors (``normalize=True``) use tens.
    similarity : {"dot", "euclidean", "manhattan"}
        ``"dot"``: ``q.x`` (Ramsauer et al.); ``"euclidean"``: ``-|q - x|^2 / 2``;
        ``"manhattan"``: ``-|q - x|_1``.
    normalize : bool
        Compare unit-length (L2-normalised) queries and patterns, both normalised over
        the observed entries when :meth:`recall` gets a mask; the output is still a
        combination of the stored patterns as given.
    separation : {"softmax", "sparsemax", "entmax15"}
        The map ``p`` from similarities to weights (:func:`harmonium.sparse.separate`).
        The sparse maps give exact zeros, so a query near one pattern retrieves exactly
        that pattern and correlated neighbours get no weight at all.

    Attributes
    ----------
    patterns_ : torch.Tensor, shape (m, d)
        The stored patterns, after :meth:`store`.

    Notes
    -----
    The energy ``E(q) = -Omega*(beta sim(X, q)) / beta`` (+ ``q'q/2`` for dot similarity,
    plus constants making it >= 0; ``Omega* = logsumexp`` for softmax, the Gini or
    Tsallis-1.5 conjugate for sparsemax and entmax15) is a Lyapunov function of the
    iterated update for the dot and Euclidean similarities (the Euclidean energy is
    Ramsauer's with a bias ``-|x|^2/2`` per pattern). For the Manhattan similarity the
    update is the UHN single-shot rule and the energy is a soft minimum distance, with
    no descent guarantee when iterated.
    """

    state_space = "real"
    modes = ("sync",)

    def __init__(self, beta: float = 1.0, similarity: str = "dot", normalize: bool = False,
                 separation: str = "softmax"):
        self.beta = check_beta(beta)
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        self.similarity = similarity
        self.normalize = bool(normalize)
        self.separation = check_separation(separation)
        self.patterns_: torch.Tensor | None = None

    def __repr__(self) -> str:
        stored = "empty" if self.patterns_ is None else f"{tuple(self.patterns_.shape)} stored"
        return (
            f"ModernHopfield(beta={self.beta}, similarity={self.similarity!r}, "
            f"normalize={self.normalize}, separation={self.separation!r}; {stored})"
        )

    # -- storage ---------------------------------------------------------------------

    def store(self, patterns, *, append: bool = False) -> ModernHopfield:
        """Store patterns (replacing the memory, or appending to it).

        Parameters
        ----------
        patterns : array-like, shape (m, d)
            Real vectors, one per row (flatten images first).
        append : bool
            Add to the patterns already stored instead of replacing them.

        Returns
        -------
        self
        """
        if append and self.patterns_ is not None:
            new = as_batch(
                patterns, "patterns", n_features=self.n_features,
                dtype=self.patterns_.dtype, device=self.patterns_.device, allow_1d=True,
            )
            self.patterns_ = torch.cat([self.patterns_, new])
        else:
            self.patterns_ = as_batch(patterns, "patterns", allow_1d=True).clone()
        return self

    @property
    def n_features(self) -> int:
        """Width d of the stored patterns."""
        return self._memory().shape[1]

    def _memory(self) -> torch.Tensor:
        if self.patterns_ is None:
            raise ValueError("the memory is empty: call store(patterns) first")
        return self.patterns_

    def _queries(self, queries) -> torch.Tensor:
        memory = self._memory()
        return as_batch(
            queries, "queries", n_features=memory.shape[1], dtype=memory.dtype,
            device=memory.device, allow_1d=True,
        )

    def _mask(self, mask, queries: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        m = torch.as_tensor(mask, device=queries.device)
        if m.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = observed), got dtype {m.dtype}")
        if m.ndim == 1:
            m = m.expand_as(queries)
        if m.shape != queries.shape:
            raise ValueError(
                f"mask must have shape {tuple(queries.shape)} or ({queries.shape[1]},), "
                f"got {tuple(m.shape)}"
            )
        if not m.any(1).all():
            raise ValueError("mask leaves a query with no observed entry")
        return m

    # -- similarity --------------------------------------------------------------------

    def _scores(self, q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Similarities ``sim(X, q)``, shape (n, m), over the observed entries only.

        With ``normalize`` the query and every stored pattern are scaled to unit length
        over the entries the query observes, so a pattern that matches the observed
        entries exactly scores best whatever its other entries hold.
        """
        x = self._memory()
        if mask is not None and bool((mask == mask[0]).all()):
            mask = mask[:1]  # one mask for all queries
        x2 = x.pow(2)
        x2_seen = x2.sum(1)[None] if mask is None else mask.to(x.dtype) @ x2.T  # (1|n, m)
        if mask is not None:
            q = q * mask
        scale = torch.ones_like(x2_seen)
        if self.normalize:  # as torch's normalize: norms below 1e-12 count as 1e-12
            q = _unit_rows(q, dim=1)
            scale = x2_seen.sqrt().clamp_min(1e-12).reciprocal()
        if self.similarity == "dot":
            return (q @ x.T) * scale
        if self.similarity == "euclidean":
            d2 = q.pow(2).sum(1, keepdim=True) - 2 * (q @ x.T) * scale + x2_seen * scale**2
            return -0.5 * d2.clamp_min(0)
        return -_manhattan(q, x, mask, scale)

    # -- recall ------------------------------------------------------------------------

    def recall(self, queries, mode: str = "sync", max_sweeps: int = 1, *, tol: float = 1e-6,
               mask=None, generator: torch.Generator | None = None) -> RecallResult:
        """Recall stored patterns from (corrupted or partial) queries.

        Parameters
        ----------
        queries : array-like, shape (n, d) or (d,)
            Query vectors.
        mode : {"sync"}
            Every entry of a state is updated at once (the only dynamics of this memory;
            the parameter exists so that all memories take the same arguments).
        max_sweeps : int
            Number of update steps at most (default one: a single step is enough when
            the patterns are well separated). Iteration stops earlier when no entry of
            any state moves by more than ``tol``.
        tol : float
            Convergence tolerance (max-norm), >= 0.
        mask : array-like of bool, shape (n, d) or (d,), optional
            True where the query is observed. Similarities then use only the observed
            entries, the observed entries are kept and the unobserved ones are filled in
            from the retrieved pattern (pattern completion). A masked recall takes a
            single step: the observed entries, hence the similarities, do not change.
        generator : torch.Generator, optional
            Unused: the dynamics are deterministic.

        Returns
        -------
        RecallResult
            ``states`` (n, d), ``weights`` (n, m), ``converged`` (n,), ``sweeps`` (n,)
            (update steps applied), ``cycled`` (n,) (always False).

        Raises
        ------
        ValueError
            Empty memory; queries of the wrong width, empty or non-finite; a mask of the
            wrong shape or with a query left unobserved; ``max_sweeps < 1``; bad ``tol``.
        TypeError
            A mask that is not boolean.
        """
        self._check_mode(mode)
        q = self._queries(queries)
        m = self._mask(mask, q)
        max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
        tol = _check_tol(tol)
        memory = self._memory()
        if m is None:
            return iterate(lambda s: self.beta * self._scores(s, None), memory, q,
                           max_sweeps, tol, separation=self.separation)
        weights = separate(self.beta * self._scores(q, m), self.separation)
        done = torch.ones(q.shape[0], dtype=torch.bool, device=q.device)
        return RecallResult(states=torch.where(m, q, weights @ memory), converged=done,
                            sweeps=done.long(), cycled=~done, weights=weights)

    def retrieve(self, queries, *, max_steps: int = 1, tol: float = 1e-6,
                 mask=None) -> RecallResult:
        """Deprecated name of :meth:`recall` (``max_steps`` is its ``max_sweeps``)."""
        warnings.warn("ModernHopfield.retrieve is deprecated: use ModernHopfield.recall "
                      "(max_steps is max_sweeps there; the result's steps count is "
                      ".sweeps)", DeprecationWarning, stacklevel=2)
        return self.recall(queries, max_sweeps=max_steps, tol=tol, mask=mask)

    def energy(self, queries) -> torch.Tensor:
        """Energy of each query (see the class notes).

        Parameters
        ----------
        queries : array-like, shape (n, d) or (d,)

        Returns
        -------
        torch.Tensor, shape (n,)
            Non-negative energies; lower means closer to a stored pattern.
        """
        q = self._queries(queries)
        if self.similarity == "dot" and not self.normalize:
            return energy(q, self._memory(), self.beta, separation=self.separation)
        scores = self._scores(q, None)
        e = -conjugate(self.beta * scores, self.separation) / self.beta
        e = e + entropy_gap(scores.shape[1], self.separation) / self.beta
        if self.similarity == "dot":  # normalised: Ramsauer energy of the unit query, M = 1
            e = e + 1.0
        return e

    # -- saving ------------------------------------------------------------------------

    def _to_state(self) -> dict:
        return {
            "beta": self.beta,
            "similarity": self.similarity,
            "normalize": self.normalize,
            "separation": self.separation,
            "patterns": self.patterns_,
        }

    @classmethod
    def _from_state(cls, state: dict) -> ModernHopfield:
        own = "ModernHopfield"
        beta = state_value(state, "beta", float, owner=own)  # checks that state is a dict
        # files written before sparse retrieval have no "separation": they are softmax
        separation = (state_value(state, "separation", str, owner=own)
                      if "separation" in state else "softmax")
        model = cls(beta=beta,
                    similarity=state_value(state, "similarity", str, owner=own),
                    normalize=state_value(state, "normalize", bool, owner=own),
                    separation=separation)
        if state_value(state, "patterns", (torch.Tensor, type(None)), owner=own) is not None:
            model.patterns_ = state_tensor(state, "patterns", (None, None), owner=own)
        return model


def _manhattan(q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None,
               scale: torch.Tensor) -> torch.Tensor:
    """L1 distances, over observed entries, between the rows of q (n, d) and the rows of
    x (m, d) scaled by ``scale`` (1 or n, m): shape (n, m)."""
    if scale.shape[0] == 1:  # no mask, or one mask for all queries
        keep = 1.0 if mask is None else mask.to(q.dtype)
        return torch.cdist(q * keep, x * scale.T * keep, p=1)
    out = torch.empty(q.shape[0], x.shape[0], dtype=q.dtype, device=q.device)
    chunk = max(1, 2**24 // max(1, x.numel()))
    for start in range(0, q.shape[0], chunk):
        sl = slice(start, start + chunk)
        diff = (q[sl, None, :] - x[None] * scale[sl, :, None]).abs() * mask[sl, None, :]
        out[sl] = diff.sum(-1)
    return out
