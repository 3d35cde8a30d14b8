"""Annealed importance sampling (AIS) and reverse AIS estimates of an RBM's ``log Z``.

AIS (Neal 2001; Salakhutdinov and Murray 2008) moves chains from a tractable base
model ``p_0`` to the RBM ``p_K`` through the intermediate models

    p_k(v, h) ∝ exp(-(1 - beta_k) E_base(v, h) - beta_k E(v, h)),   0 = beta_0 < ... < beta_K = 1

where the base has no couplings: its visible layer is an independent-units model
(fitted to data, or the RBM's own visible biases) and its hidden layer is the RBM's
hidden layer with zero bias. Each unit energy is linear in its parameter tensor, so
every p_k is an RBM whose layer parameters are the linear interpolation of the base
and model parameters and whose weights are ``beta_k W`` (the same path as
:meth:`harmonium.RBM.annealed_from`). The hidden layer is summed out analytically:
chains carry visible states only and the importance weight of a chain is

    log w = sum_k [F_{k-1}(v_k) - F_k(v_k)],    F_k(v) = E_vis,k(v) - cgf_hid,k(beta_k v W)

with ``v_k`` produced by a block-Gibbs sweep that leaves ``p_k`` invariant. Then
``E[w] = Z_K / Z_0`` and ``log Z`` is estimated by ``log Z_0 + log mean w``: unbiased
for ``Z``, hence an underestimate of ``log Z`` in expectation (Jensen).

Reverse AIS (Burda, Grosse and Salakhutdinov 2015, RAISE) runs the same path
backwards from chains started at data: the weights estimate ``Z_0 / Z_K``, and
``log Z_0 - log mean w`` is a stochastic upper bound of ``log Z`` when the data are
(close to) samples of the model. Together they bracket ``log Z``.

The hot loop touches no ``nn.Module`` construction: a few work layers are created once
and their parameter tensors are overwritten in place at each inverse temperature.
Free-energy differences are accumulated in float64 whatever the model's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from harmonium import parallel
from harmonium._numerics import check_positive_int, logmeanexp
from harmonium.units import Units

__all__ = ["AISResult", "ais", "base_rate", "published_schedule", "reverse_ais"]

# Salakhutdinov and Murray (2008): 500 betas in [0, 0.5], 4,000 in [0.5, 0.9] and
# 10,000 in [0.9, 1]; ``n_betas`` rescales the three counts together.
_PUBLISHED = ((0.0, 0.5, 500), (0.5, 0.9, 4000), (0.9, 1.0, 10000))
PUBLISHED_N_BETAS = sum(n for _, _, n in _PUBLISHED)  # 14,500

def published_schedule(n_betas: int = PUBLISHED_N_BETAS) -> torch.Tensor:
    """The published AIS schedule (Salakhutdinov and Murray 2008), rescaled.

    Parameters
    ----------
    n_betas : int
        Total number of intermediate inverse temperatures (>= 3); 14,500 reproduces the
        published schedule: uniform spacing on [0, 0.5], [0.5, 0.9] and [0.9, 1] holding
        500 / 4,000 / 10,000 of every 14,500 points.

    Returns
    -------
    torch.Tensor, shape (n_betas + 1,), float64
        Strictly increasing inverse temperatures from 0 to 1.
    """
    n_betas = check_positive_int(n_betas, "n_betas", minimum=3)
    counts = [max(1, round(n * n_betas / PUBLISHED_N_BETAS)) for _, _, n in _PUBLISHED]
    counts[-1] = n_betas - counts[0] - counts[1]
    parts = [torch.zeros(1, dtype=torch.float64)]
    for (lo, hi, _), n in zip(_PUBLISHED, counts, strict=True):
        parts.append(torch.linspace(lo, hi, n + 1, dtype=torch.float64)[1:])
    return torch.cat(parts)


def _check_betas(betas) -> list[float]:
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    if b.numel() < 2:
        raise ValueError(f"betas must hold at least 2 values (0 and 1), got {b.numel()}")
    if not torch.isfinite(b).all():
        raise ValueError("betas contains NaN or infinite values")
    if b[0] != 0 or b[-1] != 1:
        raise ValueError(
            f"betas must start at 0 and end at 1, got {b[0].item():g} ... {b[-1].item():g}"
        )
    if not (b[1:] > b[:-1]).all():
        raise ValueError("betas must be strictly increasing")
    return b.tolist()


@torch.no_grad()
def base_rate(rbm, data=None) -> Units:
    """Independent-units visible layer used as the AIS base model.

    Parameters
    ----------
    rbm : harmonium.RBM
    data : array-like, shape (n_samples, *visible.shape), optional
        With data, the maximum-likelihood independent model of the data with a
        pseudo-count of 0.5 per state, as the visible layer fits it
        (:meth:`~harmonium.units.Units.fit_independent`: logits of the smoothed
        frequencies for two-state units, log smoothed frequencies for categorical
        ones, mean and variance for Gaussian ones). Without data, the RBM's own
        visible layer (its biases, no couplings).

    Returns
    -------
    Units
        A detached layer of the same type and shape as ``rbm.visible``.
    """
    vis = rbm.visible
    if data is None:
        return vis.with_params(vis.params.detach().clone())
    x = rbm.check_visible(data, "data").to(torch.float64)
    return vis.fit_independent(x).to(vis.params.dtype)


def _resolve_base(rbm, base) -> Units:
    if base is None or not isinstance(base, Units):
        return base_rate(rbm, base)
    if base.layout() != rbm.visible.layout():
        raise ValueError(
            f"base must be a layer like the visible one, {rbm.visible!r} (or data), "
            f"got {base!r}"
        )
    return base


def _work_layer(params: torch.Tensor, like: Units) -> Units:
    """A detached layer like ``like`` (same type and layout) holding a copy of ``params``."""
    return like.with_params(params.detach().clone())


class _Path:
    """The AIS path of an RBM from a base model: free energies and Gibbs sweeps at beta.

    Work layers are created once; :meth:`_set` overwrites their parameters in place.
    """

    def __init__(self, rbm, base: Units):
        vis, hid = rbm.visible, rbm.hidden
        dtype = vis.params.dtype
        self.rbm = rbm
        self.w2d = rbm.weight.detach().reshape(vis.params[0].numel(), -1)
        self.vis_shape, self.hid_shape = vis.shape, hid.shape
        hid_base = hid.annealing_start()  # zero bias; a Gaussian keeps its precision
        self.ends = {  # (start, end) parameters of each layer, sampling and scoring dtype
            "vis": (base.params.detach().to(dtype), vis.params.detach()),
            "hid": (hid_base, hid.params.detach()),
            "hid64": (hid_base.double(), hid.params.detach().double()),
        }
        self.vis = _work_layer(vis.params, vis)
        self.hid = _work_layer(hid.params, hid)
        self.hid64 = [_work_layer(hid.params.double(), hid) for _ in range(2)]
        self.base64 = _work_layer(base.params.double(), vis)
        self.model64 = _work_layer(vis.params.double(), vis)
        zero_v = torch.zeros(1, *vis.shape, dtype=torch.float64, device=vis.params.device)
        zero_h = torch.zeros(1, *hid.shape, dtype=torch.float64, device=hid.params.device)
        hid0 = _work_layer(hid_base.double(), hid)
        self.log_z_base = (self.base64.cgf(zero_v) + hid0.cgf(zero_h)).item()

    def _set(self, layer: Units, key: str, beta: float) -> Units:
        start, end = self.ends[key]
        torch.lerp(start, end, beta, out=layer.params.data)
        return layer

    def field(self, v: torch.Tensor) -> torch.Tensor:
        """Unscaled hidden input field ``v W``, shape (batch, *hidden.shape)."""
        return (v.flatten(1) @ self.w2d).view(v.shape[0], *self.hid_shape)

    def log_ratio(self, v, field, beta_a: float, beta_b: float) -> torch.Tensor:
        """``F_a(v) - F_b(v)`` in float64, shape (batch,)."""
        v64, f64 = v.double(), field.double()
        e_diff = self.base64.energy(v64) - self.model64.energy(v64)
        cgf_a = self._set(self.hid64[0], "hid64", beta_a).cgf(beta_a * f64)
        cgf_b = self._set(self.hid64[1], "hid64", beta_b).cgf(beta_b * f64)
        return (beta_b - beta_a) * e_diff + cgf_b - cgf_a

    def sweep(self, field, beta: float, *, generator) -> torch.Tensor:
        """One Gibbs sweep ``v -> h -> v'`` of ``p_beta`` given ``field = v W``."""
        h = self._set(self.hid, "hid", beta).sample_from_inputs(beta * field, generator=generator)
        inputs_v = (h.flatten(1) @ self.w2d.T).view(h.shape[0], *self.vis_shape)
        return self._set(self.vis, "vis", beta).sample_from_inputs(
            beta * inputs_v, generator=generator
        )

    def sample_base(self, n: int, *, generator) -> torch.Tensor:
        zeros = torch.zeros(n, *self.vis_shape, dtype=self.w2d.dtype, device=self.w2d.device)
        return self._set(self.vis, "vis", 0.0).sample_from_inputs(zeros, generator=generator)

    def anneal(self, v, betas: list[float], *, generator, pbar) -> torch.Tensor:
        """Carry chains ``v`` along ``betas``; returns ``sum_k F_{k-1}(v_k) - F_k(v_k)``."""
        log_w = torch.zeros(v.shape[0], dtype=torch.float64, device=v.device)
        last = len(betas) - 1
        for k in range(1, len(betas)):
            field = self.field(v)
            log_w += self.log_ratio(v, field, betas[k - 1], betas[k])
            if k < last:
                v = self.sweep(field, betas[k], generator=generator)
            pbar.update(1)
        return log_w


@dataclass(frozen=True)
class AISResult:
    """An AIS or reverse-AIS estimate of ``log Z``.

    Attributes
    ----------
    log_z : float
        The estimate: ``log Z_0 + log mean w`` (forward) or ``log Z_0 - log mean w``
        (reverse).
    log_z_std_err : float
        Delta-method standard error of ``log_z``: ``std(w) / (sqrt(n) mean(w))``.
    log_weights : torch.Tensor, shape (n_chains,), float64
        Per-chain log importance weights ``log w`` (on the model's device).
    log_z_base : float
        Exact ``log Z_0`` of the base model.
    n_betas : int
        Number of annealing steps (intermediate distributions).
    reverse : bool
        True for reverse AIS (an upper estimate), False for AIS (a lower estimate).
    """

    log_z: float
    log_z_std_err: float
    log_weights: torch.Tensor
    log_z_base: float
    n_betas: int
    reverse: bool

    @property
    def n_chains(self) -> int:
        return self.log_weights.shape[0]

    def bracket(self, k: float = 3.0) -> tuple[float, float]:
        """``log`` of the Monte-Carlo estimate of ``Z`` plus and minus ``k`` standard errors.

        Returns ``(low, high)``; ``low`` is ``-inf`` when ``k`` standard errors exceed
        the estimate itself (forward AIS) and ``high`` is ``+inf`` likewise (reverse).
        """
        r = k * self.log_z_std_err
        down = math.log1p(-r) if r < 1 else -math.inf
        up = math.log1p(r)
        if self.reverse:  # Z = Z_0 / mean(w): the interval of mean(w) is inverted
            return self.log_z - up, self.log_z - down
        return self.log_z + down, self.log_z + up

    def __repr__(self) -> str:
        kind = "reverse AIS" if self.reverse else "AIS"
        return (
            f"AISResult({kind}: log_z={self.log_z:.4f} ± {self.log_z_std_err:.4f}, "
            f"n_chains={self.n_chains}, n_betas={self.n_betas})"
        )


def _result(path: _Path, log_w: torch.Tensor, n_betas: int, reverse: bool) -> AISResult:
    lme = logmeanexp(log_w, 0).item()
    w = torch.exp(log_w - log_w.max())
    rel = (w.std() / (w.mean() * math.sqrt(w.numel()))).item()
    log_z = path.log_z_base - lme if reverse else path.log_z_base + lme
    return AISResult(log_z, rel, log_w, path.log_z_base, n_betas, reverse)


def _run(path, chunks, schedule, generator, progress, *, reverse) -> AISResult:
    """Anneal each chunk of chains along ``schedule``; collect the weights.

    ``chunks`` holds ``(rows, start)`` pairs: ``start(shard)`` gives the starting
    states of this rank's rows of the chunk. Under ``torch.distributed`` each rank
    anneals its rows with its slice of the chunk's draws and the weights are gathered,
    so every rank returns the single-process result (up to floating-point rounding).
    """
    n_steps = len(schedule) - 1
    desc = "reverse AIS" if reverse else "AIS"
    parts = []
    with tqdm(total=len(chunks) * n_steps, desc=desc,
              disable=not (progress and parallel.is_main())) as bar:
        for rows, start in chunks:
            shard = parallel.row_shard(rows)
            with parallel.draw_rows(shard):
                log_w = path.anneal(start(shard), schedule, generator=generator, pbar=bar)
            parts.append(parallel.gather_rows(log_w, rows))
    return _result(path, torch.cat(parts), n_steps, reverse)


def _schedule(n_betas, betas) -> list[float]:
    if betas is None:
        return published_schedule(n_betas).tolist()
    return _check_betas(betas)


@torch.no_grad()
def ais(
    rbm,
    n_chains: int = 100,
    n_betas: int = PUBLISHED_N_BETAS,
    *,
    betas=None,
    base=None,
    generator: torch.Generator | None = None,
    chunk: int = 1000,
    progress: bool = True,
) -> AISResult:
    """Estimate ``log Z`` of an RBM by annealed importance sampling.

    Parameters
    ----------
    rbm : harmonium.RBM
        Any visible unit type (Bernoulli, Spin, Gaussian, Categorical) and hidden layer.
    n_chains : int
        Number of independent annealing chains (>= 2).
    n_betas : int
        Number of intermediate distributions of the published schedule (default
        14,500, :func:`published_schedule`); ignored when ``betas`` is given.
    betas : array-like, shape (K + 1,), optional
        Explicit schedule: strictly increasing from 0 to 1.
    base : array-like data, Units, or None
        The base model's visible layer: data (shape (n, *visible.shape)) to fit a
        base-rate model to (recommended: the training data), a ready layer from
        :func:`base_rate`, or None for the RBM's own visible biases.
    generator : torch.Generator, optional
        Source of randomness (on the model's device).
    chunk : int
        At most this many chains are annealed at once (memory bound).
    progress : bool
        Show a progress bar.

    Returns
    -------
    AISResult
        ``log_z``, ``log_z_std_err``, ``log_weights`` (n_chains,), ``bracket()``.

    Notes
    -----
    Under ``torch.distributed`` (e.g. launched by ``torchrun``) the chains of each
    chunk are split across the ranks and their weights gathered: every rank returns
    the estimate of all ``n_chains`` chains, the same as one process would.

    Examples
    --------
    >>> from harmonium.partition import ais
    >>> result = ais(rbm, n_chains=100, base=train_data)  # doctest: +SKIP
    >>> result.log_z, result.bracket(3)  # doctest: +SKIP
    """
    n_chains = check_positive_int(n_chains, "n_chains", minimum=2)
    chunk = check_positive_int(chunk, "chunk")
    schedule = _schedule(n_betas, betas)
    path = _Path(rbm, _resolve_base(rbm, base))
    chunks = [(min(chunk, n_chains - i),
               lambda shard: path.sample_base(shard.local, generator=generator))
              for i in range(0, n_chains, chunk)]
    return _run(path, chunks, schedule, generator, progress, reverse=False)


@torch.no_grad()
def reverse_ais(
    rbm,
    data,
    n_betas: int = PUBLISHED_N_BETAS,
    *,
    betas=None,
    base=None,
    generator: torch.Generator | None = None,
    chunk: int = 1000,
    progress: bool = True,
) -> AISResult:
    """Stochastic upper estimate of ``log Z`` by reverse annealing from data (RAISE).

    Each row of ``data`` starts one chain at the model end of the path (the hidden
    layer is summed out exactly, which is the same as drawing ``h ~ p(h | v)``) and is
    annealed down to the base. Started from exact model samples the weights are
    unbiased for ``Z_0 / Z``, so ``log_z`` overestimates ``log Z`` in expectation;
    started from held-out data it is the conservative side of the AIS bracket
    (Burda, Grosse and Salakhutdinov 2015).

    Parameters
    ----------
    rbm : harmonium.RBM
    data : array-like, shape (n_chains, *visible.shape)
        Starting states, one chain each (at least 2), e.g. 100 test images.
    n_betas, betas, base, generator, chunk, progress
        As in :func:`ais`; ``base=None`` uses the RBM's own visible biases.

    Returns
    -------
    AISResult
        With ``reverse=True``.
    """
    v0 = rbm.check_visible(data, "data")
    if v0.shape[0] < 2:
        raise ValueError(f"reverse_ais needs at least 2 data rows (chains), got {v0.shape[0]}")
    chunk = check_positive_int(chunk, "chunk")
    schedule = _schedule(n_betas, betas)[::-1]
    path = _Path(rbm, _resolve_base(rbm, base))
    chunks = [(v.shape[0], lambda shard, v=v: v.narrow(0, shard.offset, shard.local))
              for v in v0.split(chunk)]
    return _run(path, chunks, schedule, generator, progress, reverse=True)
