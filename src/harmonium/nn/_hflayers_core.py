"""Projections and masks of :mod:`harmonium.nn.hflayers`, with hopfield-layers' shapes.

:class:`Spec` resolves hopfield-layers' size arguments once (``hidden_size`` is the width
of one head there); :class:`HopfieldCore` owns the projections, whose parameter shapes
follow the shapes hopfield-layers documents, and runs :func:`associate` on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import layer_norm

from harmonium._numerics import check_positive_int
from harmonium.nn._associate import Association, Retrieval, associate


@dataclass(frozen=True)
class Spec:
    """Resolved widths and switches of one hopfield-layers association.

    ``input_size`` (state width), ``stored_size`` and ``projection_size`` (input widths of
    stored patterns and pattern projections), ``head_size`` (hopfield-layers'
    ``hidden_size``: the association space of one head), ``pattern_size`` (projected
    pattern width per head), ``output_size``; all None in static-only execution, where
    the widths come from the inputs.
    """

    input_size: int | None
    stored_size: int | None
    projection_size: int | None
    head_size: int | None
    pattern_size: int | None
    num_heads: int
    output_size: int | None
    static_state: bool
    static_stored: bool
    static_projection: bool
    connected: bool
    bias: bool
    space_norm: bool
    space_norm_affine: bool
    space_norm_eps: float
    zero_association: bool

    @property
    def static_only(self) -> bool:
        """No projection, no normalisation in the Hopfield space, no output projection."""
        return self.input_size is None


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, n, H * w) -> (B, H, n, w)."""
    b, n, width = x.shape
    return x.view(b, n, num_heads, width // num_heads).transpose(1, 2)


def _shared(x: torch.Tensor, num_heads: int, width: int | None, name: str) -> torch.Tensor:
    """A static pattern tensor (B, n, w), the same for every head: (B, H, n, w)."""
    if width is not None and x.shape[-1] != width:
        raise ValueError(f"static {name} must have width {width} (the head width), got "
                         f"{x.shape[-1]}")
    return x.unsqueeze(1).expand(-1, num_heads, -1, -1)


def _linear(n_out: int, n_in: int, bias: bool) -> nn.Linear:
    layer = nn.Linear(n_in, n_out, bias=bias)
    nn.init.normal_(layer.weight, mean=0.0, std=0.02)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class HopfieldCore(nn.Module):
    """State, stored and pattern projections, per-head association, output projection.

    Parameters
    ----------
    spec : Spec
    out_projection : bool
        Map the concatenated heads (H * pattern_size) to ``spec.output_size``.
    """

    def __init__(self, spec: Spec, out_projection: bool):
        super().__init__()
        self.spec = spec
        h = spec.num_heads
        self.query = self.key = self.value = self.out = None
        if not spec.static_state:
            self.query = _linear(h * spec.head_size, spec.input_size, spec.bias)
        if not spec.static_stored:
            self.key = _linear(h * spec.head_size, spec.stored_size, spec.bias)
        if not spec.static_projection:
            width_in = (h * spec.head_size if spec.connected and not spec.static_stored
                        else spec.projection_size)
            self.value = _linear(h * spec.pattern_size, width_in, spec.bias)
        self.space_weight = self.space_bias = None
        if spec.space_norm_affine:
            self.space_weight = nn.Parameter(torch.ones(spec.head_size))
            self.space_bias = nn.Parameter(torch.zeros(spec.head_size))
        if out_projection:
            self.out = _linear(spec.output_size, h * spec.pattern_size, spec.bias)

    def _project(self, stored, state, projection):
        """Batch-first inputs -> per-head q (B, H, L, k), k (B, H, S, k), v (B, H, S, p)."""
        s, h = self.spec, self.spec.num_heads
        q = (_heads(self.query(state), h) if self.query is not None
             else _shared(state, h, s.head_size, "state patterns"))
        k = (_heads(self.key(stored), h) if self.key is not None
             else _shared(stored, h, s.head_size, "stored patterns"))
        v = self.key(projection) if s.connected and self.key is not None else projection
        if self.value is not None:
            v = _heads(self.value(v), h)
        elif s.connected and self.key is not None:
            v = _heads(v, h)
        else:
            v = _shared(v, h, s.pattern_size if self.out is not None else None,
                        "pattern projections")
        if s.space_norm:
            q = layer_norm(q, q.shape[-1:], self.space_weight, self.space_bias, s.space_norm_eps)
            k = layer_norm(k, k.shape[-1:], self.space_weight, self.space_bias, s.space_norm_eps)
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(f"state and stored patterns must meet in one space: widths "
                             f"{q.shape[-1]} and {k.shape[-1]}")
        return q, k, v

    def forward(self, stored, state, projection, bias, beta, retrieval: Retrieval, *,
                trace: bool = False) -> tuple[torch.Tensor, Association, torch.Tensor]:
        """Associate batch-first inputs.

        Parameters
        ----------
        stored : torch.Tensor, shape (B, S, stored width)
        state : torch.Tensor, shape (B, L, state width)
        projection : torch.Tensor, shape (B, S, projection width)
        bias : torch.Tensor, shape (B, H, L, S), optional
            Additive association bias (-inf for masked pairs).
        beta : torch.Tensor, shape (H,)
        retrieval : Retrieval
        trace : bool

        Returns
        -------
        output : torch.Tensor, shape (B, L, output width)
        association : Association
        values : torch.Tensor, shape (B, H, S, pattern width)
            The projected pattern projections (with the zero pattern if added).
        """
        q, k, v = self._project(stored, state, projection)
        if self.spec.zero_association:
            k = torch.cat([k, k.new_zeros(*k.shape[:2], 1, k.shape[-1])], dim=2)
            v = torch.cat([v, v.new_zeros(*v.shape[:2], 1, v.shape[-1])], dim=2)
            if bias is not None:
                bias = torch.cat([bias, bias.new_zeros(*bias.shape[:3], 1)], dim=3)
        result = associate(q, k, v, beta, retrieval, bias=bias, training=self.training,
                           trace=trace)
        b, h, n, p = result.output.shape
        z = result.output.transpose(1, 2).reshape(b, n, h * p)
        return (z if self.out is None else self.out(z)), result, v


def association_bias(padding_mask, association_mask, shape, dtype, device):
    """hopfield-layers' masks as one additive bias of shape (B, H, L, S), or None.

    ``padding_mask`` (B, S): True marks a stored pattern to ignore. ``association_mask``
    (L, S) or (B * H, L, S): bool (True = may not attend) or float (added to the scores).
    """
    b, h, n, m = shape
    bias = None
    if association_mask is not None:
        mask = torch.as_tensor(association_mask, device=device)
        if tuple(mask.shape) not in ((n, m), (b * h, n, m)):
            raise ValueError(f"association_mask must have shape ({n}, {m}) or "
                             f"({b * h}, {n}, {m}), got {tuple(mask.shape)}")
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(mask, -math.inf)
        elif not mask.is_floating_point():
            raise TypeError(f"association_mask must be bool or float, got dtype {mask.dtype}")
        bias = mask.to(dtype).reshape(-1, h, n, m) if mask.ndim == 3 else mask.to(dtype)
    if padding_mask is not None:
        pad = torch.as_tensor(padding_mask, device=device)
        if pad.dtype != torch.bool or tuple(pad.shape) != (b, m):
            raise ValueError(f"stored_pattern_padding_mask must be a bool tensor of shape "
                             f"({b}, {m}) (True = ignore), got {pad.dtype} {tuple(pad.shape)}")
        pad_bias = torch.zeros((b, 1, 1, m), dtype=dtype, device=device)
        pad_bias = pad_bias.masked_fill(pad[:, None, None, :], -math.inf)
        bias = pad_bias if bias is None else bias + pad_bias
    return None if bias is None else bias.expand(b, h, n, m)


def check_size(value, name: str) -> int | None:
    """None or a positive int."""
    return None if value is None else check_positive_int(value, name)
