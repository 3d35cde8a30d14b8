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
# # Boltzmann machines
#
# A restricted Boltzmann machine (RBM) puts a probability on every visible vector $v$
# through a layer of hidden units $h$: $p(v, h) = e^{-E(v, h)} / Z$ with
# $E(v, h) = -b^\top v - c^\top h - v^\top W h$. Summing out $h$ gives the free energy
# $F(v)$ and $p(v) = e^{-F(v)} / Z$. This notebook trains RBMs on handwritten digits and
# looks at everything the lecture shows:
#
# 1. an RBM on digits: training curves, the free energy as an anomaly score, filters;
# 2. generation and inpainting by Gibbs sampling;
# 3. contrastive divergence (CD) against persistent CD (PCD) and parallel tempering (PT),
#    scored by the *exact* log-likelihood of a model small enough to enumerate;
# 4. annealed importance sampling (AIS): the log-likelihood of a model too big to
#    enumerate, with its bracket;
# 5. a deep belief net (DBN) with labels, its classification and its dreams.
#
# Data: scikit-learn's 8x8 digits (bundled), thresholded at half intensity: 1,500 for
# training, 297 held out. Models are small and trained for few epochs so that the whole
# notebook runs in about a minute on one CPU core; the benchmark pages show the same
# methods at MNIST scale.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

import harmonium
from harmonium.datasets import half_mask, load_digits
from harmonium.partition import (
    ais,
    log_likelihood,
    log_likelihood_exact,
    log_partition_exact,
    reverse_ais,
)
from harmonium.plot import filters_figure, image_grid
from harmonium.sampling import ParallelTempering
from harmonium.units import Bernoulli

torch.set_num_threads(1)
started = time.perf_counter()

digits, labels = load_digits()  # (1797, 64) grey levels in [0, 1], labels 0..9
v = torch.tensor(digits > 0.5, dtype=torch.float32)  # binary pixels
train, test = v[:1500], v[1500:]
print("train", tuple(train.shape), "test", tuple(test.shape))


def as_images(x):
    """(n, 64) tensor -> (n, 8, 8) array for image_grid."""
    return np.asarray(x, dtype=float).reshape(-1, 8, 8)


# %% [markdown]
# ## 1. An RBM on digits
#
# 64 binary visible units (the pixels), 100 binary hidden units, trained by persistent
# contrastive divergence with 100 fantasy chains, 20 epochs of mini-batches of 20 at
# learning rate 0.01 (PCD's persistent chains need a small one). The
# progress bar is switched off here; `fit` returns the history of the metrics it
# monitors after each epoch (reconstruction error, exact pseudo-log-likelihood, and with
# validation data the free-energy gap, which grows when the model overfits).

# %%
g = torch.Generator().manual_seed(0)
rbm = harmonium.RBM(Bernoulli(64), Bernoulli(100), generator=g)
history = harmonium.fit(rbm, train, harmonium.PCD(100), epochs=20, batch_size=20, lr=0.01,
                        momentum=0.5, generator=g, validation_data=test, progress=False)
print(rbm)
print("metrics per epoch:", history.metrics)
display(history.plot(["recon_error", "pseudo_ll", "val_pseudo_ll", "free_energy_gap"]))

# %% [markdown]
# ### The free energy
#
# $F(v)$ is $-\log p(v)$ up to the constant $\log Z$: low for digits, high for anything
# the model has not seen. Scrambling the pixels of test digits (same number of ink
# pixels, wrong places) or drawing random pixels moves them far up, so the free energy
# is a ready anomaly score.

# %%
scrambled = test[:, torch.randperm(64, generator=g)]
noise = (torch.rand(test.shape, generator=g) < train.mean()).float()
with torch.no_grad():
    scores = {"test digits": rbm.free_energy(test), "scrambled pixels": rbm.free_energy(scrambled),
              "random pixels": rbm.free_energy(noise)}
fig, ax = plt.subplots(figsize=(6, 3))
for name, f in scores.items():
    ax.hist(f.numpy(), bins=40, alpha=0.6, label=f"{name} (mean {f.mean():.1f})")
ax.set_xlabel("free energy F(v)")
ax.set_ylabel("images")
ax.legend()
plt.show()

# %% [markdown]
# ### Filters
#
# Each hidden unit's 64 weights, drawn as an 8x8 image (contrast stretched per unit):
# strokes and blobs that the digits are built from.

# %%
display(filters_figure(rbm.weight.detach(), (8, 8), n_cols=20, max_filters=60, cell=0.45))

# %% [markdown]
# ## 2. Generation and inpainting
#
# `harmonium.generate` runs independent block-Gibbs chains $v \to h \to v$ from
# data-free starts (random pixels drawn from the visible biases) and returns the last
# state's means. Plain Gibbs chains move slowly between the modes of a sharp model;
# parallel tempering runs copies at higher temperatures, where the landscape is flatter,
# and swaps states between neighbours, so the chains at temperature 1 keep visiting new
# digits. Top row: ten Gibbs chains after 1000 sweeps (means of the last step); bottom
# row: the temperature-1 chains of a 6-temperature ladder after 300 steps (binary
# samples).

# %%
gibbs = harmonium.generate(rbm, 10, steps=1000, generator=g, mean=True)
tempering = ParallelTempering(betas=6, n_chains=10)
tempered = tempering.run(rbm, 300, generator=g, progress=False)
print("swap acceptance between neighbouring temperatures:",
      np.round(tempering.swap_rates.numpy(), 2))
display(image_grid([as_images(gibbs), as_images(tempered)],
                   row_labels=["Gibbs", "tempering"], cell=0.8))

# %% [markdown]
# Inpainting clamps the observed pixels and samples the rest from
# $p(v_{\text{hidden}} \mid v_{\text{observed}})$. Here the bottom half of ten test digits
# is hidden (drawn grey) and filled in by 200 sweeps: sampled (one binary draw of the
# missing pixels), and by the deterministic mean-field iteration (their probabilities).

# %%
observed = half_mask((8, 8), "bottom")  # True = observed
examples = test[:10]
filled = harmonium.inpaint(rbm, examples, observed, steps=200, generator=g)
smooth = harmonium.inpaint(rbm, examples, observed, steps=200, mean_field=True)
shown = torch.where(observed, examples, torch.tensor(0.5))
display(image_grid([as_images(x) for x in (examples, shown, filled, smooth)],
                   row_labels=["test digit", "top half", "sampled", "mean field"], cell=0.8))

# %% [markdown]
# ## 3. CD, PCD and parallel tempering, scored exactly
#
# A log-likelihood needs $\log Z$, a sum over every state. With 16 hidden units the sum
# over the $2^{16}$ hidden states is exact (`log_partition_exact` enumerates the
# smaller layer), so we can compare training methods without estimation error. Three
# RBMs with the same seed, 10 epochs each, batches of 50:
#
# - **CD-1**: negative samples from one Gibbs step started at the data;
# - **PCD**: persistent chains that carry on between updates (Tieleman 2008);
# - **PT**: persistent chains with parallel tempering (4 temperatures).

# %%
small = {}
for name, method in [("CD-1", harmonium.CD(1)), ("PCD", harmonium.PCD(100)),
                     ("PT", harmonium.PT(50, betas=4))]:
    gen = torch.Generator().manual_seed(0)
    model = harmonium.RBM(Bernoulli(64), Bernoulli(16), generator=gen)
    t0 = time.perf_counter()
    harmonium.fit(model, train, method, epochs=10, batch_size=50, lr=0.1, momentum=0.5,
                  generator=gen, progress=False, monitor=0)
    seconds = time.perf_counter() - t0
    log_z = log_partition_exact(model)
    small[name] = model
    print(f"{name:>5}: log Z = {float(log_z):8.3f}   "
          f"train {log_likelihood_exact(model, train, log_z).mean():7.3f}   "
          f"test {log_likelihood_exact(model, test, log_z).mean():7.3f} nats   "
          f"({seconds:.1f} s)")

# %% [markdown]
# At this size and budget CD-1 does as well as the persistent methods or better: the
# 8x8 digits are an easy distribution, 16 hidden units a small model and 10 epochs a
# short run. Their samples (1000 Gibbs sweeps from random starts, below) are crude for
# all three; the persistent chains of PCD and PT, which follow the model rather than
# the data, settle in fewer modes after this short training. The methods part ways at
# scale: on MNIST (`benchmarks/results/mnist_loglik.md`) CD-1's log-likelihood gets
# *worse* with training while centered PCD reaches -85.6 nats, because CD-1 only ever
# looks one step away from the data and never sees where its own chains go.

# %%
display(image_grid(
    [as_images(harmonium.generate(m, 12, steps=1000, generator=g, mean=True))
     for m in small.values()], row_labels=list(small), cell=0.6))

# %% [markdown]
# ## 4. AIS: a log-likelihood with a bracket
#
# For the 100-hidden-unit model of section 1, enumeration would take $2^{64}$ terms.
# Annealed importance sampling anneals from a simple base model (independent pixels fit
# to the training data) to the RBM through a ladder of inverse temperatures and
# estimates $Z$ by importance weights. Forward AIS is a stochastic *lower* bound of
# $\log Z$, so it tends to overestimate the log-likelihood; reverse AIS (RAISE, chains
# started at test data) errs the other way. Here 100 chains and 1,000 temperatures, to
# stay quick (the published schedule has 14,500; `ais` uses it by default).
#
# First a check on the 16-hidden PCD model, where the exact answer is known:

# %%
check = small["PCD"]
forward = ais(check, 100, n_betas=1000, base=train, generator=g, progress=False)
print(f"exact log Z {float(log_partition_exact(check)):.3f}; AIS {forward.log_z:.3f}, "
      f"3-sigma bracket [{forward.bracket(3)[0]:.3f}, {forward.bracket(3)[1]:.3f}]")

# %% [markdown]
# Then the 100-hidden model, from both sides:

# %%
forward = ais(rbm, 100, n_betas=1000, base=train, generator=g, progress=False)
backward = reverse_ais(rbm, test[:100], n_betas=1000, base=train, generator=g,
                       progress=False)
print("forward:", forward)
print("reverse:", backward)
print("test log-likelihood, forward AIS:", log_likelihood(rbm, test, forward))
print("test log-likelihood, reverse AIS:", log_likelihood(rbm, test, backward))

# %% [markdown]
# When forward and reverse estimates agree within their brackets, as they should for a
# model that has mixed well, the log-likelihood is trustworthy; a gap between them is
# the warning sign (see `docs/likelihood.md`).
#
# ## 5. A deep belief net and its dreams
#
# A DBN stacks RBMs trained greedily, each on the hidden activities of the one below
# (Hinton, Osindero and Teh 2006). Here 64 pixels -> 64 features -> an associative
# memory of 128 hidden units whose visible layer joins the 64 features with a
# 10-way label unit. The lower RBM learns by CD-1, the labelled top RBM by PCD (with
# CD-1 every label tends to dream the same blob), 15 epochs each on the grey-level
# digits. The top RBM classifies by the label with the lowest free energy; clamping a
# label and running Gibbs sampling in the top RBM, then passing down, *dreams* a digit.
# With this small net and short training some labels dream their class clearly and
# others blur into a neighbouring one (the MNIST benchmark's dreams are in
# `benchmarks/results/mnist_dbn.md`).

# %%
dbn_g = torch.Generator().manual_seed(0)
dbn = harmonium.DBN([64, 64, 128], n_labels=10, generator=dbn_g)
harmonium.fit_greedy(dbn, digits[:1500], labels[:1500],
                     method=[harmonium.CD(1), harmonium.PCD(100)], epochs=15, batch_size=20,
                     lr=0.1, generator=dbn_g, progress=False)
generative = (dbn.predict(digits[1500:]).numpy() == labels[1500:]).mean()
print(f"generative classification, held-out digits: {generative:.1%}")

dreams = [as_images(harmonium.dream(dbn, label=k, n_samples=8, steps=200, generator=dbn_g))
          for k in range(10)]
display(image_grid(dreams, row_labels=[f"label {k}" for k in range(10)], cell=0.5))

# %% [markdown]
# Fine-tuning unrolls the stack into a feed-forward network (initialised from the RBMs)
# and trains it by backpropagation; it makes a much better classifier, and leaves the
# RBMs, hence the dreams, unchanged.

# %%
harmonium.fine_tune(dbn, digits[:1500], labels[:1500], epochs=20, batch_size=32, lr=1e-2,
                    generator=dbn_g, progress=False)
tuned = (dbn.predict(digits[1500:]).numpy() == labels[1500:]).mean()
print(f"after fine-tuning, held-out digits: {tuned:.1%}")

# %%
print(f"notebook ran in {time.perf_counter() - started:.0f} s")
