"""RBM recommender against Surprise's recommenders on MovieLens-small, side by side.

Protocol (issue #7): ratings.csv of MovieLens-small (100,004 ratings, half stars);
for each seed, a random 90/10 split of the ratings; every model trains on the 90% and
is scored on the held-out 10%: RMSE, MAE and precision@10 (relevant: true rating >= 4;
recommended: among a user's 10 best-predicted held-out items and predicted >= 4).
Peers in the same run: global mean, user+item bias baseline (ours:
harmonium.ratings.BiasModel, regularised ALS), Surprise's BaselineOnly, SVD, SVDpp,
KNNBaseline (defaults, and the item-based pearson_baseline variant), and both RBM
orientations. The RBM+SVD blend: an RBM and an
SVD trained on the training part minus a validation tenth carved out of it; linear
blend weights (least squares with intercept) fitted on that validation tenth; applied
to the test ratings. Hyper-parameters were chosen on such a validation split of seed 0's
training part, never on a test part.

Run: python benchmarks/movielens.py [--quick] [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from harmonium import RBMRecommender
from harmonium.ratings import BiasModel, load_movielens, rating_metrics

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-small"


def surprise_models():
    from surprise import SVD, BaselineOnly, KNNBaseline, SVDpp

    return {
        "Surprise BaselineOnly": lambda s: BaselineOnly(verbose=False),
        "Surprise SVD": lambda s: SVD(random_state=s),
        "Surprise SVDpp": lambda s: SVDpp(random_state=s),
        "Surprise KNNBaseline": lambda s: KNNBaseline(verbose=False),
        "Surprise KNNBaseline (item, pearson_baseline)": lambda s: KNNBaseline(
            verbose=False, sim_options={"name": "pearson_baseline", "user_based": False}),
    }


def fit_surprise(make, seed, u, i, r):
    from surprise import Dataset, Reader

    ds = Dataset(Reader(rating_scale=(0.5, 5.0)))
    train = ds.construct_trainset(list(zip(u.tolist(), i.tolist(), r.tolist(), [None] * len(r),
                                           strict=True)))
    algo = make(seed)
    start = time.perf_counter()
    algo.fit(train)
    seconds = time.perf_counter() - start

    def predict(uq, iq):
        return np.array([algo.predict(a, b).est for a, b in zip(uq.tolist(), iq.tolist(),
                                                               strict=True)])

    return predict, seconds


def fit_rbm(options, seed, u, i, r):
    rec = RBMRecommender(**options)
    start = time.perf_counter()
    rec.fit(u, i, r, generator=torch.Generator().manual_seed(seed), progress=False)
    seconds = time.perf_counter() - start
    per_epoch = float(np.median([h["seconds"] for h in rec.history_]))
    return rec.predict, seconds, per_epoch


def run(args, write):
    data = load_movielens(args.data)
    u, i, r = data.users, data.items, data.ratings
    torch.set_num_threads(args.threads)
    epochs = 8 if args.quick else args.epochs
    rbms = {
        "RBM item (default, I-RBM)": dict(orientation="item", epochs=epochs),
        "RBM user (paper's U-RBM)": dict(orientation="user", epochs=epochs),
    }
    peers = surprise_models()
    seeds = [0] if args.quick else list(range(args.seeds))
    rows: dict[str, list] = {}

    def record(name, test, pred, seconds=None, per_epoch=None):
        m = rating_metrics(u[test], r[test], pred, k=10, threshold=4.0)
        m.update(fit_seconds=seconds, seconds_per_epoch=per_epoch)
        rows.setdefault(name, []).append(m)
        print(f"  {name:48s} rmse {m['rmse']:.4f} mae {m['mae']:.4f} "
              f"p@10 {m['precision@10']:.4f}" + (f"  fit {seconds:.1f}s" if seconds else ""),
              flush=True)

    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(len(r))
        n_test = len(r) // 10
        test, train = perm[:n_test], perm[n_test:]
        print(f"seed {seed}: {len(train)} training, {len(test)} test ratings", flush=True)
        ut, it, rt = u[train], i[train], r[train]
        record("global mean", test, np.full(len(test), rt.mean()))
        start = time.perf_counter()
        bias = BiasModel().fit(ut, it, rt)
        record("user+item bias (ours)", test, bias.predict(u[test], i[test]),
               time.perf_counter() - start)
        for name, make in peers.items():
            predict, seconds = fit_surprise(make, seed, ut, it, rt)
            record(name, test, predict(u[test], i[test]), seconds)
        for name, options in rbms.items():
            predict, seconds, per_epoch = fit_rbm(options, seed, ut, it, rt)
            record(name, test, predict(u[test], i[test]), seconds, per_epoch)
        # blend: models on train minus a validation tenth, weights fitted on that tenth
        n_val = len(train) // 10
        val, sub = train[:n_val], train[n_val:]
        rbm_b, _, _ = fit_rbm(rbms["RBM item (default, I-RBM)"], seed, u[sub], i[sub], r[sub])
        svd_b, _ = fit_surprise(peers["Surprise SVD"], seed, u[sub], i[sub], r[sub])
        features = [np.c_[np.ones(len(idx)), rbm_b(u[idx], i[idx]), svd_b(u[idx], i[idx])]
                    for idx in (val, test)]
        weights, *_ = np.linalg.lstsq(features[0], r[val], rcond=None)
        record("blend RBM item + SVD (weights fit on validation)", test,
               np.clip(features[1] @ weights, 0.5, 5.0))
        write(rows, epochs, seeds[: seeds.index(seed) + 1])  # partial results survive


def summarise(rows, epochs, seeds, args):
    summary = {}
    for name, ms in rows.items():
        s = {}
        for key in ("rmse", "mae", "precision@10", "fit_seconds", "seconds_per_epoch"):
            vals = [m[key] for m in ms if m.get(key) is not None]
            if vals:
                s[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                          "median": float(np.median(vals)), "values": vals}
        summary[name] = s
    return {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "data": str(args.data), "seeds": seeds, "rbm_epochs": epochs,
        "rbm_defaults": {k: v for k, v in vars(RBMRecommender(1)).items()
                         if isinstance(v, (int, float, str, tuple))},
        "threads": args.threads, "machine": platform.platform(),
        "results": summary,
    }


def write_markdown(result, path):
    res = result["results"]
    best_surprise = min((v["rmse"]["mean"], k) for k, v in res.items() if "Surprise" in k)
    lines = [
        "# MovieLens-small: RBM recommender vs Surprise",
        "",
        f"Seeds {result['seeds']} (random 90/10 splits of 100,004 ratings); mean ± std over "
        f"seeds; RBM epochs {result['rbm_epochs']}; {result['threads']} thread(s) on a shared "
        "2-core machine (timings are noisy: medians over seeds).",
        "",
        "| model | RMSE | MAE | precision@10 | fit time (median s) | s/epoch (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in sorted(res.items(), key=lambda kv: -kv[1]["rmse"]["mean"]):
        fit = f"{s['fit_seconds']['median']:.1f}" if "fit_seconds" in s else ""
        ep = f"{s['seconds_per_epoch']['median']:.2f}" if "seconds_per_epoch" in s else ""
        lines.append(
            f"| {name} | {s['rmse']['mean']:.4f} ± {s['rmse']['std']:.4f} | "
            f"{s['mae']['mean']:.4f} ± {s['mae']['std']:.4f} | "
            f"{s['precision@10']['mean']:.4f} | {fit} | {ep} |"
        )
    rbm = res["RBM item (default, I-RBM)"]
    svdpp = res["Surprise SVDpp"]
    wins = sum(a < b for a, b in zip(rbm["rmse"]["values"], svdpp["rmse"]["values"],
                                     strict=True))
    lines += [
        "",
        f"Best Surprise model by RMSE: {best_surprise[1]} ({best_surprise[0]:.4f}).",
        f"Default RBM (item) RMSE {rbm['rmse']['mean']:.4f} vs SVDpp "
        f"{svdpp['rmse']['mean']:.4f}; RBM beats SVDpp on "
        f"{wins}/{len(rbm['rmse']['values'])} seeds.",
        f"Training time: RBM item {rbm['fit_seconds']['median']:.1f} s "
        f"({rbm['seconds_per_epoch']['median']:.2f} s/epoch) vs SVDpp "
        f"{svdpp['fit_seconds']['median']:.1f} s "
        f"(ratio {rbm['fit_seconds']['median'] / svdpp['fit_seconds']['median']:.2f}).",
        "",
        result["protocol"],
    ]
    path.write_text("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one seed, 8 RBM epochs")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    name = "movielens_quick" if args.quick else "movielens"
    RESULTS.mkdir(exist_ok=True)

    def write(rows, epochs, seeds):
        result = summarise(rows, epochs, seeds, args)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
        write_markdown(result, RESULTS / f"{name}.md")

    run(args, write)
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
