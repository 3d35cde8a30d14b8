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

The functional core below (:func:`energy`, :func:`update`, :func:`retrieve`) is pure
torch and batched over any leading dimensions. :class:`ModernHopfield` is the user
object: it stores real vectors (images, embeddings), retrieves from corrupted or partly
observed queries, and follows the Universal Hopfield Networks view (similarity, softmax
separation, projection) with dot, Euclidean or Manhattan similarity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harmonium._numerics import as_batch, check_positive_int
from harmonium.io import savable

__all__ = ["ModernHopfield", "Retrieval", "energy", "retrieve", "update"]

SIMILARITIES = ("dot", "euclidean", "manhattan")


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a positive number, got {beta!r}")
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive finite number, got {beta}")
    return float(beta)


def _check_core(xi: torch.Tensor, memories: torch.Tensor, beta) -> float:
    if memories.shape[-2] == 0:
        raise ValueError("memories is empty: store at least one pattern")
    if xi.shape[-1] != memories.shape[-1]:
        raise ValueError(
            f"xi has width {xi.shape[-1]} but the memories have width {memories.shape[-1]}"
        )
    return _check_beta(beta)


def energy(xi: torch.Tensor, memories: torch.Tensor, beta: float) -> torch.Tensor:
    """Modern Hopfield energy of each state (Ramsauer et al. 2020, eq. 2).

    Parameters
    ----------
    xi : torch.Tensor, shape (..., n, d)
        States (queries).
    memories : torch.Tensor, shape (..., m, d)
        Stored patterns, one per row.
    beta : float
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor, shape (..., n)
        ``-lse(beta, X xi) + xi'xi / 2 + log(m) / beta + M^2 / 2`` (>= 0).
    """
    beta = _check_core(xi, memories, beta)
    m = memories.shape[-2]
    lse = torch.logsumexp(beta * xi @ memories.transpose(-1, -2), dim=-1) / beta
    big_m2 = memories.pow(2).sum(-1).amax(-1, keepdim=True)
    return -lse + 0.5 * xi.pow(2).sum(-1) + math.log(m) / beta + 0.5 * big_m2


def update(
    xi: torch.Tensor,
    memories: torch.Tensor,
    beta: float,
    *,
    values: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One modern Hopfield update ``xi_new = X' softmax(beta X xi)``.

    Parameters
    ----------
    xi : torch.Tensor, shape (..., n, d)
        States (queries).
    memories : torch.Tensor, shape (..., m, d)
        Stored patterns (keys).
    beta : float
        Inverse temperature, > 0.
    values : torch.Tensor, shape (..., m, p), optional
        What each stored pattern projects to (default: the memories themselves, the
        auto-associative update; other values make it hetero-associative attention).
    mask : torch.Tensor of bool, broadcastable to (..., n, m), optional
        False where a state must not see a stored pattern (padding, causality). Every
        state must see at least one pattern.

    Returns
    -------
    torch.Tensor, shape (..., n, d) (or (..., n, p) with ``values``)
    """
    beta = _check_core(xi, memories, beta)
    scores = beta * xi @ memories.transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    weights = torch.softmax(scores, dim=-1)
    return weights @ (memories if values is None else values)


@dataclass
class Retrieval:
    """Result of a retrieval.

    Attributes
    ----------
    states : torch.Tensor, shape (n, d)
        Retrieved states.
    weights : torch.Tensor, shape (n, m)
        Softmax weights of the last step over the stored patterns; ``weights.argmax(1)``
        is the index of the retrieved pattern.
    converged : torch.Tensor of bool, shape (n,)
        Whether each state moved by at most ``tol`` (max-norm) in its last step.
    steps : int
        Number of update steps taken.
    """

    states: torch.Tensor
    weights: torch.Tensor
    converged: torch.Tensor
    steps: int


def retrieve(
    xi: torch.Tensor,
    memories: torch.Tensor,
    beta: float,
    max_steps: int = 1,
    tol: float = 1e-6,
) -> Retrieval:
    """Iterate :func:`update` until no state moves by more than ``tol`` (max-norm).

    Parameters
    ----------
    xi : torch.Tensor, shape (n, d)
        Initial states (queries).
    memories : torch.Tensor, shape (m, d)
        Stored patterns.
    beta : float
        Inverse temperature, > 0.
    max_steps : int
        At most this many updates (default 1: well-separated patterns are retrieved in
        one step).
    tol : float
        Convergence tolerance on ``max |xi_new - xi|``.

    Returns
    -------
    Retrieval
    """
    beta = _check_core(xi, memories, beta)
    max_steps = check_positive_int(max_steps, "max_steps")
    return _iterate(lambda s: beta * s @ memories.T, memories, xi, max_steps, tol)


def _iterate(scores_fn, values, xi, max_steps, tol) -> Retrieval:
    """Shared fixed-point loop: ``xi <- softmax(scores_fn(xi)) @ values``."""
    steps = 0
    while True:
        weights = torch.softmax(scores_fn(xi), dim=-1)
        new = weights @ values
        converged = (new - xi).abs().amax(-1) <= tol
        xi, steps = new, steps + 1
        if steps == max_steps or bool(converged.all()):
            return Retrieval(states=xi, weights=weights, converged=converged, steps=steps)


@savable
class ModernHopfield:
    """Modern Hopfield associative memory for real vectors (images, embeddings).

    Retrieval is ``z = X' softmax(beta * sim(X, q))`` (Millidge et al. 2022): the
    similarity of the query to every stored pattern, separated by a softmax, projected
    back onto the stored patterns.

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
        Compare unit-length (L2-normalised) queries and patterns; the output is still a
        combination of the stored patterns as given.

    Attributes
    ----------
    patterns_ : torch.Tensor, shape (m, d)
        The stored patterns, after :meth:`store`.

    Notes
    -----
    The energy ``E(q) = -lse(beta, sim(X, q))`` (+ ``q'q/2`` for dot similarity, plus
    constants making it >= 0) is a Lyapunov function of the iterated update for the dot
    and Euclidean similarities (the Euclidean energy is Ramsauer's with a bias
    ``-|x|^2/2`` per pattern). For the Manhattan similarity the update is the UHN
    single-shot rule and the energy is a soft minimum distance, with no descent
    guarantee when iterated.
    """

    def __init__(self, beta: float = 1.0, similarity: str = "dot", normalize: bool = False):
        self.beta = _check_beta(beta)
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        self.similarity = similarity
        self.normalize = bool(normalize)
        self.patterns_: torch.Tensor | None = None

    def __repr__(self) -> str:
        stored = "empty" if self.patterns_ is None else f"{tuple(self.patterns_.shape)} stored"
        return (
            f"ModernHopfield(beta={self.beta}, similarity={self.similarity!r}, "
            f"normalize={self.normalize}; {stored})"
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

    def _keys(self) -> torch.Tensor:
        x = self._memory()
        return torch.nn.functional.normalize(x, dim=1) if self.normalize else x

    def _scores(self, q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Similarities ``sim(X, q)``, shape (n, m); only observed entries count."""
        x = self._keys()
        if mask is not None:
            q = q * mask
        if self.normalize:
            q = torch.nn.functional.normalize(q, dim=1)
        if self.similarity == "dot":
            return q @ x.T
        if self.similarity == "euclidean":
            x2 = x.pow(2)
            x2q = x2.sum(1) if mask is None else mask.to(x.dtype) @ x2.T
            d2 = q.pow(2).sum(1, keepdim=True) - 2 * q @ x.T + x2q
            return -0.5 * d2.clamp_min(0)
        return -_manhattan(q, x, mask)

    # -- retrieval ---------------------------------------------------------------------

    def retrieve(self, queries, *, max_steps: int = 1, tol: float = 1e-6, mask=None) -> Retrieval:
        """Retrieve stored patterns from (corrupted or partial) queries.

        Parameters
        ----------
        queries : array-like, shape (n, d) or (d,)
            Query vectors.
        max_steps : int
            Number of update steps at most (default one: a single step is enough when
            the patterns are well separated). Iteration stops earlier when no entry of
            any state moves by more than ``tol``.
        tol : float
            Convergence tolerance (max-norm).
        mask : array-like of bool, shape (n, d) or (d,), optional
            True where the query is observed. Similarities then use only the observed
            entries, the observed entries are kept and the unobserved ones are filled in
            from the retrieved pattern (pattern completion). A masked retrieval takes a
            single step: the observed entries, hence the similarities, do not change.

        Returns
        -------
        Retrieval
            ``states`` (n, d), ``weights`` (n, m), ``converged`` (n,), ``steps``.
        """
        q = self._queries(queries)
        m = self._mask(mask, q)
        max_steps = check_positive_int(max_steps, "max_steps")
        memory = self._memory()
        if m is not None:
            weights = torch.softmax(self.beta * self._scores(q, m), dim=-1)
            states = torch.where(m, q, weights @ memory)
            done = torch.ones(q.shape[0], dtype=torch.bool, device=q.device)
            return Retrieval(states=states, weights=weights, converged=done, steps=1)
        return _iterate(lambda s: self.beta * self._scores(s, None), memory, q, max_steps, tol)

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
            return energy(q, self._memory(), self.beta)
        scores = self._scores(q, None)
        e = -torch.logsumexp(self.beta * scores, dim=-1) / self.beta
        e = e + math.log(scores.shape[1]) / self.beta
        if self.similarity == "dot":  # normalised: Ramsauer energy of the unit query, M = 1
            e = e + 1.0
        return e

    # -- saving ------------------------------------------------------------------------

    def _to_state(self) -> dict:
        return {
            "beta": self.beta,
            "similarity": self.similarity,
            "normalize": self.normalize,
            "patterns": self.patterns_,
        }

    @classmethod
    def _from_state(cls, state: dict) -> ModernHopfield:
        model = cls(beta=state["beta"], similarity=state["similarity"],
                    normalize=state["normalize"])
        model.patterns_ = state["patterns"]
        return model


def _manhattan(q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """L1 distances between rows of q (n, d) and x (m, d) over observed entries, (n, m)."""
    if mask is None:
        return torch.cdist(q, x, p=1)
    if bool((mask == mask[0]).all()):  # one mask for all queries
        keep = mask[0].to(q.dtype)
        return torch.cdist(q * keep, x * keep, p=1)
    out = torch.empty(q.shape[0], x.shape[0], dtype=q.dtype, device=q.device)
    chunk = max(1, 2**24 // max(1, x.numel()))
    for start in range(0, q.shape[0], chunk):
        sl = slice(start, start + chunk)
        diff = (q[sl, None, :] - x[None]).abs() * mask[sl, None, :]
        out[sl] = diff.sum(-1)
    return out
