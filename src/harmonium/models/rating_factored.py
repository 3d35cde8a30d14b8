"""The factored rating RBM (Salakhutdinov, Mnih and Hinton 2007, section 5).

The weight ``W[unit, level, hidden]`` of a rating RBM is the product of two low-rank
factors, ``W[i, s, j] = sum_c A[i, s, c] B[c, j]`` with ``A`` of shape
``(n_units, k, C)`` and ``B`` of shape ``(C, n_hidden)``: ``n_units k C + C n_hidden``
parameters instead of ``n_units k n_hidden``. The model behaves as the
:class:`harmonium.RBM` of :func:`~harmonium.models.rating_rbm.make_rating_rbm` with
that ``W`` (the operations of :mod:`harmonium.models.rating_rbm` accept either); they
never form ``W``: the hidden input of a case is ``(sum_rated A[i, s, :]) B`` and the
visible field of unit ``i`` given ``h`` is ``A[i] (B h)``. Trained through the
same CD surrogate loss, the gradients are the chain rule of W's CD gradient,
``dA = dW B^T`` and ``dB = A^T dW``: the paper's updates.
"""

from __future__ import annotations

import torch
from torch import nn

from harmonium._numerics import generator_device
from harmonium.io import state_tensor, state_value
from harmonium.units import Bernoulli, Categorical, Units

__all__ = ["FactoredRatingRBM", "make_factored_rating_rbm"]


class FactoredRatingRBM(nn.Module):
    """Softmax-visible, Bernoulli-hidden RBM whose weight is ``A B`` (rank ``n_factors``).

    Parameters
    ----------
    visible : Categorical
        ``Categorical(n_units, k)`` visible units (biases ``b[unit, level]``).
    hidden : Bernoulli
        ``Bernoulli(n_hidden)`` hidden units.
    factor_a : torch.Tensor, shape (n_units, k, n_factors)
        ``A``, the visible-side factor.
    factor_b : torch.Tensor, shape (n_factors, n_hidden)
        ``B``, the hidden-side factor.
    """

    def __init__(self, visible: Categorical, hidden: Bernoulli, factor_a: torch.Tensor,
                 factor_b: torch.Tensor):
        super().__init__()
        n_units, k = visible.shape
        if factor_a.dim() != 3 or tuple(factor_a.shape[:2]) != (n_units, k) or \
                tuple(factor_b.shape) != (factor_a.shape[2], hidden.n_units):
            raise ValueError(f"factor_a must have shape ({n_units}, {k}, C) and factor_b "
                             f"(C, {hidden.n_units}), got {tuple(factor_a.shape)} and "
                             f"{tuple(factor_b.shape)}")
        self.visible, self.hidden = visible, hidden
        self.factor_a = nn.Parameter(factor_a)
        self.factor_b = nn.Parameter(factor_b)

    @property
    def n_visible(self) -> int:
        return self.visible.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.hidden.n_units

    @property
    def n_factors(self) -> int:
        return self.factor_b.shape[0]

    @property
    def weight(self) -> torch.Tensor:
        """The full product ``W = A B``, shape (n_units, k, n_hidden) (for inspection:
        training and prediction never form it)."""
        a = self.factor_a
        return (a.reshape(-1, a.shape[2]) @ self.factor_b).reshape(*a.shape[:2], -1)

    def extra_repr(self) -> str:
        return f"n_factors={self.n_factors}"

    def _to_state(self) -> dict:
        return {"visible": self.visible.to_state(), "hidden": self.hidden.to_state(),
                "factor_a": self.factor_a, "factor_b": self.factor_b}

    @classmethod
    def _from_state(cls, state: dict) -> FactoredRatingRBM:
        layers = [Units.layer_from_state(state_value(state, name, dict,
                                                     owner="FactoredRatingRBM"))
                  for name in ("visible", "hidden")]
        if len(layers[0].shape) != 2 or len(layers[1].shape) != 1:
            raise ValueError("a FactoredRatingRBM needs (units, levels) visible units and a "
                             "vector of hidden units")
        dtype = layers[0].params.dtype
        b = state_tensor(state, "factor_b", (None, layers[1].n_units),
                         owner="FactoredRatingRBM", dtype=dtype)
        a = state_tensor(state, "factor_a", (*layers[0].shape, b.shape[0]),
                         owner="FactoredRatingRBM", dtype=dtype)
        return cls(*layers, a, b)


def make_factored_rating_rbm(
    n_units: int,
    n_levels: int,
    n_hidden: int,
    n_factors: int,
    *,
    weight_std: float = 0.01,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> FactoredRatingRBM:
    """A fresh factored rating RBM: zero biases, Gaussian factors.

    Both factors are drawn N(0, s^2) with ``s = sqrt(weight_std / sqrt(n_factors))``, so
    each entry of ``W = A B`` has standard deviation ``weight_std`` (the unfactored
    model's start).

    Returns
    -------
    FactoredRatingRBM
        ``factor_a`` of shape (n_units, n_levels, n_factors), ``factor_b`` of shape
        (n_factors, n_hidden), on ``device`` (draws made on the generator's device).
    """
    device = torch.device("cpu" if device is None else device)
    draw = generator_device(generator, device)
    s = (weight_std / n_factors ** 0.5) ** 0.5
    a = torch.randn(n_units, n_levels, n_factors, generator=generator, dtype=dtype,
                    device=draw) * s
    b = torch.randn(n_factors, n_hidden, generator=generator, dtype=dtype, device=draw) * s
    model = FactoredRatingRBM(Categorical(n_units, n_levels), Bernoulli(n_hidden), a, b)
    return model.to(dtype=dtype, device=device)
