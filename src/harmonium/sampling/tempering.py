"""Parallel tempering (replica exchange) for RBMs.

A ladder of inverse temperatures ``1 = beta_0 > beta_1 > ... > beta_{T-1} > 0`` holds
one replica of every chain per temperature, each distributed as
``p_beta(v) ∝ exp(-F_beta(v))``, the marginal of the RBM whose energy is scaled by
``beta`` (:meth:`harmonium.RBM.scaled`). Hot replicas cross energy barriers; a step is
``k`` block-Gibbs sweeps at every temperature followed by Metropolis swaps of adjacent
replicas (even pairs on even steps, odd pairs on odd steps), accepted with probability

    min(1, exp(F_a(x_a) + F_b(x_b) - F_a(x_b) - F_b(x_a)))

for neighbours ``a``, ``b`` holding states ``x_a``, ``x_b``. Every move leaves the product
of the tempered marginals invariant, so the ``beta = 1`` replicas sample the model
(Swendsen and Wang 1986; Geyer 1991; for RBM training Desjardins et al. 2010).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from harmonium._numerics import check_positive_int

__all__ = ["ParallelTempering", "check_ladder", "default_ladder"]


def default_ladder(n_temperatures: int = 10) -> torch.Tensor:
    """Inverse temperatures evenly spaced from 1 down to ``1 / n_temperatures``.

    Returns
    -------
    torch.Tensor, shape (n_temperatures,), float64
    """
    n = check_positive_int(n_temperatures, "n_temperatures", minimum=2)
    return torch.linspace(1.0, 1.0 / n, n, dtype=torch.float64)


def check_ladder(betas) -> list[float]:
    """Validate a ladder: starts at 1, strictly decreasing, every value in (0, 1]."""
    if isinstance(betas, int) and not isinstance(betas, bool):
        return default_ladder(betas).tolist()
    try:
        b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"betas must be a sequence of floats, got {type(betas).__name__}") from exc
    if b.numel() < 2:
        raise ValueError(f"betas must hold at least 2 inverse temperatures, got {b.numel()}")
    if not torch.isfinite(b).all() or b[0] != 1 or (b <= 0).any():
        raise ValueError(f"betas must start at 1 and lie in (0, 1], got {b.tolist()}")
    if not (b[1:] < b[:-1]).all():
        raise ValueError(f"betas must be strictly decreasing, got {b.tolist()}")
    return b.tolist()


class ParallelTempering:
    """Replica-exchange sampler with swap diagnostics.

    Parameters
    ----------
    betas : int or sequence of float
        Inverse temperatures, ``betas[0] = 1`` (the model) and strictly decreasing in
        (0, 1]; an int ``T`` means :func:`default_ladder` of ``T`` temperatures.
    n_chains : int
        Number of independent replica sets (chains at ``beta = 1``).
    k : int
        Gibbs sweeps per temperature between swap attempts.

    Attributes
    ----------
    chains : torch.Tensor or None, shape (n_temperatures, n_chains, *visible.shape)
        Current replicas, ``chains[0]`` at ``beta = 1``; created on the first step from the
        independent visible units of each tempered model.
    attempts, accepts : torch.Tensor, shape (n_temperatures - 1,)
        Swap attempts and acceptances of each adjacent pair (counted per chain).
    expected_accepts : torch.Tensor, shape (n_temperatures - 1,)
        Sum of the acceptance probabilities (a lower-variance swap-rate estimate).

    Examples
    --------
    >>> from harmonium.sampling import ParallelTempering
    >>> pt = ParallelTempering(betas=8, n_chains=100)
    >>> samples = pt.run(rbm, 1000, generator=g)  # doctest: +SKIP
    >>> pt.swap_rates  # doctest: +SKIP
    """

    def __init__(self, betas=10, n_chains: int = 100, k: int = 1):
        self.betas = check_ladder(betas)
        self.n_chains = check_positive_int(n_chains, "n_chains")
        self.k = check_positive_int(k, "k")
        self.chains: torch.Tensor | None = None
        self.n_steps = 0
        self.reset_statistics()

    def __repr__(self) -> str:
        return (
            f"ParallelTempering(n_temperatures={len(self.betas)}, n_chains={self.n_chains}, "
            f"k={self.k})"
        )

    def reset_statistics(self) -> None:
        """Zero the swap counters."""
        n_pairs = len(self.betas) - 1
        self.attempts = torch.zeros(n_pairs, dtype=torch.float64)
        self.accepts = torch.zeros(n_pairs, dtype=torch.float64)
        self.expected_accepts = torch.zeros(n_pairs, dtype=torch.float64)

    @property
    def swap_rates(self) -> torch.Tensor:
        """Fraction of accepted swaps per adjacent pair, shape (n_temperatures - 1,)."""
        return self.accepts / self.attempts.clamp_min(1)

    # ----- moves ----------------------------------------------------------------------
    def _init_chains(self, rbm, generator) -> torch.Tensor:
        p = rbm.visible.params
        zeros = torch.zeros(self.n_chains, *rbm.visible.shape, dtype=p.dtype, device=p.device)
        layers = [rbm.visible.scaled(b) for b in self.betas]
        return torch.stack([u.sample_from_inputs(zeros, generator=generator) for u in layers])

    def _check_chains(self, rbm) -> None:
        c, p = self.chains, rbm.visible.params
        expected = (len(self.betas), self.n_chains, *rbm.visible.shape)
        if tuple(c.shape) != expected:
            raise ValueError(f"chains must have shape {expected}, got {tuple(c.shape)}")
        if c.device != p.device or c.dtype != p.dtype:
            self.chains = c.to(device=p.device, dtype=p.dtype)

    @torch.no_grad()
    def step(self, rbm, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One PT step: ``k`` Gibbs sweeps at every temperature, then one swap round.

        Returns
        -------
        torch.Tensor, shape (n_chains, *visible.shape)
            The ``beta = 1`` replicas (a view of ``chains[0]``).
        """
        if self.chains is None:
            self.chains = self._init_chains(rbm, generator)
        self._check_chains(rbm)
        models = [rbm.scaled(b) for b in self.betas]
        chains = torch.stack([
            m.gibbs(c, self.k, generator=generator)
            for m, c in zip(models, self.chains, strict=True)
        ])
        self.chains = self._swap(rbm, models, chains, generator)
        self.n_steps += 1
        return self.chains[0]

    def _swap(self, rbm, models, chains, generator) -> torch.Tensor:
        n_temps = len(self.betas)
        first = self.n_steps % 2
        pairs = list(range(first, n_temps - 1, 2))
        if not pairs:
            return chains
        flat = chains.flatten(0, 1)
        field = rbm.inputs_h_from_v(flat).view(n_temps, self.n_chains, *rbm.hidden.shape)

        def free(t, s):  # free energy at temperature t of the replicas held at s
            b = self.betas[t]
            return models[t].visible.energy(chains[s]) - models[t].hidden.cgf(b * field[s])

        out = chains.clone()
        for a in pairs:
            b = a + 1
            log_acc = free(a, a) + free(b, b) - free(a, b) - free(b, a)
            u = torch.rand(log_acc.shape, generator=generator, dtype=log_acc.dtype,
                           device=log_acc.device)
            accept = torch.log(u) < log_acc
            mask = accept.view(-1, *([1] * (chains.ndim - 2)))
            out[a] = torch.where(mask, chains[b], chains[a])
            out[b] = torch.where(mask, chains[a], chains[b])
            self.attempts[a] += self.n_chains
            self.accepts[a] += accept.sum().item()
            self.expected_accepts[a] += log_acc.clamp(max=0).exp().sum().item()
        return out

    def run(
        self,
        rbm,
        n_steps: int,
        *,
        generator: torch.Generator | None = None,
        progress: bool = True,
    ) -> torch.Tensor:
        """Run ``n_steps`` PT steps; returns the ``beta = 1`` replicas.

        Parameters
        ----------
        rbm : harmonium.RBM
        n_steps : int
        generator : torch.Generator, optional
        progress : bool
            Show a progress bar with the mean swap rate.

        Returns
        -------
        torch.Tensor, shape (n_chains, *visible.shape)
        """
        n_steps = check_positive_int(n_steps, "n_steps")
        with tqdm(range(n_steps), desc="tempering", disable=not progress) as bar:
            for _ in bar:
                v = self.step(rbm, generator=generator)
                if progress:
                    bar.set_postfix(swap=f"{self.swap_rates.mean().item():.2f}", refresh=False)
        return v

    # ----- persistence ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Chains, step count and swap counters (empty chains before the first step)."""
        state = {
            "betas": list(self.betas),
            "n_steps": self.n_steps,
            "attempts": self.attempts,
            "accepts": self.accepts,
            "expected_accepts": self.expected_accepts,
        }
        if self.chains is not None:
            state["chains"] = self.chains
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        betas = check_ladder(state["betas"])
        chains = state.get("chains")
        if chains is not None and (
            not isinstance(chains, torch.Tensor) or chains.shape[0] != len(betas)
        ):
            raise ValueError("tempering chains must be a tensor with one row per temperature")
        self.betas = betas
        self.chains = None if chains is None else chains.clone()
        if chains is not None:
            self.n_chains = chains.shape[1]
        self.n_steps = int(state["n_steps"])
        for name in ("attempts", "accepts", "expected_accepts"):
            setattr(self, name, torch.as_tensor(state[name], dtype=torch.float64).clone())
