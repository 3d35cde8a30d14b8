"""Recommender at Netflix scale: a synthetic data set of Netflix shape, fit setup and training.

(1) Generation (nothing downloaded). ``--users`` x ``--items`` (default 480,189 x
    17,770) with about ``--ratings`` ratings (default 100 M), from a low-rank taste
    model: rank ``--rank`` user and item factors, user and item biases,
    ``rating = clip(round(mu + b_u + b_i + u.v + noise), 1, 5)``. Popularity skew: item
    weights log-normal (sigma 2.0: the median item gets about a fifth of the mean
    item's ratings at the default shape, a tenth in Netflix), user activity log-normal
    (sigma 1.25: many light users, few heavy ones; median about half the mean); each
    user's items are drawn from the popularity weights without repeats
    (with-replacement draws, repeats removed, the shortfall redrawn 6 times; heavy
    users may end short, so the total is "about" the target, 1.4% under it at the
    default shape, and reported exactly). Time axis: each user has a
    join time (later joins more likely, the service grows) and an active span, each
    item a release time; a rating's timestamp is uniform in the user's span and not
    before the item's release (int32 seconds, 1999-11-11 to 2005-12-31). Arrays:
    int32 user, int32 item, int8 rating, int32 timestamp, generated per chunk of users
    into preallocated arrays, so generation memory stays near the final arrays' size.
(2) Fit setup. The steps of ``RBMRecommender.fit`` before the first mini-batch, timed
    one by one (the same calls as ``harmonium.tasks._recommend_fit.train_fresh``):
    parsing and validating the columns, the rating levels, the id maps and the
    duplicate check (``RatingTable.from_ids``), the bias model and the per-case index
    (``_set_data``), and the RBM's initialisation.
(3) Training. The real training loop (``train_recommender``: CD with the first epoch's
    T=1, momentum, weight decay) run on ``--batches`` mini-batches of cases drawn at
    random without replacement (a random subset of the cases: with skewed popularity,
    a batch's cost is proportional to the ratings it holds, so the subset is random,
    not the first cases). Reports seconds per batch, cases/s and rated entries/s; the
    epoch time is an extrapolation (all ratings at the measured ratings/s) unless
    ``--batches 0``, which runs and times one full epoch.

Peak memory: VmHWM of /proc/self/status (resident high-water mark), reset between
phases through /proc/self/clear_refs where the kernel allows it, and RssAnon.

Usage:
    python benchmarks/recommender_scale.py --ratings 1000000 --batches 20   # 1% check
    python benchmarks/recommender_scale.py --threads 1 --batches 30
Writes benchmarks/results/recommender_scale.{json,md} (``--tag`` adds a run under
that name; runs with other tags are kept).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium.models.rating_init import init_rating_rbm
from harmonium.ratings.columns import parse_ratings
from harmonium.ratings.scale import level_indices, rating_levels
from harmonium.ratings.table import RatingTable
from harmonium.tasks._recommend_conditional import init_implicit
from harmonium.tasks._recommend_task import train_recommender

OUT = Path(__file__).resolve().parent / "results"
T_START, T_END = 942_278_400, 1_136_073_599  # 1999-11-11 and 2005-12-31 (UTC)


def status_kib(field: str) -> int | None:
    """A field of /proc/self/status in KiB (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the resident high-water mark (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory() -> dict:
    hwm, anon = status_kib("VmHWM"), status_kib("RssAnon")
    return {"peak_rss_mib": None if hwm is None else round(hwm / 1024, 1),
            "rss_anon_mib": None if anon is None else round(anon / 1024, 1)}


def generate(n_users: int, n_items: int, n_ratings: int, rank: int, seed: int,
             chunk_ratings: int = 2_000_000) -> tuple[dict, dict]:
    """The synthetic data set (see the module docstring) and its description."""
    rng = np.random.default_rng(seed)
    # popularity: log-normal item weights, shuffled over item ids
    pop = rng.lognormal(0.0, 2.0, n_items)
    pop /= pop.sum()
    cdf = np.cumsum(pop)
    cdf[-1] = 1.0
    # activity: log-normal, at least 1 rating, at most 99% of the items
    act = rng.lognormal(0.0, 1.25, n_users)
    c = n_ratings / act.sum()
    for _ in range(5):  # the clipping adds (light users) and removes (heavy users) ratings
        counts = np.clip(np.rint(act * c), 1, int(0.99 * n_items)).astype(np.int64)
        c *= (n_ratings - (counts == 1).sum()) / max(1, counts[counts > 1].sum())
    # taste model
    mu = 3.6
    scale = (0.5 ** 2 / rank) ** 0.25  # u.v has standard deviation about 0.5
    uf = rng.normal(0, scale, (n_users, rank)).astype(np.float32)
    vf = rng.normal(0, scale, (n_items, rank)).astype(np.float32)
    z = (np.log(pop) - np.log(pop).mean()) / np.log(pop).std()
    bu = rng.normal(0, 0.4, n_users).astype(np.float32)
    bi = (0.15 * z + rng.normal(0, 0.4, n_items)).astype(np.float32)  # popular rate higher
    # time: users join later more often (service growth), active for a while
    join = T_START + (T_END - T_START) * rng.beta(2.0, 1.0, n_users)
    span = np.minimum(rng.exponential(0.25 * (T_END - T_START), n_users), T_END - join)
    release = T_START + (T_END - T_START) * rng.beta(1.0, 1.5, n_items) * 0.95

    cap = int(counts.sum())
    users = np.empty(cap, np.int32)
    items = np.empty(cap, np.int32)
    ratings = np.empty(cap, np.int8)
    stamps = np.empty(cap, np.int32)
    filled = 0
    cum = np.cumsum(counts)
    edges = np.unique(np.r_[0, np.searchsorted(cum, np.arange(chunk_ratings, cap, chunk_ratings)),
                            n_users])
    for start, stop in itertools.pairwise(edges):
        want = counts[start:stop]
        ids = np.arange(start, stop, dtype=np.int64)
        keys = np.empty(0, np.int64)
        need = want
        for _ in range(7):  # draw, drop repeats, redraw the shortfall
            u = np.repeat(ids, need)
            i = np.searchsorted(cdf, rng.random(len(u)), side="right").astype(np.int64)
            keys = np.concatenate([keys, u * n_items + np.minimum(i, n_items - 1)])
            keys.sort(kind="stable")  # radix sort of int64; np.unique's hashing is slower
            keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
            have = np.bincount(keys // n_items - start, minlength=len(ids))
            need = np.maximum(want - have, 0)
            if not need.any():
                break
        # a user's keys beyond its count (none unless the first draw overshot) are dropped
        ku, ki = keys // n_items, keys % n_items
        rank_in_user = np.arange(len(keys)) - np.repeat(np.r_[0, np.cumsum(have)[:-1]], have)
        keep = rank_in_user < want[ku - start]
        ku, ki = ku[keep], ki[keep]
        m = len(ku)
        score = (mu + bu[ku] + bi[ki] + np.einsum("nr,nr->n", uf[ku], vf[ki])
                 + rng.normal(0, 0.9, m).astype(np.float32))
        t = join[ku] + span[ku] * rng.random(m)
        t = np.clip(np.maximum(t, release[ki] + 86400 * rng.random(m) * 30), T_START, T_END)
        order = rng.permutation(m)  # rows not sorted by user within a chunk
        sl = slice(filled, filled + m)
        users[sl], items[sl] = ku[order], ki[order]
        ratings[sl] = np.clip(np.rint(score[order]), 1, 5)
        stamps[sl] = t[order]
        filled += m
    users, items, ratings, stamps = (a[:filled] for a in (users, items, ratings, stamps))
    per_user = np.bincount(users, minlength=n_users)
    per_item = np.bincount(items, minlength=n_items)
    desc = {
        "ratings": int(filled), "target_ratings": int(n_ratings),
        "users": int(n_users), "items": int(n_items), "rank": rank, "seed": seed,
        "users_with_ratings": int((per_user > 0).sum()),
        "items_with_ratings": int((per_item > 0).sum()),
        "ratings_per_user": {"mean": round(float(per_user.mean()), 1),
                             "median": float(np.median(per_user)),
                             "max": int(per_user.max()),
                             "share_under_50": round(float((per_user < 50).mean()), 3)},
        "ratings_per_item": {"mean": round(float(per_item.mean()), 1),
                             "median": float(np.median(per_item)),
                             "max": int(per_item.max()),
                             "top_1pct_share": round(float(np.sort(per_item)[::-1][
                                 :max(1, n_items // 100)].sum() / filled), 3)},
        "rating_histogram": np.bincount(ratings, minlength=6)[1:].tolist(),
        "rating_mean": round(float(ratings.mean()), 3),
        "time_range": [int(stamps.min()), int(stamps.max())],
        "bytes": int(sum(a.nbytes for a in (users, items, ratings, stamps))),
    }
    return {"users": users, "items": items, "ratings": ratings, "timestamps": stamps}, desc


def setup(rec, gen, users, items, ratings) -> dict:
    """``fit``'s work before the first mini-batch, step by step; returns seconds per step."""
    steps = {}
    tic = time.perf_counter()
    u_raw, i_raw, r = parse_ratings(users, items, ratings)
    steps["parse columns"] = time.perf_counter() - tic
    tic = time.perf_counter()
    rec.levels_ = rating_levels(rec.rating_scale, r)
    level = level_indices(r, rec.levels_)
    del r
    steps["rating levels"] = time.perf_counter() - tic
    tic = time.perf_counter()
    table = RatingTable.from_ids(u_raw, i_raw, level)
    del u_raw, i_raw, level
    steps["id maps + duplicate check"] = time.perf_counter() - tic
    tic = time.perf_counter()
    rec._set_data(table)
    steps["bias model + case index"] = time.perf_counter() - tic
    tic = time.perf_counter()
    _, unit, _, n_units = rec._ratings.grouped(rec.orientation)
    rec.rbm_ = init_rating_rbm(
        unit, rec._ratings.level, n_units, len(rec.levels_), rec.n_hidden,
        weight_std=rec.weight_std, generator=gen, dtype=rec.dtype, device=rec.device)
    init_implicit(rec, None, n_units)
    rec.history_ = []
    steps["RBM initialisation"] = time.perf_counter() - tic
    return {k: round(v, 2) for k, v in steps.items()}


def train(rec, gen, n_batches: int) -> dict:
    """Time the training loop on ``n_batches`` random mini-batches (0: one full epoch)."""
    counts = rec._cases.counts.cpu()
    n_cases = len(counts)
    if n_batches == 0:
        cases = torch.arange(n_cases)
    else:
        perm = torch.randperm(n_cases, generator=torch.Generator().manual_seed(1))
        cases = perm[:min(n_cases, n_batches * rec.batch_size)].sort().values
    rated = int(counts[cases].sum())
    tic, cpu = time.perf_counter(), time.process_time()
    train_recommender(rec, cases.to(rec.device), 1, rec.cd_steps[:1], generator=gen,
                      progress=False)
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    batches = -(-len(cases) // rec.batch_size)
    total = int(counts.sum())
    return {
        "full_epoch": n_batches == 0, "batches": batches, "cases": len(cases),
        "cases_in_epoch": n_cases, "rated_entries": rated, "seconds": round(seconds, 2),
        "seconds_per_batch": round(seconds / batches, 3),
        # CPU time of this process (less sensitive to other jobs on a shared machine)
        "cpu_seconds_per_batch": round(cpu / batches, 3),
        "cases_per_s": round(len(cases) / seconds, 1),
        "ratings_per_s": round(rated / seconds),
        "batches_in_epoch": -(-n_cases // rec.batch_size),
        # the sample is a uniform random subset of the cases, so seconds per batch times
        # the batches of an epoch is the estimate (the end-of-epoch catch-up of the
        # untouched weight rows, O(all of W) once, is in the sample's time)
        "epoch_seconds": round(seconds if n_batches == 0 else
                               seconds / batches * -(-n_cases // rec.batch_size), 1),
        "epoch_seconds_by_ratings": round(total / (rated / seconds), 1),
        "epoch_is_extrapolated": n_batches != 0,
        "finite": bool(torch.isfinite(rec.rbm_.weight).all()),
    }


def fmt_mib(x) -> str:
    return "n/a" if x is None else f"{x:,.0f} MiB"


def write_report(tag: str, run: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "recommender_scale.json"
    runs = json.loads(path.read_text()) if path.exists() else {}
    runs[tag] = run
    path.write_text(json.dumps(runs, indent=2) + "\n")
    lines = ["# RBM recommender at Netflix scale (synthetic data)", "",
             "Written by `benchmarks/recommender_scale.py` on the shared 2-core CPU machine "
             "(24 GiB). Data generated from a low-rank taste model with skewed popularity "
             "and a time axis (see the script's docstring); nothing downloaded. Peak RSS in a "
             "phase: VmHWM after resetting it at the phase's start (/proc/self/clear_refs), "
             "so it includes what earlier phases left resident.", ""]
    for name, r in runs.items():
        d, tr, m = r["data"], r["train"], r["memory"]
        lines += [f"## {name}: {d['users']:,} users x {d['items']:,} items, "
                  f"{d['ratings']:,} ratings", "",
                  f"Reproduce: `{r['command']}`", "",
                  f"Model: `RBMRecommender(n_hidden={r['model']['n_hidden']}, "
                  f"orientation={r['model']['orientation']!r}, "
                  f"batch_size={r['model']['batch_size']})`, float32, CPU, "
                  f"{r['threads']} torch thread(s), T=1 (the first epoch's CD steps).", "",
                  "| phase | seconds | peak RSS in the phase | RssAnon after |",
                  "| --- | --- | --- | --- |",
                  f"| generate (int32 user/item/time, int8 rating: "
                  f"{d['bytes'] / 2**20:,.0f} MiB) | {r['generate_seconds']:.1f} | "
                  f"{fmt_mib(m['generate']['peak_rss_mib'])} | "
                  f"{fmt_mib(m['generate']['rss_anon_mib'])} |",
                  f"| fit setup (all steps) | {sum(r['setup'].values()):.1f} | "
                  f"{fmt_mib(m['setup']['peak_rss_mib'])} | "
                  f"{fmt_mib(m['setup']['rss_anon_mib'])} |"]
        if tr is not None:
            what = ("one full epoch" if tr["full_epoch"] else
                    f"{tr['batches']} random mini-batches")
            lines.append(f"| training, {what} | {tr['seconds']:.1f} | "
                         f"{fmt_mib(m['train']['peak_rss_mib'])} | "
                         f"{fmt_mib(m['train']['rss_anon_mib'])} |")
        lines += ["", "Fit setup steps (s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in r["setup"].items()) + ".", ""]
        if tr is not None:
            epoch = (f"**{tr['epoch_seconds']:,.0f} s per epoch, measured**" if tr["full_epoch"]
                     else f"**{tr['epoch_seconds']:,.0f} s per epoch, extrapolated** "
                          f"({tr['batches_in_epoch']:,} batches at the measured seconds per "
                          f"batch; scaling by rated entries instead gives "
                          f"{tr['epoch_seconds_by_ratings']:,.0f} s; a full epoch was not "
                          f"run)")
            lines += [f"Training: {tr['cases']:,} of {tr['cases_in_epoch']:,} cases "
                      f"({tr['rated_entries']:,} rated entries) in {tr['batches']} batches: "
                      f"{tr['seconds_per_batch']:.3f} s per batch" + (
                          f" ({tr['cpu_seconds_per_batch']:.3f} s of CPU time)"
                          if "cpu_seconds_per_batch" in tr else "") +
                      f", {tr['cases_per_s']:,.1f} "
                      f"cases/s, {tr['ratings_per_s']:,} rated entries/s; {epoch}. "
                      f"Parameters finite afterwards: {tr['finite']}.", ""]
        else:
            lines += ["Training: not run at this shape (see the note).", ""]
        pu, pi = d["ratings_per_user"], d["ratings_per_item"]
        lines += [f"Data: ratings per user mean {pu['mean']}, median {pu['median']:.0f}, max "
                  f"{pu['max']:,} ({pu['share_under_50']:.0%} of users under 50); per item "
                  f"mean {pi['mean']:,}, median {pi['median']:,.0f}, max {pi['max']:,} "
                  f"(top 1% of items: {pi['top_1pct_share']:.0%} of the ratings); rating "
                  f"histogram 1-5 {d['rating_histogram']} (mean {d['rating_mean']}).", ""]
        if r.get("note"):
            lines += [r["note"], ""]
        lines += [f"Peak RSS of the whole process: {fmt_mib(m['process_peak_rss_mib'])}"
                  f"{'' if m['per_phase'] else ' (per-phase reset unavailable: cumulative)'}."
                  f" {r['machine']}.", ""]
    lines += ["GPU: no GPU was lent to the session that wrote this file; not measured.", ""]
    (OUT / "recommender_scale.md").write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=480_189)
    p.add_argument("--items", type=int, default=17_770)
    p.add_argument("--ratings", type=int, default=100_480_507)
    p.add_argument("--rank", type=int, default=16, help="rank of the taste model")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--batches", type=int, default=30,
                   help="mini-batches to time (0: one full epoch; -1: no training)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--orientation", default="item", choices=("item", "user"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default=None, help="run name in the results (default: the shape)")
    p.add_argument("--note", default="", help="a sentence added to the report")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cmd = shlex.join(["python", "benchmarks/recommender_scale.py", *sys.argv[1:]])
    per_phase = reset_peak()
    mem = {}

    tic = time.perf_counter()
    data, desc = generate(a.users, a.items, a.ratings, a.rank, a.seed)
    gen_s = time.perf_counter() - tic
    mem["generate"] = memory()
    print(f"generated {desc['ratings']:,} ratings in {gen_s:.1f} s; {mem['generate']}",
          flush=True)

    rec = harmonium.RBMRecommender(n_hidden=a.hidden, orientation=a.orientation,
                                   batch_size=a.batch_size, rating_scale=(1, 5))
    gen = torch.Generator().manual_seed(a.seed)
    reset_peak()
    steps = setup(rec, gen, data["users"], data["items"], data["ratings"])
    del data
    gc.collect()
    mem["setup"] = memory()
    print(f"setup {steps}; {mem['setup']}", flush=True)

    tr = None
    if a.batches >= 0:
        gc.collect()
        reset_peak()
        tr = train(rec, gen, a.batches)
        mem["train"] = memory()
        print(f"train {tr}; {mem['train']}", flush=True)
    hwm = [v["peak_rss_mib"] for v in mem.values() if v["peak_rss_mib"] is not None]
    mem["process_peak_rss_mib"] = max(hwm) if hwm else None
    mem["per_phase"] = per_phase
    run = {"command": cmd, "threads": a.threads, "data": desc,
           "generate_seconds": round(gen_s, 1), "setup": steps, "train": tr, "memory": mem,
           "model": {"n_hidden": a.hidden, "orientation": a.orientation,
                     "batch_size": a.batch_size},
           "machine": f"{platform.processor() or platform.machine()}, torch "
                      f"{torch.__version__}, numpy {np.__version__}",
           "note": a.note}
    tag = a.tag or f"{a.users}x{a.items}x{desc['ratings']}"
    write_report(tag, run)


if __name__ == "__main__":
    main()
