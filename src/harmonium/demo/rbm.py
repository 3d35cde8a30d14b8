"""Demo section: an RBM learns the bundled 8x8 digits; filters, samples, inpainting."""

from __future__ import annotations

import time

import torch

from harmonium.demo import Section

__all__ = ["run"]


def run(generator: torch.Generator) -> Section:
    """Train a 64 x 100 Bernoulli RBM with PCD for a few seconds and show what it learned."""
    import harmonium
    from harmonium.datasets import load_digits
    from harmonium.plot import filters_figure, image_grid
    from harmonium.units import Bernoulli

    images, _ = load_digits()
    x = torch.tensor(images > 0.5, dtype=torch.float32)
    train, held_out = x[:1500], x[1500:]
    rbm = harmonium.RBM(Bernoulli(64), Bernoulli(100), generator=generator)
    tic = time.perf_counter()
    hist = harmonium.fit(rbm, train, harmonium.PCD(100), epochs=30, batch_size=20, lr=0.05,
                         momentum=0.5, generator=generator, validation_data=held_out,
                         progress=False)
    seconds = time.perf_counter() - tic

    samples = harmonium.generate(rbm, 20, 1000, generator=generator, mean=True)
    shown = held_out[:10]
    mask = torch.ones(10, 8, 8, dtype=torch.bool)
    mask[:, 4:] = False  # hide the lower half
    mask = mask.flatten(1)
    filled = harmonium.inpaint(rbm, shown, mask, 200, mean_field=True)
    error = (filled.round() != shown)[~mask].float().mean().item()

    def grid(t):
        return t.reshape(-1, 8, 8).numpy()

    last = hist.records[-1]
    return Section(
        title="Restricted Boltzmann machine on 8x8 digits",
        summary=(
            f"RBM: 64x100 PCD on 1500 digits in {seconds:.1f} s; pseudo-log-likelihood "
            f"{last['val_pseudo_ll']:.1f} nats held out; inpainted lower halves "
            f"{100 * (1 - error):.0f}% pixels right"
        ),
        paragraphs=[
            "A Bernoulli RBM (64 visible pixels, 100 hidden units) trained with persistent "
            "contrastive divergence on the binarised scikit-learn digits. Each hidden unit's "
            "weights form a receptive field (filters); Gibbs chains run 1000 sweeps from "
            "noise produce new digits (mean images of the last sweep); clamping the upper "
            "half of held-out digits and running mean-field updates on the lower half fills "
            "it in.",
            f"Training curves: exact per-site pseudo-log-likelihood on train and held-out "
            f"data and the free-energy gap (held-out minus train: {last['free_energy_gap']:.2f}).",
        ],
        figures=[
            ("Filters: the weights of 50 hidden units",
             filters_figure(rbm.weight.detach().numpy(), (8, 8), max_filters=50)),
            ("Samples after 1000 Gibbs sweeps", image_grid([grid(samples[:10]),
                                                            grid(samples[10:])])),
            ("Inpainting: lower half hidden",
             image_grid([grid(shown), grid(torch.where(mask, shown, 0.5)), grid(filled)],
                        row_labels=["original", "observed", "inpainted"])),
            ("Training curves", hist.plot(["recon_error", "pseudo_ll", "val_pseudo_ll",
                                           "free_energy_gap"])),
        ],
    )
