"""Demo section: an RBM learns the bundled 8x8 digits; filters, samples, inpainting."""

from __future__ import annotations

import time

import torch

from harmonium.demo import Caption, Section

__all__ = ["run"]

EPOCHS = 30
# parallel tempering of the samples: temperatures, chains, steps
PT_BETAS, PT_CHAINS, PT_STEPS = 5, 100, 300
# the independent Gibbs chains they are compared with: sweeps
GIBBS_SWEEPS = 1000


def _train(train, held_out, generator):
    """A 64 x 100 Bernoulli RBM trained by PCD, the step decaying linearly to zero."""
    import harmonium
    from harmonium.units import Bernoulli

    def linear_decay(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 - epoch / EPOCHS)

    rbm = harmonium.RBM(Bernoulli(64), Bernoulli(100), generator=generator)
    hist = harmonium.fit(rbm, train, harmonium.PCD(100), epochs=EPOCHS, batch_size=20,
                         lr=0.02, momentum=0.9, weight_decay=1e-4, scheduler=linear_decay,
                         generator=generator, validation_data=held_out, progress=False)
    return rbm, hist


@torch.no_grad()
def _samples(rbm, generator):
    """Parallel-tempering and independent-Gibbs samples, as mean images E[v | h]."""
    import harmonium
    from harmonium.sampling import ParallelTempering

    tempering = ParallelTempering(betas=PT_BETAS, n_chains=PT_CHAINS)
    v = tempering.run(rbm, PT_STEPS, generator=generator, progress=False)
    tempered = rbm.mean_v_from_h(rbm.sample_h_from_v(v, generator=generator))
    gibbs = harmonium.generate(rbm, PT_CHAINS, GIBBS_SWEEPS, generator=generator, mean=True)
    return tempered, gibbs, tempering.swap_rates.mean().item()


def _by_class(images, read):
    """Images sorted by the class read in them: rows of 10 (n, 64) -> list of (10, 8, 8)."""
    order = torch.argsort(read, stable=True)
    shown = images[order].reshape(-1, 8, 8).numpy()
    return [shown[i:i + 10] for i in range(0, len(shown), 10)]


def _filters(weight: torch.Tensor) -> list:
    """The first 50 hidden units' weights (64, n_hidden) as 8x8 images stretched to [0, 1]."""
    w = weight.detach().T[:50]
    low, high = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
    w = ((w - low) / (high - low).clamp_min(1e-12)).reshape(-1, 8, 8).numpy()
    return [w[i:i + 10] for i in range(0, len(w), 10)]


def _fractions(read: torch.Tensor):
    """Share of each of the 10 classes among the readings, shape (10,)."""
    return (torch.bincount(read, minlength=10) / len(read)).numpy()


def run(generator: torch.Generator) -> Section:
    """Train a 64 x 100 Bernoulli RBM with PCD for a few seconds and show what it learned."""
    import harmonium
    from harmonium.datasets import load_digits
    from harmonium.demo.digits import read_digits

    images, labels = load_digits()
    x, y = torch.tensor(images > 0.5, dtype=torch.float32), torch.tensor(labels)
    train, held_out = x[:1500], x[1500:]
    tic = time.perf_counter()
    rbm, hist = _train(train, held_out, generator)
    seconds = time.perf_counter() - tic
    tempered, gibbs, swap = _samples(rbm, generator)
    read = {"pt": read_digits(tempered, train, y[:1500]),
            "gibbs": read_digits(gibbs, train, y[:1500]), "data": y[:1500]}
    classes = int(torch.unique(read["pt"]).numel())
    shown = held_out[:10]
    mask = torch.ones(10, 8, 8, dtype=torch.bool)
    mask[:, 4:] = False  # hide the lower half
    mask = mask.flatten(1)
    filled = harmonium.inpaint(rbm, shown, mask, 200, mean_field=True, generator=generator)
    error = (filled.round() != shown)[~mask].float().mean().item()
    last = hist.records[-1]
    inpainting = [t.reshape(-1, 8, 8).numpy() for t in
                  (shown, torch.where(mask, shown, 0.5), filled)]
    return Section(
        title="Restricted Boltzmann machine on 8x8 digits",
        summary=(
            f"RBM: 64x100 PCD on 1500 digits in {seconds:.1f} s; pseudo-log-likelihood "
            f"{last['val_pseudo_ll']:.1f} nats held out; tempering samples show "
            f"{classes}/10 digit classes; inpainted lower halves {100 * (1 - error):.0f}% "
            "pixels right"
        ),
        paragraphs=[
            "A Bernoulli RBM (64 visible pixels, 100 hidden units) trained with persistent "
            f"contrastive divergence (100 persistent chains, {EPOCHS} epochs, momentum 0.9, "
            "the step decaying linearly to zero) on the binarised scikit-learn digits: "
            "1500 for training, the other 297 held out.",
        ],
        figures=_figures(rbm, hist, tempered, read, swap, inpainting, error),
    )


def _figures(rbm, hist, tempered, read, swap, inpainting, error) -> list:
    """The section's figures with their lead paragraphs and captions."""
    from harmonium.demo.figures import class_bars, curves_figure, montage

    classes = int(torch.unique(read["pt"]).numel())
    last = hist.records[-1]
    return [
        (Caption("filters", "Each hidden unit's weights to the 64 pixels form a receptive "
                 "field; {ref} shows the first 50, each contrast-stretched: strokes and "
                 "blobs that the hidden units detect.",
                 "Filters: the weights of 50 hidden units, one 8x8 image each (bright: "
                 "the unit's largest weights)."),
         montage(_filters(rbm.weight), cell=0.6)),
        (Caption("samples", f"New digits: {PT_CHAINS} parallel-tempering chains ({PT_BETAS} "
                 f"temperatures, {PT_STEPS} steps of one Gibbs sweep per temperature and a "
                 f"swap round; swaps accepted {swap:.0%} of the time) start from noise, "
                 "not from data. {ref} shows the final states, sorted by the digit that an "
                 f"independent reader (5 nearest training digits) sees: {classes} of the 10 "
                 "classes appear.",
                 f"Samples of the RBM by parallel tempering from data-free starts "
                 f"({PT_CHAINS} chains, {PT_STEPS} steps), shown as E[v | h], sorted by the "
                 "digit read in them. Look for variety: every class, and varied styles "
                 "within a class."),
         montage(_by_class(tempered, read["pt"]), cell=0.5)),
        (Caption("classes", "Mixing: {ref} compares how often each digit appears among the "
                 f"tempering samples, among {PT_CHAINS} independent Gibbs chains run "
                 f"{GIBBS_SWEEPS} sweeps from noise (classes read: "
                 f"{int(torch.unique(read['gibbs']).numel())}), and in the training data.",
                 "Share of each digit class among the samples, as the nearest-neighbour "
                 "reader sees them, against the training data. A sampler that mixes "
                 "poorly piles its samples onto a few classes."),
         class_bars({"parallel tempering": _fractions(read["pt"]),
                     "independent Gibbs chains": _fractions(read["gibbs"]),
                     "training digits": _fractions(read["data"])},
                    xlabel="digit class read", ylabel="share of samples")),
        (Caption("inpainting", "Inpainting: {ref} clamps the upper half of ten held-out "
                 "digits and runs mean-field updates of the lower half, which the model "
                 f"fills in ({100 * (1 - error):.0f}% of the hidden pixels right).",
                 "Inpainting held-out digits: the original, what the model sees (lower "
                 "half grey: unknown) and its completion."),
         montage(inpainting, row_labels=["original", "observed", "inpainted"], cell=0.6)),
        (Caption("training", "Training curves: {ref} follows the reconstruction error, the "
                 "exact per-site pseudo-log-likelihood on training and held-out digits, and "
                 "the free-energy gap (held-out minus training: "
                 f"{last['free_energy_gap']:.2f} nats at the end; a growing gap means "
                 "overfitting).",
                 "Training curves by epoch. The step size decays linearly to zero, so the "
                 "curves settle at the end."),
         curves_figure(hist, [
             ("reconstruction error", "squared error per pixel", [("recon_error", "")]),
             ("pseudo-log-likelihood", "nats per digit",
              [("pseudo_ll", "training"), ("val_pseudo_ll", "held out")]),
             ("free-energy gap", "held-out minus training, nats",
              [("free_energy_gap", "")]),
         ])),
    ]
