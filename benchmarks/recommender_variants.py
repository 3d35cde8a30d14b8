"""Choosing the RBM variant for benchmarks/movielens.py on validation data only.

For each protocol (random, temporal) and seed, the benchmark's training part
(harmonium.ratings.split_ratings, 10% held out) is split again the same way (the
validation split RBMRecommender.fit(validation=...) draws, here with a fixed seed);
each variant trains on the rest for the full schedule and is scored on the
validation ratings (RMSE overall and on items the model knows). The test part is
never read. Variants: the default RBM (item orientation), the factored RBM
(``factors=C``), the conditional RBM whose r holds the training ratings only, and
both; optionally the user orientation.

Run: python benchmarks/recommender_variants.py [--seeds 1] [--factors 30] [--epochs 40]
[--protocols temporal random] [--only NAME ...] [--append]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from harmonium import RBMRecommender
from harmonium.ratings import load_movielens, split_ratings

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-small"


def variants(factors: int, user: bool) -> dict:
    out = {"item (default)": {}, f"item factored C={factors}": {"factors": factors},
           "item conditional": {"conditional": True},
           f"item conditional factored C={factors}": {"conditional": True,
                                                      "factors": factors}}
    if user:
        out["user"] = {"orientation": "user"}
        out[f"user conditional factored C={factors}"] = {
            "orientation": "user", "conditional": True, "factors": factors}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--factors", type=int, default=30)
    p.add_argument("--protocols", nargs="+", default=["temporal", "random"])
    p.add_argument("--user", action="store_true", help="also the user orientation")
    p.add_argument("--only", nargs="+", help="run only the variants of these names")
    p.add_argument("--append", action="store_true",
                   help="keep the rows of results/recommender_variants.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_movielens(args.data)
    u, i, r, t = data.users, data.items, data.ratings, data.timestamps
    out = RESULTS / "recommender_variants.json"
    rows = json.loads(out.read_text())["rows"] if args.append and out.exists() else []
    chosen = {name: options for name, options in variants(args.factors, args.user).items()
              if args.only is None or name in args.only}
    for seed in range(args.seeds):
        for protocol in args.protocols:
            train, _ = split_ratings(protocol, u, t, test_fraction=0.1, seed=seed)
            fit_rows, val_rows = split_ratings(protocol, u[train], t[train],
                                               test_fraction=0.1, seed=1000 + seed)
            fit_rows, val_rows = train[fit_rows], train[val_rows]
            for name, options in chosen.items():
                rec = RBMRecommender(epochs=args.epochs, **options)
                start = time.perf_counter()
                rec.fit(u[fit_rows], i[fit_rows], r[fit_rows], progress=False,
                        generator=torch.Generator().manual_seed(seed))
                seconds = time.perf_counter() - start
                m = rec.evaluate(u[val_rows], i[val_rows], r[val_rows])
                rows.append({"protocol": protocol, "seed": seed, "variant": name,
                             "val_rmse": m["rmse"],
                             "val_rmse_known_items": m["groups"]["known items"]["rmse"],
                             "fit_seconds": seconds})
                print(json.dumps(rows[-1]), flush=True)
                out.write_text(json.dumps(
                    {"epochs": args.epochs, "rows": rows}, indent=1))
    lines = ["# RBM variants on validation splits of MovieLens-small training parts", "",
             "Validation RMSE (test parts never read); "
             f"{args.epochs} epochs; 1 thread. `python benchmarks/recommender_variants.py`.",
             "", "| protocol | seed | variant | val RMSE | val RMSE known items | fit s |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {x['protocol']} | {x['seed']} | {x['variant']} | {x['val_rmse']:.4f} | "
              f"{x['val_rmse_known_items']:.4f} | {x['fit_seconds']:.0f} |" for x in rows]
    means = {}
    for x in rows:
        means.setdefault((x["protocol"], x["variant"]), []).append(x["val_rmse"])
    lines += ["", "Mean over seeds: " + "; ".join(
        f"{p} {v} {np.mean(m):.4f}" for (p, v), m in means.items())]
    (RESULTS / "recommender_variants.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
