"""RBM recommender against Surprise's recommenders on MovieLens-small, three protocols.

Protocols (harmonium.ratings.splits, 10% held out, one split per seed): "random"
(random ratings), "temporal" (the newest 10% of each user's ratings by timestamp: many
held-out items were never rated before, as in production) and "users" (all ratings of
10% of the users: cold-start users). Every model trains on the training part only and
is scored on the held-out part: RMSE and MAE overall and per group (known / new items,
new users, light / heavy users: fewer training ratings than the median user or not),
and leak-free ranking metrics (precision@10, nDCG@10, MAP@10; relevant = true rating
>= 4; each user's top 10 among all items they did not rate in training, ranked from
training information only).

Models in the same run: the conditional RBM whose r flags the training ratings only
(chosen on validation, benchmarks/recommender_variants.py); global mean; our
regularised bias model
(harmonium.ratings.BiasModel); Surprise's BaselineOnly, SVD, SVDpp and KNNBaseline
(item-based, pearson_baseline similarity; no ranking metrics: scoring every item for
every user is beyond this machine's budget for it); the default RBM (item
orientation, 40 epochs); the RBM with early stopping on a validation split drawn from
the training part the same way as the test split (random for "users"); and a blend of
that RBM, its bias model and an SVD trained on the same training-minus-validation
ratings, weights fitted by least squares on the validation split (harmonium.ratings.
blend). Not comparable to the others, as it knows which pairs are held out (as every
Netflix Prize model knew the qualifying pairs; RMSE only, since ranking with that
knowledge is the test-set leak): the conditional RBM (paper's section 4) with the
held-out pairs flagged as rated (random and temporal protocols). No hyper-parameter
was tuned on a test part.

Run: python benchmarks/movielens.py [--seeds N] [--first-seed S] [--protocols ...] [--quick]
[--data PATH] [--name NAME]; python benchmarks/movielens.py --merge A.json B.json [...] joins
the seeds of runs of the same code into results/movielens.json (a run's "note", if any,
goes into the table's header).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from harmonium import RBMRecommender
from harmonium.ratings import (
    BiasModel,
    blend,
    evaluate_recommender,
    load_movielens,
    split_ratings,
)

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-small"
RBM_DEFAULT, RBM_VALIDATED = "RBM item (default)", "RBM item, early stopping on validation"
BLEND = "blend RBM + bias + SVD (weights fit on validation)"
CONDITIONAL = "RBM item conditional, held-out pairs flagged (Netflix setting; RMSE only)"
# chosen on validation (benchmarks/recommender_variants.py): r flags the training ratings
CONDITIONAL_TRAIN = "RBM item conditional (training ratings flagged)"


class Constant:
    """The global mean as a model."""

    def __init__(self, r):
        self.mu = float(np.mean(r))

    def predict(self, users, items):
        return np.full(len(users), self.mu)

    def recommend_many(self, users, k):
        return [(np.array([]), np.array([])) for _ in users]


class SurpriseModel:
    """A fitted Surprise algorithm with predict and, where its factors allow, top-k lists."""

    def __init__(self, make, seed, u, i, r):
        from surprise import Dataset, Reader

        ds = Dataset(Reader(rating_scale=(0.5, 5.0)))
        self.train = ds.construct_trainset(list(zip(u.tolist(), i.tolist(), r.tolist(),
                                                    [None] * len(r), strict=True)))
        self.algo = make(seed)
        start = time.perf_counter()
        self.algo.fit(self.train)
        self.seconds = time.perf_counter() - start

    def predict(self, users, items):
        return np.array([self.algo.predict(a, b).est for a, b in zip(
            np.asarray(users).tolist(), np.asarray(items).tolist(), strict=True)])

    def _scores(self, inner):
        a, t = self.algo, self.train
        s = np.full(t.n_items, t.global_mean) + getattr(a, "bi", 0)
        if inner is None:
            return s
        s = s + a.bu[inner]
        if hasattr(a, "qi"):
            p = a.pu[inner]
            if hasattr(a, "yj"):
                rated = [j for j, _ in t.ur[inner]]
                p = p + a.yj[rated].sum(0) / np.sqrt(len(rated))
            s = s + a.qi @ p
        return s

    def recommend_many(self, users, k):
        t, out = self.train, []
        for user in np.asarray(users).tolist():
            try:
                inner = t.to_inner_uid(user)
            except ValueError:  # a user the training part does not hold
                inner = None
            s = self._scores(inner)
            if inner is not None:
                s[[j for j, _ in t.ur[inner]]] = -np.inf
            top = np.argsort(-s, kind="stable")[:k]
            out.append((np.array([t.to_raw_iid(j) for j in top]), s[top]))
        return out


def surprise_models():
    from surprise import SVD, BaselineOnly, KNNBaseline, SVDpp

    return {
        "Surprise BaselineOnly": lambda s: BaselineOnly(verbose=False),
        "Surprise SVD": lambda s: SVD(random_state=s),
        "Surprise SVDpp": lambda s: SVDpp(random_state=s),
        "Surprise KNNBaseline (item, pearson_baseline)": lambda s: KNNBaseline(
            verbose=False, sim_options={"name": "pearson_baseline", "user_based": False}),
    }


def fit_rbm(seed, u, i, r, t, epochs, validation=None, implicit=None, conditional=False):
    rec = RBMRecommender(epochs=epochs, conditional=conditional or implicit is not None)
    start = time.perf_counter()
    rec.fit(u, i, r, timestamps=t, validation=validation, implicit=implicit, progress=False,
            generator=torch.Generator().manual_seed(seed))
    return rec, time.perf_counter() - start


def one_split(data, protocol, seed, args, record):
    """Fit every model on one split of one protocol and record its scores."""
    u, i, r, ts = data.users, data.items, data.ratings, data.timestamps
    train, test = split_ratings(protocol, u, ts, test_fraction=0.1, seed=seed)
    ut, it, rt, tt = u[train], i[train], r[train], ts[train]
    held = (u[test], i[test], r[test])
    print(f"{protocol} seed {seed}: {len(train)} training, {len(test)} held-out ratings",
          flush=True)

    def score(name, model, seconds=None, extra=None, ranking=True):
        model_rank = model if ranking else _NoRanking(model)
        m = evaluate_recommender(model_rank, *held, train_users=ut, train_items=it, k=10)
        m.update(fit_seconds=seconds, **(extra or {}))
        if not ranking:
            for key in ("precision@10", "recall@10", "ndcg@10", "map@10"):
                m[key] = None
        record(protocol, name, m)

    if protocol != "users":  # held-out users are unknown: the bias model, as below
        rec, seconds = fit_rbm(seed, ut, it, rt, tt, args.epochs, conditional=True)
        score(CONDITIONAL_TRAIN, rec, seconds)
    if args.only_conditional:
        return
    score("global mean", Constant(rt), ranking=False)
    start = time.perf_counter()
    score("user+item bias (ours)", BiasModel().fit(ut, it, rt), time.perf_counter() - start)
    for name, make in surprise_models().items():
        if args.quick and "SVDpp" in name:
            continue
        model = SurpriseModel(make, seed, ut, it, rt)
        score(name, model, model.seconds, ranking="KNN" not in name)
    rec, seconds = fit_rbm(seed, ut, it, rt, tt, args.epochs)
    score(RBM_DEFAULT, rec, seconds)
    if protocol != "users":  # held-out users are unknown: nothing to flag
        rec, seconds = fit_rbm(seed, ut, it, rt, tt, args.epochs, implicit=(u[test], i[test]))
        score(CONDITIONAL, rec, seconds, ranking=False)
    validation = "temporal" if protocol == "temporal" else "random"
    rec, seconds = fit_rbm(seed, ut, it, rt, tt, args.epochs, validation)
    score(RBM_VALIDATED, rec, seconds, {"best_epoch": rec.best_epoch_})
    t = rec._ratings  # the training part minus the validation split
    svd = SurpriseModel(surprise_models()["Surprise SVD"], seed, t.users.ids[t.u],
                        t.items.ids[t.i], rec.levels_[t.level])
    mixed = blend([rec, rec.baseline_, svd], *rec.validation_)
    score(BLEND, mixed, None, {"weights": mixed.weights_.tolist()}, ranking=False)


class _NoRanking:
    """A model whose ranking metrics are not computed (empty lists)."""

    def __init__(self, model):
        self.model = model

    def predict(self, users, items):
        return self.model.predict(users, items)

    def recommend_many(self, users, k):
        return [(np.array([]), np.array([])) for _ in users]


KEYS = ("rmse", "mae", "precision@10", "ndcg@10", "map@10", "fit_seconds")
GROUP_KEYS = ("known items", "new items", "new users", "light users", "heavy users")


def _stats(values):
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return None
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
            "median": float(np.median(vals)), "values": vals}


def summarise(rows, args):
    results = {}
    for protocol, models in rows.items():
        results[protocol] = {}
        for name, ms in models.items():
            s = {key: _stats([m.get(key) for m in ms]) for key in KEYS}
            s["groups"] = {g: _stats([m["groups"][g]["rmse"] for m in ms]) for g in GROUP_KEYS}
            s["group_n"] = {g: ms[0]["groups"][g]["n"] for g in GROUP_KEYS}
            s["extra"] = [{k: m[k] for k in ("best_epoch", "weights") if k in m} for m in ms]
            results[protocol][name] = s
    return {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "data": str(args.data),
            "seeds": list(range(args.seeds)), "rbm_epochs": args.epochs,
            "threads": args.threads, "machine": platform.platform(), "results": results}


def _cell(s, digits=4):
    if s is None:
        return ""
    return f"{s['mean']:.{digits}f}" + (f" ± {s['std']:.{digits}f}" if len(s["values"]) > 1
                                        else "")


def write_markdown(result, path):
    by_protocol = result.get("seeds_by_protocol") or dict.fromkeys(result["results"],
                                                                    result["seeds"])
    fewest = min(len(seeds) for seeds in by_protocol.values())
    lines = ["# MovieLens-small: RBM recommender vs Surprise on three protocols", "",
             f"Seeds {result['seeds']} (one split per protocol and seed; mean ± std over "
             f"seeds); RBM epochs {result['rbm_epochs']}; {result['threads']} thread(s) on a "
             "shared 2-core machine (fit times are medians, noisy)." + (
                 f" Only {fewest} to {len(result['seeds'])} seeds per protocol, not 5, to "
                 "fit this machine's time budget (`--seeds 5` runs the full protocol)."
                 if fewest < 5 else "") + (f" {result['note']}" if result.get("note") else ""),
             ""]
    for protocol, res in result["results"].items():
        order = sorted(res.items(), key=lambda kv: -kv[1]["rmse"]["mean"])
        lines += [f"## Protocol: {protocol} (seeds {by_protocol[protocol]})", "",
                  "| model | RMSE | MAE | precision@10 | nDCG@10 | MAP@10 | fit (median s) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, s in order:
            fit = f"{s['fit_seconds']['median']:.1f}" if s["fit_seconds"] else ""
            lines.append(f"| {name} | {_cell(s['rmse'])} | {_cell(s['mae'])} | "
                         f"{_cell(s['precision@10'])} | {_cell(s['ndcg@10'])} | "
                         f"{_cell(s['map@10'])} | {fit} |")
        n = order[0][1]["group_n"]
        lines += ["", "RMSE per group (held-out ratings in each group, first seed: " +
                  ", ".join(f"{g} {n[g]}" for g in GROUP_KEYS) + "):", "",
                  "| model | " + " | ".join(GROUP_KEYS) + " |",
                  "| --- |" + " --- |" * len(GROUP_KEYS)]
        for name, s in order:
            lines.append(f"| {name} | " + " | ".join(_cell(s["groups"][g], 3)
                                                     for g in GROUP_KEYS) + " |")
        best = min((kv for kv in order if kv[0] != CONDITIONAL),
                   key=lambda kv: kv[1]["rmse"]["mean"])
        peers = [kv for kv in order if "Surprise" in kv[0]]
        peer = min(peers, key=lambda kv: kv[1]["rmse"]["mean"]) if peers else None
        lines += ["", "Best RMSE without knowing the held-out pairs: "
                  f"{best[0]} ({best[1]['rmse']['mean']:.4f})" + (
            f"; strongest peer: {peer[0]} ({peer[1]['rmse']['mean']:.4f})." if peer else "."),
            ""]
    lines += [result["protocol"]]
    path.write_text("\n".join(lines) + "\n")


def merge_results(first, second):
    """One result holding the seeds of two runs of the same models (``second``'s appended).

    Statistics are recomputed from the per-seed values; group sizes are ``first``'s.
    """
    out = json.loads(json.dumps(first))
    out["seeds"] = sorted(set(first["seeds"] + second["seeds"]))
    seeds = first.get("seeds_by_protocol") or dict.fromkeys(first["results"], first["seeds"])
    out["seeds_by_protocol"] = {p: sorted(set(seeds.get(p, []) + (
        second["seeds"] if p in second["results"] else [])))
        for p in {**first["results"], **second["results"]}}
    for protocol, models in second["results"].items():
        for name, s in models.items():
            mine = out["results"].setdefault(protocol, {}).setdefault(name, s)
            if mine is s:
                continue
            for key in KEYS:
                mine[key] = _stats([*(mine[key] or {}).get("values", []),
                                    *(s[key] or {}).get("values", [])])
            for g in GROUP_KEYS:
                mine["groups"][g] = _stats([*(mine["groups"][g] or {}).get("values", []),
                                            *(s["groups"][g] or {}).get("values", [])])
            mine["extra"] = mine["extra"] + s["extra"]
    return out


def rewrite_markdown(path_json):
    """Regenerate the markdown table from a results JSON file (no refitting)."""
    path_json = Path(path_json)
    write_markdown(json.loads(path_json.read_text()), path_json.with_suffix(".md"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one seed, 5 RBM epochs, no SVDpp")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--only-conditional", action="store_true",
                   help=f"fit only the {CONDITIONAL_TRAIN!r} model (to add it to a run)")
    p.add_argument("--name", default=None, help="results file stem (default movielens)")
    p.add_argument("--merge", nargs="+", type=Path, metavar="RESULTS",
                   help="join results files (two or more) into results/movielens.json "
                        "and stop")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--protocols", nargs="+", default=["random", "temporal", "users"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.merge:
        if len(args.merge) < 2:
            p.error("--merge needs two or more results files")
        runs = [json.loads(f.read_text()) for f in args.merge]
        merged = functools.reduce(merge_results, runs)
        merged["note"] = " ".join(run["note"] for run in runs if run.get("note"))
        (RESULTS / "movielens.json").write_text(json.dumps(merged, indent=1))
        rewrite_markdown(RESULTS / "movielens.json")
        return
    if args.quick:
        args.seeds, args.epochs = 1, 5
    torch.set_num_threads(args.threads)
    name = args.name or ("movielens_quick" if args.quick else "movielens")
    data = load_movielens(args.data)
    rows: dict = {}

    def record(protocol, model, m):
        rows.setdefault(protocol, {}).setdefault(model, []).append(m)
        print(f"  {model:52s} rmse {m['rmse']:.4f} new items "
              f"{m['groups']['new items']['rmse']:.4f} map@10 {m['map@10'] or 0:.4f}",
              flush=True)

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:  # seeds outermost: partial results cover every protocol
        for protocol in args.protocols:
            one_split(data, protocol, seed, args, record)
            result = summarise(rows, args)
            result["seeds"] = list(range(args.first_seed, seed + 1))
            (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
            write_markdown(result, RESULTS / f"{name}.md")
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
