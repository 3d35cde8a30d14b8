"""MNIST test log-likelihood of 784 x 500 Bernoulli RBMs, by AIS and reverse AIS.

Protocol (Salakhutdinov and Murray 2008): MNIST stochastically binarized once with a
fixed seed (each pixel ~ Bernoulli(intensity / 255), numpy default_rng(0)); a 784 x 500
Bernoulli RBM trained on the 60,000 training images; log Z by AIS with the published
schedule (14,500 inverse temperatures, 100 chains, base-rate model fitted to the
training data), reported with log Z +- 3 sigma and the reverse-AIS (RAISE) upper
estimate from 100 test images; mean test log-probability over the 10,000 test images.

Usage (each method is one run, so methods can train side by side; --report merges)::

    python benchmarks/mnist_loglik.py --method cd1 --epochs 40
    python benchmarks/mnist_loglik.py --method pcd --epochs 40
    python benchmarks/mnist_loglik.py --report
    python benchmarks/mnist_loglik.py --quick           # a smoke run of every method
    python benchmarks/mnist_loglik.py --method cpcd --epochs 5 --precision bf16 --tag _bf16_e5

``--precision bf16`` trains with bfloat16 weight products (harmonium.precision), run
even where the CPU only emulates bfloat16 (its quality, not its speed, is measured);
AIS and the test log-likelihood are computed in float32 products and float64 weights
either way.
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
from harmonium import RBM
from harmonium.partition import ais, log_likelihood, reverse_ais
from harmonium.partition.ais import base_rate
from harmonium.precision import Precision
from harmonium.training import CD, PCD, fit
from harmonium.training.centering import Centered
from harmonium.training.tempering import PT
from harmonium.units import Bernoulli

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"

# method name -> (factory, lr, momentum, weight decay)
METHODS = {
    "cd1": (lambda: CD(1), 0.05, 0.5, 2e-4),
    "pcd": (lambda: PCD(100), 0.05, 0.5, 2e-4),
    "cpcd": (lambda: Centered(PCD(100)), 0.05, 0.5, 2e-4),
    "pt": (lambda: PT(100, betas=10), 0.05, 0.5, 2e-4),
}
# Salakhutdinov and Murray (2008), Table 2, 500 hidden units, test set, AIS
PUBLISHED = {"CD1(25)": -125.53, "CD3(25)": -105.50, "CD25(25)": -86.34, "CD3(var)": -106.0}


def load_binarized(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    d = np.load(path)
    rng = np.random.default_rng(0)
    out = []
    for key in ("x_train", "x_test"):
        x = d[key].reshape(len(d[key]), -1) / 255.0
        out.append(torch.from_numpy((rng.random(x.shape) < x).astype(np.float32)))
    return out[0], out[1]


def evaluate(rbm, train, test, n_betas, n_chains, seed, reverse=True):
    g = torch.Generator().manual_seed(seed)
    tic = time.perf_counter()
    fwd = ais(rbm, n_chains, n_betas, base=train, generator=g, progress=False)
    out = {
        "n_betas": n_betas,
        "n_chains": n_chains,
        "log_z": fwd.log_z,
        "log_z_std_err": fwd.log_z_std_err,
        "log_z_bracket_3sigma": list(fwd.bracket(3)),
        "test_ll": log_likelihood(rbm, test, fwd).mean,
        "test_ll_bracket_3sigma": [log_likelihood(rbm, test, fwd).low,
                                   log_likelihood(rbm, test, fwd).high],
        "train_ll": log_likelihood(rbm, train, fwd).mean,
        "ais_seconds": time.perf_counter() - tic,
    }
    if reverse:
        tic = time.perf_counter()
        idx = torch.randperm(test.shape[0], generator=g)[:n_chains]
        rev = reverse_ais(rbm, test[idx], n_betas, base=train, generator=g, progress=False)
        out.update(
            reverse_log_z=rev.log_z,
            reverse_log_z_std_err=rev.log_z_std_err,
            reverse_test_ll=log_likelihood(rbm, test, rev).mean,
            reverse_seconds=time.perf_counter() - tic,
        )
    return out


@torch.no_grad()
def draw_samples(rbm, n=100, steps=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = rbm.visible.sample_from_inputs(torch.zeros(n, 784), generator=g)
    v = rbm.gibbs(v, steps, generator=g)
    return rbm.mean_v_from_h(rbm.sample_h_from_v(v, generator=g)).numpy()


def run_method(name, epochs, train, test, curve_every, curve_betas, final_betas, seed=0,
               precision=None):
    factory, lr, momentum, decay = METHODS[name]
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(Bernoulli(784), Bernoulli(500), generator=g)
    with torch.no_grad():
        rbm.visible.params.copy_(base_rate(rbm, train).params)
    curve = []

    def callback(epoch, record, model):
        if epoch % curve_every == 0 or epoch == epochs:
            res = evaluate(model, train, test, curve_betas, 100, seed + epoch, reverse=False)
            curve.append({"epoch": epoch, **res, "train_seconds": train_seconds()})
            print(f"{name} epoch {epoch}: test LL {res['test_ll']:.2f}", flush=True)

    def schedule(opt):  # learning rate decays linearly to 0 (Tieleman 2008)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 - e / epochs)

    hist = None
    tic = time.perf_counter()

    def train_seconds():
        return sum(r["seconds"] for r in hist.records) if hist else None

    hist = fit(rbm, train, factory(), epochs=epochs, batch_size=100, lr=lr, momentum=momentum,
               weight_decay=decay, scheduler=schedule, generator=g, callbacks=[callback],
               progress=False, monitor=0, precision=precision)
    wall_train = time.perf_counter() - tic
    final = evaluate(rbm, train, test, final_betas, 100, seed + 12345)
    samples = draw_samples(rbm)
    return {
        "method": name,
        "epochs": epochs,
        "updates": epochs * (train.shape[0] // 100),
        "lr": lr,
        "momentum": momentum,
        "weight_decay": decay,
        "precision": "float32" if precision is None else precision.name,
        "train_seconds": sum(r["seconds"] for r in hist.records),
        "wall_seconds_train_and_curve": wall_train,
        "final": final,
        "curve": curve,
    }, samples


def report():
    runs = []
    for path in sorted(RESULTS.glob("mnist_loglik_*.json")):
        runs.append(json.loads(path.read_text()))
    if not runs:
        raise SystemExit("no per-method results to merge")
    merged = {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "published": PUBLISHED,
        "machine": runs[0]["machine"],
        "runs": runs,
    }
    (RESULTS / "mnist_loglik.json").write_text(json.dumps(merged, indent=1))
    lines = [
        "# MNIST test log-likelihood, 784 x 500 Bernoulli RBM",
        "",
        merged["protocol"],
        "",
        "| method | epochs (updates) | train s | log Z (AIS) ± 3σ | reverse-AIS log Z | "
        "test LL (AIS) | test LL (reverse AIS) | train LL | AIS s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        f = r["final"]
        lo, hi = f["log_z_bracket_3sigma"]
        lines.append(
            f"| {r.get('run', r['method'])} | {r['epochs']} ({r['updates']}) | "
            f"{r['train_seconds']:.0f} | "
            f"{f['log_z']:.2f} [{lo:.2f}, {hi:.2f}] | {f['reverse_log_z']:.2f} | "
            f"{f['test_ll']:.2f} | {f['reverse_test_ll']:.2f} | {f['train_ll']:.2f} | "
            f"{f['ais_seconds']:.0f} + {f['reverse_seconds']:.0f} |"
        )
    lines += ["", "Published (Salakhutdinov and Murray 2008, Table 2, 500 hidden units): "
              + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()) + " nats.", ""]
    (RESULTS / "mnist_loglik.md").write_text("\n".join(lines))
    plot_curves(runs)
    print("\n".join(lines))


def plot_curves(runs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for r in runs:
        ep = [c["epoch"] for c in r["curve"]]
        label = r.get("run", r["method"])
        (line,) = ax.plot(ep, [c["test_ll"] for c in r["curve"]], marker="o", label=label)
        ax.plot([r["epochs"]], [r["final"]["test_ll"]], marker="*", ms=12,
                color=line.get_color())
    for k in ("CD1(25)", "CD3(25)", "CD25(25)"):
        ax.axhline(PUBLISHED[k], lw=0.6, ls="--", color="grey")
        ax.text(ax.get_xlim()[1], PUBLISHED[k], f" SM08 {k}", fontsize=7, va="center",
                color="grey")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test log-likelihood (nats)")
    ax.set_title("o: AIS with 1,000 betas during training; *: published schedule", fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "mnist_loglik_curves.png", dpi=120)


def plot_samples(samples, name):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    grid = samples[:100].reshape(10, 10, 28, 28).transpose(0, 2, 1, 3).reshape(280, 280)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(f"{name}: samples after 1000 Gibbs sweeps")
    fig.tight_layout()
    fig.savefig(RESULTS / f"mnist_loglik_samples_{name}.png", dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=sorted(METHODS))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--curve-every", type=int, default=5)
    ap.add_argument("--curve-betas", type=int, default=1000)
    ap.add_argument("--final-betas", type=int, default=14500)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the per-run result file")
    ap.add_argument("--precision", choices=("float32", "bf16"), default="float32",
                    help="precision of the training step's weight products")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run, nothing written")
    ap.add_argument("--report", action="store_true", help="merge per-method results")
    args = ap.parse_args()
    if args.report:
        report()
        return
    torch.set_num_threads(args.threads)
    train, test = load_binarized(args.data)
    if args.quick:
        for name in METHODS:
            res, _ = run_method(name, 1, train[:1000], test[:500], 1, 20, 50)
            print(name, json.dumps(res["final"]))
        return
    if args.method is None:
        raise SystemExit("give --method, --report or --quick")
    tic = time.perf_counter()
    precision = None if args.precision == "float32" else Precision(args.precision, strict=True)
    res, samples = run_method(args.method, args.epochs, train, test, args.curve_every,
                              args.curve_betas, args.final_betas, precision=precision)
    res["wall_seconds_total"] = time.perf_counter() - tic
    name = f"{args.method}{args.tag}"
    res["run"] = name
    res["machine"] = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "harmonium": harmonium.__version__,
        "device": "cpu",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"mnist_loglik_{name}.json").write_text(json.dumps(res, indent=1))
    plot_samples(samples, name)
    print(json.dumps(res["final"], indent=1))


if __name__ == "__main__":
    main()
