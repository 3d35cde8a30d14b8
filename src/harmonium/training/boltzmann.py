"""Training a general Boltzmann machine: the Ackley, Hinton and Sejnowski (1985) rule.

The gradient of the mean log-likelihood of visible data is a difference of pairwise
statistics, at temperature T:

    d/dW_ij = (<x_i x_j>_data - <x_i x_j>_model) / T,   d/db_i = (<x_i>_data - <x_i>_model) / T

In the positive ("data", "wake") phase the visible units are clamped to a data vector and
the hidden units follow their posterior, approximated by mean field (Salakhutdinov and
Hinton 2009) or by Gibbs sampling with the visible units clamped. The negative ("model",
"sleep") phase uses persistent Markov chains that take a few Gibbs sweeps per update and
are never reset: the stochastic approximation procedure (Younes 1989; Tieleman 2008;
Salakhutdinov and Hinton 2009).
"""

from __future__ import annotations

import torch

from harmonium import parallel
from harmonium._numerics import check_positive_int, seeded_generator
from harmonium.models.boltzmann import BoltzmannMachine
from harmonium.training.data import as_source
from harmonium.training.loop import Loop, Task, train
from harmonium.training.sgd import MomentumSGD
from harmonium.training.transforms import WeightDecay, chain

__all__ = ["POSITIVE_PHASES", "BoltzmannTask", "ahs_gradient", "fit_boltzmann",
           "positive_phase"]

POSITIVE_PHASES = ("mean-field", "gibbs")


def positive_phase(
    bm: BoltzmannMachine,
    v: torch.Tensor,
    *,
    method: str = "mean-field",
    steps: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Full states with the visible units clamped to ``v`` and the hidden units inferred.

    Parameters
    ----------
    bm : BoltzmannMachine
    v : array-like, shape (batch, n_visible)
    method : {"mean-field", "gibbs"}
        Hidden units as mean-field means, or as a sample after ``steps`` Gibbs sweeps
        over the hidden units (from uniform random states).
    steps : int
        Mean-field iterations or Gibbs sweeps.
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor, shape (batch, n)
        Visible part ``v``, hidden part the means or samples.
    """
    if method not in POSITIVE_PHASES:
        raise ValueError(f"method must be one of {POSITIVE_PHASES}, got {method!r}")
    steps = check_positive_int(steps, "steps")
    v = bm.check_visible(v)
    if bm.n_hidden == 0:
        return v
    if method == "mean-field":
        return torch.cat([v, bm.mean_field_unchecked(v, steps)], 1)
    x = bm.random_states(v.shape[0], generator=generator)
    x[:, : bm.n_visible] = v
    return bm.gibbs_unchecked(x, steps, free=bm.hidden_units, generator=generator)


def ahs_gradient(
    bm: BoltzmannMachine, positive: torch.Tensor, negative: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ascent direction of the log-likelihood from positive- and negative-phase states.

    Parameters
    ----------
    bm : BoltzmannMachine
    positive : torch.Tensor, shape (batch, n)
        Clamped states (hidden units may be mean-field means).
    negative : torch.Tensor, shape (n_chains, n)
        Samples of the model (the persistent chains).

    Returns
    -------
    grad_weight : torch.Tensor, shape (n, n)
        ``(<x x'>_data - <x x'>_model) / T`` on the allowed couplings, zero elsewhere
        (symmetric, zero diagonal): entry (i, j) is the derivative with respect to the
        one coupling ``w_ij = w_ji``.
    grad_bias : torch.Tensor, shape (n,)
        ``(<x>_data - <x>_model) / T``.
    """
    t = bm.temperature
    corr = positive.T @ positive / positive.shape[0] - negative.T @ negative / negative.shape[0]
    grad_w = corr * bm.connectivity.to(corr.device) / t
    grad_b = (positive.mean(0) - negative.mean(0)) / t
    return grad_w, grad_b


class BoltzmannTask(Task):
    """The training task of a Boltzmann machine (see :mod:`harmonium.training.loop`).

    The negative phase is ``n_chains`` persistent chains, drawn uniformly at random on
    construction and advanced by ``sweeps`` Gibbs sweeps per update; they are the
    task's state, checkpointed by the loop.
    """

    kind = "BoltzmannPCD"

    def __init__(self, bm, *, n_chains: int, sweeps: int, positive: str,
                 positive_steps: int, generator):
        self.model, self.sweeps = bm, sweeps
        self.positive, self.positive_steps = positive, positive_steps
        self.chains = bm.random_states(n_chains, generator=generator)

    @torch.no_grad()
    def step(self, batch, *, generator):
        bm = self.model
        pos = positive_phase(bm, batch, method=self.positive, steps=self.positive_steps,
                             generator=generator)
        self.chains = bm.gibbs_unchecked(self.chains, self.sweeps, generator=generator)
        grad_w, grad_b = ahs_gradient(bm, pos, self.chains)
        bm.weight.grad = grad_w.neg_()  # the loop descends; the rule ascends
        params = bm.layer.params  # (1, n): the biases alone
        if params.grad is None:
            params.grad = torch.empty_like(params)
        torch.neg(grad_b, out=params.grad[0])
        return None

    def state_dict(self) -> dict:
        return {"chains": self.chains}

    def load_state_dict(self, state: dict) -> None:
        self.chains = state["chains"].clone()


def fit_boltzmann(
    bm: BoltzmannMachine,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.05,
    n_chains: int = 100,
    sweeps: int = 1,
    positive: str = "mean-field",
    positive_steps: int = 10,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
    checkpoint=None,
    resume=False,
) -> BoltzmannMachine:
    """Train ``bm`` in place by stochastic gradient ascent on the log-likelihood.

    Runs on the one training loop (:func:`harmonium.training.loop.train`): plain SGD
    steps of size ``lr``, weight decay as a gradient transform restricted to the
    allowed couplings, a NaN/inf check after every epoch, and resumable checkpoints.

    Parameters
    ----------
    bm : BoltzmannMachine
    data : array-like, memmap, .npy path, Dataset, DataLoader or iterable of batches
        Visible training states, shape (n_samples, n_visible), in the units' support
        (see :mod:`harmonium.training.data`).
    epochs : int
        Passes over the data.
    batch_size : int
        Data vectors per update.
    lr : float
        Learning rate (> 0).
    n_chains : int
        Number of persistent negative-phase chains.
    sweeps : int
        Gibbs sweeps of the chains per update.
    positive : {"mean-field", "gibbs"}
        Positive phase (see :func:`positive_phase`).
    positive_steps : int
        Mean-field iterations or clamped Gibbs sweeps per positive phase.
    weight_decay : float
        L2 penalty on the couplings (>= 0).
    generator : torch.Generator, optional
        Source of the chains, the batch order and every Gibbs draw (default: a freshly
        seeded one).
    progress : bool
        Show a progress bar counting samples.
    checkpoint, resume : path, bool or path
        As in :func:`harmonium.fit`: a checkpoint written atomically after every epoch
        (parameters, chains, RNG state, epoch), and resuming from it bit for bit.

    Returns
    -------
    BoltzmannMachine
        ``bm``, trained; ``bm.history_`` holds the per-epoch records.
    """
    if parallel.world()[1] > 1:
        raise ValueError("fit_boltzmann is not data-parallel: run it in one process")
    source = as_source(data, lambda batch: bm.check_visible(batch, "data"))
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    n_chains = check_positive_int(n_chains, "n_chains")
    sweeps = check_positive_int(sweeps, "sweeps")
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if lr == 0:
        raise ValueError("lr must be > 0, got 0")
    if positive not in POSITIVE_PHASES:
        raise ValueError(f"positive must be one of {POSITIVE_PHASES}, got {positive!r}")
    generator = seeded_generator(generator, bm.weight.device)
    task = BoltzmannTask(bm, n_chains=n_chains, sweeps=sweeps, positive=positive,
                         positive_steps=positive_steps, generator=generator)
    decay = (WeightDecay(weight_decay, mask_attr="connectivity"),) if weight_decay else ()
    loop = Loop(epochs, batch_size, MomentumSGD(bm.parameters(), lr=float(lr)), generator,
                chain(*decay), progress=progress, description="boltzmann",
                checkpoint=checkpoint, resume=resume, divergence_hint="lower the learning rate")
    bm.history_ = train(task, source, loop).records
    return bm
