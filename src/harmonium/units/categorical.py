"""Categorical (softmax, Potts) units: each of n units is one-hot over k states."""

from __future__ import annotations

import torch
from torch.nn.functional import one_hot

from harmonium._numerics import check_positive_int
from harmonium.parallel import uniform_like
from harmonium.units.base import SMOOTHING, Units

__all__ = ["Categorical"]


class Categorical(Units):
    """``n`` units with ``k`` states each, stored one-hot on the last axis.

    States have shape (batch, n, k); the bias ``theta`` (``.bias``) has shape (n, k).
    ``E(x) = -sum theta_s x_s``, ``cgf(I) = sum_units logsumexp_s(theta_s + I_s)``,
    mean ``softmax(theta + I)``. This is the visible unit of the collaborative
    filtering RBM (k rating levels).
    """

    bias_only = True
    mean_bounds = (0.0, 1.0)

    def __init__(self, n: int, k: int):
        n = check_positive_int(n, "n")
        k = check_positive_int(k, "k", minimum=2)
        super().__init__((n, k), torch.zeros(1, n, k))

    @property
    def n_categories(self) -> int:
        """Number of states ``k`` of each unit."""
        return self.shape[1]

    def _field(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.params  # params: the bias, (1, *shape), broadcast

    def cgf(self, inputs):
        return torch.logsumexp(self._field(inputs), dim=-1).sum(1)

    def mean_from_inputs(self, inputs):
        return torch.softmax(self._field(inputs), dim=-1)

    def var_from_inputs(self, inputs):
        p = self.mean_from_inputs(inputs)
        return p * (1 - p)

    def sample_from_inputs(self, inputs, *, generator=None):
        # Gumbel-max: argmax(logits + Gumbel noise) is an exact categorical draw.
        field = self._field(inputs)
        u = uniform_like(torch.empty_like(field), generator)
        gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(field.dtype).tiny)))
        return one_hot((field + gumbel).argmax(-1), self.n_categories).to(field.dtype)

    def mode_from_inputs(self, inputs):
        field = self._field(inputs)
        return one_hot(field.argmax(-1), self.n_categories).to(field.dtype)

    def check_support(self, x, name="x"):
        if x.ndim < 1 or x.shape[-1] != self.n_categories:
            raise ValueError(
                f"{name} must be one-hot with {self.n_categories} states on the last axis, "
                f"got shape {tuple(x.shape)}"
            )
        if not (((x == 0) | (x == 1)).all() and (x.sum(-1) == 1).all()):
            raise ValueError(f"{name} must be one-hot on its last axis (one 1 per unit)")
        return x

    def fit_independent(self, x):
        freq = (x.sum(0) + SMOOTHING) / (x.shape[0] + self.n_categories * SMOOTHING)
        return Categorical.from_params(torch.log(freq)[None], requires_grad=False)

    def discretize(self, x):
        return x

    def flip_deltas(self, x):
        k = self.n_categories
        eye = torch.eye(k, dtype=x.dtype, device=x.device)
        every = eye - x[:, :, None, :]  # (batch, n, k, k): move to state s, for each s
        others = every[x == 0].view(x.shape[0], x.shape[1], k - 1, k)  # drop the no-move
        return others, -(others * self.bias.detach()[:, None, :]).sum(-1)

    def n_states_per_unit(self) -> int:
        return self.n_categories

    def states_from_indices(self, idx):
        return one_hot(idx, self.n_categories).to(self.params.dtype)
