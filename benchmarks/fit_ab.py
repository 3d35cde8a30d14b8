"""A/B: ``harmonium.fit`` throughput of this tree against another harmonium source tree.

The same timing as ``rbm_throughput.py`` (784 x 500 Bernoulli RBM on MNIST / 255 as
float32, one epoch of CD-1 or PCD-1, lr 0.1, no momentum, no monitor) for both trees
in one process: the baseline tree is copied to a temporary folder with its package
renamed (``harmonium`` -> ``harmonium_baseline``), both are imported, and their
timings are interleaved (A B, then B A, ...), each after a short pause. Ratios compare
each side's fastest repeat (interference only slows a run down); medians are kept.

Reproduce the committed run (the tree before the one-loop redesign as the baseline)::

    git worktree add /tmp/harmonium-before 9b97803
    python benchmarks/fit_ab.py --baseline /tmp/harmonium-before/src --threads 2

Writes ``results/fit_ab.{json,md}`` (``--quick``: ``fit_ab_quick.*``, not committed;
``--name STEM``: ``results/STEM.*``). The streaming loop against the tree before it::

    git worktree add /tmp/harmonium-before 9c38b85
    python benchmarks/fit_ab.py --baseline /tmp/harmonium-before/src --name fit_ab_streaming
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
OUT = ROOT / "benchmarks" / "results"
SETTLE_S = 0.5


def import_renamed(src: Path, name: str):
    """Import the ``harmonium`` package under ``src`` as package ``name``."""
    folder = Path(tempfile.mkdtemp(prefix="fit_ab_"))
    shutil.copytree(src / "harmonium", folder / name)
    for path in (folder / name).rglob("*.py"):
        text = re.sub(r"\b(from|import) harmonium\b", rf"\1 {name}", path.read_text())
        path.write_text(text.replace('"harmonium.', f'"{name}.'))  # lazy-import tables
    sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def time_fit(package, x: torch.Tensor, batch: int, method: str) -> float:
    """Samples per second of one epoch of ``package.fit``."""
    units = importlib.import_module(f"{package.__name__}.units")
    g = torch.Generator().manual_seed(0)
    rbm = package.RBM(units.Bernoulli(784), units.Bernoulli(500), generator=g)
    m = package.CD(1) if method == "cd" else package.PCD(batch, 1)
    time.sleep(SETTLE_S)
    t = time.perf_counter()
    package.fit(rbm, x, m, epochs=1, batch_size=batch, lr=0.1, momentum=0.0, generator=g,
                progress=False, monitor=0)
    return len(x) / (time.perf_counter() - t)


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


def write(rows: list[dict], meta: dict, quick: bool, stem: str = "fit_ab") -> None:
    stem = f"{stem}_quick" if quick else stem
    (OUT / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# harmonium.fit throughput: this tree (A) against a baseline tree (B)", "",
        f"784 x 500 Bernoulli RBM, MNIST / 255 float32, {meta['n']} samples per timing, "
        f"{meta['threads']} threads, {meta['repeats']} interleaved repeats per side in one "
        f"process; baseline: `{meta['baseline']}`. Samples/s of each side's fastest "
        "repeat (median in brackets).", "",
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    parser.add_argument("--name", default="fit_ab",
                        help="file stem of the results (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n, repeats = (2000, 2) if args.quick else (10000, args.repeats)
    with np.load(MNIST) as f:
        x = torch.from_numpy((f["x_train"][:n].reshape(n, -1) / 255.0).astype(np.float32))
    sides = {"candidate": importlib.import_module("harmonium"),
             "baseline": import_renamed(args.baseline, "harmonium_baseline")}
    for package in sides.values():  # first-call costs out of the timings
        for method in ("cd", "pcd"):
            time_fit(package, x[:500], 10, method)
    runs: dict = {}
    for r in range(repeats):
        for method in ("cd", "pcd"):
            for batch in (10, 100):
                key = f"{method}@{batch}"
                order = list(sides) if r % 2 == 0 else list(sides)[::-1]
                for side in order:
                    rate = time_fit(sides[side], x, batch, method)
                    runs.setdefault(key, {s: [] for s in sides})[side].append(rate)
                print(f"repeat {r + 1}/{repeats} {key}: "
                      f"A {runs[key]['candidate'][-1]:,.0f}/s, "
                      f"B {runs[key]['baseline'][-1]:,.0f}/s", flush=True)
    meta = {"n": n, "threads": args.threads, "repeats": repeats,
            "baseline": str(args.baseline), "date": time.strftime("%Y-%m-%d")}
    write(summarise(runs), meta, args.quick, args.name)


if __name__ == "__main__":
    main()
