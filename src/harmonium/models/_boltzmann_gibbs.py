"""Gibbs sweeps and mean field of a Boltzmann machine (the machine checks the inputs).

Unit ``i`` given all the others has field ``h_i = (xW + b)_i`` and
``p(x_i = high) = sigmoid((high - low) h_i / T)``. Units of one colour class share no
coupling, so a block of them is resampled at once; after each block the fields are
updated by the change of its states, ``h += dx W[block]``.
"""

from __future__ import annotations

import torch

from harmonium._numerics import check_positive_int, generator_device
from harmonium.models._boltzmann_structure import check_temperature, check_unit_indices

__all__ = [
    "check_run",
    "gibbs_in_place",
    "mean_field_hidden",
    "random_states",
    "sweep_schedule",
    "two_state_update",
]


def check_run(sweeps, temperature) -> tuple[int, float | None]:
    """Validate the length (``sweeps >= 1``) and temperature (``>= 0`` or None) of a run."""
    sweeps = check_positive_int(sweeps, "sweeps")
    if temperature is not None:
        temperature = check_temperature(temperature, allow_zero=True)
    return sweeps, temperature


def two_state_update(field: torch.Tensor, low: float, high: float, temperature: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """New states of units with fields ``field`` (batch, k) at ``temperature``.

    At ``temperature == 0`` every unit takes its most probable state (ties to
    ``high``); otherwise it is ``high`` with probability ``sigmoid((high - low) h / T)``.

    Returns
    -------
    torch.Tensor, shape (batch, k)
    """
    if temperature == 0:
        return torch.where(field >= 0, high, low).to(field.dtype)
    p_high = torch.sigmoid((high - low) * field / temperature)
    u = torch.rand(p_high.shape, generator=generator, dtype=p_high.dtype,
                   device=p_high.device)
    return torch.where(u < p_high, high, low).to(p_high.dtype)


def random_states(bm, n_samples: int, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Uniformly random states of ``bm``'s units, shape (n_samples, n).

    The bits are drawn on the generator's device, then moved to ``bm``'s device and dtype.
    """
    low, high = bm.layer.low, bm.layer.high
    bits = torch.randint(0, 2, (n_samples, bm.n_units), generator=generator,
                         device=generator_device(generator))
    return (low + (high - low) * bits).to(bm.weight)


def sweep_schedule(bm, free=None, order=None) -> list[torch.Tensor]:
    """The blocks of unit indices one sweep of ``bm`` updates, in order.

    Parameters
    ----------
    bm : BoltzmannMachine
    free : sequence of int, optional
        Only these units are resampled (the colour classes restricted to them).
    order : 1-D integer sequence, optional
        One unit at a time in this order (overrides ``free`` and the colour classes).

    Returns
    -------
    list of torch.Tensor of int64, on the device of ``bm.weight``
    """
    dev = bm.weight.device
    if order is not None:
        return [i.reshape(1).to(dev) for i in check_unit_indices(order, bm.n_units, "order")]
    if free is None:
        return [b.to(dev) for b in bm.blocks]
    keep = torch.zeros(bm.n_units, dtype=torch.bool)
    keep[check_unit_indices(free, bm.n_units, "free")] = True
    blocks = [b[keep[b]] for b in bm.blocks]
    return [b.to(dev) for b in blocks if b.numel()]


def gibbs_in_place(bm, x: torch.Tensor, sweeps: int, schedule: list[torch.Tensor],
                   temperature: float, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """Run ``sweeps`` sweeps of ``schedule`` on the states ``x`` (batch, n), in place.

    Returns
    -------
    torch.Tensor, shape (batch, n)
        ``x`` itself.
    """
    low, high = bm.layer.low, bm.layer.high
    w, b = bm.weight, bm.bias
    h = x @ w + b
    for _ in range(sweeps):
        for block in schedule:
            new = two_state_update(h[:, block], low, high, temperature, generator)
            change = new - x[:, block]
            x[:, block] = new
            h += change @ w[block]
    return x


def mean_field_hidden(bm, v: torch.Tensor, steps: int, damping: float) -> torch.Tensor:
    """Damped naive mean field of the hidden units given visible states (batch, n_visible).

    Returns
    -------
    torch.Tensor, shape (batch, n_hidden)
        The means ``E[x_h]`` after ``steps`` iterations (the first one undamped).
    """
    nv = bm.n_visible
    low, high = bm.layer.low, bm.layer.high
    w = bm.weight
    base = v @ w[:nv, nv:] + bm.bias[nv:]
    mu = torch.zeros_like(base)
    for step in range(steps):
        field = base + mu @ w[nv:, nv:]
        new = low + (high - low) * torch.sigmoid((high - low) * field / bm.temperature)
        mu = new if step == 0 else damping * mu + (1 - damping) * new
    return mu
