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

Everything lands in ordinary ``.grad`` tensors. Under ``torch.distributed`` the means
are taken over the rows of all ranks (:func:`harmonium.parallel.global_rows`), so
the training loop's one all-reduce of ``.grad`` gives the gradient of the whole
global batch.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from harmonium import parallel
from harmonium.precision import weight_gradient_
from harmonium.training.transforms import Sparsity

__all__ = ["RBMBatch", "compute_gradients", "rbm_gradient_step"]


@functools.lru_cache(maxsize=8)
def _batch_weights(rows: tuple[int, int], means_over: tuple[int, int], dtype, device):
    """The loss's batch-mean weights ``(1 / n_data, -1 / n_model)`` and their negatives,
    one per row of ``rows`` (data, model), for means over ``means_over`` rows (more
    than ``rows`` when the batch is split across data-parallel ranks).

    Cached (read only): the same vectors serve every mini-batch of a run.
    """
    (n_data, n_model), (all_data, all_model) = rows, means_over
    plus = (torch.full((n_data,), 1.0 / all_data, dtype=dtype, device=device),
            torch.full((n_model,), -1.0 / all_model, dtype=dtype, device=device))
    return plus, tuple(-c for c in plus)


def _grad_buffer(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None or p.grad.shape != p.shape:
        p.grad = torch.empty_like(p)
    return p.grad


def _layer_gradients(rbm, states, inputs, means, coefs) -> None:
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


class RBMBatch(NamedTuple):
    """What one RBM gradient step saw: the transforms' view of the mini-batch.

    Attributes
    ----------
    v_data : torch.Tensor, shape (batch, *visible.shape)
    inputs_h : torch.Tensor, shape (batch, *hidden.shape)
        The data's hidden input field ``v_data W``.
    mean_h : torch.Tensor, shape (batch, *hidden.shape)
        ``E[h | v_data]``.
    v_model : torch.Tensor, shape (n_model, *visible.shape)
        The negative-phase samples.
    """

    v_data: torch.Tensor
    inputs_h: torch.Tensor
    mean_h: torch.Tensor
    v_model: torch.Tensor


def rbm_gradient_step(rbm, v_data: torch.Tensor, method, *, generator=None) -> RBMBatch:
    """Write the negative log-likelihood gradient estimate into ``.grad``; see
    :func:`compute_gradients`. Returns the batch's :class:`RBMBatch`."""
    hidden = rbm.hidden
    with torch.no_grad():  # a layer's cgf_grad_ enables grad itself where it needs it
        inputs_data = rbm.inputs_h_from_v(v_data)
        v_model = method.negative(rbm, v_data, inputs_data, generator=generator)
        inputs_model = rbm.inputs_h_from_v(v_model)
        mean_data = hidden.mean_from_inputs(inputs_data)
        mean_model = hidden.mean_from_inputs(inputs_model)
        rows = (v_data.shape[0], v_model.shape[0])
        n_data, n_model = means_over = parallel.global_rows(*rows)
        coefs = _batch_weights(rows, means_over, v_data.dtype, v_data.device)
        _layer_gradients(rbm, (v_data, v_model), (inputs_data, inputs_model),
                         (mean_data, mean_model), coefs)
        # dL/dW = -v_data' E[h | I_data] / n_data + v_model' E[h | I_model] / n_model
        flat_data, flat_model = v_data.flatten(1), v_model.flatten(1)
        grad = _grad_buffer(rbm.weight)
        grad = grad if grad.dim() == 2 else grad.view(flat_data.shape[1], -1)
        products = rbm.weight_products  # a precision policy's (harmonium.precision)
        weight_gradient_(grad, (flat_data, flat_model),
                         (mean_data.flatten(1), mean_model.flatten(1)),
                         (-1.0 / n_data, 1.0 / n_model),
                         None if products is None else products.product_dtype)
    return RBMBatch(v_data, inputs_data, mean_data, v_model)


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
        Adds the gradient of :class:`~harmonium.training.transforms.Sparsity`.

    Returns
    -------
    torch.Tensor, shape (n_model, *visible.shape)
        The negative-phase samples used.
    """
    batch = rbm_gradient_step(rbm, v_data, method, generator=generator)
    if sparsity is not None:
        penalty = Sparsity(*sparsity)
        penalty.update(rbm, penalty.init(rbm), batch)
    return batch.v_model
