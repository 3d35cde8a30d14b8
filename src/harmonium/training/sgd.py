"""The default optimiser of :func:`harmonium.fit`: SGD with heavy-ball momentum."""

from __future__ import annotations

import torch

__all__ = ["MomentumSGD"]


class MomentumSGD(torch.optim.Optimizer):
    """Stochastic gradient descent with momentum, lean enough for tiny mini-batches.

    The recurrence of ``torch.optim.SGD`` without dampening, Nesterov or weight decay
    (``fit`` adds its penalties to the gradient itself)::

        buf <- grad                      (first step)
        buf <- momentum * buf + grad     (later steps)
        p   <- p - lr * buf              (p <- p - lr * grad when momentum is 0)

    with the same state (``"momentum_buffer"``), so checkpoints written with either
    resume with the other. Its step is a plain loop, one pass over each tensor for the
    momentum and one for the update: cheaper per step than ``torch.optim.SGD.step``
    (fused or not) at small batches (measured in docs/design-notes.md).

    Parameters
    ----------
    params : iterable of tensors or parameter groups
    lr : float
        Learning rate.
    momentum : float
        Momentum factor in [0, 1).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    # torch.optim.Optimizer.add_param_group, without the wrapper that imports
    # torch._dynamo on its first call (about 1.1 s once per process, longer than a whole
    # small fit). The wrapper only matters inside torch.compile'd code.
    add_param_group = getattr(torch.optim.Optimizer.add_param_group, "__wrapped__",
                              torch.optim.Optimizer.add_param_group)

    @torch.no_grad()
    def step(self, closure=None):
        """One update; ``closure`` (re-evaluating the loss) is called first if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                step = p.grad
                if step is None:
                    continue
                if momentum:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = step.clone()
                    else:
                        torch.add(step, buf, alpha=momentum, out=buf)
                    step = buf
                p.add_(step, alpha=-lr)
        return loss
