"""The row-lazy optimiser of the recommender against the dense momentum recurrence.

The oracle is :class:`harmonium.training.sgd.MomentumSGD` with the weight-decay
gradient ``lam w`` added to every row each step (what training did before the lazy
updates); the lazy optimiser touches only the rows a step's gradient holds and
catches the others up in closed form.
"""

import numpy as np
import pytest
import torch

from harmonium import RBMRecommender
from harmonium.tasks import _recommend_lazy, _recommend_task
from harmonium.tasks._recommend_lazy import LazyRowMomentum
from harmonium.training.sgd import MomentumSGD


class DenseDecayMomentum(MomentumSGD):
    """The dense oracle: every row gets ``grad + decay * p``, then MomentumSGD's step."""

    def __init__(self, groups, lr, momentum):
        super().__init__([{"params": g["params"], "decay": g["decay"]} for g in groups],
                         lr=lr, momentum=momentum)

    def touch(self, param, rows):
        pass

    def flush(self):
        pass

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.add_(p, alpha=group["decay"])
        return super().step()


def test_lazy_rows_equal_the_dense_recurrence(monkeypatch):
    monkeypatch.setattr(_recommend_lazy, "DENSE_SHARE", 0.25)  # lazy up to 5 of 20 rows
    g = torch.Generator().manual_seed(0)
    start = torch.randn(20, 3, 4, generator=g, dtype=torch.float64)
    dense_start = torch.randn(5, generator=g, dtype=torch.float64)
    params = {name: [start.clone().requires_grad_(), dense_start.clone().requires_grad_()]
              for name in ("lazy", "dense")}
    groups = {name: [{"params": [w], "decay": 0.01, "rows": True},
                     {"params": [b], "decay": 0.02, "rows": False}]
              for name, (w, b) in params.items()}
    opts = {"lazy": LazyRowMomentum(groups["lazy"], lr=0.3, momentum=0.9),
            "dense": DenseDecayMomentum(groups["dense"], lr=0.3, momentum=0.9)}
    for epoch, lr in enumerate((0.3, 0.2, 0.05)):
        for opt in opts.values():
            for group in opt.param_groups:
                group["lr"] = lr
        for _ in range(7 + epoch):
            # 1 to 12 of 20 rows: lazy steps and steps that update every row
            rows = torch.randperm(20, generator=g)[: int(torch.randint(1, 13, (1,),
                                                                       generator=g))]
            grad = torch.zeros_like(start)
            grad[rows] = torch.randn(len(rows), 3, 4, generator=g, dtype=torch.float64)
            grad_b = torch.randn(5, generator=g, dtype=torch.float64)
            for name, opt in opts.items():
                w, b = params[name]
                opt.touch(w, rows)  # before the gradient is computed from the rows
                w.grad, b.grad = grad.clone(), grad_b.clone()
                if name == "lazy":  # what the forward pass reads is current
                    torch.testing.assert_close(w[rows], params["dense"][0][rows])
                opt.step()
            # the rows just updated and the dense parameter are current mid-epoch
            torch.testing.assert_close(params["lazy"][0][rows], params["dense"][0][rows])
            torch.testing.assert_close(params["lazy"][1], params["dense"][1])
        opts["lazy"].flush()
        torch.testing.assert_close(params["lazy"][0], params["dense"][0])
        torch.testing.assert_close(opts["lazy"].state[params["lazy"][0]]["momentum_buffer"],
                                   opts["dense"].state[params["dense"][0]]["momentum_buffer"])


TRIPLES = (["a", "a", "b", "b", "c", "c", "c", "d", "e", "e"],
           ["x", "y", "y", "z", "x", "y", "w", "w", "x", "z"],
           [1, 3, 2, 3, 3, 1, 2, 5, 4, 4])


@pytest.mark.parametrize("options", [{"orientation": "item"}, {"orientation": "user"},
                                     {"conditional": True}, {"factors": 2},
                                     {"conditional": True, "factors": 2,
                                      "orientation": "user"}])
@pytest.mark.parametrize("dense_share", [1.0, 0.25, _recommend_lazy.DENSE_SHARE])
def test_training_equals_the_dense_optimiser(options, dense_share, monkeypatch):
    monkeypatch.setattr(_recommend_lazy, "DENSE_SHARE", dense_share)

    def fit():
        rec = RBMRecommender(3, epochs=4, batch_size=2, dtype=torch.float64, **options)
        implicit = (["a", "d"], ["z", "x"]) if options.get("conditional") else None
        return rec.fit(*TRIPLES, implicit=implicit, progress=False,
                       generator=torch.Generator().manual_seed(1))

    lazy = fit()
    monkeypatch.setattr(_recommend_task, "LazyRowMomentum", DenseDecayMomentum)
    dense = fit()
    for (name, p), q in zip(lazy.rbm_.named_parameters(), dense.rbm_.parameters(),
                            strict=True):
        torch.testing.assert_close(p, q, msg=name)
    q = (["a", "b", "e"], ["w", "x", "y"])
    np.testing.assert_allclose(lazy.predict(*q), dense.predict(*q), rtol=1e-10)


def test_step_takes_no_closure():
    w = torch.zeros(2, requires_grad=True)
    opt = LazyRowMomentum([{"params": [w], "decay": 0.0, "rows": False}], lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="closure"):
        opt.step(lambda: 0.0)
