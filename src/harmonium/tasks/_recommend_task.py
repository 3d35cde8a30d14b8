"""The recommender's training task for the one training loop.

Each mini-batch is a set of cases (users, or items in item orientation); the loss is
:func:`~harmonium.models.rating_rbm.cd_loss` with the epoch's number of Gibbs steps,
differentiated by autograd. The learning rate decays linearly to zero over the epochs
and the number of Gibbs steps grows along ``schedule`` (Salakhutdinov, Mnih and Hinton
2007); momentum is :class:`~harmonium.training.sgd.MomentumSGD`'s, weight decay on the
weights a :class:`~harmonium.training.transforms.WeightDecay` transform.
"""

from __future__ import annotations

import numpy as np

from harmonium.models.rating_rbm import cd_loss, implicit_field
from harmonium.tasks._recommend_conditional import ConditionalParams
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, train
from harmonium.training.sgd import MomentumSGD
from harmonium.training.transforms import WeightDecay, chain

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
        rbm, d = estimator.rbm_, estimator.implicit_weight_
        factored = [rbm.factor_a, rbm.factor_b] if estimator.factors is not None else []
        # decayed here; the plain weight W by the loop's WeightDecay transform
        self.decayed = factored + ([] if d is None else [d])

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        n = len(self.schedule)
        self.steps = self.schedule[min(n - 1, epoch * n // epochs)]
        for group in self.optimizer.param_groups:  # linear decay to zero over the epochs
            group["lr"] = self.estimator.learning_rate * (1 - epoch / epochs)

    def step(self, cases, *, generator):
        est = self.estimator
        batch, d = est._cases.batch(cases), est.implicit_weight_
        offset = None if d is None else implicit_field(d, est._implicit.batch(cases))
        loss = cd_loss(est.rbm_, batch, self.steps, generator=generator, offset=offset)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        if est.weight_decay:  # the paper decays D like W; a factored W through A and B
            for p in self.decayed:
                p.grad.add_(p.detach(), alpha=est.weight_decay)
        return None

    def end_epoch(self) -> dict:
        record = {"cd_steps": self.steps}
        if self.validation is not None:
            users, items, ratings = self.validation
            pred = self.estimator.predict(users, items)
            record["val_rmse"] = float(np.sqrt(np.mean((pred - ratings) ** 2)))
        return record


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
    optimizer = MomentumSGD(model.parameters(), lr=estimator.learning_rate,
                            momentum=estimator.momentum)
    task = RecommenderTask(estimator, model, optimizer, schedule, validation)
    callbacks = [] if stopping is None else [stopping]
    decay = (WeightDecay(estimator.weight_decay),) if (
        estimator.weight_decay and estimator.factors is None) else ()
    loop = Loop(epochs, estimator.batch_size, optimizer, generator, chain(*decay),
                progress=progress, description="RBM recommender",
                checkpoint=checkpoint, resume=resume, callbacks=callbacks)
    history = train(task, cases, loop, history=History(estimator.history_))
    estimator.history_[:] = history.records
    return None if stopping is None else stopping.restore(model)
