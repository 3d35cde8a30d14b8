"""Hopfield layers with the constructor arguments of ml-jku's hopfield-layers (``hflayers``).

For code written against ``hflayers``: replace ``from hflayers import Hopfield`` by
``from harmonium.nn.hflayers import Hopfield`` and the same call builds a layer with the
same parameter count (the same map shapes; hflayers packs the state, stored and
projection maps into one ``in_proj_weight`` when their widths agree), input and output
shapes and forward semantics:
``hidden_size`` is the width of *one head* (as in hflayers; harmonium's own layers call
it ``head_size``), the second positional argument is ``hidden_size``, ``scaling`` is
beta, ``update_steps_max`` (0: one association; None: until converged) and
``update_steps_eps`` iterate the state in the association space, ``dropout`` acts on
the association matrix in training mode, ``*_as_static`` use a pattern without
projection, masks use hflayers' convention (True = ignore / may not attend). Parameters
start as in hflayers (normal, std 0.02; zero biases), so an untrained layer averages
rather than retrieves; harmonium's own :mod:`harmonium.nn` layers start as retrieving
memories.

What does not map (the table in ``docs/modern_hopfield.md``): ``concat_bias_pattern``
(hflayers creates the biases and never adds them; here it raises ``ValueError``),
per-head tensors for ``update_steps_max`` / ``update_steps_eps`` (``TypeError``),
``HopfieldPooling(batch_first=False)`` (``ValueError``: hflayers flattens its quantity
and batch axes together), state-dict keys (the parameter shapes are the same, their
names and packing differ), and the ``pattern_size`` bias entries hflayers allocates but
never uses when only the pattern projection is static. Added: ``separation`` (sparse
retrieval) and ``get_energy_trace``.
"""

from __future__ import annotations

import torch
from torch import nn

from harmonium._numerics import check_positive_int
from harmonium.nn._associate import Retrieval
from harmonium.nn._hflayers_core import (
    HopfieldCore,
    Spec,
    association_bias,
    check_size,
)

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling"]


def _norm(on, affine, eps, width, name):
    """hflayers' optional LayerNorm of one input (affine without normalising is an error)."""
    if affine and not on:
        raise ValueError(f"normalize_{name}_affine=True needs normalize_{name}=True "
                         f"(affine normalisation without normalisation has no effect)")
    if not on:
        return None
    if width is None:
        raise ValueError(f"normalize_{name} needs input_size (or the {name} size)")
    return nn.LayerNorm(width, eps=eps, elementwise_affine=bool(affine))


def _spec(input_size, hidden_size, output_size, pattern_size, num_heads, static, connected,
          stored_size, projection_size, bias, space, zero, out_projection) -> Spec:
    heads = check_positive_int(num_heads, "num_heads")
    space_norm, space_affine, space_eps = space
    if space_affine and not space_norm:
        raise ValueError("normalize_hopfield_space_affine=True needs "
                         "normalize_hopfield_space=True")
    static_only = all(static) and not (connected or space_norm or out_projection)
    if static_only:
        return Spec(None, None, None, check_size(hidden_size, "hidden_size"),
                    check_size(pattern_size, "pattern_size"), heads, None, *static,
                    False, bool(bias), False, False, space_eps, bool(zero))
    if input_size is None:
        raise ValueError("input_size is required unless every pattern is static and the "
                         "output projection is disabled")
    d = check_positive_int(input_size, "input_size")
    if hidden_size is None and d % heads:
        raise ValueError(f"input_size ({d}) must be divisible by num_heads ({heads}), or "
                         f"give hidden_size (the width of one head)")
    head = check_size(hidden_size, "hidden_size") or d // heads
    kdim, vdim = check_size(stored_size, "stored_pattern_size") or d, \
        check_size(projection_size, "pattern_projection_size") or d
    pattern = check_size(pattern_size, "pattern_size") or head
    if connected and (kdim != vdim or pattern != head):
        raise ValueError("pattern_projection_as_connected needs stored and projection "
                         "inputs of one width and pattern_size equal to hidden_size")
    return Spec(d, kdim, vdim, head, pattern, heads,
                check_size(output_size, "output_size") or d, *static, bool(connected),
                bool(bias), bool(space_norm), bool(space_affine), float(space_eps), bool(zero))


def _retrieval(update_steps_max, update_steps_eps, dropout, separation) -> Retrieval:
    for name, value in (("update_steps_max", update_steps_max),
                        ("update_steps_eps", update_steps_eps)):
        if isinstance(value, torch.Tensor):
            raise TypeError(f"{name} as a per-head tensor is not supported: pass a number")
    return Retrieval(separation, update_steps_max, update_steps_eps, dropout)


class Hopfield(nn.Module):
    """hflayers' ``Hopfield``: state patterns associate with stored patterns.

    Arguments mean what they mean in hopfield-layers (``hidden_size``: width of one head;
    ``scaling``: beta, a float or a (num_heads,) tensor, default ``1/sqrt(hidden_size)``;
    ``update_steps_max``: state updates before the final association). Extra,
    keyword-only: ``separation`` (``"softmax"``, ``"sparsemax"`` or ``"entmax15"``).

    Call it with one tensor (stored = state = projection) or a tuple
    ``(stored_pattern, state_pattern, pattern_projection)``, each (B, n, width) with
    ``batch_first`` (else (n, B, width)); it returns (B, L, output_size) (or (L, B, .)).
    """

    def __init__(self, input_size=None, hidden_size=None, output_size=None,
                 pattern_size=None, num_heads=1, scaling=None, update_steps_max=0,
                 update_steps_eps=1e-4, normalize_stored_pattern=True,
                 normalize_stored_pattern_affine=True, normalize_stored_pattern_eps=1e-5,
                 normalize_state_pattern=True, normalize_state_pattern_affine=True,
                 normalize_state_pattern_eps=1e-5, normalize_pattern_projection=True,
                 normalize_pattern_projection_affine=True,
                 normalize_pattern_projection_eps=1e-5, normalize_hopfield_space=False,
                 normalize_hopfield_space_affine=False, normalize_hopfield_space_eps=1e-5,
                 stored_pattern_as_static=False, state_pattern_as_static=False,
                 pattern_projection_as_static=False, pattern_projection_as_connected=False,
                 stored_pattern_size=None, pattern_projection_size=None, batch_first=True,
                 association_activation=None, dropout=0.0, input_bias=True,
                 concat_bias_pattern=False, add_zero_association=False,
                 disable_out_projection=False, *, separation="softmax"):
        super().__init__()
        if concat_bias_pattern:
            raise ValueError("concat_bias_pattern=True is not supported: hflayers creates "
                             "these biases but never adds them to the patterns")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first must be a bool, got {batch_first!r}")
        self.batch_first = batch_first
        static = (bool(state_pattern_as_static), bool(stored_pattern_as_static),
                  bool(pattern_projection_as_static))
        self.spec = _spec(input_size, hidden_size, output_size, pattern_size, num_heads,
                          static, pattern_projection_as_connected, stored_pattern_size,
                          pattern_projection_size, input_bias,
                          (normalize_hopfield_space, normalize_hopfield_space_affine,
                           normalize_hopfield_space_eps),
                          add_zero_association, not disable_out_projection)
        self.association_core = HopfieldCore(self.spec, not disable_out_projection)
        self.norm_stored_pattern = _norm(normalize_stored_pattern, normalize_stored_pattern_affine,
                                         normalize_stored_pattern_eps,
                                         stored_pattern_size or input_size, "stored_pattern")
        self.norm_state_pattern = _norm(normalize_state_pattern, normalize_state_pattern_affine,
                                        normalize_state_pattern_eps, input_size, "state_pattern")
        self.norm_pattern_projection = _norm(
            normalize_pattern_projection, normalize_pattern_projection_affine,
            normalize_pattern_projection_eps, pattern_projection_size or input_size,
            "pattern_projection")
        self.retrieval = _retrieval(update_steps_max, update_steps_eps, dropout, separation)
        self.association_activation = None
        if association_activation is not None:
            self.association_activation = getattr(torch, str(association_activation), None)
            if not callable(self.association_activation):
                raise ValueError(f"association_activation must name a torch function, got "
                                 f"{association_activation!r}")
        self._set_scaling(scaling)

    def _set_scaling(self, scaling) -> None:
        h, head = self.spec.num_heads, self.spec.head_size
        default = 1.0 if self.spec.static_only else 1.0 / head**0.5
        beta = torch.as_tensor(default if scaling is None else scaling, dtype=torch.float32)
        if beta.ndim > 1 or (beta.ndim == 1 and beta.shape[0] != h) or not (beta > 0).all():
            raise ValueError(f"scaling must be a positive number or a ({h},) tensor of "
                             f"positive numbers, got {scaling!r}")
        self.register_buffer("scaling", beta.expand(h).clone(), persistent=False)

    @property
    def input_size(self):
        return self.spec.input_size

    @property
    def hidden_size(self):
        return self.spec.head_size

    @property
    def output_size(self):
        return self.spec.output_size

    @property
    def update_steps_max(self):
        return self.retrieval.update_steps_max

    def _inputs(self, data):
        if isinstance(data, torch.Tensor):
            data = (data, data, data)
        if not (isinstance(data, tuple) and len(data) == 3):
            raise TypeError("input must be one tensor (stored = state = projection) or a "
                            "tuple (stored_pattern, state_pattern, pattern_projection)")
        if any(not isinstance(x, torch.Tensor) or x.ndim != 3 for x in data):
            raise ValueError("each input must be a 3-d tensor (batch, patterns, width)")
        if not self.batch_first:
            data = tuple(x.transpose(0, 1) for x in data)
        stored, state, projection = data
        if stored.shape[:2] != projection.shape[:2] or state.shape[0] != stored.shape[0]:
            raise ValueError(f"stored patterns {tuple(stored.shape)}, state patterns "
                             f"{tuple(state.shape)} and pattern projections "
                             f"{tuple(projection.shape)} must share the batch size, and "
                             f"stored patterns and projections their number")
        norms = (self.norm_stored_pattern, self.norm_state_pattern, self.norm_pattern_projection)
        return tuple(x if norm is None else norm(x) for x, norm in zip(data, norms, strict=True))

    def _run(self, data, padding_mask, association_mask, trace=False):
        stored, state, projection = data
        shape = (state.shape[0], self.spec.num_heads, state.shape[1],
                 stored.shape[1])
        bias = association_bias(padding_mask, association_mask, shape, state.dtype,
                                state.device)
        return self.association_core(stored, state, projection, bias,
                                     self.scaling.to(state.dtype), self.retrieval, trace=trace)

    def forward(self, input, stored_pattern_padding_mask=None, association_mask=None):
        """Associate; (B, L, output_size) (``batch_first``) or (L, B, output_size)."""
        out = self._run(self._inputs(input), stored_pattern_padding_mask, association_mask)[0]
        if self.association_activation is not None:
            out = self.association_activation(out)
        return out if self.batch_first else out.transpose(0, 1)

    def get_association_matrix(self, input, stored_pattern_padding_mask=None,
                               association_mask=None) -> torch.Tensor:
        """The final association matrix, shape (B, num_heads, L, S), without gradient."""
        with torch.no_grad():
            return self._run(self._inputs(input), stored_pattern_padding_mask,
                             association_mask)[1].weights

    def get_projected_pattern_matrix(self, input, stored_pattern_padding_mask=None,
                                     association_mask=None) -> torch.Tensor:
        """The projected pattern projections, shape (B, num_heads, S, pattern_size)."""
        with torch.no_grad():
            return self._run(self._inputs(input), stored_pattern_padding_mask,
                             association_mask)[2]

    def get_energy_trace(self, input, stored_pattern_padding_mask=None,
                         association_mask=None) -> torch.Tensor:
        """Energy of the state in the association space after each update.

        Returns
        -------
        torch.Tensor, shape (T + 1, B, num_heads, L)
            ``E(q) = -Omega*(beta K q) / beta + q'q / 2 + const`` (Ramsauer's energy for
            softmax) after 0..T updates; it never increases along the first axis.
        """
        return self._run(self._inputs(input), stored_pattern_padding_mask, association_mask,
                         trace=True)[1].energies


def _leading(args: tuple) -> tuple:
    """The positional arguments after ``hidden_size`` that mean the same in hflayers'
    three constructors (output_size .. update_steps_eps); later ones differ by class."""
    if len(args) > 6:
        raise TypeError("pass the arguments after update_steps_eps by keyword: their "
                        "positions differ between hflayers' Hopfield, HopfieldPooling and "
                        "HopfieldLayer")
    return args


def _pattern_parameter(quantity, width, trainable) -> nn.Parameter:
    weights = torch.empty(1, check_positive_int(quantity, "quantity"), width)
    nn.init.normal_(weights, mean=0.0, std=0.02)
    return nn.Parameter(weights, requires_grad=bool(trainable))


class _WithPatterns(nn.Module):
    """A :class:`Hopfield` whose subclass fills in trained patterns in ``_prepare``."""

    hopfield: Hopfield

    def forward(self, input, stored_pattern_padding_mask=None, association_mask=None):
        return self.hopfield(self._prepare(input), stored_pattern_padding_mask,
                             association_mask)

    def get_association_matrix(self, input, stored_pattern_padding_mask=None,
                               association_mask=None) -> torch.Tensor:
        """The final association matrix, (B, num_heads, L, S), without gradient."""
        return self.hopfield.get_association_matrix(
            self._prepare(input), stored_pattern_padding_mask, association_mask)

    def get_energy_trace(self, input, stored_pattern_padding_mask=None,
                         association_mask=None) -> torch.Tensor:
        """(T + 1, B, num_heads, L); see :meth:`Hopfield.get_energy_trace`."""
        return self.hopfield.get_energy_trace(
            self._prepare(input), stored_pattern_padding_mask, association_mask)


class HopfieldPooling(_WithPatterns):
    """hflayers' ``HopfieldPooling``: ``quantity`` trained state patterns pool a set.

    Takes :class:`Hopfield`'s arguments plus ``quantity`` (number of state patterns) and
    ``trainable``; input (B, S, input_size) or a tuple (stored, projection); output
    (B, quantity * output_size). Association matrices and energy traces have
    L = quantity.
    """

    def __init__(self, input_size, hidden_size=None, *args, quantity=1, trainable=True,
                 **kwargs):
        super().__init__()
        if kwargs.get("batch_first", True) is not True:
            raise ValueError("HopfieldPooling supports batch_first=True only (hflayers "
                             "flattens its quantity and batch axes together otherwise)")
        self.hopfield = Hopfield(input_size, hidden_size, *_leading(args), **kwargs)
        spec = self.hopfield.spec
        width = spec.head_size if spec.static_state else spec.input_size
        self.pooling_weights = _pattern_parameter(quantity, width, trainable)

    @property
    def quantity(self) -> int:
        return self.pooling_weights.shape[1]

    def _prepare(self, input):
        stored, projection = (input, input) if isinstance(input, torch.Tensor) else input
        state = self.pooling_weights.expand(stored.shape[0], -1, -1)
        return stored, state, projection

    def forward(self, input, stored_pattern_padding_mask=None, association_mask=None):
        """Pool: (B, S, input_size) -> (B, quantity * output_size)."""
        return super().forward(input, stored_pattern_padding_mask, association_mask).flatten(1)


class HopfieldLayer(_WithPatterns):
    """hflayers' ``HopfieldLayer``: the input looks up ``quantity`` trained stored patterns.

    Takes :class:`Hopfield`'s arguments plus ``quantity`` (number of stored patterns),
    ``trainable``, ``lookup_weights_as_separated`` (separate trained pattern projections)
    and ``lookup_targets_as_trainable``; input (B, L, input_size), output
    (B, L, output_size) (or sequence-first with ``batch_first=False``). Association
    matrices have S = quantity.
    """

    def __init__(self, input_size, hidden_size=None, *args,
                 lookup_weights_as_separated=False, lookup_targets_as_trainable=True,
                 quantity=1, trainable=True, **kwargs):
        super().__init__()
        self.hopfield = Hopfield(input_size, hidden_size, *_leading(args), **kwargs)
        spec = self.hopfield.spec
        width = spec.head_size if spec.static_stored else spec.stored_size
        self.lookup_weights = _pattern_parameter(quantity, width, trainable)
        self.target_weights = None
        if lookup_weights_as_separated:
            target = kwargs.get("pattern_projection_size") or width
            self.target_weights = _pattern_parameter(quantity, target,
                                                     lookup_targets_as_trainable)

    @property
    def quantity(self) -> int:
        return self.lookup_weights.shape[1]

    def _prepare(self, input):
        batch = input.shape[0 if self.hopfield.batch_first else 1]
        targets = self.lookup_weights if self.target_weights is None else self.target_weights
        stored, projection = (w.expand(batch, -1, -1) for w in (self.lookup_weights, targets))
        if not self.hopfield.batch_first:
            stored, projection = stored.transpose(0, 1), projection.transpose(0, 1)
        return stored, input, projection
