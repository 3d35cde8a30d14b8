"""Pseudo-likelihood maximisation of a Potts model (plmDCA, Ekeberg et al. 2013).

The objective is the symmetric (one set of couplings) regularised negative
pseudo-log-likelihood of weighted sequences, convex in ``(h, J)``:

    f(h, J) = -sum_n w_n sum_i log p(x_ni | x_n,-i) / sum_n w_n
              + lambda_h sum_i |h_i|^2 + lambda_J sum_{i<j} |J_ij|_F^2

with ``log p(x_i = a | x_-i) = z_i(a) - logsumexp_b z_i(b)``,
``z_i(a) = h_i(a) + sum_{j != i} J_ij(a, x_j)``. With ``P`` the conditional
probabilities and ``X`` the one-hot data, the residual ``R = w (P - X) / sum w`` gives

    df/dh = sum_n R_n + 2 lambda_h h,     df/dJ = sym(R'X) + lambda_J J

(``sym``: the mean of a matrix and its transpose over the ``(i a), (j b)`` axes,
diagonal blocks zero).

**Why L-BFGS.** The objective is smooth, convex and deterministic over the whole
alignment, and plmDCA (minFunc's L-BFGS), CCMpred (conjugate gradients) and GREMLIN
all minimise it with full-batch quasi-Newton or conjugate-gradient methods: they
converge in tens to a few hundred evaluations with no learning rate to tune, where
stochastic gradient descent needs a schedule and many passes to reach the same optimum.
:func:`fit_potts` runs ``torch.optim.LBFGS`` (strong-Wolfe line search) inside the one
training loop: each epoch is one full-batch L-BFGS step of up to ``iterations``
iterations, so the loop's progress bar, history, divergence check and callbacks apply.
"""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int
from harmonium.models._potts_gauge import symmetric_couplings
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, as_callbacks, train

__all__ = ["PseudoLikelihoodTask", "fit_potts", "plm_objective"]

# elements of the (rows, L q) blocks computed at once
_CHUNK_ELEMENTS = 2**23


def plm_objective(model, x: torch.Tensor, weights: torch.Tensor, lambda_h: float,
                  lambda_j: float):
    """The regularised negative pseudo-log-likelihood and its gradient (no autograd).

    Parameters
    ----------
    model : harmonium.PottsModel
        Its couplings must be symmetric with zero diagonal blocks.
    x : torch.Tensor, shape (n, L, q)
        One-hot sequences in the model's dtype.
    weights : torch.Tensor, shape (n,)
        Non-negative sequence weights with a positive sum.
    lambda_h, lambda_j : float
        L2 penalties of the fields and of the couplings (see the module docstring).

    Returns
    -------
    loss : torch.Tensor
        Scalar ``f(h, J)``.
    grad_fields : torch.Tensor, shape (L, q)
    grad_couplings : torch.Tensor, shape (L, q, L, q)
    """
    h, j = model.fields.detach(), model.couplings.detach()
    n, lq = x.shape[0], h.numel()
    j2d, w = j.reshape(lq, lq), weights / weights.sum()
    loss = x.new_zeros(())
    grad_h, g = torch.zeros_like(h), torch.zeros_like(j2d)
    rows = max(1, _CHUNK_ELEMENTS // lq)
    for a in range(0, n, rows):
        xc, wc = x[a:a + rows], w[a:a + rows]
        flat = xc.flatten(1)
        log_p = torch.log_softmax((flat @ j2d).view(xc.shape) + h, -1)
        loss -= wc @ (log_p * xc).sum((1, 2))
        residual = (log_p.exp() - xc) * wc[:, None, None]
        grad_h += residual.sum(0)
        g.addmm_(residual.flatten(1).T, flat)
    loss = loss + lambda_h * h.square().sum() + 0.5 * lambda_j * j.square().sum()
    grad_j = symmetric_couplings(g.view(j.shape)) + lambda_j * j
    return loss, grad_h + 2 * lambda_h * h, grad_j


class _ClosureOptimizer:
    """``torch.optim.LBFGS`` behind the loop's ``optimizer.step()``: each step
    re-evaluates the objective through ``closure`` as often as L-BFGS asks."""

    def __init__(self, lbfgs: torch.optim.LBFGS, closure):
        self.lbfgs, self.closure = lbfgs, closure

    @property
    def param_groups(self):
        return self.lbfgs.param_groups

    def step(self):
        return self.lbfgs.step(self.closure)

    def state_dict(self):
        return self.lbfgs.state_dict()

    def load_state_dict(self, state):
        self.lbfgs.load_state_dict(state)


class PseudoLikelihoodTask(Task):
    """The loop's task for :func:`fit_potts`: the gradient of :func:`plm_objective`.

    Parameters
    ----------
    model : harmonium.PottsModel
    lambda_h, lambda_j : float
        L2 penalties.
    """

    kind = "potts-pseudo-likelihood"

    def __init__(self, model, lambda_h: float, lambda_j: float):
        self.model, self.lambda_h, self.lambda_j = model, lambda_h, lambda_j
        self.batch, self.loss, self.evaluations = None, float("nan"), 0

    def closure(self) -> torch.Tensor:
        """Write the gradient on the current batch into ``.grad``; return the loss."""
        x, weights = self.batch
        loss, grad_h, grad_j = plm_objective(self.model, x, weights, self.lambda_h,
                                             self.lambda_j)
        self.model.layer.params.grad = grad_h[None].clone()
        self.model.couplings.grad = grad_j
        self.evaluations += 1
        self.loss = float(loss)
        return loss

    def step(self, batch, *, generator=None):
        self.batch = batch
        self.closure()

    def end_epoch(self) -> dict:
        return {"loss": self.loss, "evaluations": self.evaluations}


def _check_penalty(value, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value < float("inf")):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def fit_potts(model, sequences, *, weights=None, lambda_h: float = 0.01,
              lambda_j: float = 0.01, epochs: int = 10, iterations: int = 25,
              checkpoint=None, resume=False, progress: bool = True,
              callbacks=()) -> History:
    """Fit a Potts model by pseudo-likelihood maximisation with L2 penalties (plmDCA).

    Parameters
    ----------
    model : harmonium.PottsModel
        Trained in place from its current parameters (zeros by default).
    sequences : array-like of int, shape (n, L)
        Aligned sequences, states in ``[0, q)``.
    weights : array-like, shape (n,), optional
        Sequence weights (e.g. :func:`~harmonium.models._potts_alignment.sequence_weights`
        to down-weight near-duplicates); default all 1.
    lambda_h, lambda_j : float
        L2 penalties of the fields and of the couplings; plmDCA's defaults 0.01.
    epochs : int
        Full-batch L-BFGS steps (the loop's epochs).
    iterations : int
        L-BFGS iterations per epoch; it stops early when the objective stops changing.
    checkpoint, resume : path or None, bool or path
        As in :func:`harmonium.fit`: the model, the L-BFGS memory and the history are
        written atomically after every epoch; ``resume=True`` continues from the file
        when it exists (a resumed run ends where an uninterrupted one would).
    progress : bool
        Show the loop's progress bar.
    callbacks : sequence of callables
        ``callback(epoch, record, model)`` after each epoch; ``True`` stops.

    Returns
    -------
    History
        Per epoch: ``loss`` (the objective) and ``evaluations`` (cumulative).
    """
    x = model.one_hot(sequences)
    w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weights is None else \
        torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    if w.shape != (x.shape[0],) or not (torch.isfinite(w).all() and (w >= 0).all()
                                        and w.sum() > 0):
        raise ValueError(f"weights must be {x.shape[0]} finite non-negative numbers with a "
                         f"positive sum, got shape {tuple(w.shape)}")
    task = PseudoLikelihoodTask(model, _check_penalty(lambda_h, "lambda_h"),
                                _check_penalty(lambda_j, "lambda_j"))
    iterations = check_positive_int(iterations, "iterations")
    lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations,
                              history_size=20, line_search_fn="strong_wolfe",
                              tolerance_grad=1e-9, tolerance_change=1e-10)
    loop = Loop(epochs=check_positive_int(epochs, "epochs"), batch_size=x.shape[0],
                optimizer=_ClosureOptimizer(lbfgs, task.closure),
                generator=torch.Generator(device=x.device).manual_seed(0), progress=progress,
                description="pseudo-likelihood", callbacks=as_callbacks(callbacks),
                checkpoint=checkpoint, resume=resume,
                divergence_hint="raise lambda_h and lambda_j")
    return train(task, (x, w), loop)
