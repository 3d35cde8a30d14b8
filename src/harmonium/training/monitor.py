"""Metrics watched during training, computed on fixed subsets at the end of each epoch."""

from __future__ import annotations

import torch

from harmonium.partition.pseudo import pseudo_log_likelihood

__all__ = ["MONITOR_SITES", "epoch_metrics", "monitor_subset", "reconstruction_error"]

# sites per sample of the monitor's pseudo-likelihood estimate: with fit's default 256
# samples its cost is a fraction of a percent of a 20,000-row MNIST epoch
# (docs/performance.md), where the exact sum over 784 sites cost a third of it
MONITOR_SITES = 8


def monitor_subset(data: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` evenly spaced rows of ``data`` (no randomness), shape (<= size, ...)."""
    if size >= data.shape[0]:
        return data
    idx = torch.linspace(0, data.shape[0] - 1, size, device=data.device).round().long()
    return data[idx]


@torch.no_grad()
def reconstruction_error(rbm, v: torch.Tensor) -> float:
    """Mean squared error of the mean-field reconstruction ``E[v | E[h | v]]`` per entry."""
    return (rbm.mean_v_from_h(rbm.mean_h_from_v(v)) - v).square().mean().item()


@torch.no_grad()
def epoch_metrics(rbm, train: torch.Tensor, held_out: torch.Tensor | None) -> dict[str, float]:
    """Reconstruction error, exact pseudo-log-likelihood and the free-energy gap.

    Parameters
    ----------
    rbm : harmonium.RBM
    train : torch.Tensor, shape (n, *visible.shape)
        Subset of the training data.
    held_out : torch.Tensor or None, shape (m, *visible.shape)
        Subset of validation data.

    Returns
    -------
    dict
        ``recon_error``; ``pseudo_ll`` (mean nats per sample, discrete visible units,
        two-state mean data rounded first; estimated from :data:`MONITOR_SITES` sites
        per sample, see :func:`~harmonium.partition.pseudo.pseudo_log_likelihood`);
        with ``held_out`` also ``val_pseudo_ll`` and ``free_energy_gap`` =
        mean F(held_out) - mean F(train) (grows when the model overfits).
    """
    out = {"recon_error": reconstruction_error(rbm, train)}
    disc = rbm.visible.discretize(train)
    if disc is not None:
        out["pseudo_ll"] = pseudo_log_likelihood(rbm, disc, sites=MONITOR_SITES).mean().item()
    if held_out is not None:
        disc_val = rbm.visible.discretize(held_out)
        if disc_val is not None:
            out["val_pseudo_ll"] = pseudo_log_likelihood(rbm, disc_val,
                                                         sites=MONITOR_SITES).mean().item()
        gap = rbm.free_energy_visible(held_out).mean() - rbm.free_energy_visible(train).mean()
        out["free_energy_gap"] = gap.item()
    return out
