"""Hopfield layers for PyTorch models (Ramsauer et al. 2020).

Three modules built on the modern Hopfield update ``xi_new = X' softmax(beta X xi)``:

- :class:`Hopfield`: state patterns (queries) retrieve from stored patterns given at
  call time; with projections it is multi-head softmax attention (a drop-in for
  self- or cross-attention).
- :class:`HopfieldPooling`: learned query patterns retrieve from a set, pooling it to a
  fixed number of vectors (multiple-instance learning, set classification).
- :class:`HopfieldLayer`: learned stored patterns and their values; the input retrieves
  from them (a lookup / memory layer, or a classifier with prototypes).

Defaults that retrieve. Similarities are computed between layer-normalised inputs
(``normalize=True``, no learned affine), so every compared vector has squared norm
about its width, and ``beta`` defaults to ``1 / sqrt(width)``, the width of one head
(``hidden_size / num_heads``; each head compares its own slice): a stored pattern then
scores ``sqrt(width)`` against itself and O(1) against unrelated patterns, which
separates them after one step for head widths of 64 and more (tested: 50 patterns of
512 units, 10% flipped, 1, 4 and 8 heads). The projections start as one
random orthogonal map shared by queries, keys and values, with its transpose on the
output, so an untrained :class:`Hopfield` returns the stored pattern a query is closest
to, exactly as the memory does; training moves them like any attention weights.
Values are never normalised: outputs are combinations of the stored patterns as given.

Every module has ``energy(...)``, the modern Hopfield energy of its queries (summed over
heads), which one forward step does not increase when projections are identities.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import layer_norm

from harmonium._numerics import check_positive_int
from harmonium.models._modern_core import energy as _energy
from harmonium.models._modern_core import update as _update

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling"]


def _normed(x: torch.Tensor, on: bool) -> torch.Tensor:
    return layer_norm(x, x.shape[-1:]) if on else x


def _default_beta(beta, width: int) -> float:
    if beta is None:
        return 1.0 / math.sqrt(width)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a positive number or None, got {beta!r}")
    return float(beta)


def _check_width(x: torch.Tensor, width: int, name: str) -> None:
    if x.shape[-1] != width:
        raise ValueError(f"{name} must have last dimension {width}, got shape {tuple(x.shape)}")
    if x.shape[-2] == 0:
        raise ValueError(f"{name} is empty: expected at least one pattern")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")


class _Projected(nn.Module):
    """Key, value and output projections shared by :class:`Hopfield` and pooling."""

    def __init__(self, stored_size, hidden_size, output_size, num_heads, beta, normalize):
        super().__init__()
        self.stored_size = check_positive_int(stored_size, "stored_size")
        self.hidden_size = check_positive_int(hidden_size or stored_size, "hidden_size")
        self.output_size = check_positive_int(output_size or stored_size, "output_size")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads})"
            )
        self.head_size = self.hidden_size // self.num_heads
        self.beta = _default_beta(beta, self.head_size)
        self.normalize = bool(normalize)
        self.key = nn.Linear(self.stored_size, self.hidden_size, bias=False)
        self.value = nn.Linear(self.stored_size, self.hidden_size, bias=False)
        self.out = nn.Linear(self.hidden_size, self.output_size, bias=False)
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight)
            self.value.weight.copy_(self.key.weight)
            if self.output_size == self.stored_size:
                self.out.weight.copy_(self.key.weight.T)
            else:
                nn.init.orthogonal_(self.out.weight)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, hidden) -> (B, heads, n, head_size)."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_size).transpose(1, 2)

    def _keys_values(self, stored: torch.Tensor):
        keys = self._heads(self.key(_normed(stored, self.normalize)))
        return keys, self._heads(self.value(stored))

    def _retrieve(self, queries, stored, mask):
        """queries (B, heads, n, head_size), stored (B, m, stored) -> (B, n, output)."""
        keys, values = self._keys_values(stored)
        z = _update(queries, keys, self.beta, values=values, mask=_head_mask(mask, stored))
        b, _, n, _ = z.shape
        return self.out(z.transpose(1, 2).reshape(b, n, self.hidden_size))

    def _energy(self, queries, stored):
        keys, _ = self._keys_values(stored)
        return _energy(queries, keys, self.beta).sum(-2)


def _head_mask(mask, stored: torch.Tensor) -> torch.Tensor | None:
    """A mask broadcastable to (B, n, m) as a bool tensor (B|1, 1, n|1, m) for the heads;
    :func:`update` checks that it broadcasts and leaves every state a stored pattern."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask, device=stored.device, dtype=torch.bool)
    if mask.ndim > 3:
        raise ValueError(f"mask must be broadcastable to (batch, states, stored patterns), "
                         f"got shape {tuple(mask.shape)}")
    return mask.reshape((1,) * (3 - mask.ndim) + tuple(mask.shape)).unsqueeze(1)


def _batched(x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    if x.ndim == 2:
        return x.unsqueeze(0), True
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (batch, n, width) or (n, width), got "
                         f"{tuple(x.shape)}")
    return x, False


class Hopfield(_Projected):
    """State patterns retrieve from stored patterns: multi-head softmax attention.

    ``out = W_o concat_h softmax(beta * Q_h K_h') V_h`` with ``Q = W_q norm(state)``,
    ``K = W_k norm(stored)``, ``V = W_v stored``.

    Parameters
    ----------
    input_size : int
        Width of the state patterns (queries).
    stored_size : int, optional
        Width of the stored patterns (default: ``input_size``).
    hidden_size : int, optional
        Width of the projected space, split over heads (default: ``stored_size``).
    output_size : int, optional
        Width of the output (default: ``stored_size``).
    num_heads : int
        Number of heads (default 1).
    beta : float, optional
        Inverse temperature (default ``1 / sqrt(head size)``, the head size being
        ``hidden_size / num_heads``).
    normalize : bool
        Layer-normalise states and stored patterns before the query/key projections.

    Examples
    --------
    >>> layer = Hopfield(64)
    >>> out = layer(state, stored)   # (B, n, 64) and (B, m, 64) -> (B, n, 64)
    >>> out = layer(x)               # self-attention: stored = state
    """

    def __init__(
        self,
        input_size: int,
        stored_size: int | None = None,
        *,
        hidden_size: int | None = None,
        output_size: int | None = None,
        num_heads: int = 1,
        beta: float | None = None,
        normalize: bool = True,
    ):
        self.input_size = check_positive_int(input_size, "input_size")
        super().__init__(stored_size or input_size, hidden_size, output_size, num_heads, beta,
                         normalize)
        self.query = nn.Linear(self.input_size, self.hidden_size, bias=False)
        with torch.no_grad():
            if self.input_size == self.stored_size:
                self.query.weight.copy_(self.key.weight)
            else:
                nn.init.orthogonal_(self.query.weight)

    def _queries(self, state):
        return self._heads(self.query(_normed(state, self.normalize)))

    def _inputs(self, state, stored):
        state, squeeze = _batched(state, "state")
        stored = state if stored is None else _batched(stored, "stored")[0]
        _check_width(state, self.input_size, "state")
        _check_width(stored, self.stored_size, "stored")
        return state, stored, squeeze

    def forward(self, state: torch.Tensor, stored: torch.Tensor | None = None, *,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieve for each state pattern.

        Parameters
        ----------
        state : torch.Tensor, shape (B, n, input_size) or (n, input_size)
        stored : torch.Tensor, shape (B, m, stored_size) or (m, stored_size), optional
            Default: ``state`` (self-attention).
        mask : torch.Tensor of bool, broadcastable to (B, n, m), optional
            True where a state may attend to a stored pattern: (m,) or (B, 1, m) for
            padding, (n, m) or (B, n, m) in general. Every state must see at least one
            stored pattern.

        Returns
        -------
        torch.Tensor, shape (B, n, output_size) (or (n, output_size) for 2-D input)
        """
        state, stored, squeeze = self._inputs(state, stored)
        out = self._retrieve(self._queries(state), stored, mask)
        return out[0] if squeeze else out

    def energy(self, state: torch.Tensor, stored: torch.Tensor | None = None) -> torch.Tensor:
        """Hopfield energy of the projected state patterns, shape (B, n) (or (n,))."""
        state, stored, squeeze = self._inputs(state, stored)
        e = self._energy(self._queries(state), stored)
        return e[0] if squeeze else e


class HopfieldPooling(_Projected):
    """Learned query patterns retrieve from a set: pools (B, m, d) to (B, k * output).

    Parameters
    ----------
    input_size : int
        Width of the set's elements.
    num_queries : int
        Number of learned query patterns (output vectors per set, concatenated).
    hidden_size, output_size, num_heads, beta, normalize
        As in :class:`Hopfield` (widths default to ``input_size``).
    """

    def __init__(
        self,
        input_size: int,
        *,
        num_queries: int = 1,
        hidden_size: int | None = None,
        output_size: int | None = None,
        num_heads: int = 1,
        beta: float | None = None,
        normalize: bool = True,
    ):
        super().__init__(input_size, hidden_size, output_size, num_heads, beta, normalize)
        self.num_queries = check_positive_int(num_queries, "num_queries")
        # unit-variance entries: the same scale as projected, normalised keys
        self.queries = nn.Parameter(torch.randn(self.num_queries, self.hidden_size))

    def _inputs(self, stored):
        stored, squeeze = _batched(stored, "stored")
        _check_width(stored, self.stored_size, "stored")
        q = self.queries.expand(stored.shape[0], -1, -1)
        return stored, self._heads(q), squeeze

    def forward(self, stored: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool each set.

        Parameters
        ----------
        stored : torch.Tensor, shape (B, m, input_size) or (m, input_size)
        mask : torch.Tensor of bool, shape (B, m), optional
            True for real elements, False for padding.

        Returns
        -------
        torch.Tensor, shape (B, num_queries * output_size) (or (num_queries * output_size,))
        """
        stored, queries, squeeze = self._inputs(stored)
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=stored.device).unsqueeze(-2)
        out = self._retrieve(queries, stored, mask).flatten(1)
        return out[0] if squeeze else out

    def energy(self, stored: torch.Tensor) -> torch.Tensor:
        """Energy of the learned queries against each set, shape (B, num_queries)."""
        stored, queries, squeeze = self._inputs(stored)
        e = self._energy(queries, stored)
        return e[0] if squeeze else e


class HopfieldLayer(nn.Module):
    """Learned stored patterns (keys) and values: ``out = softmax(beta K norm(x)) V``.

    At initialisation the values equal the patterns (when ``output_size`` is the input
    width), so the layer is an auto-associative memory of its patterns: ``store`` real
    patterns and it retrieves them in one step; train it and it is a differentiable
    lookup table, a prototype classifier (values = class scores), or a memory layer.

    Parameters
    ----------
    input_size : int
        Width of the inputs and of the stored patterns.
    num_patterns : int
        Number of stored patterns.
    output_size : int, optional
        Width of the values (default: ``input_size``).
    beta : float, optional
        Inverse temperature (default ``1 / sqrt(input_size)``).
    normalize : bool
        Compare layer-normalised inputs and patterns.

    Attributes
    ----------
    patterns : nn.Parameter, shape (num_patterns, input_size)
    values : nn.Parameter, shape (num_patterns, output_size)
    """

    def __init__(self, input_size: int, num_patterns: int, *, output_size: int | None = None,
                 beta: float | None = None, normalize: bool = True):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.num_patterns = check_positive_int(num_patterns, "num_patterns")
        self.output_size = check_positive_int(output_size or input_size, "output_size")
        self.beta = _default_beta(beta, self.input_size)
        self.normalize = bool(normalize)
        self.patterns = nn.Parameter(torch.randn(self.num_patterns, self.input_size))
        values = (self.patterns.detach().clone() if self.output_size == self.input_size
                  else torch.randn(self.num_patterns, self.output_size))
        self.values = nn.Parameter(values)

    @torch.no_grad()
    def store(self, patterns: torch.Tensor, values: torch.Tensor | None = None) -> HopfieldLayer:
        """Overwrite the stored patterns (and values; default: the patterns themselves).

        Parameters
        ----------
        patterns : torch.Tensor, shape (num_patterns, input_size)
        values : torch.Tensor, shape (num_patterns, output_size), optional

        Returns
        -------
        self
        """
        patterns = torch.as_tensor(patterns)
        _check_width(patterns, self.input_size, "patterns")
        if patterns.shape != self.patterns.shape:
            raise ValueError(f"patterns must have shape {tuple(self.patterns.shape)}, got "
                             f"{tuple(patterns.shape)}")
        values = patterns if values is None else torch.as_tensor(values)
        _check_width(values, self.output_size, "values")
        if values.shape[0] != self.num_patterns:
            raise ValueError(f"values must have {self.num_patterns} rows, got {values.shape[0]}")
        self.patterns.copy_(patterns)
        self.values.copy_(values)
        return self

    def _query_keys(self, x):
        if x.ndim == 0 or x.shape[-1] != self.input_size:
            raise ValueError(f"input must have last dimension {self.input_size}, got shape "
                             f"{tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("input contains NaN or infinite values")
        return _normed(x, self.normalize), _normed(self.patterns, self.normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Retrieve: (..., input_size) -> (..., output_size)."""
        q, k = self._query_keys(x)
        return _update(q, k, self.beta, values=self.values)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Hopfield energy of the (normalised) inputs, shape (...)."""
        q, k = self._query_keys(x)
        if q.ndim == 1:
            return _energy(q[None], k, self.beta)[0]
        return _energy(q, k, self.beta)
