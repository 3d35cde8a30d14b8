"""A/B: ``harmonium.fit`` throughput of this tree against another harmonium source tree.

The same timing as ``rbm_throughput.py`` (784 x 500 Bernoulli RBM on MNIST / 255 as
float32, one epoch of CD-1 or PCD-1, lr 0.1, no momentum, no monitor) run by the two
source trees in alternating child processes (A B, then B A, ...), each child importing
one tree, warming up on a small fit, settling for half a second and timing one epoch.
Ratios compare each side's fastest repeat (interference only slows a run down); the
medians are kept too.

Reproduce the committed run (the tree before the one-loop redesign as the baseline)::

    git worktree add /tmp/harmonium-before 9b97803
    python benchmarks/fit_ab.py --baseline /tmp/harmonium-before/src --threads 2

Writes ``results/fit_ab.{json,md}`` (``--quick``: ``fit_ab_quick.*``, not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
OUT = ROOT / "benchmarks" / "results"
CHILD = """
import sys, time, numpy as np, torch
torch.set_num_threads({threads})
import harmonium
from harmonium.units import Bernoulli
with np.load({mnist!r}) as f:
    x = torch.from_numpy((f["x_train"][:{n}].reshape({n}, -1) / 255.0).astype(np.float32))
def run(data, batch):
    g = torch.Generator().manual_seed(0)
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=g)
    method = harmonium.CD(1) if {method!r} == "cd" else harmonium.PCD(batch, 1)
    t = time.perf_counter()
    harmonium.fit(rbm, data, method, epochs=1, batch_size=batch, lr=0.1, momentum=0.0,
                  generator=g, progress=False, monitor=0)
    return len(data) / (time.perf_counter() - t)
run(x[:500], {batch})  # warm-up: first-call costs out of the timing
time.sleep(0.5)
print(run(x, {batch}))
"""


def child(src: Path, method: str, batch: int, n: int, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
    code = CHILD.format(threads=threads, mnist=str(MNIST), n=n, method=method, batch=batch)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd="/")
    return float(out.stdout.strip().splitlines()[-1])


def summarise(runs: dict) -> list[dict]:
    rows = []
    for key, sides in runs.items():
        method, batch = key.split("@")
        a, b = sides["candidate"], sides["baseline"]
        rows.append({"method": method, "batch": int(batch),
                     "candidate_fastest": max(a), "baseline_fastest": max(b),
                     "ratio_fastest": max(a) / max(b),
                     "candidate_median": statistics.median(a),
                     "baseline_median": statistics.median(b),
                     "ratio_median": statistics.median(a) / statistics.median(b),
                     "candidate_runs": a, "baseline_runs": b})
    return rows


def write(rows: list[dict], meta: dict, quick: bool) -> None:
    stem = "fit_ab_quick" if quick else "fit_ab"
    (OUT / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# harmonium.fit throughput: this tree (A) against a baseline tree (B)", "",
        f"784 x 500 Bernoulli RBM, MNIST / 255 float32, {meta['n']} samples per timing, "
        f"{meta['threads']} threads, {meta['repeats']} alternating repeats per side; "
        f"baseline: `{meta['baseline']}`. Samples/s of each side's fastest repeat "
        "(median in brackets).", "",
        "| method | batch | this tree | baseline | ratio A/B fastest (median) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['method'].upper()}-1 | {r['batch']} | {r['candidate_fastest']:,.0f} "
            f"({r['candidate_median']:,.0f}) | {r['baseline_fastest']:,.0f} "
            f"({r['baseline_median']:,.0f}) | {r['ratio_fastest']:.3f} "
            f"({r['ratio_median']:.3f}) |")
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="the src folder of the other harmonium tree")
    parser.add_argument("--candidate", type=Path, default=ROOT / "src",
                        help="the src folder to measure (default: this tree)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    args = parser.parse_args(argv)
    n, repeats = (2000, 2) if args.quick else (10000, args.repeats)
    sides = {"candidate": args.candidate, "baseline": args.baseline}
    runs: dict = {}
    for r in range(repeats):
        for method in ("cd", "pcd"):
            for batch in (10, 100):
                key = f"{method}@{batch}"
                order = list(sides) if r % 2 == 0 else list(sides)[::-1]
                for side in order:
                    rate = child(sides[side], method, batch, n, args.threads)
                    runs.setdefault(key, {s: [] for s in sides})[side].append(rate)
                print(f"repeat {r + 1}/{repeats} {key}: "
                      f"A {runs[key]['candidate'][-1]:,.0f}/s, "
                      f"B {runs[key]['baseline'][-1]:,.0f}/s", flush=True)
    meta = {"n": n, "threads": args.threads, "repeats": repeats,
            "baseline": str(args.baseline), "date": time.strftime("%Y-%m-%d")}
    write(summarise(runs), meta, args.quick)


if __name__ == "__main__":
    main()
