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

from harmonium.models.rating_rbm import cd_loss
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
    optimizer : torch.optim.Optimizer
        Over ``estimator.rbm_``'s parameters; its learning rate is set every epoch.
    schedule : sequence of int
        Gibbs steps, spread evenly over the epochs.
    validation : (users, items, ratings), optional
        Held-out ratings whose RMSE is recorded after each epoch.
    """

    kind = "RBMRecommender"

    def __init__(self, estimator, optimizer, schedule, validation=None):
        self.estimator, self.model, self.optimizer = estimator, estimator.rbm_, optimizer
        self.schedule, self.validation = list(schedule), validation
        self.steps = self.schedule[0]

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        n = len(self.schedule)
        self.steps = self.schedule[min(n - 1, epoch * n // epochs)]
        for group in self.optimizer.param_groups:  # linear decay to zero over the epochs
            group["lr"] = self.estimator.learning_rate * (1 - epoch / epochs)

    def step(self, cases, *, generator):
        batch = self.estimator._cases.batch(cases)
        loss = cd_loss(self.model, batch, self.steps, generator=generator)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
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
                      callbacks=()) -> None:
    """Train ``estimator.rbm_`` on ``cases`` (case indices, shape (n,)) in place.

    Appends one record per epoch to ``estimator.history_``; ``checkpoint`` and
    ``resume`` as in :func:`harmonium.fit`; ``callbacks`` as the loop's (returning
    True stops).
    """
    optimizer = MomentumSGD(estimator.rbm_.parameters(), lr=estimator.learning_rate,
                            momentum=estimator.momentum)
    task = RecommenderTask(estimator, optimizer, schedule, validation)
    decay = (WeightDecay(estimator.weight_decay),) if estimator.weight_decay else ()
    loop = Loop(epochs, estimator.batch_size, optimizer, generator, chain(*decay),
                progress=progress, description="RBM recommender",
                checkpoint=checkpoint, resume=resume, callbacks=list(callbacks))
    history = train(task, cases, loop, history=History(estimator.history_))
    estimator.history_[:] = history.records
