"""Annealed importance sampling of a deep Boltzmann machine's ``log Z``.

The path is the one :mod:`harmonium.partition.ais` anneals an RBM along, applied to
every layer (Salakhutdinov and Hinton 2009):

    p_k(x) ∝ exp(-(1 - beta_k) E_base(x) - beta_k E(x)),   0 = beta_0 < ... < beta_K = 1

where the base has no couplings: an independent-units visible layer (fitted to data,
or the DBM's own visible biases) and the hidden layers with zero bias
(:meth:`~harmonium.units.Units.annealing_start`). Given the even layers
``x_0, x_2, ...`` the odd layers are independent, so they are summed out
analytically: the chains carry the even layers and

    log p*_beta(x_even) = -sum_{k even} E_k^beta(x_k) + sum_{k odd} cgf_k^beta(beta I_k)

with ``I_k = x_{k-1} W_{k-1} + W_k x_{k+1}``. A transition at ``beta`` is one Gibbs
sweep (odd layers, then even ones). Log weights are accumulated in float64; the
result is an :class:`~harmonium.partition.ais.AISResult` whose forward estimate
underestimates ``log Z`` in expectation (``bracket`` gives its Monte-Carlo interval).

With ``log Z``, :meth:`harmonium.DBM.mean_field_bound` gives the variational lower
bound on ``log p(v)``.
"""

from __future__ import annotations

import copy

import torch
from tqdm.auto import tqdm

from harmonium._numerics import check_positive_int
from harmonium.models.dbm import DBM
from harmonium.partition.ais import PUBLISHED_N_BETAS, AISResult, _result, _schedule, base_rate

__all__ = ["ais_dbm"]


class _DBMPath:
    """Work copies of a DBM's layers whose parameters are set in place at each beta."""

    def __init__(self, dbm: DBM, base):
        self.dbm = dbm
        layers = dbm.layers
        starts = [base.params.detach(), *(layer.annealing_start() for layer in layers[1:])]
        self.ends = [layer.params.detach() for layer in layers]
        self.starts = [s.to(e) for s, e in zip(starts, self.ends, strict=True)]
        self.odd, self.even = range(1, len(layers), 2), range(0, len(layers), 2)
        self.work = [layer.with_params(p.clone()) for layer, p in zip(layers, self.ends,
                                                                      strict=True)]
        self.pairs64 = {k: [layers[k].with_params(self.ends[k].double().clone())
                            for _ in range(2)] for k in self.odd}
        self.base64 = {k: layers[k].with_params(self.starts[k].double()) for k in self.even}
        self.model64 = {k: layers[k].with_params(self.ends[k].double()) for k in self.even}
        zeros = [torch.zeros(1, *layer.shape, dtype=torch.float64, device=self.ends[0].device)
                 for layer in layers]
        self.log_z_base = sum(layer.with_params(s.double()).cgf(z).item()
                              for layer, s, z in zip(layers, self.starts, zeros, strict=True))

    def _set(self, layer, k: int, beta: float):
        p = layer.params.data
        torch.lerp(self.starts[k].to(p.dtype), self.ends[k].to(p.dtype), beta, out=p)
        return layer

    def fields(self, states, ks) -> dict:
        """Unscaled input fields of layers ``ks`` from their neighbours."""
        return {k: self.dbm.inputs_to(k, states) for k in ks}

    def log_ratio(self, states, odd_fields, beta_a: float, beta_b: float) -> torch.Tensor:
        """``log p*_b(x_even) - log p*_a(x_even)`` in float64, shape (batch,)."""
        total = 0.0
        for k in self.even:
            x = states[k].double()
            total = total - (beta_b - beta_a) * (self.model64[k].energy(x)
                                                 - self.base64[k].energy(x))
        for k, field in odd_fields.items():
            f64 = field.double()
            layer_a, layer_b = self.pairs64[k]
            total = total + (self._set(layer_b, k, beta_b).cgf(beta_b * f64)
                             - self._set(layer_a, k, beta_a).cgf(beta_a * f64))
        return total

    def sweep(self, states, odd_fields, beta: float, *, generator) -> list:
        """One Gibbs sweep of ``p_beta``: odd layers from ``odd_fields``, then even ones."""
        states = list(states)
        for k, field in odd_fields.items():
            states[k] = self._set(self.work[k], k, beta).sample_from_inputs(
                beta * field, generator=generator)
        for k, field in self.fields(states, self.even).items():
            states[k] = self._set(self.work[k], k, beta).sample_from_inputs(
                beta * field, generator=generator)
        return states

    def sample_base(self, n: int, *, generator) -> list:
        """Independent draws of every layer at ``beta = 0``."""
        return [self._set(layer, k, 0.0).sample_from_inputs(
                    torch.zeros(n, *layer.shape, dtype=layer.params.dtype,
                                device=layer.params.device), generator=generator)
                for k, layer in enumerate(self.work)]

    def anneal(self, states, betas: list[float], *, generator, bar) -> torch.Tensor:
        """Carry chains along ``betas``; returns their log importance weights (float64)."""
        log_w = torch.zeros(states[0].shape[0], dtype=torch.float64,
                            device=states[0].device)
        last = len(betas) - 1
        for k in range(1, len(betas)):
            odd_fields = self.fields(states, self.odd)
            log_w += self.log_ratio(states, odd_fields, betas[k - 1], betas[k])
            if k < last:
                states = self.sweep(states, odd_fields, betas[k], generator=generator)
            bar.update(1)
        return log_w


@torch.no_grad()
def ais_dbm(
    dbm: DBM,
    n_chains: int = 100,
    n_betas: int = PUBLISHED_N_BETAS,
    *,
    betas=None,
    base=None,
    generator: torch.Generator | None = None,
    chunk: int = 1000,
    progress: bool = True,
) -> AISResult:
    """Estimate ``log Z`` of a DBM by annealed importance sampling.

    Parameters
    ----------
    dbm : harmonium.DBM
    n_chains : int
        Independent annealing chains (>= 2).
    n_betas : int
        Steps of the published schedule (:func:`~harmonium.partition.ais.published_schedule`,
        default 14,500); ignored when ``betas`` is given.
    betas : array-like, shape (K + 1,), optional
        Explicit schedule, strictly increasing from 0 to 1.
    base : array-like data or None
        Data to fit the base model's independent visible layer to (recommended: the
        training data), or None for the DBM's own visible biases.
    generator : torch.Generator, optional
    chunk : int
        At most this many chains at once.
    progress : bool

    Returns
    -------
    AISResult
        ``log_z``, ``log_z_std_err``, ``log_weights`` (n_chains,), ``bracket()``.
    """
    if not isinstance(dbm, DBM):
        raise TypeError(f"ais_dbm needs a harmonium.DBM, got {type(dbm).__name__}")
    n_chains = check_positive_int(n_chains, "n_chains", minimum=2)
    chunk = check_positive_int(chunk, "chunk")
    schedule = _schedule(n_betas, betas)
    path = _DBMPath(copy.deepcopy(dbm).requires_grad_(False), base_rate(dbm.rbms[0], base))
    parts = []
    with tqdm(total=-(-n_chains // chunk) * (len(schedule) - 1), desc="AIS (DBM)",
              disable=not progress) as bar:
        for start in range(0, n_chains, chunk):
            states = path.sample_base(min(chunk, n_chains - start), generator=generator)
            parts.append(path.anneal(states, schedule, generator=generator, bar=bar))
    return _result(path, torch.cat(parts), len(schedule) - 1, reverse=False)
