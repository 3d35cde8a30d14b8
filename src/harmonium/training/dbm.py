"""Training a deep Boltzmann machine (Salakhutdinov and Hinton 2009).

**Greedy pretraining** (:func:`pretrain_dbm`) trains the RBMs of the chain bottom-up,
each on the mean activities of the one below, by CD-1 with the *doubled-input
correction*: a layer that has neighbours on both sides in the DBM gets input from only
one of them in its RBM, so that input is doubled where it stands in for the missing
one. The bottom RBM sees ``2 v W_0`` going up (and ``h W_0'`` going down), the top RBM
``2 h_L W_{L-1}'`` going down (and ``h_{L-1} W_{L-1}`` going up); the RBMs in between
train as plain RBMs and their weights are halved when composed. Each hidden layer keeps
the bias it learnt as the hidden layer of the RBM below it.

**Fine-tuning** (:func:`fine_tune_dbm`) trains the mean-field-augmented network
(:class:`~harmonium.models._dbm_net.MeanFieldAugmentedNet`) with the engine of
:func:`harmonium.fine_tune` and keeps it as ``dbm.classifier``.

**Joint training** (:func:`fit_dbm`) ascends the log-likelihood with a mean-field
positive phase (the fixed point of :meth:`harmonium.DBM.mean_field`) and a negative
phase of persistent Gibbs chains over all layers (the stochastic approximation
procedure), as a task of the one loop (:func:`harmonium.training.loop.train`): the
chains are the task's state and go into its checkpoints. The loss gradient of layer
``k``'s parameters is ``d/dparams [mean E_k(mu_k) - mean E_k(x_k^chain)]`` (exact for
layers whose energy is linear in the states, such as Bernoulli units) and that of
``W_k`` is ``-(<mu_k mu_{k+1}'>_data - <x_k x_{k+1}'>_chains)``.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from harmonium import parallel
from harmonium._numerics import check_positive_int, seeded_generator
from harmonium.models._dbm_net import MeanFieldAugmentedNet, augment
from harmonium.models.dbm import DBM
from harmonium.models.rbm import RBM
from harmonium.training.data import as_source, in_memory
from harmonium.training.finetune import train_classifier
from harmonium.training.history import History
from harmonium.training.loop import Loop, Task, train
from harmonium.training.sgd import MomentumSGD

__all__ = ["DBMTask", "DoubledInputCD", "fine_tune_dbm", "fit_dbm", "pretrain_dbm"]


def _check_rate(value, name: str, *, strict: bool = True, below_one: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value < 0 or (strict and value == 0) or (below_one and value >= 1) or value != value:
        bound = "in [0, 1)" if below_one else (">= 0" if not strict else "> 0")
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def _batch_coefs(n_data: int, n_model: int, like: torch.Tensor):
    """The loss's batch-mean weights ``(1 / n_data, -1 / n_model)`` as row vectors."""
    return (torch.full((n_data,), 1.0 / n_data, dtype=like.dtype, device=like.device),
            torch.full((n_model,), -1.0 / n_model, dtype=like.dtype, device=like.device))


def _grad_of(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None:
        p.grad = torch.empty_like(p)
    return p.grad


class DoubledInputCD(Task):
    """CD-1 on one RBM of a DBM's greedy stack, with the hidden field scaled by ``up``
    and the visible field by ``down`` (2 for the doubled side, 1 otherwise)."""

    kind = "DBMPretrainCD"

    def __init__(self, rbm: RBM, up: float, down: float):
        self.model, self.up, self.down = rbm, up, down

    @torch.no_grad()
    def step(self, batch, *, generator):
        rbm, vis, hid = self.model, self.model.visible, self.model.hidden
        inputs_data = self.up * rbm.inputs_h_from_v(batch)
        mean_data = hid.mean_from_inputs(inputs_data)
        h = hid.sample_from_inputs(inputs_data, generator=generator)
        v_model = vis.sample_from_inputs(self.down * rbm.inputs_v_from_h(h), generator=generator)
        inputs_model = self.up * rbm.inputs_h_from_v(v_model)
        mean_model = hid.mean_from_inputs(inputs_model)
        plus = _batch_coefs(batch.shape[0], v_model.shape[0], batch)
        if vis.params.requires_grad:
            vis.energy_grad_(_grad_of(vis.params), (batch, v_model), plus)
        hid.cgf_grad_(_grad_of(hid.params), (inputs_data, inputs_model),
                      (mean_data, mean_model), tuple(-c for c in plus))
        # dL/dW = -v_data' E[h | data] / n_data + v_model' E[h | model] / n_model
        grad = _grad_of(rbm.weight).view(batch[0].numel(), -1)
        grad.addmm_(batch.flatten(1).T, mean_data.flatten(1), beta=0, alpha=-1 / len(batch))
        grad.addmm_(v_model.flatten(1).T, mean_model.flatten(1), alpha=1 / len(v_model))
        return None

    def after_update(self) -> None:
        self.model.project_()


def _pretraining_plan(dbm: DBM) -> list[tuple[float, float, float]]:
    """``(up, down, weight scale when composed)`` of each RBM, bottom first."""
    depth = len(dbm.rbms)
    if depth == 1:
        return [(1.0, 1.0, 1.0)]
    return [(2.0, 1.0, 1.0) if k == 0 else (1.0, 2.0, 1.0) if k == depth - 1
            else (1.0, 1.0, 0.5) for k in range(depth)]


def _stand_alone(rbm: RBM, k: int) -> RBM:
    """The RBM trained in place of ``rbm``: above the bottom its visible layer is a
    trainable copy, so the shared layer keeps the bias learnt in the RBM below."""
    if k == 0:
        return rbm
    visible = rbm.visible.with_params(rbm.visible.params.detach().clone())
    visible.params.requires_grad_(True)
    alone = RBM(visible, rbm.hidden, weight_std=0.0)
    alone.weight = rbm.weight
    return alone


def pretrain_dbm(
    dbm: DBM,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.05,
    momentum: float = 0.5,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[History]:
    """Greedy layer-wise pretraining of ``dbm`` with the doubled-input correction.

    Parameters
    ----------
    dbm : DBM
        Trained in place.
    data : array-like, shape (n_samples, *visible.shape)
        In-memory training data in the visible units' support (two-state units take
        probabilities).
    epochs : int or list of int
        CD-1 epochs per RBM (one value for all, or one per RBM).
    batch_size : int
    lr, momentum : float
        Momentum SGD step size (> 0) and momentum (in [0, 1)).
    generator : torch.Generator, optional
        Batch order and every draw.
    progress : bool
        Show bars over the layers and the samples.

    Returns
    -------
    list of History
        One per RBM, bottom first.
    """
    if not isinstance(dbm, DBM):
        raise TypeError(f"pretrain_dbm needs a harmonium.DBM, got {type(dbm).__name__}")
    if not in_memory(data):
        raise ValueError("pretrain_dbm needs in-memory data (a tensor or array)")
    x = dbm.check_visible(data, "data")
    depth = len(dbm.rbms)
    epochs = [epochs] * depth if isinstance(epochs, int) else list(epochs)
    if len(epochs) != depth:
        raise ValueError(f"epochs must be one integer or {depth} of them, got {len(epochs)}")
    epochs = [check_positive_int(e, "epochs") for e in epochs]
    batch_size = check_positive_int(batch_size, "batch_size")
    lr, momentum = _check_rate(lr, "lr"), _check_rate(momentum, "momentum", strict=False,
                                                        below_one=True)
    generator = seeded_generator(generator, x.device)
    histories = []
    for k, (rbm, (up, down, scale)) in enumerate(
            zip(tqdm(dbm.rbms, desc="layers", disable=not progress), _pretraining_plan(dbm),
                strict=True)):
        alone = _stand_alone(rbm, k)
        trained = [p for p in alone.parameters() if p.requires_grad]
        loop = Loop(epochs[k], batch_size, MomentumSGD(trained, lr=lr, momentum=momentum),
                    generator, progress=progress, description=f"DBM layer {k + 1}",
                    divergence_hint="lower the learning rate")
        histories.append(train(DoubledInputCD(alone, up, down), x, loop))
        with torch.no_grad():
            x = rbm.hidden.mean_from_inputs(up * rbm.inputs_h_from_v(x))
            rbm.weight.mul_(scale)
    return histories


class DBMTask(Task):
    """Joint training of a DBM (see the module docstring): mean-field positive phase,
    ``n_chains`` persistent chains advanced ``sweeps`` Gibbs sweeps per update."""

    kind = "DBMPCD"

    def __init__(self, dbm: DBM, *, n_chains: int, sweeps: int, mean_field_steps: int,
                 weight_decay: float, generator):
        self.model, self.sweeps, self.steps = dbm, sweeps, mean_field_steps
        self.weight_decay = weight_decay
        self.chains = dbm.random_states(n_chains, generator=generator)

    @torch.no_grad()
    def step(self, batch, *, generator):
        dbm = self.model
        means = dbm.mean_field_fields(batch, self.steps, 1e-4)[1]
        self.chains = dbm.gibbs_unchecked(self.chains, self.sweeps, generator=generator)
        plus = _batch_coefs(batch.shape[0], self.chains[0].shape[0], batch)
        for layer, mean, chain in zip(dbm.layers, means, self.chains, strict=True):
            layer.energy_grad_(_grad_of(layer.params), (mean, chain), plus)
        for k, rbm in enumerate(dbm.rbms):
            grad = _grad_of(rbm.weight).view(means[k][0].numel(), -1)
            torch.mul(rbm.weight.view_as(grad), self.weight_decay, out=grad)
            grad.addmm_(means[k].flatten(1).T, means[k + 1].flatten(1), alpha=-1 / len(batch))
            grad.addmm_(self.chains[k].flatten(1).T, self.chains[k + 1].flatten(1),
                        alpha=1 / len(self.chains[k]))
        return None

    def after_update(self) -> None:
        # each coupled pair as an RBM (they share the layers): weights to a gauged layer
        # (Potts) into its gauge, then every layer into its domain
        for rbm in self.model.rbms:
            rbm.project_()

    def state_dict(self) -> dict:
        return {"chains": list(self.chains)}

    def load_state_dict(self, state: dict) -> None:
        self.chains = [c.clone() for c in state["chains"]]


def fit_dbm(
    dbm: DBM,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.005,
    momentum: float = 0.5,
    n_chains: int = 100,
    sweeps: int = 5,
    mean_field_steps: int = 10,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
    checkpoint=None,
    resume=False,
) -> History:
    """Joint training of ``dbm``: mean-field positive phase, persistent chains negative.

    Parameters
    ----------
    dbm : DBM
        Trained in place (usually after :func:`pretrain_dbm`).
    data : array-like, memmap, .npy path, Dataset, DataLoader or iterable of batches
        Visible training data, shape (n_samples, *visible.shape) (see
        :mod:`harmonium.training.data`).
    epochs, batch_size : int
    lr, momentum : float
        Momentum SGD step size (> 0) and momentum (in [0, 1)).
    n_chains : int
        Persistent chains (the fantasy particles), drawn from the layers' bias-only
        distributions at the start.
    sweeps : int
        Gibbs sweeps of the chains per update.
    mean_field_steps : int
        At most this many rounds of mean-field updates per mini-batch.
    weight_decay : float
        L2 penalty on the weights (>= 0).
    generator : torch.Generator, optional
    progress : bool
    checkpoint, resume : path, bool or path
        As in :func:`harmonium.fit`: checkpoints hold the parameters, the chains, the
        optimiser and the generator, and a resumed run continues bit for bit.

    Returns
    -------
    History
        Per-epoch records (``seconds``, ``samples_per_s``).
    """
    if not isinstance(dbm, DBM):
        raise TypeError(f"fit_dbm needs a harmonium.DBM, got {type(dbm).__name__}")
    if parallel.world()[1] > 1:
        raise ValueError("fit_dbm is not data-parallel: run it in one process")
    source = as_source(data, lambda batch: dbm.check_visible(batch, "data"))
    epochs, batch_size = check_positive_int(epochs, "epochs"), check_positive_int(
        batch_size, "batch_size")
    n_chains, sweeps = check_positive_int(n_chains, "n_chains"), check_positive_int(
        sweeps, "sweeps")
    mean_field_steps = check_positive_int(mean_field_steps, "mean_field_steps")
    lr = _check_rate(lr, "lr")
    momentum = _check_rate(momentum, "momentum", strict=False, below_one=True)
    weight_decay = _check_rate(weight_decay, "weight_decay", strict=False)
    generator = seeded_generator(generator, dbm.rbms[0].weight.device)
    task = DBMTask(dbm, n_chains=n_chains, sweeps=sweeps, mean_field_steps=mean_field_steps,
                   weight_decay=weight_decay, generator=generator)
    loop = Loop(epochs, batch_size, MomentumSGD(dbm.parameters(), lr=lr, momentum=momentum),
                generator, progress=progress, description="DBM", checkpoint=checkpoint,
                resume=resume, divergence_hint="lower the learning rate")
    return train(task, source, loop)


def _class_labels(labels, n_rows: int, name: str, n_classes: int | None, device) -> torch.Tensor:
    """Integer class labels (n_rows,) in [0, n_classes) as int64 on ``device``."""
    y = torch.as_tensor(labels)
    if y.ndim != 1 or y.shape[0] != n_rows or y.dtype in (torch.bool, torch.complex64) \
            or not torch.equal(y, y.round()):
        raise ValueError(f"{name} must be {n_rows} integer class labels in a 1-d array, got "
                         f"{y.dtype} of shape {tuple(y.shape)}")
    y = y.long()
    top = n_classes if n_classes is not None else max(int(y.max()) + 1, 2)
    if y.min() < 0 or y.max() >= top:
        raise ValueError(f"{name} must lie in [0, {top}), found {int(y.min())}..{int(y.max())}")
    return y.to(device)


def fine_tune_dbm(
    dbm: DBM,
    data,
    labels,
    *,
    epochs: int = 20,
    batch_size: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    mean_field_steps: int = 30,
    validation_data=None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> History:
    """Train the DBM's mean-field-augmented network as a classifier; sets ``dbm.classifier``.

    Parameters
    ----------
    dbm : DBM
        Trained (pretrained and jointly trained); its own weights are left untouched.
    data : array-like, shape (n_samples, *visible.shape)
        In-memory inputs (their mean-field augmentation is computed once).
    labels : array-like of int, shape (n_samples,)
        Classes ``0 ... n_classes - 1`` (``n_classes = max(labels) + 1``).
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate (decayed to 0 along a cosine) and L2 penalty.
    mean_field_steps : int
        Mean-field rounds for the augmented inputs.
    validation_data : (array-like, array-like), optional
        ``(x_val, y_val)`` whose accuracy is recorded after each epoch.
    generator : torch.Generator, optional
        Batch order and the initial output weights.
    progress : bool

    Returns
    -------
    History
        Per epoch ``loss``, ``accuracy`` (and ``val_accuracy``), as :func:`harmonium.fine_tune`.
    """
    if not isinstance(dbm, DBM):
        raise TypeError(f"fine_tune_dbm needs a harmonium.DBM, got {type(dbm).__name__}")
    if not in_memory(data):
        raise ValueError("fine_tune_dbm needs in-memory data (a tensor or array)")
    x = dbm.check_visible(data, "data")
    y = _class_labels(labels, x.shape[0], "labels", None, x.device)
    epochs, batch_size = check_positive_int(epochs, "epochs"), check_positive_int(
        batch_size, "batch_size")
    lr, weight_decay = _check_rate(lr, "lr"), _check_rate(weight_decay, "weight_decay",
                                                          strict=False)
    steps = check_positive_int(mean_field_steps, "mean_field_steps")
    n_classes = max(int(y.max()) + 1, 2)
    val = None
    if validation_data is not None:
        xv = dbm.check_visible(validation_data[0], "validation data")
        val = (augment(dbm, xv, steps), _class_labels(validation_data[1], xv.shape[0],
                                                       "validation labels", n_classes,
                                                       xv.device))
    generator = seeded_generator(generator, x.device)
    net = MeanFieldAugmentedNet(dbm, n_classes, generator=generator)
    source = as_source(augment(dbm, x, steps), lambda batch: batch).with_labels(y)
    history = train_classifier(net, source, val, epochs=epochs, batch_size=batch_size, lr=lr,
                               weight_decay=weight_decay, generator=generator,
                               progress=progress)
    dbm.classifier = net
    return history
