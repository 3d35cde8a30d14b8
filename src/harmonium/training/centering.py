"""Centered gradients (Montavon and Mueller 2012; Melchior, Fischer and Wiskott 2016).

The centered RBM writes the energy with offsets ``mu`` (visible) and ``lambda`` (hidden)
subtracted from the states,

    E(v, h) = E_vis(v) + E_hid(h) - (v - mu)' W (h - lambda)     (biases absorb constants)

which is the same family of models, reparametrised: ``b = b~ - W lambda``,
``c = c~ - W' mu``. Taking the gradient step in the centered coordinates and mapping
it back gives, from the ordinary gradients ``G_W``, ``G_b``, ``G_c`` of the loss,

    D_W = G_W - mu G_c' - G_b lambda'
    D_b = G_b - D_W lambda
    D_c = G_c - D_W' mu

The update is invariant to flipping units (0 <-> 1) and much better conditioned; the
offsets are the data mean of the visible units and a sliding average of the data's
hidden means (Melchior et al. 2016, Algorithm 1, with sliding rate ``rate``). It
applies to any unit type whose energy is linear in its states through ``bias``
(the Gaussian precision gradient is left as it is).
"""

from __future__ import annotations

import torch

__all__ = ["Centered", "center_gradients_"]


@torch.no_grad()
def center_gradients_(rbm, offset_v: torch.Tensor, offset_h: torch.Tensor) -> None:
    """Replace the ordinary gradients in ``.grad`` by the centered ones, in place.

    Parameters
    ----------
    rbm : harmonium.RBM
        With ``.grad`` filled for ``weight``, ``visible.params`` and ``hidden.params``.
    offset_v : torch.Tensor, shape (prod(visible.shape),)
    offset_h : torch.Tensor, shape (prod(hidden.shape),)
    """
    n_v, n_h = offset_v.numel(), offset_h.numel()
    g_w = rbm.weight.grad.view(n_v, n_h)
    g_b = rbm.visible.params.grad[0].view(n_v)
    g_c = rbm.hidden.params.grad[0].view(n_h)
    g_w.sub_(torch.outer(offset_v, g_c)).sub_(torch.outer(g_b, offset_h))
    g_b.sub_(g_w @ offset_h)
    g_c.sub_(g_w.T @ offset_v)


class Centered:
    """Wrap a training method so that :func:`harmonium.fit` takes centered gradient steps.

    Parameters
    ----------
    method : training method
        The negative-phase estimator, e.g. ``PCD(100)``.
    rate : float
        Sliding-average rate of the offsets, in (0, 1] (Melchior et al. use 0.01).

    Attributes
    ----------
    offset_v, offset_h : torch.Tensor or None
        Current offsets (flattened visible and hidden shapes), set on the first batch.

    Examples
    --------
    >>> from harmonium.training.centering import Centered
    >>> from harmonium.training.methods import PCD
    >>> Centered(PCD(100))
    Centered(PCD(n_chains=100, k=1), rate=0.01)
    """

    def __init__(self, method, rate: float = 0.01):
        if not hasattr(method, "negative"):
            raise TypeError(f"method must be a training method such as CD(1), got {method!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(f"rate must be a number in (0, 1], got {rate!r}")
        self.method = method
        self.rate = float(rate)
        self.offset_v: torch.Tensor | None = None
        self.offset_h: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"Centered({self.method!r}, rate={self.rate:g})"

    @torch.no_grad()
    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        """Update the offsets from the batch, then delegate to the wrapped method."""
        mean_v = v_data.flatten(1).mean(0)
        mean_h = rbm.hidden.mean_from_inputs(inputs_h).flatten(1).mean(0)
        if self.offset_v is None or self.offset_v.shape != mean_v.shape:
            self.offset_v, self.offset_h = mean_v.clone(), mean_h.clone()
        else:
            self.offset_v = self.offset_v.to(mean_v).lerp_(mean_v, self.rate)
            self.offset_h = self.offset_h.to(mean_h).lerp_(mean_h, self.rate)
        return self.method.negative(rbm, v_data, inputs_h, generator=generator)

    def adjust_gradients(self, rbm) -> None:
        """Turn the ordinary gradients in ``.grad`` into centered ones (after backward)."""
        if self.offset_v is not None:
            center_gradients_(rbm, self.offset_v, self.offset_h)

    def state_dict(self) -> dict:
        """The wrapped method's state and the offsets."""
        state: dict = {"method": self.method.state_dict()}
        if self.offset_v is not None:
            state["offset_v"], state["offset_h"] = self.offset_v, self.offset_h
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.method.load_state_dict(state.get("method", {}))
        offset_v, offset_h = state.get("offset_v"), state.get("offset_h")
        self.offset_v = None if offset_v is None else offset_v.clone()
        self.offset_h = None if offset_h is None else offset_h.clone()
