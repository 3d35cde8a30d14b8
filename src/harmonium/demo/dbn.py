"""Demo section: a small deep belief net on the bundled 8x8 digits; accuracy and dreams."""

from __future__ import annotations

import time

import torch

from harmonium.demo import Caption, Section

__all__ = ["run"]

SIZES = [64, 128, 256]
# CD-1 epochs of the first RBM, PCD epochs of the labelled top RBM
EPOCHS = [15, 30]
FINE_TUNE_EPOCHS = 10
DREAM_STEPS = 100


def _pretrain(dbn, x, y, generator) -> None:
    """Greedy pretraining: CD-1 below, PCD on top; momentum 0.9, step decaying to zero."""
    import harmonium

    layer_epochs = iter(EPOCHS)

    def linear_decay(optimizer):  # fit_greedy asks for one scheduler per layer
        n = next(layer_epochs)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 - epoch / n)

    harmonium.fit_greedy(dbn, x, y, method=[harmonium.CD(1), harmonium.PCD(100)],
                         epochs=EPOCHS, batch_size=20, lr=0.05, momentum=0.9,
                         weight_decay=1e-4, scheduler=linear_decay, monitor=0,
                         generator=generator, progress=False)


def run(generator: torch.Generator) -> Section:
    """Pretrain a labelled 64-128-256-10 DBN, dream digits of each class, fine-tune it."""
    import harmonium
    from harmonium.datasets import load_digits
    from harmonium.demo.digits import read_digits
    from harmonium.demo.figures import montage

    images, labels = load_digits()
    grey, y = torch.tensor(images, dtype=torch.float32), torch.tensor(labels)
    x = (grey > 0.5).float()
    perm = torch.randperm(len(x), generator=generator)
    train, test = perm[:1347], perm[1347:]
    dbn = harmonium.DBN(SIZES, n_labels=10, generator=generator)
    tic = time.perf_counter()
    _pretrain(dbn, x[train], y[train], generator)
    pretrain_s = time.perf_counter() - tic
    generative = (dbn.predict(x[test]) == y[test]).float().mean().item()
    dreams = torch.stack([harmonium.dream(dbn, c, 10, DREAM_STEPS, generator=generator)
                          for c in range(10)])
    read = read_digits(dreams.flatten(0, 1), grey[train], y[train]).view(10, 10)
    hits = (read == torch.arange(10)[:, None]).sum(1).tolist()
    recognised = sum(int(torch.mode(row).values) == c for c, row in enumerate(read))
    tic = time.perf_counter()
    harmonium.fine_tune(dbn, grey[train], y[train], epochs=FINE_TUNE_EPOCHS, batch_size=32,
                        weight_decay=1e-4, generator=generator, progress=False)
    finetune_s = time.perf_counter() - tic
    tuned = (dbn.predict(grey[test]) == y[test]).float().mean().item()
    return Section(
        title="Deep belief net on 8x8 digits",
        summary=(
            f"DBN: 64-128-256-10 on 1347 digits; test accuracy {100 * generative:.1f}% "
            f"generative, {100 * tuned:.1f}% after fine-tuning "
            f"({pretrain_s:.1f} s + {finetune_s:.1f} s); dreams read as their label for "
            f"{recognised}/10 labels"
        ),
        paragraphs=[
            "A deep belief net (Hinton, Osindero and Teh 2006) pretrained greedily, one RBM "
            f"at a time: a 64-128 RBM on the binarised pixels ({EPOCHS[0]} epochs of CD-1), "
            "then the top RBM, the associative memory, whose visible layer is the 128 "
            "first-layer features joined with a 10-way softmax label unit, with 256 hidden "
            f"units ({EPOCHS[1]} epochs of persistent contrastive divergence).",
            f"Generative classification (up pass, then the label with the lowest free "
            f"energy in the top RBM) gets {100 * generative:.1f}% of the 450 held-out "
            f"digits right before any fine-tuning. Unrolled into a feed-forward network "
            f"initialised from the RBM weights and trained by backpropagation for "
            f"{FINE_TUNE_EPOCHS} epochs on the grey levels (read as probabilities of the "
            f"binary pixels), it gets {100 * tuned:.1f}%.",
        ],
        figures=[(
            Caption("dreams", f"Dreams: for each label, {DREAM_STEPS} sweeps of Gibbs "
                    "sampling in the top RBM with the label clamped, from random features, "
                    "then one down pass to the pixels (mean values). {ref} shows ten "
                    "dreams per label. A nearest-neighbour reader (5 nearest training "
                    f"digits) reads most of a row as its label for {recognised} of the 10 "
                    "labels.",
                    "Dreamed digits, one row per clamped label; the row title gives how "
                    "many of its ten dreams the nearest-neighbour reader reads as that "
                    "label. Each row should show its digit, in varied styles."),
            montage(list(dreams.detach().view(10, 10, 8, 8).numpy()),
                    row_labels=[f"{c}: {hits[c]}/10" for c in range(10)], cell=0.6)),
        ],
    )
