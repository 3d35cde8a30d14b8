"""Sparse retrieval benchmark: softmax vs sparsemax vs 1.5-entmax on correlated patterns.

Protocol (Millidge et al. 2022, as in benchmarks/associative_memory.py): store the first
N MNIST training images (pixels in [0, 1], d = 784; digits are strongly correlated
patterns), query with corrupted copies of stored images, one retrieval step of
``ModernHopfield(similarity="euclidean", separation=...)``, correct when the sum of
squared pixel errors is below T = 50. Corruptions: "noise" (clip(|x + N(0, s^2)|, 0, 1),
s = 0.5 and 1.0) and "half" (bottom half set to 0, retrieval not told which pixels).

beta is chosen per (N, corruption, separation) on validation queries (most retrieved,
then most identified, then least squared error): VALIDATION stored images with their
own noise draw; the reported figures are on TEST other stored images
with another draw. Reported: retrieved (error < T), identified (largest weight on the
right image), exact (the output equals the stored image to 1e-6: a sparse map does this
with exact zeros, softmax only when the other weights are negligible), mean
number of images with non-zero weight, mean squared error per image.

Run: python benchmarks/sparse_retrieval.py [--quick]. Single-threaded. Writes
benchmarks/results/sparse_retrieval.{json,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from harmonium import ModernHopfield  # noqa: E402
from harmonium.sparse import SEPARATIONS  # noqa: E402

ROOT = Path(__file__).resolve().parent
MNIST = ROOT.parent.parent / "shared" / "data" / "mnist.npz"
THRESHOLD = 50.0
BETAS = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
CORRUPTIONS = {"noise 0.5": ("noise", 0.5), "noise 1.0": ("noise", 1.0), "half": ("half", 0)}
VALIDATION, TEST = 300, 500


def _corrupt(x: torch.Tensor, kind: str, sigma: float, seed: int) -> torch.Tensor:
    if kind == "half":
        q = x.clone()
        q[:, 392:] = 0
        return q
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)).abs().clamp(0, 1)


def _score(memory: ModernHopfield, images, rows, queries) -> dict:
    r = memory.recall(queries)
    err = (r.states - images[rows]).pow(2).sum(1)
    exact = (r.states - images[rows]).abs().amax(1) <= 1e-6
    return {"retrieved": float((err < THRESHOLD).double().mean()),
            "identified": float((r.weights.argmax(1) == rows).double().mean()),
            "exact": float(exact.double().mean()),
            "support": float((r.weights > 0).sum(1).double().mean()),
            "mse": float(err.mean())}


def run(n_values, seed: int = 0) -> list[dict]:
    torch.set_num_threads(1)
    data = np.load(MNIST)["x_train"].reshape(-1, 784)
    rows_out = []
    for n in n_values:
        images = torch.from_numpy(data[:n].astype(np.float64) / 255.0)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        val_rows, test_rows = perm[:VALIDATION], perm[VALIDATION:VALIDATION + TEST]
        for name, (kind, sigma) in CORRUPTIONS.items():
            val_q = _corrupt(images[val_rows], kind, sigma, seed + 1)
            test_q = _corrupt(images[test_rows], kind, sigma, seed + 2)
            for separation in SEPARATIONS:
                start = time.perf_counter()
                val = {}
                for beta in BETAS:
                    memory = ModernHopfield(beta=beta, similarity="euclidean",
                                            separation=separation).store(images)
                    val[beta] = _score(memory, images, val_rows, val_q)
                best = max(BETAS, key=lambda b: (val[b]["retrieved"], val[b]["identified"],
                                                 -val[b]["mse"]))
                memory = ModernHopfield(beta=best, similarity="euclidean",
                                        separation=separation).store(images)
                test = _score(memory, images, test_rows, test_q)
                rows_out.append({"n": n, "corruption": name, "separation": separation,
                                 "beta": best, "validation": val[best], "test": test,
                                 "seconds": time.perf_counter() - start})
                print(f"N={n} {name:9s} {separation:9s} beta={best:5g} "
                      f"retrieved={test['retrieved']:.3f} exact={test['exact']:.3f} "
                      f"support={test['support']:.1f}", flush=True)
    return rows_out


def _markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# Sparse retrieval on MNIST (one step, euclidean similarity)", "",
             f"{meta['protocol']}", "",
             "| N | corruption | separation | beta (validation) | retrieved | identified "
             "| exact | images with weight > 0 | squared error |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        t = r["test"]
        lines.append(f"| {r['n']} | {r['corruption']} | {r['separation']} | {r['beta']:g} | "
                     f"{t['retrieved']:.3f} | {t['identified']:.3f} | {t['exact']:.3f} | "
                     f"{t['support']:.1f} | {t['mse']:.1f} |")
    lines += ["", f"Total time {meta['seconds']:.0f} s on one thread ({meta['machine']})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1000 only")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run([1000] if args.quick else [1000, 10000])
    meta = {"protocol": (f"First N MNIST training images stored; beta from {BETAS} chosen on "
                         f"{VALIDATION} validation queries, figures on {TEST} other stored "
                         f"images with another noise draw; retrieved = squared error < "
                         f"{THRESHOLD:g}; exact = output equals the stored image to 1e-6."),
            "seconds": time.perf_counter() - start, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine()}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "sparse_retrieval.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                          indent=1))
    (out / "sparse_retrieval.md").write_text(_markdown(rows, meta))


if __name__ == "__main__":
    main()
