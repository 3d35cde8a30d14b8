"""What the associative memories share: one interface, one result, one sign.

:class:`~harmonium.HopfieldNetwork`, :class:`~harmonium.DenseAssociativeMemory` and
:class:`~harmonium.ModernHopfield` are all :class:`AssociativeMemory`:

- ``store(patterns)`` stores patterns (n, d) and returns the memory (the binary
  memories add them to what they hold; ``ModernHopfield`` replaces its patterns unless
  ``append=True``),
- ``recall(probes, mode=..., max_sweeps=..., generator=...)`` runs the memory's dynamics
  from each probe (n, d) and returns a :class:`RecallResult`,
- ``energy(states)`` is the energy (n,) that the dynamics descend,

and say what they hold through ``n_features`` (the width d), ``state_space`` (``"spin"``
for +1/-1 states, ``"real"`` for real vectors) and ``modes`` (the dynamics ``recall``
offers, its default first). Code that needs only these (the command line, benchmarks,
demos) calls them without asking which memory it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["AssociativeMemory", "RecallResult"]


@dataclass
class RecallResult:
    """Outcome of :meth:`AssociativeMemory.recall`.

    Attributes
    ----------
    states : torch.Tensor, shape (n, d)
        Final states (+1/-1 for the binary memories, real vectors for the modern one).
    converged : torch.Tensor of bool, shape (n,)
        True where the final state is a fixed point of the dynamics (modern memory: it
        moved by at most ``tol`` in the last step).
    sweeps : torch.Tensor of int64, shape (n,)
        Sweeps (passes over all units; one parallel step in ``"sync"`` mode) that changed
        the state; a probe that already is a fixed point has 0. The modern memory counts
        the update steps it applied, the same for every probe of the batch.
    cycled : torch.Tensor of bool, shape (n,)
        ``"sync"`` mode of the binary memories: True where the dynamics entered a 2-cycle
        (the state returned is one of its two states). False otherwise.
    energy : torch.Tensor, shape (n_records, n), optional
        With ``record_energy=True`` (classical network): energy of every probe after each
        recorded step (the first row is the probes' energy).
    steps : torch.Tensor of int64, shape (n_records,), optional
        Number of single-unit updates (async) or parallel steps (sync) at each record.
    weights : torch.Tensor, shape (n, m), optional
        Modern memory: softmax weights of the last step over the m stored patterns;
        ``weights.argmax(1)`` is the index of the retrieved pattern.
    """

    states: torch.Tensor
    converged: torch.Tensor
    sweeps: torch.Tensor
    cycled: torch.Tensor
    energy: torch.Tensor | None = None
    steps: torch.Tensor | None = None
    weights: torch.Tensor | None = None


class AssociativeMemory(ABC):
    """Interface of the associative memories (see the module docstring).

    Attributes
    ----------
    state_space : {"spin", "real"}
        What a state is: +1/-1 units, or a real vector.
    modes : tuple of str
        The dynamics :meth:`recall` offers through ``mode=``; the first is its default.
    """

    state_space: str = "spin"
    modes: tuple[str, ...] = ("async",)

    @property
    @abstractmethod
    def n_features(self) -> int:
        """Width d of the stored patterns and of every state."""

    @abstractmethod
    def store(self, patterns) -> AssociativeMemory:
        """Store patterns, shape (n, d) or (d,), in the memory; return the memory."""

    @abstractmethod
    def recall(self, probes, mode=None, max_sweeps=None, *, generator=None) -> RecallResult:
        """Run the dynamics from each probe, shape (n, d) or (d,)."""

    @abstractmethod
    def energy(self, states) -> torch.Tensor:
        """Energy of each state, shape (n,)."""

    def _check_mode(self, mode: str) -> str:
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {self.modes} for {type(self).__name__}, "
                             f"got {mode!r}")
        return mode


def sign(h: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1, in the dtype of ``h``."""
    return torch.where(h >= 0, 1.0, -1.0).to(h.dtype)


def recall_sync(
    step: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    max_sweeps: int,
    energy: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> RecallResult:
    """Synchronous +1/-1 dynamics ``x <- step(x)`` with 2-cycle detection, in place on x.

    Parameters
    ----------
    step : callable
        Maps states (k, d) to their synchronous update (k, d).
    x : torch.Tensor, shape (n, d)
        Starting states; overwritten with the final ones.
    max_sweeps : int
        Most parallel steps.
    energy : callable, optional
        Maps states (n, d) to energies (n,): recorded after every step.

    Returns
    -------
    RecallResult
    """
    n = x.shape[0]
    converged = torch.zeros(n, dtype=torch.bool, device=x.device)
    cycled = torch.zeros_like(converged)
    sweeps = torch.full((n,), max_sweeps, dtype=torch.int64, device=x.device)
    previous = torch.zeros_like(x)  # matches no +1/-1 state
    active = torch.arange(n, device=x.device)
    energies = [] if energy is None else [energy(x)]
    for sweep in range(max_sweeps + 1):
        xa = x[active]
        new = step(xa)
        fixed = (new == xa).all(1)
        cycle = (new == previous[active]).all(1) & ~fixed
        stop = fixed | cycle
        converged[active[fixed]] = True
        cycled[active[cycle]] = True
        sweeps[active[stop]] = sweep
        if sweep == max_sweeps:
            break
        move = active[~stop]
        previous[move] = x[move]
        x[move] = new[~stop]
        active = move
        if energy is not None:
            energies.append(energy(x))
        if active.numel() == 0:
            break
    result = RecallResult(x, converged, sweeps, cycled)
    if energy is not None:
        result.energy = torch.stack(energies)
        result.steps = torch.arange(len(energies), dtype=torch.int64)
    return result
