"""A/B: the default RBM recommender of this tree against another source tree.

MovieLens-small, the committed protocol of ``movielens.py`` for one seed (a random
90/10 split of the ratings from ``numpy.random.default_rng(seed)``), the default
``RBMRecommender(orientation="item", epochs=40)`` trained with
``torch.Generator().manual_seed(seed)`` on one thread, by both trees in one process
(the baseline imported under another package name, as in ``fit_ab.py``). It checks
that a refactoring reproduces the committed RMSE.

Reproduce the committed run::

    git worktree add /tmp/harmonium-before 9b97803
    python benchmarks/recommender_ab.py --baseline /tmp/harmonium-before/src

Writes ``results/recommender_ab.{json,md}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from fit_ab import import_renamed
from harmonium.ratings import load_movielens

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "movielens-small"
OUT = ROOT / "benchmarks" / "results"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=40,
                        help="epochs of each fit (fewer to time epochs, not to reproduce "
                        "the committed RMSE)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_movielens(args.data)
    u, i, r = data.users, data.items, data.ratings
    perm = np.random.default_rng(args.seed).permutation(len(r))
    test, train = perm[: len(r) // 10], perm[len(r) // 10 :]
    sides = {"this tree": importlib.import_module("harmonium"),
             "baseline": import_renamed(args.baseline, "harmonium_baseline")}
    rows = []
    for name, package in sides.items():
        rec = package.RBMRecommender(orientation="item", epochs=args.epochs)
        tic, cpu = time.perf_counter(), time.process_time()
        rec.fit(u[train], i[train], r[train],
                generator=torch.Generator().manual_seed(args.seed), progress=False)
        seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
        pred = rec.predict(u[test], i[test])
        rows.append({"tree": name, "rmse": float(np.sqrt(np.mean((pred - r[test]) ** 2))),
                     "fit_seconds": seconds, "fit_cpu_seconds": cpu,
                     "epoch_seconds": [h["seconds"] for h in rec.history_]})
        print(rows[-1], flush=True)
    meta = {"seed": args.seed, "baseline": str(args.baseline), "threads": 1,
            "epochs": args.epochs,
            "date": time.strftime("%Y-%m-%d")}
    (OUT / "recommender_ab.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                        indent=2))
    lines = ["# RBM recommender: this tree against a baseline tree", "",
             f"MovieLens-small, seed {args.seed} random 90/10 split, default item RBM, "
             f"{args.epochs} epochs, 1 thread, both in one process; baseline "
             f"`{args.baseline}`.", "",
             "| tree | test RMSE | fit seconds | fit CPU seconds | median seconds per epoch |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {row['tree']} | {row['rmse']:.5f} | {row['fit_seconds']:.1f} | "
              f"{row['fit_cpu_seconds']:.1f} | {np.median(row['epoch_seconds']):.2f} |"
              for row in rows]
    (OUT / "recommender_ab.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
