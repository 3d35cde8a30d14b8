"""What fit's per-epoch monitor costs: a CD-1 epoch on 20,000 MNIST rows with and without it.

784 x 500 Bernoulli RBM, batch 100, one thread, interleaved repeats (the fastest of each
is compared: interference only ever slows a run down). Contenders: ``monitor=0`` (no
metrics), the default ``monitor=256`` (reconstruction error and the pseudo-likelihood
estimated from ``MONITOR_SITES`` sites per sample), and the same 256 samples with the
exact pseudo-likelihood over all 784 sites (what the monitor computed before).

Usage: python benchmarks/monitor_cost.py [--rows 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium.training import monitor
from harmonium.units import Bernoulli

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
OUT = Path(__file__).resolve().parent / "results"
NAMES = {"off": "monitor=0", "default": f"monitor=256, {monitor.MONITOR_SITES} sites/sample",
         "exact": "monitor=256, all 784 sites (exact)"}


def epoch_seconds(x: torch.Tensor, kind: str) -> tuple[float, float]:
    """Seconds of one training epoch with its metrics (the wall clock around ``fit``,
    what a user waits), and of the monitor alone: that wall clock minus the loop's own
    clock, which stops before the end-of-epoch metrics (immune to the epoch's noise)."""
    g = torch.Generator().manual_seed(0)
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=g)
    sites = monitor.MONITOR_SITES
    monitor.MONITOR_SITES = None if kind == "exact" else sites
    try:
        tic = time.perf_counter()
        hist = harmonium.fit(rbm, x, harmonium.CD(1), epochs=1, batch_size=100, lr=0.1,
                             generator=g, progress=False, monitor=0 if kind == "off" else 256)
        wall = time.perf_counter() - tic
        return wall, wall - hist.records[-1]["seconds"]
    finally:
        monitor.MONITOR_SITES = sites


def metric_seconds(x: torch.Tensor, kind: str, repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls of the monitor's metrics alone on 256 rows."""
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500),
                        generator=torch.Generator().manual_seed(0))
    rows = monitor.monitor_subset(x, 256)
    sites = monitor.MONITOR_SITES
    monitor.MONITOR_SITES = None if kind == "exact" else sites
    try:
        best = float("inf")
        for _ in range(repeats):
            tic = time.perf_counter()
            monitor.epoch_metrics(rbm, rows, None)
            best = min(best, time.perf_counter() - tic)
        return best
    finally:
        monitor.MONITOR_SITES = sites


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with np.load(MNIST) as f:
        x = torch.from_numpy((f["x_train"][: args.rows].reshape(args.rows, -1) / 255.0)
                             .astype(np.float32))
    runs = {k: [] for k in NAMES}
    outside = {k: [] for k in NAMES}  # fit's time outside the loop's clock
    for _ in range(args.repeats):
        for kind in NAMES:
            wall, rest = epoch_seconds(x, kind)
            runs[kind].append(wall)
            outside[kind].append(rest)
    best = {k: min(v) for k, v in runs.items()}
    cost = {k: min(outside[k]) - min(outside["off"]) for k in ("default", "exact")}
    share = {k: cost[k] / best["off"] for k in cost}
    alone = {k: metric_seconds(x, k) for k in ("default", "exact")}
    res = {"rows": args.rows, "repeats": args.repeats, "threads": 1, "seconds_runs": runs,
           "seconds_outside_loop_clock": outside, "seconds_best": best,
           "monitor_seconds": cost, "monitor_share_of_epoch": share,
           "metrics_alone_seconds": alone,
           "metrics_alone_over_epoch": {k: v / best["off"] for k, v in alone.items()},
           "monitor_sites": monitor.MONITOR_SITES}
    OUT.mkdir(exist_ok=True)
    (OUT / "monitor_cost.json").write_text(json.dumps(res, indent=2))
    lines = [f"# Cost of fit's per-epoch monitor ({args.rows:,} MNIST rows, CD-1, batch 100, "
             "784 x 500, 1 thread)", "",
             f"The fastest of {args.repeats} interleaved repeats. 'Monitor seconds': fit's "
             "wall clock minus the loop's own clock (which stops before the end-of-epoch "
             "metrics), less the same for monitor=0; its share is against the epoch "
             "without the monitor. 'Metrics alone' times the metrics by themselves "
             "(fastest of 5 warm calls).", "",
             "| monitor | seconds per epoch | monitor seconds (share of the epoch) | "
             "metrics alone, seconds | metrics alone / epoch |",
             "| --- | --- | --- | --- | --- |"]
    for k, name in NAMES.items():
        cells = ["", "", ""] if k == "off" else [
            f"{cost[k]:.3f} ({100 * share[k]:.1f}%)", f"{alone[k]:.3f}",
            f"{100 * alone[k] / best['off']:.2f}%"]
        lines.append(f"| {name} | {best[k]:.2f} | " + " | ".join(cells) + " |")
    (OUT / "monitor_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
