"""Momentum SGD with weight decay that updates only the rows a mini-batch touched.

A mini-batch of cases rates only some visible units, so the gradient of the per-unit
parameters (``W[unit]``, ``b[unit]``, the factor ``A[unit]``, the conditional ``D[unit]``)
is zero on every other row, yet the dense update still moves those rows: weight decay
adds ``lam w`` to their gradient and momentum keeps moving them. With the learning rate
``eta`` constant within an epoch, one such step is linear in the row's value ``w``
and momentum ``v``::

    v <- mu v + lam w,   w <- w - eta v     i.e.   (w, v) <- M (w, v),
    M = [[1 - eta lam, -eta mu], [lam, mu]]

so a row left alone for ``n`` steps is caught up exactly by ``M^n`` when a batch next
touches it (:meth:`LazyRowMomentum.touch`, before the forward pass reads it), or when
:meth:`LazyRowMomentum.flush` brings every row up to date (the task flushes at the end
of each epoch, before validation, checkpoints and learning rate changes). The result
is the dense recurrence of :class:`~harmonium.training.sgd.MomentumSGD` plus an L2
gradient ``lam w`` (the :class:`~harmonium.training.transforms.WeightDecay`
transform) up to rounding: ``M^n`` is formed in float64 by repeated products and
applied once, where the dense loop applies ``M`` ``n`` times in the parameter's dtype.
Each step costs ``O(touched rows)`` for those parameters instead of ``O(all rows)``,
unless it touches more than :data:`DENSE_SHARE` of them: then every row is updated.
"""

from __future__ import annotations

import torch

__all__ = ["DENSE_SHARE", "LazyRowMomentum"]

#: a step that touches more than this share of a parameter's rows updates all of them
#: (every row brought up to date first): the dense in-place update then costs less than
#: gathering and scattering the rows. Measured at Netflix shape, item orientation
#: (benchmarks/results/recommender_lazy.md, 1 CPU thread): a dense step 0.85 s; lazy
#: 0.33 s for 2.5% of the rows, 3.7 s for 21%; the break-even is near 6%.
#: MovieLens-small item batches touch about 57% of the user rows: always dense there.
DENSE_SHARE = 0.05


class LazyRowMomentum(torch.optim.Optimizer):
    """SGD with momentum and L2 decay; row groups update only their touched rows.

    Parameters
    ----------
    groups : list of dict
        Parameter groups: ``params``, ``decay`` (the L2 coefficient ``lam``) and
        ``rows`` (True: the first dimension indexes rows whose gradient is zero outside
        the rows passed to :meth:`touch` for that step).
    lr : float
    momentum : float
        In [0, 1).
    """

    def __init__(self, groups, lr: float, momentum: float):
        super().__init__(groups, {"lr": lr, "momentum": momentum, "decay": 0.0,
                                  "rows": False})
        self._clock = 0
        self._last: dict = {}  # param -> step up to which each row is current, (rows,)
        self._touched: dict = {}
        self._powers: dict = {}  # (lr, momentum, decay) -> M^n for n = 0.., (N, 2, 2)

    add_param_group = getattr(torch.optim.Optimizer.add_param_group, "__wrapped__",
                              torch.optim.Optimizer.add_param_group)

    @torch.no_grad()
    def touch(self, param: torch.Tensor, rows: torch.Tensor) -> None:
        """Bring the distinct ``rows`` of ``param`` (shape (m,)) up to date: call it before
        the forward pass that reads them; the next :meth:`step` updates only them."""
        group = next(g for g in self.param_groups if any(param is q for q in g["params"]))
        if rows.numel() > DENSE_SHARE * param.shape[0]:  # cheaper to update every row
            rows = None
        self._catch_up(group, param, self._buffer(param), rows)
        self._touched[param] = rows

    def _power(self, key: tuple, n: torch.Tensor) -> torch.Tensor:
        """``M^n`` of the recurrence with ``key = (lr, momentum, decay)``, shape (m, 2, 2)."""
        table = self._powers.get(key)
        top = int(n.max()) if n.numel() else 0
        if table is None or table.shape[0] <= top:
            eta, mu, lam = key
            m = torch.tensor([[1 - eta * lam, -eta * mu], [lam, mu]], dtype=torch.float64)
            powers = [torch.eye(2, dtype=torch.float64)]
            for _ in range(max(top, 2 * (0 if table is None else table.shape[0]))):
                powers.append(m @ powers[-1])
            table = self._powers[key] = torch.stack(powers)
        return table[n.cpu()]

    def _catch_up(self, group, p, buf, rows: torch.Tensor | None) -> None:
        """Apply the decay-only steps ``rows`` (all rows if None) have missed."""
        last = self._last.setdefault(p, torch.zeros(p.shape[0], dtype=torch.long,
                                                    device=p.device))
        behind = self._clock - (last if rows is None else last[rows])
        if not bool((behind > 0).any()):
            return
        key, shape = (group["lr"], group["momentum"], group["decay"]), (-1,) + (1,) * (
            p.dim() - 1)
        c = self._power(key, behind).to(p).unbind(1)  # rows level with the clock: identity
        (c00, c01), (c10, c11) = ((m.reshape(shape) for m in row.unbind(1)) for row in c)
        if rows is None:  # in place, one temporary of p's size
            old = p * c10
            p.mul_(c00).addcmul_(buf, c01)
            buf.mul_(c11).add_(old)
            last.fill_(self._clock)
            return
        w, v = p.index_select(0, rows), buf.index_select(0, rows)
        p.index_copy_(0, rows, c00 * w + c01 * v)
        buf.index_copy_(0, rows, c10 * w + c11 * v)
        last[rows] = self._clock

    def _buffer(self, p) -> torch.Tensor:
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        return state["momentum_buffer"]

    @torch.no_grad()
    def step(self, closure=None) -> None:
        """One update of every parameter with a gradient (row groups: touched rows only).

        The gradients come from the task's step (:meth:`touch` first); a closure
        re-evaluating the loss is not supported.
        """
        if closure is not None:
            raise TypeError("LazyRowMomentum.step takes no closure: touch the rows, compute "
                            "the gradient, then call step()")
        for group in self.param_groups:
            lr, mu, lam = group["lr"], group["momentum"], group["decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self._buffer(p)
                rows = self._touched.pop(p) if group["rows"] else None
                if rows is None:  # every row (all current)
                    buf.mul_(mu).add_(p.grad).add_(p, alpha=lam)
                    p.add_(buf, alpha=-lr)
                    if group["rows"]:
                        self._last[p].fill_(self._clock + 1)
                    continue
                w = p.index_select(0, rows)
                v = buf.index_select(0, rows).mul_(mu).add_(p.grad.index_select(0, rows))
                buf.index_copy_(0, rows, v.add_(w, alpha=lam))
                p.index_copy_(0, rows, w.sub_(v, alpha=lr))
                self._last[p][rows] = self._clock + 1
        self._clock += 1

    @torch.no_grad()
    def flush(self) -> None:
        """Bring every row up to date (before reading the parameters or changing ``lr``)."""
        for group in self.param_groups:
            if group["rows"]:
                for p in group["params"]:
                    if "momentum_buffer" in self.state[p]:
                        self._catch_up(group, p, self._buffer(p), None)
        self._clock, self._last, self._powers = 0, {}, {}
