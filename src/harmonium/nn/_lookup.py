"""harmonium's :class:`HopfieldLayer`: learned stored patterns and values (a lookup layer)."""

from __future__ import annotations

import torch
from torch import nn

from harmonium._numerics import check_positive_int
from harmonium.nn._associate import Retrieval, associate
from harmonium.nn._layers import _check_width, _default_beta, _normed, _with_steps


class HopfieldLayer(nn.Module):
    """Learned stored patterns (keys) and values: ``out = V' p(beta K norm(x))``.

    At initialisation the values equal the patterns (when ``output_size`` is the input
    width), so the layer is an auto-associative memory of its patterns: ``store`` real
    patterns and it retrieves them in one step; train it and it is a differentiable
    lookup table, a prototype classifier (values = class scores), or a memory layer.

    Parameters
    ----------
    input_size : int
        Width of the inputs and of the stored patterns.
    num_patterns : int, keyword-only
        Number of stored patterns (keyword-only: hopfield-layers' second positional
        argument is another thing; its ``quantity`` is this).
    output_size : int, optional
        Width of the values (default: ``input_size``).
    beta : float, optional
        Inverse temperature (default ``1 / sqrt(input_size)``).
    normalize : bool
        Compare layer-normalised inputs and patterns.
    separation, update_steps_max, update_steps_eps, dropout
        As in :class:`Hopfield`.

    Attributes
    ----------
    patterns : nn.Parameter, shape (num_patterns, input_size)
    values : nn.Parameter, shape (num_patterns, output_size)
    """

    def __init__(self, input_size: int, *, num_patterns: int,
                 output_size: int | None = None, beta: float | None = None,
                 normalize: bool = True, separation: str = "softmax",
                 update_steps_max: int | None = 0, update_steps_eps: float = 1e-4,
                 dropout: float = 0.0):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.num_patterns = check_positive_int(num_patterns, "num_patterns")
        self.output_size = check_positive_int(output_size or input_size, "output_size")
        self.beta = _default_beta(beta, self.input_size)
        self.normalize = bool(normalize)
        self.retrieval = Retrieval(separation, update_steps_max, update_steps_eps, dropout)
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

    def _associate(self, x, trace, steps=None):
        """x (..., input_size) -> Association over a (1, 1, N, .) batch of states."""
        if x.ndim == 0 or x.shape[-1] != self.input_size:
            raise ValueError(f"input must have last dimension {self.input_size}, got shape "
                             f"{tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("input contains NaN or infinite values")
        q = _normed(x, self.normalize).reshape(1, 1, -1, self.input_size)
        keys = _normed(self.patterns, self.normalize)[None, None]
        beta = torch.full((1,), self.beta, dtype=q.dtype, device=q.device)
        return associate(q, keys, self.values[None, None], beta,
                         _with_steps(self.retrieval, steps), training=self.training, trace=trace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Retrieve: (..., input_size) -> (..., output_size)."""
        return self._associate(x, False).output.reshape(*x.shape[:-1], self.output_size)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Hopfield energy of the (normalised) inputs, shape (...)."""
        return self.energy_trace(x, steps=0)[0]

    def energy_trace(self, x: torch.Tensor, *, steps: int | None = None) -> torch.Tensor:
        """Energies along one retrieval, shape (T + 1, ...); see
        :meth:`Hopfield.energy_trace`."""
        e = self._associate(x, True, steps).energies
        return e.reshape(e.shape[0], *x.shape[:-1])
