"""The recommender's optimiser step at Netflix shape: dense momentum against lazy rows.

Item orientation at Netflix shape has ``W`` of 480,189 users x 5 levels x 100 hidden
units (240 M float32 weights, 0.96 GB), but a mini-batch of 100 items reads only the
rows of the users who rated them. The dense update (``MomentumSGD`` after a
``WeightDecay`` gradient, what training did before ``LazyRowMomentum``) passes over
all of ``W``, its gradient and its momentum every step; the lazy one updates the
touched rows and catches the others up in closed form at the epoch's end (the flush,
timed separately). Each step here gets a gradient that is zero outside ``m`` random
rows, as autograd's is; the autograd pass itself (the same for both, and whose
gradient buffer is still a dense tensor of W's size) is not timed, except the
allocation and zero fill of that buffer, shown for scale. CPU time of this process
(``time.process_time``), one thread.

Run: python benchmarks/recommender_lazy.py [--rows 1000 12000 100000] [--steps 20]
Writes results/recommender_lazy.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from harmonium.tasks._recommend_lazy import DENSE_SHARE, LazyRowMomentum
from harmonium.training.sgd import MomentumSGD

RESULTS = Path(__file__).parent / "results"


def _dense_step(opt, w, decay):
    w.grad.add_(w, alpha=decay)  # the WeightDecay transform
    opt.step()


def time_optimisers(n_rows, shape, touched, steps, seed=0):
    """CPU seconds per step of the dense and the lazy update, and of the lazy flush."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in ("dense", "lazy"):
        w = torch.nn.Parameter(torch.randn(n_rows, *shape, generator=g) * 0.01)
        w.grad = torch.zeros_like(w)
        if name == "dense":
            opt = MomentumSGD([w], lr=0.2, momentum=0.9)
        else:
            opt = LazyRowMomentum([{"params": [w], "decay": 0.001, "rows": True}], lr=0.2,
                                  momentum=0.9)
        cpu = 0.0
        for _ in range(steps):
            rows = torch.randperm(n_rows, generator=g)[:touched].sort().values
            w.grad.zero_()
            w.grad[rows] = torch.randn(touched, *shape, generator=g) * 1e-3
            tic = time.process_time()
            if name == "dense":
                _dense_step(opt, w, 0.001)
            else:
                opt.touch(w, rows)
                opt.step()
            cpu += time.process_time() - tic
        out[f"{name}_step_cpu_s"] = cpu / steps
        if name == "lazy":
            tic = time.process_time()
            opt.flush()
            out["lazy_flush_cpu_s"] = time.process_time() - tic
        del w, opt
    tic = time.process_time()
    for _ in range(3):
        torch.zeros(n_rows, *shape)
    out["dense_gradient_buffer_cpu_s"] = (time.process_time() - tic) / 3
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--units", type=int, default=480_189)
    p.add_argument("--levels", type=int, default=5)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--rows", type=int, nargs="+", default=[1_000, 12_000, 100_000])
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for touched in args.rows:
        r = {"touched_rows": touched, "share": touched / args.units,
             **time_optimisers(args.units, (args.levels, args.hidden), touched, args.steps)}
        rows.append(r)
        print(json.dumps(r), flush=True)
    meta = {"units": args.units, "levels": args.levels, "hidden": args.hidden,
            "steps": args.steps, "dense_share": DENSE_SHARE, "threads": 1}
    (RESULTS / "recommender_lazy.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                              indent=1))
    lines = ["# Recommender optimiser step: dense momentum vs lazy rows", "",
             f"W of {args.units:,} units x {args.levels} levels x {args.hidden} hidden "
             f"(float32), {args.steps} steps per setting, CPU seconds of this process on 1 "
             "thread (the shared 2-core machine). Lazy steps touching more than "
             f"{DENSE_SHARE:.0%} of the rows update every row instead. "
             "`python benchmarks/recommender_lazy.py`.", "",
             "| touched rows per step | share | dense step (s) | lazy step (s) | lazy flush "
             "at epoch end (s) | dense gradient buffer alloc + zero (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['touched_rows']:,} | {r['share']:.1%} | {r['dense_step_cpu_s']:.3f} | "
              f"{r['lazy_step_cpu_s']:.3f} | {r['lazy_flush_cpu_s']:.2f} | "
              f"{r['dense_gradient_buffer_cpu_s']:.3f} |" for r in rows]
    (RESULTS / "recommender_lazy.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
