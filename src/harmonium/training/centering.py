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

from harmonium import parallel

__all__ = ["Centered", "Centering", "center_gradients_"]


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


class Centering:
    """Gradient transform taking centered gradient steps (see the module docstring).

    Its state holds the offsets: the visible data mean and the data's hidden means,
    slid towards each mini-batch's means at ``rate`` (set to the first batch's means).

    Parameters
    ----------
    rate : float
        Sliding-average rate of the offsets, in (0, 1] (Melchior et al. use 0.01).
    """

    def __init__(self, rate: float = 0.01):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(f"rate must be a number in (0, 1], got {rate!r}")
        self.rate = float(rate)

    def __repr__(self) -> str:
        return f"Centering(rate={self.rate:g})"

    def init(self, model) -> dict:
        return {}

    @torch.no_grad()
    def update(self, model, state: dict, batch) -> dict:
        mean_v = parallel.batch_mean(batch.v_data.flatten(1))  # over all ranks' rows
        mean_h = parallel.batch_mean(batch.mean_h.flatten(1))
        offset_v, offset_h = state.get("offset_v"), state.get("offset_h")
        if offset_v is None or offset_v.shape != mean_v.shape:
            offset_v, offset_h = mean_v.clone(), mean_h.clone()
        else:
            offset_v = offset_v.to(mean_v).lerp_(mean_v, self.rate)
            offset_h = offset_h.to(mean_h).lerp_(mean_h, self.rate)
        center_gradients_(model, offset_v, offset_h)
        return {"offset_v": offset_v, "offset_h": offset_h}


class Centered:
    """A training method with centered gradient steps: ``method`` plus :class:`Centering`.

    The negative phase is ``method``'s; :func:`harmonium.fit` adds the method's
    ``transforms`` (here one :class:`Centering`) to its gradient transforms, and the
    offsets live in the loop's transform state (checkpointed with it).

    Parameters
    ----------
    method : training method
        The negative-phase estimator, e.g. ``PCD(100)``.
    rate : float
        Sliding-average rate of the offsets, in (0, 1] (Melchior et al. use 0.01).

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
        self.method = method
        self.transforms = (Centering(rate),)

    @property
    def rate(self) -> float:
        return self.transforms[0].rate

    def __repr__(self) -> str:
        return f"Centered({self.method!r}, rate={self.rate:g})"

    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        """The wrapped method's negative phase."""
        return self.method.negative(rbm, v_data, inputs_h, generator=generator)

    def state_dict(self) -> dict:
        """The wrapped method's state."""
        return self.method.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.method.load_state_dict(state)
