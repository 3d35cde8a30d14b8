"""One stochastic gradient of the RBM log-likelihood, written into ``.grad``.

The loss is ``L = mean_data F(v) - mean_model F(v)`` with ``F(v) = E_vis(v) - cgf_hid(v W)``
and the negative samples ``v_model`` held fixed. Its gradient is written down without
building an autograd graph over the batch, using two facts true of every unit type:

- ``d cgf / dI = E[h | I]`` (``hidden.mean_from_inputs``). The weights enter only through
  the hidden input ``I = v W``, so
  ``dL/dW = -v_data' E[h | I_data] / n_data + v_model' E[h | I_model] / n_model``: two
  matrix products written straight into the reused ``weight.grad`` buffer, with the
  scales folded into them.
- The layers' own parameter gradients come from the layers
  (:meth:`~harmonium.units.Units.energy_grad_` and
  :meth:`~harmonium.units.Units.cgf_grad_`): batch means of the states or conditional
  means for bias-only layers (``E(x) = -theta.x``), autograd of the layer's own energy
  or cgf with the input fields held fixed otherwise (the Gaussian precision).

``tests/test_gradient_fast_path.py`` checks the result against autograd of ``L``
through every parameter, for every pair of unit types. The data's hidden input is
computed once and shared with the negative phase (CD starts from it), so a CD-1 step
costs exactly five matrix products.

Everything lands in ordinary ``.grad`` tensors: a distributed loop can all-reduce
them between :func:`compute_gradients` and ``optimizer.step()``.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["compute_gradients"]


@functools.lru_cache(maxsize=8)
def _batch_weights(n_data: int, n_model: int, dtype, device):
    """The loss's batch-mean weights ``(1 / n_data, -1 / n_model)`` and their negatives.

    Cached (read only): the same vectors serve every mini-batch of a run.
    """
    plus = (torch.full((n_data,), 1.0 / n_data, dtype=dtype, device=device),
            torch.full((n_model,), -1.0 / n_model, dtype=dtype, device=device))
    return plus, tuple(-c for c in plus)


def _grad_buffer(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None or p.grad.shape != p.shape:
        p.grad = torch.empty_like(p)
    return p.grad


def _layer_gradients(rbm, states, inputs, means, coefs, extra_h) -> None:
    """Write the layers' parameter gradients of ``L`` into their ``.grad``.

    ``L`` holds ``mean E_vis(v_data) - mean E_vis(v_model)`` and
    ``-mean cgf_hid(I_data) + mean cgf_hid(I_model)``; ``coefs`` are the weight vectors
    ``(1 / n_data, -1 / n_model)`` of those means and their negatives.
    """
    visible, hidden = rbm.visible, rbm.hidden
    if visible.params.requires_grad:
        visible.energy_grad_(_grad_buffer(visible.params), states, coefs[0])
    if hidden.params.requires_grad:
        hidden.cgf_grad_(_grad_buffer(hidden.params), inputs, means, coefs[1])
        if extra_h is not None:
            hidden.params.grad.add_(extra_h)


def _sparsity_gradients(hidden, inputs, target: float, cost: float):
    """Gradients of ``cost * sum_j BCE(target, q_j)`` wrt ``inputs`` and ``hidden.params``.

    The second is ``None`` when the hidden parameters are frozen.
    """
    inputs = inputs.detach().requires_grad_(True)
    wrt = (inputs, hidden.params) if hidden.params.requires_grad else (inputs,)
    with torch.enable_grad():
        eps = torch.finfo(inputs.dtype).eps
        q = hidden.mean_from_inputs(inputs).mean(0).clamp(eps, 1.0 - eps)
        bce = -(target * torch.log(q) + (1.0 - target) * torch.log1p(-q))
        grads = torch.autograd.grad(cost * bce.sum(), wrt)
    return grads[0], grads[1] if len(grads) > 1 else None


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
    is overwritten, not accumulated (the buffers are reused).

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
    hidden = rbm.hidden
    with torch.no_grad():  # _sparsity_gradients and _layer_gradient enable grad themselves
        inputs_data = rbm.inputs_h_from_v(v_data)
        v_model = method.negative(rbm, v_data, inputs_data, generator=generator)
        inputs_model = rbm.inputs_h_from_v(v_model)
        mean_data = hidden.mean_from_inputs(inputs_data)
        mean_model = hidden.mean_from_inputs(inputs_model)
        n_data, n_model = v_data.shape[0], v_model.shape[0]
        coefs = _batch_weights(n_data, n_model, v_data.dtype, v_data.device)
        # dL/dI_data = -mean_data / n_data (+ the sparsity penalty's share)
        d_data, scale_data, extra_h = mean_data, -1.0 / n_data, None
        if sparsity is not None:
            d_sparse, extra_h = _sparsity_gradients(hidden, inputs_data, *sparsity)
            d_data, scale_data = torch.add(d_sparse, mean_data, alpha=scale_data), 1.0
        _layer_gradients(rbm, (v_data, v_model), (inputs_data, inputs_model),
                         (mean_data, mean_model), coefs, extra_h)
        flat_data, flat_model = v_data.flatten(1), v_model.flatten(1)
        grad = _grad_buffer(rbm.weight)
        grad = grad if grad.dim() == 2 else grad.view(flat_data.shape[1], -1)
        grad.addmm_(flat_data.T, d_data.flatten(1), beta=0, alpha=scale_data)
        grad.addmm_(flat_model.T, mean_model.flatten(1), alpha=1.0 / n_model)
    return v_model
