"""One stochastic gradient of the RBM log-likelihood, written into ``.grad``.

The gradient of ``mean_data F(v) - mean_model F(v)`` (v_model held fixed) is taken by
autograd for every unit type. The weights enter only through the hidden input
``I = v W``, so autograd stops at ``I`` and the chain rule through the one linear map
is applied by hand: ``dL/dW = v_data' dL/dI_data + v_model' dL/dI_model``, two matrix
products written straight into the reused ``weight.grad`` buffer. The data's hidden
input is computed once and shared with the negative phase (CD starts from it), so a
CD-1 step costs exactly five matrix products.

Everything lands in ordinary ``.grad`` tensors: a distributed loop can all-reduce
them between :func:`compute_gradients` and ``optimizer.step()``.
"""

from __future__ import annotations

import torch

__all__ = ["compute_gradients"]


def _free_energy_from_inputs(rbm, v: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    return rbm.visible.energy(v) - rbm.hidden.cgf(inputs)


def compute_gradients(
    rbm,
    v_data: torch.Tensor,
    method,
    *,
    generator: torch.Generator | None = None,
    sparsity: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Write the negative log-likelihood gradient estimate into the parameters' ``.grad``.

    No input validation (this is the inner loop of :func:`harmonium.fit`); ``.grad``
    is overwritten, not accumulated.

    Parameters
    ----------
    rbm : harmonium.RBM
    v_data : torch.Tensor, shape (batch, *visible.shape)
        Mini-batch on the model's device and dtype.
    method : training method
        Supplies the negative phase, e.g. :class:`harmonium.CD` (see
        :mod:`harmonium.training.methods` for the protocol).
    generator : torch.Generator, optional
    sparsity : (target, cost), optional
        Adds ``cost * sum_j BCE(target, q_j)`` with ``q_j`` the batch-mean activation
        of Bernoulli hidden unit ``j`` (Lee, Ekanadham and Ng 2008).

    Returns
    -------
    torch.Tensor, shape (n_model, *visible.shape)
        The negative-phase samples used.
    """
    with torch.no_grad():
        inputs_data = rbm.inputs_h_from_v(v_data)
        v_model = method.negative(rbm, v_data, inputs_data, generator=generator)
        inputs_model = rbm.inputs_h_from_v(v_model)
    inputs_data.requires_grad_(True)
    inputs_model.requires_grad_(True)
    for p in (rbm.visible.params, rbm.hidden.params):
        p.grad = None
    loss = (
        _free_energy_from_inputs(rbm, v_data, inputs_data).mean()
        - _free_energy_from_inputs(rbm, v_model, inputs_model).mean()
    )
    if sparsity is not None:
        target, cost = sparsity
        eps = torch.finfo(inputs_data.dtype).eps
        q = rbm.hidden.mean_from_inputs(inputs_data).mean(0).clamp(eps, 1.0 - eps)
        bce = -(target * torch.log(q) + (1.0 - target) * torch.log1p(-q))
        loss = loss + cost * bce.sum()
    loss.backward()
    weight = rbm.weight
    if weight.grad is None:
        weight.grad = torch.empty_like(weight)
    grad = weight.grad.view(v_data[0].numel(), -1)
    torch.mm(v_data.flatten(1).T, inputs_data.grad.flatten(1), out=grad)
    grad.addmm_(v_model.flatten(1).T, inputs_model.grad.flatten(1))
    return v_model
