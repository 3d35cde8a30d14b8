"""Gaussian-Bernoulli RBM on whitened natural-image patches: AIS log-likelihood vs a Gaussian.

Protocol: 8 x 8 grey patches cut at random from six scikit-image photographs (camera,
astronaut, coffee, chelsea, coins, moon); patches from the left two thirds of each image
train, from the right third test. Each patch loses its mean (DC), then PCA whitening
fitted on the training patches keeps the 63 non-DC components at unit variance. Both
models are scored in this same whitened space (nats per patch):

- the Gaussian (PCA) model: the maximum-likelihood Gaussian of the training patches,
  exact test log-likelihood in closed form;
- a Gaussian-Bernoulli RBM (63 Gaussian visible units with learned precisions, 100
  Bernoulli hidden units) trained by PCD; test log-likelihood from AIS with the
  published schedule (100 chains, base model fitted to the training data), with the
  3-sigma bracket and the reverse-AIS estimate.

Usage: ``python benchmarks/patches_loglik.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from harmonium import RBM
from harmonium.datasets import load_image
from harmonium.partition import ais, log_likelihood, reverse_ais
from harmonium.partition.ais import base_rate
from harmonium.training import PCD, fit
from harmonium.units import Bernoulli, Gaussian

RESULTS = Path(__file__).parent / "results"
IMAGES = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon")
SIZE = 8


def patches(n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    train, test = [], []
    for name in IMAGES:
        img = load_image(name)
        cut = img.shape[1] * 2 // 3
        for part, n, out in ((img[:, :cut], n_train, train), (img[:, cut:], n_test, test)):
            h, w = part.shape
            rows = rng.integers(0, h - SIZE, n // len(IMAGES))
            cols = rng.integers(0, w - SIZE, n // len(IMAGES))
            out.append(np.stack([part[r:r + SIZE, c:c + SIZE].ravel()
                                 for r, c in zip(rows, cols, strict=True)]))
    return np.concatenate(train), np.concatenate(test)


def whitener(train):
    x = train - train.mean(1, keepdims=True)
    mean = x.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    keep = np.argsort(evals)[::-1][: SIZE * SIZE - 1]  # drop the DC null direction
    proj = evecs[:, keep] / np.sqrt(evals[keep])

    def apply(p):
        return ((p - p.mean(1, keepdims=True)) - mean) @ proj

    return apply


def gaussian_loglik(train_w, test_w):
    mean = train_w.mean(0)
    cov = np.cov(train_w, rowvar=False, bias=True)
    _, logdet = np.linalg.slogdet(cov)
    d = test_w - mean
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    return float(np.mean(-0.5 * (maha + logdet + d.shape[1] * math.log(2 * math.pi))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.005)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tic = time.perf_counter()
    n_train, n_test = (3000, 600) if args.quick else (60000, 12000)
    epochs = 1 if args.quick else args.epochs
    n_betas = 200 if args.quick else 14500
    raw_train, raw_test = patches(n_train, n_test)
    white = whitener(raw_train)
    train_w, test_w = white(raw_train), white(raw_test)
    gauss = gaussian_loglik(train_w, test_w)
    train = torch.from_numpy(train_w).float()
    test = torch.from_numpy(test_w).float()

    g = torch.Generator().manual_seed(0)
    rbm = RBM(Gaussian(train.shape[1]), Bernoulli(args.hidden), generator=g)
    with torch.no_grad():
        rbm.visible.params.copy_(base_rate(rbm, train).params)
    curve = []

    def callback(epoch, record, model):
        if epoch % 5 == 0 or epoch == epochs:
            res = ais(model, 100, 1000, base=train, generator=g, progress=False)
            curve.append({"epoch": epoch, "test_ll": log_likelihood(model, test, res).mean})
            print(f"epoch {epoch}: test LL {curve[-1]['test_ll']:.3f}", flush=True)

    t_train = time.perf_counter()
    fit(rbm, train, PCD(100), epochs=epochs, batch_size=100, lr=args.lr, momentum=0.5,
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 - e / epochs),
        generator=g, callbacks=[callback], progress=False, monitor=0)
    t_train = time.perf_counter() - t_train
    fwd = ais(rbm, 100, n_betas, base=train, generator=g, progress=False)
    idx = torch.randperm(len(test), generator=g)[:100]
    rev = reverse_ais(rbm, test[idx], n_betas, base=train, generator=g, progress=False)
    ll = log_likelihood(rbm, test, fwd)
    result = {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "n_train": len(train),
        "n_test": len(test),
        "dims": train.shape[1],
        "hidden": args.hidden,
        "epochs": epochs,
        "lr": args.lr,
        "gaussian_test_ll": gauss,
        "rbm_test_ll_ais": ll.mean,
        "rbm_test_ll_bracket_3sigma": [ll.low, ll.high],
        "rbm_test_ll_reverse_ais": log_likelihood(rbm, test, rev).mean,
        "log_z": fwd.log_z,
        "log_z_std_err": fwd.log_z_std_err,
        "reverse_log_z": rev.log_z,
        "rbm_train_ll_ais": log_likelihood(rbm, train, fwd).mean,
        "curve": curve,
        "train_seconds": t_train,
        "wall_seconds": time.perf_counter() - tic,
    }
    print(json.dumps(result, indent=1))
    if args.quick:
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "patches_loglik.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Gaussian-Bernoulli RBM on whitened 8x8 natural-image patches",
        "",
        result["protocol"],
        "",
        "| model | test log-likelihood (nats / patch) |",
        "| --- | --- |",
        f"| Gaussian (PCA), exact | {gauss:.2f} |",
        f"| GB-RBM 63x{args.hidden}, AIS (3σ bracket) | {ll.mean:.2f} "
        f"[{ll.low:.2f}, {ll.high:.2f}] |",
        f"| GB-RBM 63x{args.hidden}, reverse AIS | {result['rbm_test_ll_reverse_ais']:.2f} |",
        "",
        f"{epochs} epochs of PCD-1 (100 chains, lr {args.lr} decaying linearly, momentum 0.5) "
        f"on {len(train)} patches: {t_train:.0f} s; whole run {result['wall_seconds']:.0f} s "
        "(CPU, 1 thread, shared machine).",
        "",
    ]
    (RESULTS / "patches_loglik.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
