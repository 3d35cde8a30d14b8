"""Parallel-tempering training method PT (Desjardins, Courville, Bengio, Vincent and
Delalleau 2010): persistent chains on a ladder of temperatures, swapped between
neighbours, whose ``beta = 1`` replicas give the negative phase.

It follows the training-method protocol of :mod:`harmonium.training.methods`.
"""

from __future__ import annotations

import torch

from harmonium import parallel
from harmonium.sampling.tempering import ParallelTempering

__all__ = ["PT"]


class PT:
    """Negative phase from persistent parallel-tempering chains.

    Parameters
    ----------
    n_chains : int
        Number of persistent replica sets (negative samples per update).
    betas : int or sequence of float
        Inverse-temperature ladder starting at 1 (see
        :class:`harmonium.sampling.ParallelTempering`); an int is a number of evenly
        spaced temperatures.
    k : int
        Gibbs sweeps per temperature per update.

    Attributes
    ----------
    sampler : ParallelTempering
        The chains and their swap statistics (``sampler.swap_rates``).

    Examples
    --------
    >>> from harmonium.training.tempering import PT
    >>> PT(100, betas=5)
    PT(n_chains=100, n_temperatures=5, k=1)
    """

    def __init__(self, n_chains: int = 100, betas=10, k: int = 1):
        self.sampler = ParallelTempering(betas, n_chains, k)

    def __repr__(self) -> str:
        s = self.sampler
        return f"PT(n_chains={s.n_chains}, n_temperatures={len(s.betas)}, k={s.k})"

    @torch.no_grad()
    def negative(self, rbm, v_data, inputs_h, *, generator=None):
        """One tempering step; the ``beta = 1`` replicas, shape ``(n_chains, *visible.shape)``."""
        if parallel.world()[1] > 1:
            raise ValueError("PT is not data-parallel yet: train with PT in one process")
        return self.sampler.step(rbm, generator=generator).clone()

    def state_dict(self) -> dict:
        """The sampler's chains, step count and swap counters."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore chains saved by :meth:`state_dict`."""
        self.sampler.load_state_dict(state)
