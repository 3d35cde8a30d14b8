"""harmonium's own Hopfield layers (see :mod:`harmonium.nn` for the overview)."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn
from torch.nn.functional import layer_norm

from harmonium._numerics import check_positive_int
from harmonium.models._modern_core import _check_mask
from harmonium.nn._associate import Retrieval, associate

_HIDDEN_SIZE = ("harmonium.nn layers have no hidden_size: hopfield-layers' hidden_size is "
                "the width of one head, harmonium's old one was the total. Pass head_size "
                "(width per head), or use harmonium.nn.hflayers for hopfield-layers' arguments")


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


def _mask_bias(mask, shape, dtype) -> torch.Tensor | None:
    """A bool mask (True = may attend) broadcastable to ``shape`` (B, H, n, m) as an
    additive bias of 0 and -inf; raises when it hides every pattern from a state."""
    if mask is None:
        return None
    _check_mask(mask, shape)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, -math.inf)


def _with_steps(retrieval: Retrieval, steps) -> Retrieval:
    """The layer's retrieval settings, with at most ``steps`` updates when given."""
    if steps is None:
        return retrieval
    return replace(retrieval, update_steps_max=check_positive_int(steps, "steps", 0))


class _Projected(nn.Module):
    """Key, value and output projections shared by :class:`Hopfield` and pooling."""

    def __init__(self, stored_size, head_size, output_size, num_heads, beta, normalize,
                 retrieval: Retrieval):
        super().__init__()
        self.stored_size = check_positive_int(stored_size, "stored_size")
        self.output_size = check_positive_int(output_size or stored_size, "output_size")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if head_size is None and self.stored_size % self.num_heads:
            raise ValueError(f"stored_size ({self.stored_size}) must be divisible by num_heads "
                             f"({self.num_heads}), or give head_size")
        self.head_size = check_positive_int(head_size or self.stored_size // self.num_heads,
                                            "head_size")
        self.projected_size = self.head_size * self.num_heads
        self.beta = _default_beta(beta, self.head_size)
        self.normalize = bool(normalize)
        self.retrieval = retrieval
        self.key = nn.Linear(self.stored_size, self.projected_size, bias=False)
        self.value = nn.Linear(self.stored_size, self.projected_size, bias=False)
        self.out = nn.Linear(self.projected_size, self.output_size, bias=False)
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight)
            self.value.weight.copy_(self.key.weight)
            if self.output_size == self.stored_size:
                self.out.weight.copy_(self.key.weight.T)
            else:
                nn.init.orthogonal_(self.out.weight)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, projected) -> (B, heads, n, head_size)."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_size).transpose(1, 2)

    def _associate(self, queries, stored, mask, trace=False, steps=None):
        """queries (B, heads, n, head_size), stored (B, m, stored)."""
        keys = self._heads(self.key(_normed(stored, self.normalize)))
        values = self._heads(self.value(stored))
        shape = (*queries.shape[:-1], keys.shape[-2])
        beta = torch.full((self.num_heads,), self.beta, dtype=keys.dtype, device=keys.device)
        bias = _mask_bias(_head_mask(mask, stored), shape, keys.dtype)
        return associate(queries, keys, values, beta, _with_steps(self.retrieval, steps),
                         training=self.training, bias=bias, trace=trace)

    def _retrieve(self, queries, stored, mask):
        """-> (B, n, output)."""
        z = self._associate(queries, stored, mask).output
        b, _, n, _ = z.shape
        return self.out(z.transpose(1, 2).reshape(b, n, self.projected_size))

    def _energies(self, queries, stored, mask, steps):
        """Energy trace summed over heads, (T + 1, B, n)."""
        return self._associate(queries, stored, mask, True, steps).energies.sum(-2)


def _head_mask(mask, stored: torch.Tensor) -> torch.Tensor | None:
    """A mask broadcastable to (B, n, m) as a bool tensor (B|1, 1, n|1, m) for the heads."""
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


def _unbatched(x: torch.Tensor, squeeze: bool, axis: int = 0) -> torch.Tensor:
    return x.squeeze(axis) if squeeze else x


class Hopfield(_Projected):
    """State patterns retrieve from stored patterns: multi-head Hopfield attention.

    ``out = W_o concat_h V_h' p(beta * K_h q_h)`` with ``q = W_q norm(state)``,
    ``K = W_k norm(stored)``, ``V = W_v stored`` and ``p`` the separation, after
    ``update_steps_max`` updates ``q <- K' p(beta K q)`` of the projected states.

    Parameters
    ----------
    input_size : int
        Width of the state patterns (queries).
    stored_size : int, optional, keyword-only
        Width of the stored patterns (default: ``input_size``). Keyword-only: the second
        positional argument of hopfield-layers' ``Hopfield`` is another thing.
    head_size : int, optional
        Width of each head's projected space (default: ``stored_size / num_heads``);
        the projections map to ``num_heads * head_size`` units.
    output_size : int, optional
        Width of the output (default: ``stored_size``).
    num_heads : int
        Number of heads (default 1).
    beta : float, optional
        Inverse temperature (default ``1 / sqrt(head_size)``).
    normalize : bool
        Layer-normalise states and stored patterns before the query/key projections.
    separation : {"softmax", "sparsemax", "entmax15"}
        Map from scores to association weights (:mod:`harmonium.sparse`).
    update_steps_max : int or None
        Updates of the projected states before the final association (default 0: one
        association, plain attention; None: until converged).
    update_steps_eps : float
        A head stops once its association matrix moves by at most this (Frobenius).
    dropout : float
        Dropout probability on the association matrix, in training mode only.
    hidden_size : None
        Not accepted (raises ``TypeError``): its meaning differs between libraries.

    Examples
    --------
    >>> layer = Hopfield(64)
    >>> out = layer(state, stored)   # (B, n, 64) and (B, m, 64) -> (B, n, 64)
    >>> out = layer(x)               # self-attention: stored = state
    """

    def __init__(self, input_size: int, *, stored_size: int | None = None,
                 head_size: int | None = None, output_size: int | None = None,
                 num_heads: int = 1, beta: float | None = None, normalize: bool = True,
                 separation: str = "softmax", update_steps_max: int | None = 0,
                 update_steps_eps: float = 1e-4, dropout: float = 0.0, hidden_size=None):
        if hidden_size is not None:
            raise TypeError(_HIDDEN_SIZE)
        self.input_size = check_positive_int(input_size, "input_size")
        super().__init__(stored_size or input_size, head_size, output_size, num_heads, beta,
                         normalize, Retrieval(separation, update_steps_max, update_steps_eps,
                                              dropout))
        self.query = nn.Linear(self.input_size, self.projected_size, bias=False)
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
        return _unbatched(self._retrieve(self._queries(state), stored, mask), squeeze)

    def energy(self, state: torch.Tensor, stored: torch.Tensor | None = None) -> torch.Tensor:
        """Hopfield energy of the projected state patterns, shape (B, n) (or (n,))."""
        return self.energy_trace(state, stored, steps=0)[0]

    def energy_trace(self, state: torch.Tensor, stored: torch.Tensor | None = None, *,
                     mask: torch.Tensor | None = None, steps: int | None = None):
        """Energies (summed over heads) of the projected states along one retrieval.

        Parameters
        ----------
        state, stored, mask
            As in :meth:`forward`.
        steps : int, optional
            Iterate this many updates at most instead of ``update_steps_max``.

        Returns
        -------
        torch.Tensor, shape (T + 1, B, n) (or (T + 1, n))
            Entry t is the energy after t updates; it never increases along t when the
            projections are fixed (each update is a concave-convex step).
        """
        state, stored, squeeze = self._inputs(state, stored)
        return _unbatched(self._energies(self._queries(state), stored, mask, steps), squeeze, 1)


class HopfieldPooling(_Projected):
    """Learned query patterns retrieve from a set: pools (B, m, d) to (B, k * output).

    Parameters
    ----------
    input_size : int
        Width of the set's elements.
    num_queries : int
        Number of learned query patterns (output vectors per set, concatenated).
    head_size, output_size, num_heads, beta, normalize, separation, update_steps_max,
    update_steps_eps, dropout, hidden_size
        As in :class:`Hopfield` (widths default to ``input_size``).
    """

    def __init__(self, input_size: int, *, num_queries: int = 1, head_size: int | None = None,
                 output_size: int | None = None, num_heads: int = 1,
                 beta: float | None = None, normalize: bool = True,
                 separation: str = "softmax", update_steps_max: int | None = 0,
                 update_steps_eps: float = 1e-4, dropout: float = 0.0, hidden_size=None):
        if hidden_size is not None:
            raise TypeError(_HIDDEN_SIZE)
        super().__init__(input_size, head_size, output_size, num_heads, beta, normalize,
                         Retrieval(separation, update_steps_max, update_steps_eps, dropout))
        self.num_queries = check_positive_int(num_queries, "num_queries")
        # unit-variance entries: the same scale as projected, normalised keys
        self.queries = nn.Parameter(torch.randn(self.num_queries, self.projected_size))

    def _inputs(self, stored, mask):
        stored, squeeze = _batched(stored, "stored")
        _check_width(stored, self.stored_size, "stored")
        q = self.queries.expand(stored.shape[0], -1, -1)
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=stored.device).unsqueeze(-2)
        return stored, self._heads(q), mask, squeeze

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
        stored, queries, mask, squeeze = self._inputs(stored, mask)
        return _unbatched(self._retrieve(queries, stored, mask).flatten(1), squeeze)

    def energy(self, stored: torch.Tensor) -> torch.Tensor:
        """Energy of the learned queries against each set, shape (B, num_queries)."""
        return self.energy_trace(stored, steps=0)[0]

    def energy_trace(self, stored: torch.Tensor, *, mask: torch.Tensor | None = None,
                     steps: int | None = None) -> torch.Tensor:
        """Energies along one retrieval, shape (T + 1, B, num_queries); see
        :meth:`Hopfield.energy_trace`."""
        stored, queries, mask, squeeze = self._inputs(stored, mask)
        return _unbatched(self._energies(queries, stored, mask, steps), squeeze, 1)
