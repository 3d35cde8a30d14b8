"""Deep belief net on MNIST (Hinton, Osindero and Teh 2006), on a CPU time budget.

Protocol: MNIST from ``/work/shared/data/mnist.npz``, pixels binarized at 0.5
(intensity > 127). Training images 1..50,000 train, 50,001..60,000 validate, the
10,000 test images test. A 784-500-500-2000 DBN with a 10-way softmax label unit joined
to the top RBM's visible layer (the paper's 784-500-500-2000-10 model) is pretrained
greedily with CD-1 (lr 0.05, momentum 0.5, weight decay 2e-4, batches of 100) for
``--pretrain-epochs`` epochs per layer, then unrolled and fine-tuned by backprop
(Adam, cosine-decayed lr, batches of 100) for ``--finetune-epochs`` epochs. Side by
side, with the same data:

- the pretrained DBN as a *generative* classifier (up pass, then the top RBM's free
  energy of each label), before any fine-tuning;
- logistic regression (scikit-learn, lbfgs) on the 500 first-layer RBM features;
- the same 784-500-500-2000-10 network from random initialisation (PyTorch's default
  uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))), fine-tuned with the same budget.

Published: 1.25% test error for the 784-500-500-2000-10 DBN (Hinton et al. 2006, after
long generative fine-tuning); 1.2% for pretraining + backprop (Hinton and Salakhutdinov
2006). Those runs trained for hours to days; this one is sized to minutes on a shared
CPU, so it measures what a short budget gives, not a replication.

Usage::

    python benchmarks/mnist_dbn.py                 # the committed run
    python benchmarks/mnist_dbn.py --quick         # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium import DBN, fine_tune, fit_greedy
from harmonium.plot import image_grid

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
SIZES = [784, 500, 500, 2000]
PUBLISHED = {"DBN 784-500-500-2000-10 (Hinton et al. 2006)": 1.25,
             "pretraining + backprop (Hinton and Salakhutdinov 2006)": 1.2}


def load(path: Path, n_train: int | None):
    d = np.load(path)
    x = (d["x_train"].reshape(60000, -1) > 127).astype(np.float32)
    y = d["y_train"].astype(np.int64)
    xt = (d["x_test"].reshape(10000, -1) > 127).astype(np.float32)
    yt = d["y_test"].astype(np.int64)
    split = 50000 if n_train is None else n_train
    val = slice(50000, 60000) if n_train is None else slice(n_train, n_train + 2000)
    return (torch.from_numpy(x[:split]), torch.from_numpy(y[:split]),
            torch.from_numpy(x[val]), torch.from_numpy(y[val]),
            torch.from_numpy(xt), torch.from_numpy(yt))


def error(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (pred != y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5,000 images, 1 epoch: a smoke run")
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--finetune-epochs", type=int, default=8)
    ap.add_argument("--finetune-lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--save-model", type=Path, default=None,
                    help="also save the pretrained DBN here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_train = 5000 if args.quick else None
    pre_epochs = 1 if args.quick else args.pretrain_epochs
    ft_epochs = 1 if args.quick else args.finetune_epochs
    x, y, xv, yv, xt, yt = load(args.data, n_train)
    g = torch.Generator().manual_seed(0)
    times: dict[str, float] = {}

    dbn = DBN(SIZES, n_labels=10, generator=g)
    histories = fit_greedy(dbn, x, y, method=harmonium.CD(1), epochs=pre_epochs, lr=0.05,
                           momentum=0.5, weight_decay=2e-4, batch_size=100, monitor=0,
                           generator=g, progress=False)
    for i, h in enumerate(histories):
        times[f"pretrain layer {i + 1} ({'x'.join(map(str, dbn.rbms[i].weight.shape))})"] = (
            sum(h["seconds"]))
    if args.save_model is not None:
        harmonium.save(dbn, args.save_model)
    tic = time.perf_counter()
    gen_err = error(dbn.predict(xt), yt)
    times["generative classification of the test set"] = time.perf_counter() - tic

    tic = time.perf_counter()
    from sklearn.linear_model import LogisticRegression

    feats = dbn.transform(x, depth=1).numpy()
    lr = LogisticRegression(max_iter=200).fit(feats, y.numpy())
    lr_err = 100.0 * (1 - lr.score(dbn.transform(xt, depth=1).numpy(), yt.numpy()))
    times["logistic regression on layer-1 features"] = time.perf_counter() - tic

    tic = time.perf_counter()
    dreams = [dbn.dream(c, 10, steps=500, generator=g).view(10, 28, 28).numpy()
              for c in range(10)]
    times["dreaming 100 digits (500 Gibbs sweeps)"] = time.perf_counter() - tic

    ft = fine_tune(dbn, x, y, epochs=ft_epochs, batch_size=100, lr=args.finetune_lr,
                   validation_data=(xv, yv), generator=g, progress=False)
    times["fine-tuning (pretrained)"] = sum(ft["seconds"])
    ft_err = error(dbn.predict(xt), yt)

    rand = DBN(SIZES, n_labels=10, generator=g)
    with torch.no_grad():
        for rbm in rand.rbms:
            bound = 1.0 / rbm.weight.shape[0] ** 0.5
            rbm.weight.uniform_(-bound, bound, generator=g)
    rt = fine_tune(rand, x, y, epochs=ft_epochs, batch_size=100, lr=args.finetune_lr,
                   validation_data=(xv, yv), generator=g, progress=False)
    times["fine-tuning (random init)"] = sum(rt["seconds"])
    rand_err = error(rand.predict(xt), yt)

    result = {
        "protocol": __doc__.split("Usage")[0].strip(),
        "quick": args.quick,
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": args.threads, "device": "cpu"},
        "n_train": int(x.shape[0]), "n_validation": int(xv.shape[0]),
        "n_test": int(xt.shape[0]),
        "pretrain_epochs_per_layer": pre_epochs, "finetune_epochs": ft_epochs,
        "finetune_lr": args.finetune_lr,
        "test_error_percent": {
            "DBN generative (pretrained only)": gen_err,
            "logistic regression on layer-1 RBM features": lr_err,
            "DBN pretrained + fine-tuned": ft_err,
            "same net, random init, same fine-tuning": rand_err,
        },
        "validation_accuracy_per_epoch": {"pretrained": ft["val_accuracy"],
                                          "random init": rt["val_accuracy"]},
        "published_test_error_percent": PUBLISHED,
        "seconds": times,
        "total_seconds": sum(times.values()),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = "mnist_dbn_quick" if args.quick else "mnist_dbn"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# DBN on MNIST (CPU budget)", "",
        f"{result['n_train']} training / {result['n_validation']} validation / "
        f"{result['n_test']} test images, binarized at 0.5; 784-500-500-2000-10; "
        f"CD-1 pretraining {pre_epochs} epoch(s) per layer; {ft_epochs} fine-tuning epochs "
        f"(Adam, lr {args.finetune_lr}, cosine); {args.threads} CPU threads.", "",
        "| model | test error (%) |", "| --- | --- |",
        *[f"| {k} | {v:.2f} |" for k, v in result["test_error_percent"].items()],
        *[f"| published: {k} | {v:.2f} |" for k, v in PUBLISHED.items()],
        "", "| phase | seconds |", "| --- | --- |",
        *[f"| {k} | {v:.1f} |" for k, v in times.items()],
        f"| total | {result['total_seconds']:.1f} |", "",
        f"![dreamed digits]({stem}_dreams.png)",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    fig = image_grid(dreams, row_labels=[str(c) for c in range(10)])
    fig.savefig(RESULTS / f"{stem}_dreams.png", dpi=80)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
