"""The recommender's training task for the one training loop.

Each mini-batch is a set of cases (users, or items in item orientation); the loss is
:func:`~harmonium.models.rating_rbm.cd_loss` with the epoch's number of Gibbs steps,
differentiated by autograd. The learning rate decays linearly to zero over the epochs
and the number of Gibbs steps grows along ``schedule`` (Salakhutdinov, Mnih and Hinton
2007). The optimiser is SGD with momentum and weight decay on the weights (``W``, or
the factors ``A`` and ``B``, and ``D``) whose per-unit rows are updated only where a
mini-batch rated (:class:`~harmonium.tasks._recommend_lazy.LazyRowMomentum`: the same
recurrence as :class:`~harmonium.training.sgd.MomentumSGD` with a
:class:`~harmonium.training.transforms.WeightDecay` gradient, the untouched rows caught
up in closed form).
"""

from __future__ import annotations

import numpy as np
import torch

from harmonium.models.rating_rbm import cd_loss, implicit_field
from harmonium.tasks._recommend_conditional import ConditionalParams
from harmonium.tasks._recommend_lazy import LazyRowMomentum
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, train
from harmonium.training.transforms import chain

__all__ = ["RecommenderTask", "train_recommender"]


class RecommenderTask(Task):
    """Training task of an :class:`~harmonium.RBMRecommender` (see the loop's protocol).

    Parameters
    ----------
    estimator : RBMRecommender
        Fitted far enough to have ``rbm_``, its case index and ``history_``.
    model : torch.nn.Module
        What is optimised: ``estimator.rbm_`` (a plain or factored rating RBM), or it
        and ``D`` for a conditional model.
    optimizer : torch.optim.Optimizer
        Over ``estimator.rbm_``'s parameters; its learning rate is set every epoch.
    schedule : sequence of int
        Gibbs steps, spread evenly over the epochs.
    validation : (users, items, ratings), optional
        Held-out ratings whose RMSE is recorded after each epoch.
    """

    kind = "RBMRecommender"

    def __init__(self, estimator, model, optimizer, schedule, validation=None):
        self.estimator, self.model, self.optimizer = estimator, model, optimizer
        self.schedule, self.validation = list(schedule), validation
        self.steps = self.schedule[0]

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        n = len(self.schedule)
        self.steps = self.schedule[min(n - 1, epoch * n // epochs)]
        for group in self.optimizer.param_groups:  # linear decay to zero over the epochs
            group["lr"] = self.estimator.learning_rate * (1 - epoch / epochs)

    def step(self, cases, *, generator):
        est = self.estimator
        batch, d = est._cases.batch(cases), est.implicit_weight_
        # the rows this batch reads and changes, brought up to date before it reads them
        self.optimizer.touch(unit_rows(est.rbm_), torch.unique(batch.unit))
        offset = None
        if d is not None:
            flagged = est._implicit.batch(cases)
            self.optimizer.touch(d, torch.unique(flagged.unit))
            offset = implicit_field(d, flagged)
        loss = cd_loss(est.rbm_, batch, self.steps, generator=generator, offset=offset)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        return None

    def end_epoch(self) -> dict:
        self.optimizer.flush()  # every row up to date before anything reads them
        record = {"cd_steps": self.steps}
        if self.validation is not None:
            users, items, ratings = self.validation
            pred = self.estimator.predict(users, items)
            record["val_rmse"] = float(np.sqrt(np.mean((pred - ratings) ** 2)))
        return record


def unit_rows(rbm) -> torch.Tensor:
    """The parameter with one row per visible unit and hidden-side columns: ``W``, or the
    factor ``A`` of a factored model."""
    return rbm.factor_a if hasattr(rbm, "factor_a") else rbm.weight


def _parameter_groups(model, weight_decay: float) -> list[dict]:
    """The optimiser's groups: per-unit rows (``W`` or ``A``, and ``D``) updated lazily
    with weight decay; the factor ``B`` decayed densely; the biases not decayed."""
    rbm = getattr(model, "rbm", model)
    rows = [unit_rows(rbm)] + ([model.implicit] if rbm is not model else [])
    factor_b = [rbm.factor_b] if hasattr(rbm, "factor_b") else []
    rest = [p for p in model.parameters() if all(p is not q for q in rows + factor_b)]
    groups = [{"params": rows, "decay": weight_decay, "rows": True},
              {"params": factor_b, "decay": weight_decay, "rows": False},
              {"params": rest, "decay": 0.0, "rows": False}]
    return [g for g in groups if g["params"]]


def train_recommender(estimator, cases, epochs: int, schedule, *, validation=None,
                      generator, progress: bool, checkpoint=None, resume=False,
                      stopping=None) -> int | None:
    """Train ``estimator.rbm_`` (and ``D``) on ``cases`` (case indices, shape (n,)) in place.

    Appends one record per epoch to ``estimator.history_``; ``checkpoint`` and
    ``resume`` as in :func:`harmonium.fit`. With ``stopping`` (an early-stopping
    callback), the best epoch's parameters are restored and that epoch returned.
    """
    d = estimator.implicit_weight_
    model = estimator.rbm_ if d is None else ConditionalParams(estimator.rbm_, d)
    optimizer = LazyRowMomentum(_parameter_groups(model, estimator.weight_decay),
                                lr=estimator.learning_rate, momentum=estimator.momentum)
    task = RecommenderTask(estimator, model, optimizer, schedule, validation)
    callbacks = [] if stopping is None else [stopping]
    loop = Loop(epochs, estimator.batch_size, optimizer, generator, chain(),
                progress=progress, description="RBM recommender",
                checkpoint=checkpoint, resume=resume, callbacks=callbacks)
    history = train(task, cases, loop, history=History(estimator.history_))
    estimator.history_[:] = history.records
    return None if stopping is None else stopping.restore(model)
