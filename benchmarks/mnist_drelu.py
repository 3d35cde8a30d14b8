"""MNIST test log-likelihood of a Bernoulli x dReLU RBM beside a Bernoulli x Bernoulli one.

Protocol: MNIST stochastically binarized once as in ``mnist_loglik.load_binarized``
(each pixel ~ Bernoulli(intensity / 255), numpy default_rng(0)). The 60,000 training
images are shuffled once (torch seed 0); the first 20,000 train and the next 5,000 are
the validation split. Both models get the same budget: 784 visible Bernoulli units, 200
hidden units, PCD with 100 persistent chains, batch 100, 20 epochs (4,000 updates),
momentum 0.5, weight decay 2e-4, learning rate decaying linearly to 0, visible biases
started at the training rows' base rates, weights N(0, 0.01^2), one thread. Each model's
setting is chosen by the forward-AIS log-likelihood of the validation split (1,000
inverse temperatures, 100 chains) from its grid: Bernoulli lr 0.01, 0.05, 0.1, 0.2;
dReLU lr 0.001, 0.003, 0.01 with all four parameters learned, and lr 0.001, 0.003, 0.01,
0.03 with both precisions frozen at 1.
The test set is used only for the chosen models: log Z by AIS and reverse AIS
(``mnist_loglik.evaluate``: 100 chains, 10,000 inverse temperatures on the published
schedule rescaled, base-rate model fitted to the training rows; reverse AIS from 100
test images) on a float64 copy of the trained model, and the mean log-probability of
the 10,000 test images.

Usage::

    python benchmarks/mnist_drelu.py            # the committed run
    python benchmarks/mnist_drelu.py --quick    # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import torch

import harmonium
from harmonium import RBM
from harmonium.partition import ais, log_likelihood
from harmonium.partition.ais import base_rate
from harmonium.training import PCD, fit
from harmonium.training.loop import TrainingDiverged
from harmonium.training.transforms import FreezeParameter
from harmonium.units import Bernoulli, DReLU
from mnist_loglik import DATA, RESULTS, evaluate, load_binarized

# model name -> (hidden layer factory, grid of (learning rate, frozen hidden parameters))
PRECISIONS = ("precision_pos", "precision_neg")
MODELS = {
    "Bernoulli": (Bernoulli, [(lr, ()) for lr in (0.01, 0.05, 0.1, 0.2)]),
    "dReLU": (DReLU, [(lr, ()) for lr in (0.001, 0.003, 0.01)]
              + [(lr, PRECISIONS) for lr in (0.001, 0.003, 0.01, 0.03)]),
}
MOMENTUM, WEIGHT_DECAY, BATCH, CHAINS = 0.5, 2e-4, 100, 100


def split(train: torch.Tensor, n_train: int, n_val: int):
    """The first ``n_train`` and the next ``n_val`` rows of one fixed shuffle."""
    order = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(0))
    return train[order[:n_train]], train[order[n_train:n_train + n_val]]


def train_one(hidden_units, n_hidden, lr, frozen, epochs, x, seed=0):
    """Train one RBM (the hidden parameters named in ``frozen`` kept at their start);
    returns it (None if training diverged) and its training seconds."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Bernoulli(784), hidden_units(n_hidden), generator=g)
    with torch.no_grad():
        rbm.visible.params.copy_(base_rate(rbm, x).params)

    def schedule(opt):  # learning rate decays linearly to 0 (Tieleman 2008)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 - e / epochs)

    tic = time.perf_counter()
    try:
        fit(rbm, x, PCD(CHAINS), epochs=epochs, batch_size=BATCH, lr=lr, momentum=MOMENTUM,
            weight_decay=WEIGHT_DECAY, scheduler=schedule, generator=g, progress=False,
            monitor=0, transforms=[FreezeParameter("hidden", name) for name in frozen])
    except TrainingDiverged:
        return None, time.perf_counter() - tic
    return rbm, time.perf_counter() - tic


def validation_ll(rbm, x, val, n_betas, seed):
    """Forward-AIS mean log-likelihood of ``val`` under a float64 copy of ``rbm``."""
    r64 = copy.deepcopy(rbm).double()
    fwd = ais(r64, CHAINS, n_betas, base=x.double(), generator=torch.Generator().manual_seed(seed),
              progress=False)
    ll = log_likelihood(r64, val.double(), fwd).mean
    return ll if ll == ll else None  # NaN (a non-finite estimate) counts as a failure


def run_model(name, args, x, val, test):
    """Grid over the settings, choose on validation, evaluate the chosen on test."""
    units, grid = MODELS[name]
    trials, best = [], None
    for lr, frozen in grid:
        rbm, seconds = train_one(units, args.hidden, lr, frozen, args.epochs, x)
        val_ll = None if rbm is None else validation_ll(rbm, x, val, args.val_betas, 1)
        trials.append({"lr": lr, "frozen": list(frozen), "train_seconds": seconds,
                       "val_ll": val_ll, "diverged": rbm is None,
                       "max_abs_weight": None if rbm is None else rbm.weight.abs().max().item()})
        print(f"{name} lr {lr} frozen {frozen}: val LL {val_ll} ({seconds:.0f} s)", flush=True)
        if val_ll is not None and (best is None or val_ll > best[0]):
            best = (val_ll, (lr, frozen), seconds, rbm)
    if best is None:
        return {"model": name, "trials": trials, "final": None}
    _, (lr, frozen), seconds, rbm = best
    final = evaluate(copy.deepcopy(rbm).double(), x.double(), test.double(), args.final_betas,
                     CHAINS, 12345)
    print(f"{name}: test LL {final['test_ll']:.2f}, reverse {final['reverse_test_ll']:.2f}",
          flush=True)
    return {"model": name, "hidden": args.hidden, "epochs": args.epochs, "lr": lr,
            "frozen": list(frozen), "train_seconds": seconds, "trials": trials,
            "final": final}


def _setting(r):
    frozen = " (precisions frozen at 1)" if r["frozen"] else ""
    return f"lr {r['lr']}{frozen}"


def _grid_lines(out):
    lines = ["| model | setting | validation LL (AIS) | max abs weight | train s |",
             "| --- | --- | --- | --- | --- |"]
    for r in out["runs"]:
        for t in r["trials"]:
            ll = ("diverged" if t["diverged"] else "failed" if t["val_ll"] is None
                  else f"{t['val_ll']:.5g}")
            w = "-" if t["max_abs_weight"] is None else f"{t['max_abs_weight']:.3g}"
            lines.append(f"| {r['model']} | {_setting(t)} | {ll} | {w} | "
                         f"{t['train_seconds']:.0f} |")
    return lines


def write_markdown(out):
    lines = [
        "# MNIST test log-likelihood: Bernoulli x dReLU RBM beside Bernoulli x Bernoulli",
        "",
        out["protocol"],
        "",
        "| model | hidden units | epochs | chosen on validation | train s | "
        "test LL (AIS) [3σ bracket] | test LL (reverse AIS) | train LL | published |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in out["runs"]:
        f, ref = r["final"], PUBLISHED[r["model"]]
        if f is None:
            lines.append(f"| {r['model']} | - | - | every setting failed | - | - | - | - | "
                         f"{ref} |")
            continue
        lo, hi = f["test_ll_bracket_3sigma"]
        lines.append(
            f"| {r['model']} | {r['hidden']} | {r['epochs']} | {_setting(r)} | "
            f"{r['train_seconds']:.0f} | {f['test_ll']:.2f} [{lo:.2f}, {hi:.2f}] | "
            f"{f['reverse_test_ll']:.2f} | {f['train_ll']:.2f} | {ref} |")
    lines += ["", "The validation grid (the same training rows and budget for every setting):",
              "", *_grid_lines(out), "", out["reference"], ""]
    (RESULTS / "mnist_drelu.md").write_text("\n".join(lines))
    print("\n".join(lines))


PUBLISHED = {
    "Bernoulli": "-86.34 (CD-25, 500 hidden, 60,000 rows; Salakhutdinov and Murray 2008)",
    "dReLU": "none quoted",
}


REFERENCE = (
    "Published reference: none quoted. Tubiana and Monasson introduced dReLU hidden units "
    "for protein sequences and lattice proteins (Tubiana, Cocco and Monasson 2019) and "
    "studied MNIST with ReLU-type units (Tubiana and Monasson 2017); no AIS test "
    "log-likelihood of a dReLU RBM on binarized MNIST was found to quote. The Bernoulli "
    "RBMs of Salakhutdinov and Murray (2008, 500 hidden units, full training set) reach "
    "-86.34 (CD-25) to -125.53 (CD-1) nats: a larger budget than this run.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train-rows", type=int, default=20000)
    ap.add_argument("--val-rows", type=int, default=5000)
    ap.add_argument("--val-betas", type=int, default=1000)
    ap.add_argument("--final-betas", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run, nothing written")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = load_binarized(DATA)
    if args.quick:
        args.hidden, args.epochs, args.val_betas, args.final_betas = 20, 1, 20, 50
        args.train_rows, args.val_rows, test = 1000, 500, test[:500]
    x, val = split(train, args.train_rows, args.val_rows)
    tic = time.perf_counter()
    runs = [run_model(name, args, x, val, test) for name in MODELS]
    if args.quick:
        return
    out = {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "settings": vars(args),
        "reference": REFERENCE,
        "runs": runs,
        "wall_seconds_total": time.perf_counter() - tic,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "harmonium": harmonium.__version__,
                    "device": "cpu"},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mnist_drelu.json").write_text(json.dumps(out, indent=1))
    write_markdown(out)


if __name__ == "__main__":
    main()
