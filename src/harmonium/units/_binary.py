"""Shared machinery of the two-state units (Bernoulli {0,1} and Spin {-1,+1})."""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.parallel import coin_uniforms_like
from harmonium.units.base import SMOOTHING as _SMOOTHING
from harmonium.units.base import Units


class _TwoState(Units):
    """Units with two states ``low < high``; subclasses fix the states."""

    low: float
    high: float
    bias_only = True

    def __init__(self, n: int):
        n = check_positive_int(n, "n")
        super().__init__((n,), torch.zeros(1, n))

    def _field(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.params  # params: the bias, (1, *shape), broadcast

    def sample_from_inputs(self, inputs, *, generator=None):
        p_high = self._p_high(self._field(inputs))
        x = coin_uniforms_like(torch.empty_like(p_high), generator)
        torch.lt(x, p_high, out=x)  # the uniforms become the {0, 1} states in place
        if self.low != 0.0:  # {0, 1} -> {low, high} in place
            x.mul_(self.high - self.low).add_(self.low)
        return x

    def mode_from_inputs(self, inputs):
        field = self._field(inputs)
        return torch.where(field >= 0, self.high, self.low).to(field.dtype)

    def check_support(self, x, name="x"):
        if not ((x == self.low) | (x == self.high)).all():
            bad = x[(x != self.low) & (x != self.high)].flatten()[0].item()
            raise ValueError(
                f"{name} must contain only {self.low:g} and {self.high:g} for "
                f"{type(self).__name__} units, found {bad!r}"
            )
        return x

    @property
    def mean_bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def check_data(self, x, name="x"):
        lowest, highest = torch.aminmax(x)  # one pass; finiteness is checked on entry
        if lowest < self.low or highest > self.high:
            bad = x[(x < self.low) | (x > self.high)][0].item()
            raise ValueError(
                f"{name} must lie in [{self.low:g}, {self.high:g}] for {type(self).__name__} "
                f"units, found {bad!r}"
            )
        return x

    def fit_independent(self, x):
        # smoothed frequency of the high state; theta (high - low) is its logit
        p_high = ((x == self.high).sum(0) + _SMOOTHING) / (x.shape[0] + 2 * _SMOOTHING)
        logit = torch.log(p_high) - torch.log1p(-p_high)
        return type(self).from_params((logit / (self.high - self.low))[None],
                                      requires_grad=False)

    def discretize(self, x):
        return torch.where(x >= 0.5 * (self.low + self.high), self.high, self.low).to(x.dtype)

    def flip_deltas(self, x):
        d_states = ((self.low + self.high) - 2.0 * x)[:, :, None, None]  # the other state
        return d_states, -d_states[..., 0] * self.bias.detach()[:, None]

    def n_states_per_unit(self) -> int:
        return 2

    def states_from_indices(self, idx):
        values = torch.tensor(
            [self.low, self.high], dtype=self.params.dtype, device=self.params.device
        )
        return values[idx]
