"""Demo section: a small deep belief net on the bundled 8x8 digits; accuracy and dreams."""

from __future__ import annotations

import time

import torch

from harmonium.demo import Section

__all__ = ["run"]


def run(generator: torch.Generator) -> Section:
    """Pretrain a labelled 64-64-128-10 DBN, dream digits of each class, fine-tune it."""
    import harmonium
    from harmonium.datasets import load_digits
    from harmonium.plot import image_grid

    images, labels = load_digits()
    x, y = torch.tensor(images, dtype=torch.float32), torch.tensor(labels)
    perm = torch.randperm(len(x), generator=generator)
    train, test = perm[:1347], perm[1347:]
    dbn = harmonium.DBN([64, 64, 128], n_labels=10, generator=generator)
    tic = time.perf_counter()
    harmonium.fit_greedy(dbn, x[train], y[train], epochs=15, batch_size=20, lr=0.1,
                         monitor=0, generator=generator, progress=False)
    pretrain_s = time.perf_counter() - tic
    generative = (dbn.predict(x[test]) == y[test]).float().mean().item()
    dreams = [harmonium.dream(dbn, c, 10, 300, generator=generator).reshape(10, 8, 8).numpy()
              for c in range(10)]
    tic = time.perf_counter()
    harmonium.fine_tune(dbn, x[train], y[train], epochs=20, batch_size=32, weight_decay=1e-4,
                        generator=generator, progress=False)
    finetune_s = time.perf_counter() - tic
    tuned = (dbn.predict(x[test]) == y[test]).float().mean().item()
    return Section(
        title="Deep belief net on 8x8 digits",
        summary=(
            f"DBN: 64-64-128-10 on 1347 digits; test accuracy {100 * generative:.1f}% "
            f"generative, {100 * tuned:.1f}% after fine-tuning "
            f"({pretrain_s:.1f} s + {finetune_s:.1f} s)"
        ),
        paragraphs=[
            "A deep belief net (Hinton, Osindero and Teh 2006) pretrained greedily, one RBM "
            "at a time with CD-1: a 64-64 RBM on the pixels (grey levels read as "
            "probabilities), then a top RBM, the associative memory, whose visible layer "
            "is the 64 first-layer features joined with a 10-way softmax label unit, and "
            "128 hidden units.",
            f"Generative classification (up pass, then the label with the lowest free "
            f"energy in the top RBM) gets {100 * generative:.1f}% of the 450 held-out "
            f"digits right before any fine-tuning. Unrolled into a feed-forward network "
            f"initialised from the RBM weights and trained by backpropagation for 20 epochs, "
            f"it gets {100 * tuned:.1f}%.",
            "Dreams: for each class, 300 sweeps of Gibbs sampling in the top RBM with the "
            "label clamped, then one down pass through the first RBM (mean pixel values).",
        ],
        figures=[
            ("Dreamed digits, one row per clamped label",
             image_grid(dreams, row_labels=[str(c) for c in range(10)], cell=0.7)),
        ],
    )
