"""One stochastic gradient of the RBM log-likelihood, written into ``.grad``.

The loss is ``L = mean_data F(v) - mean_model F(v)`` with ``F(v) = E_vis(v) - cgf_hid(v W)``
and the negative samples ``v_model`` held fixed. Its gradient is written down without
building an autograd graph over the batch, using two facts true of every unit type:

- ``d cgf / dI = E[h | I]`` (``hidden.mean_from_inputs``). The weights enter only through
  the hidden input ``I = v W``, so
  ``dL/dW = -v_data' E[h | I_data] / n_data + v_model' E[h | I_model] / n_model``: two
  matrix products written straight into the reused ``weight.grad`` buffer, with the
  scales folded into them.
- For the bias-only layers (Bernoulli, Spin, Categorical, and :class:`Joined` layers of
  them) ``E(x) = -theta.x`` and ``cgf`` is a function of ``theta + I``, so the bias
  gradients are batch means: ``mean v_model - mean v_data`` for the visible layer and
  ``mean E[h | I_model] - mean E[h | I_data]`` for the hidden one. The parameters of
  other layers (the Gaussian precision) go through autograd of that layer's own
  energy or cgf, with the input fields held fixed.

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

from harmonium.units import Bernoulli, Categorical, Spin
from harmonium.units.joined import Joined

__all__ = ["compute_gradients"]

_BIAS_ONLY = (Bernoulli, Spin, Categorical)


def _bias_only(layer) -> bool:
    """Whether ``layer`` has ``E(x) = -theta.x`` and a cgf of ``theta + I`` alone."""
    if type(layer) is Joined:
        return all(kind in _BIAS_ONLY for kind, _ in layer.parts)
    return type(layer) in _BIAS_ONLY


@functools.lru_cache(maxsize=8)
def _batch_weights(n_data: int, n_model: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(-1 / n_data, ..)`` and ``(1 / n_model, ..)``: the batch means' weight vectors.

    Cached (read only): the same two vectors serve every mini-batch of a run.
    """
    return (torch.full((n_data,), -1.0 / n_data, dtype=dtype, device=device),
            torch.full((n_model,), 1.0 / n_model, dtype=dtype, device=device))


def _grad_buffer(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None or p.grad.shape != p.shape:
        p.grad = torch.empty_like(p)
    return p.grad


def _layer_gradient(layer, term, inputs, stats, weights, extra=None) -> None:
    """Write ``d/dparams [mean term(data) - mean term(model)] (+ extra)`` into ``.grad``.

    ``term`` is ``layer.energy`` (``inputs`` and ``stats``: the states) or ``-layer.cgf``
    (``inputs``: the input fields; ``stats``: the conditional means), each a
    ``(data, model)`` pair; ``-stats`` is ``d term / d theta`` for bias-only layers.
    ``weights`` are ``(-1 / n_data, ..)`` and ``(1 / n_model, ..)`` vectors.
    """
    params = layer.params
    if not params.requires_grad:
        return
    if _bias_only(layer):
        # two matrix-vector products: cheaper than two means and a difference
        out = _grad_buffer(params).view(-1)  # params: the bias, (1, *shape)
        torch.mv(stats[1].flatten(1).T, weights[1], out=out)
        out.addmv_(stats[0].flatten(1).T, weights[0])
    else:
        with torch.enable_grad():
            loss = term(inputs[0]).mean() - term(inputs[1]).mean()
            (grad,) = torch.autograd.grad(loss, params)
        _grad_buffer(params).copy_(grad)
    if extra is not None:
        params.grad.add_(extra)


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
    visible, hidden = rbm.visible, rbm.hidden
    with torch.no_grad():  # _sparsity_gradients and _layer_gradient enable grad themselves
        inputs_data = rbm.inputs_h_from_v(v_data)
        v_model = method.negative(rbm, v_data, inputs_data, generator=generator)
        inputs_model = rbm.inputs_h_from_v(v_model)
        mean_data = hidden.mean_from_inputs(inputs_data)
        mean_model = hidden.mean_from_inputs(inputs_model)
        n_data, n_model = v_data.shape[0], v_model.shape[0]
        weights = _batch_weights(n_data, n_model, v_data.dtype, v_data.device)
        # dL/dI_data = -mean_data / n_data (+ the sparsity penalty's share)
        d_data, scale_data, extra_h = mean_data, -1.0 / n_data, None
        if sparsity is not None:
            d_sparse, extra_h = _sparsity_gradients(hidden, inputs_data, *sparsity)
            d_data, scale_data = torch.add(d_sparse, mean_data, alpha=scale_data), 1.0
        _layer_gradient(visible, visible.energy, (v_data, v_model), (v_data, v_model), weights)
        _layer_gradient(hidden, lambda i: -hidden.cgf(i), (inputs_data, inputs_model),
                        (mean_data, mean_model), weights, extra_h)
        flat_data, flat_model = v_data.flatten(1), v_model.flatten(1)
        grad = _grad_buffer(rbm.weight)
        grad = grad if grad.dim() == 2 else grad.view(flat_data.shape[1], -1)
        grad.addmm_(flat_data.T, d_data.flatten(1), beta=0, alpha=scale_data)
        grad.addmm_(flat_model.T, mean_model.flatten(1), alpha=1.0 / n_model)
    return v_model
