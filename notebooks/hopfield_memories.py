# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Hopfield memories
#
# A Hopfield network stores patterns as the minima of an energy
# $E(x) = -\tfrac12 x^\top W x - b^\top x$ over states $x \in \{-1, +1\}^d$, and recalls
# one by letting a corrupted probe roll downhill, one unit at a time. This notebook
# follows the lecture:
#
# 1. store pictures, corrupt them, recall them, and watch the energy fall;
# 2. store handwritten digits, which are far from orthogonal;
# 3. measure the capacity against the load $\alpha = n / d$ for three storage rules;
# 4. look at the spurious states of an overloaded network and remove them by unlearning;
# 5. store the same digits in a modern Hopfield network, which keeps all 1,797 of them.
#
# Everything runs on bundled data (scikit-image pictures, scikit-learn's 8x8 digits) with
# small networks, one CPU thread, and fixed seeds: the whole notebook takes well under a
# minute on a laptop core. The numbers quoted in the text are those of this run.

# %%
# %matplotlib inline
import time

import numpy as np
import torch
from IPython.display import display

from harmonium import HopfieldNetwork, ModernHopfield
from harmonium.datasets import (
    half_mask,
    images_to_spins,
    load_digits,
    load_images,
    spins_to_images,
)
from harmonium.models.hopfield import random_patterns
from harmonium.plot import capacity_figure, energy_figure, image_grid
from harmonium.tasks.capacity import add_noise, capacity_curve

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
started = time.perf_counter()

# %% [markdown]
# ## 1. Pictures
#
# Six pictures from scikit-image, shrunk to 48x48 and cut at their median grey level,
# become six balanced patterns of $d = 2304$ spins (bright pixels $+1$). The
# pseudo-inverse rule (a projector onto the span of the patterns) makes every linearly
# independent set of patterns a fixed point, however much the pictures overlap.

# %%
names = ["camera", "astronaut", "horse", "coins", "text", "moon"]
size = (48, 48)
pictures = images_to_spins(load_images(names, size=48))  # (6, 2304) of +1/-1
net = HopfieldNetwork(pictures.shape[1], rule="pseudoinverse").store(pictures)
print(net)
print("overlaps between the stored pictures:")
print(np.round((pictures @ pictures.T / pictures.shape[1]).numpy(), 2))

# %% [markdown]
# Two kinds of probe: 25% of the pixels flipped at random, and the bottom half replaced by
# noise. Recall runs the asynchronous dynamics (units in random order, one at a time)
# until no unit wants to change.

# %%
noisy = add_noise(pictures, 0.25, generator=g)
hidden = ~half_mask(size, "bottom")
masked = pictures.clone()
masked[:, hidden] = random_patterns(len(pictures), int(hidden.sum()), generator=g)

from_noise = net.recall(noisy, generator=g, record_energy=True)
from_half = net.recall(masked, generator=g)
for what, result in [("25% flipped", from_noise), ("bottom half random", from_half)]:
    exact = (result.states == pictures).all(1)
    print(f"{what}: {int(exact.sum())}/{len(pictures)} recalled exactly, "
          f"sweeps {result.sweeps.tolist()}")

fig = image_grid(
    [spins_to_images(x, size) for x in
     (pictures, noisy, from_noise.states, masked, from_half.states)],
    row_labels=["stored", "25% flipped", "recalled", "half random", "recalled"],
    col_labels=names,
)
display(fig)

# %% [markdown]
# ### The energy falls
#
# With asynchronous updates a unit flips only if that lowers the energy, so $E$ never
# increases and the dynamics must stop at a local minimum. `record_energy=True` kept the
# energy of each probe after every block of single-unit updates:

# %%
fig = energy_figure(from_noise.steps, from_noise.energy, labels=names)
fig.axes[0].set_title("energy of each probe during recall (25% of pixels flipped)")
print("energy of the stored pictures:", net.energy(pictures).round().tolist())
display(fig)

# %% [markdown]
# ## 2. Digits: correlated patterns
#
# Ten handwritten digits, one of each class, thresholded at half intensity, are patterns
# of 64 spins. Unlike random patterns they overlap a lot (every digit has a dark
# border), which is what the Hebbian rule cannot stand: its crosstalk term grows with
# the overlaps. The pseudo-inverse rule removes the crosstalk exactly.

# %%
digits, labels = load_digits()  # (1797, 64) in [0, 1], labels 0..9
first_of_class = np.array([np.flatnonzero(labels == k)[0] for k in range(10)])
digit_spins = torch.tensor(np.where(digits[first_of_class] > 0.5, 1.0, -1.0),
                           dtype=torch.float32)  # (10, 64)
probes = add_noise(digit_spins, 0.1, generator=g)  # 6 of 64 pixels flipped

rows = [spins_to_images(digit_spins, (8, 8)), spins_to_images(probes, (8, 8))]
for rule in ["hebbian", "storkey", "pseudoinverse"]:
    digit_net = HopfieldNetwork(64, rule=rule).store(digit_spins)
    out = digit_net.recall(probes, generator=g)
    fixed = int(digit_net.is_fixed_point(digit_spins).sum())
    exact = int((out.states == digit_spins).all(1).sum())
    print(f"{rule:>13}: {fixed}/10 digits are fixed points, {exact}/10 recalled exactly")
    rows.append(spins_to_images(out.states, (8, 8)))

fig = image_grid(rows, row_labels=["stored", "10% flipped", "Hebbian", "Storkey",
                                   "pseudo-inverse"], cell=0.8)
display(fig)

# %% [markdown]
# ## 3. Capacity against load
#
# How many random patterns fit in $d$ units? For each load $\alpha = n / d$ we store $n$
# random patterns, start recall at each of them and count those that stay close
# (overlap $\ge 0.9$); the dotted lines count exact fixed points. The Hebbian network
# breaks down near the theoretical $\alpha_c = 0.138$ (Amit, Gutfreund and Sompolinsky
# 1985; finite networks hold a little more); Storkey's rule and the pseudo-inverse go
# much further. Here $d = 100$ with two trials per load, to stay quick; the benchmark in
# `benchmarks/hopfield_capacity.py` runs up to $d = 4000$.

# %%
loads = np.arange(1, 13) * 0.025
curves = [capacity_curve(100, loads, rule=rule, n_trials=2, generator=g, progress=False)
          for rule in ["hebbian", "storkey", "pseudoinverse"]]
for c in curves:
    print(f"{c.rule:>13}: recall falls below 50% at alpha = {c.crossing(0.5):.3f} "
          "(nan: never within the loads tried)")
fig = capacity_figure(curves)
display(fig)

# %% [markdown]
# ## 4. Spurious states and unlearning
#
# An overloaded Hebbian network has many more minima than memories: mixtures of three
# patterns, their negatives, and spin-glass states. Started from random states, most
# relaxations end in one of them. Hopfield, Feinstein and Palmer (1983) proposed that
# dreaming removes them: relax from a random state and *subtract* a little of the
# state it reaches ($W \leftarrow W - \eta\, x x^\top$). Spurious minima are reached
# more often than the memories, so they are flattened first; too much dreaming erases
# the memories as well.
#
# Ten random patterns in 100 units ($\alpha = 0.1$): we count how often relaxation from
# 300 random starts ends at a stored pattern (or its negative, which has the same
# energy), before and after rounds of 20 dreams with $\eta = 0.1$.

# %%
d, n = 100, 10
memories = random_patterns(n, d, generator=g)
dreamer = HopfieldNetwork(d, rule="hebbian", bias=False).store(memories)


def census(network, n_starts=300):
    """Fraction of random starts that end at a memory, and of memories that are fixed."""
    ends = network.recall(random_patterns(n_starts, d, generator=g), generator=g).states
    best_overlap = (ends @ memories.T / d).abs().max(1).values
    at_memory = (best_overlap == 1).float().mean().item()
    return at_memory, network.is_fixed_point(memories).float().mean().item()


history = [(0, *census(dreamer))]
for _ in range(6):
    dreamer.unlearn(20, 0.1, generator=g)
    history.append((history[-1][0] + 20, *census(dreamer)))
for dreams, at_memory, fixed in history:
    print(f"{dreams:4d} dreams: {at_memory:6.1%} of random starts end at a memory; "
          f"{fixed:6.1%} of the memories are fixed points")

# %% [markdown]
# The share of random starts that reach a memory climbs as the spurious basins are
# flattened; once the memories themselves start being unlearned, it collapses. The
# right amount of dreaming is a trade-off, which is why the idea stayed a curiosity
# for storage (and an intriguing theory of sleep).

# %%
dreams, at_memory, fixed = np.array(history).T
fig = energy_figure(dreams, np.stack([at_memory, fixed], 1),
                    labels=["random starts ending at a memory", "memories that are fixed points"],
                    xlabel="dreams (eta = 0.1)")
fig.axes[0].set_ylabel("fraction")
display(fig)

# %% [markdown]
# ## 5. Modern Hopfield networks on the same digits
#
# A modern Hopfield network (Ramsauer et al. 2020) retrieves with one softmax step,
# $\xi^{new} = X^\top \mathrm{softmax}(\beta\, \mathrm{sim}(X, \xi))$, and its capacity grows
# exponentially with $d$. The 64-unit classical network above holds about ten digits;
# the modern one keeps all 1,797 grey-level digits, and with a mask it compares the
# probe on the observed pixels only and fills in the rest.
#
# Probe: each stored digit with its bottom half hidden.

# %%
memory = ModernHopfield(beta=50.0, similarity="euclidean").store(digits)
observed = half_mask((8, 8), "bottom").expand(len(digits), 64)
completed = memory.recall(torch.tensor(digits, dtype=torch.float32), mask=observed)
own = (completed.weights.argmax(1) == torch.arange(len(digits))).float().mean().item()
same_class = (labels[completed.weights.argmax(1).numpy()] == labels).mean()
print(f"{len(digits)} digits stored in 64 units")
print(f"retrieved its own digit from the top half: {own:.1%}; a digit of the same class: "
      f"{same_class:.1%}")

# %% [markdown]
# With a large $\beta$ the softmax picks the stored digit closest on the observed pixels
# (`weights.argmax(1)` names it), so a top half that no other digit shares brings back
# its own digit. The same ten binarized digits of section 2, with 10% of their pixels
# flipped, come back in one step with the dot-product similarity:

# %%
spin_memory = ModernHopfield(beta=1.0, similarity="dot").store(digit_spins)
one_step = spin_memory.recall(probes)
print("exact recalls from 10% flipped:",
      int((one_step.states.sign() == digit_spins).all(1).sum()), "/ 10")

show = torch.arange(0, 1797, 180)
top_halves = torch.where(observed[show], torch.tensor(digits[show.numpy()]),
                         torch.tensor(0.5, dtype=torch.float64))
fig = image_grid(
    [digits[show.numpy()].reshape(-1, 8, 8), top_halves.numpy().reshape(-1, 8, 8),
     completed.states[show].numpy().reshape(-1, 8, 8)],
    row_labels=["stored", "top half", "completed"], cell=0.8)
display(fig)

# %%
print(f"notebook ran in {time.perf_counter() - started:.0f} s")
