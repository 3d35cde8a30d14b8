"""Scale: out-of-core training from a .npy file, and 2 gloo processes against 1.

(1) Out of core. Writes a uint8 ``.npy`` file of ``--rows`` binarised MNIST-like
    samples (default 10 million, 7.8 GB: each row is a random MNIST training digit,
    binarised at 0.5, shifted by up to 2 pixels and with 2% of its pixels flipped;
    generated here, nothing downloaded), then trains a 784 x 500 Bernoulli RBM with
    CD-1 for one epoch straight from the file path (``harmonium.fit(rbm, path)``:
    each batch is read with ``os.pread`` and converted on the fly). A sampling thread
    records the process's resident memory (anonymous and file-backed) every second;
    the report gives it at each tenth of the epoch, so one can see it does not grow
    with the part of the file read (file-backed pages are the library and data files
    mapped by the process, not the training file, which is never mapped).
(2) Data parallel. The same global batches on 1 process and on 2 gloo processes
    (``torchrun --nproc-per-node 2``): the parameters after ``--steps`` CD-1 / PCD
    updates in float64 (largest difference), and the time per epoch of each in float32
    (MNIST training images, batch 100). On this 2-core machine 2 processes are not
    faster: each rank draws the random numbers of the whole global batch (the price of
    results that do not depend on the number of processes) and gloo's all-reduce of
    the 392,000 weights costs about as much as the products it splits.
(3) GPU: not run unless ``--device cuda`` (samples/s for 1 GPU).

Usage:
    python benchmarks/scale.py [--rows N] [--file PATH] [--keep] [--threads 2]
    python benchmarks/scale.py --part parallel
Writes benchmarks/results/scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium.units import Bernoulli

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
OUT = Path(__file__).resolve().parent / "results"
CHUNK = 200_000  # rows generated per write


def mnist_train() -> np.ndarray:
    with np.load(MNIST) as f:
        return f["x_train"].reshape(-1, 784)


def write_file(path: Path, rows: int, seed: int = 0) -> float:
    """The generated uint8 data set at ``path``; returns the seconds it took."""
    tic = time.perf_counter()
    digits = (mnist_train() >= 128).astype(np.uint8).reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, 784))
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        x = digits[rng.integers(0, len(digits), n)]
        dy, dx = rng.integers(-2, 3, 2)
        x = np.roll(x, (dy, dx), axis=(1, 2)).reshape(n, 784)
        x ^= (rng.random((n, 784)) < 0.02).astype(np.uint8)
        out[start:start + n] = x
    out.flush()
    del out
    return time.perf_counter() - tic


def memory_mib() -> dict:
    """This process's resident memory: anonymous and file-backed pages, in MiB."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


class MemorySampler(threading.Thread):
    """Samples :func:`memory_mib` every ``period`` seconds while training runs."""

    def __init__(self, period: float = 1.0):
        super().__init__(daemon=True)
        self.period, self.samples, self.done = period, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append({"t": time.perf_counter(), **memory_mib()})
            self.done.wait(self.period)


def out_of_core(args) -> dict:
    path = Path(args.file)
    made = None
    if not path.exists() or np.load(path, mmap_mode="r").shape[0] != args.rows:
        print(f"writing {args.rows:,} rows to {path} ...", flush=True)
        made = write_file(path, args.rows)
    size_gb = path.stat().st_size / 1e9
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=torch.Generator().manual_seed(0))
    before = memory_mib()
    sampler = MemorySampler()
    sampler.start()
    tic = time.perf_counter()
    hist = harmonium.fit(rbm, str(path), harmonium.CD(1), epochs=1, batch_size=100, lr=0.05,
                         monitor=256, generator=torch.Generator().manual_seed(1),
                         progress=not args.quiet)
    seconds = time.perf_counter() - tic
    sampler.done.set()
    sampler.join()
    samples = sampler.samples
    t0 = samples[0]["t"]
    tenths = [min(samples, key=lambda s, q=q: abs(s["t"] - t0 - q * seconds / 10))
              for q in range(1, 11)]
    if not args.keep and made is not None:
        path.unlink()
    return {
        "rows": args.rows, "threads": args.threads, "file_gb": round(size_gb, 2),
        "generate_s": made,
        "train_s": seconds, "samples_per_s": args.rows / seconds,
        "memory_before_mib": before,
        "rss_anon_mib_by_tenth": [round(s["RssAnon"], 1) for s in tenths],
        "rss_file_mib_by_tenth": [round(s["RssFile"], 1) for s in tenths],
        "peak_rss_anon_mib": max(s["RssAnon"] for s in samples),
        "peak_rss_mib": max(s["RssAnon"] + s["RssFile"] for s in samples),
        "pseudo_ll": hist.records[-1].get("pseudo_ll"),
        "recon_error": hist.records[-1].get("recon_error"),
    }


def _parallel_model(dtype):
    return harmonium.RBM(Bernoulli(784), Bernoulli(500),
                         generator=torch.Generator().manual_seed(0)).to(dtype)


def parallel_worker(args) -> None:
    """One rank (or the single process) of part (2); rank 0 writes ``args.worker``."""
    from harmonium import parallel

    parallel.init_from_env()
    x = torch.as_tensor(mnist_train()[: args.parallel_rows]) / 255.0
    out = {"world_size": parallel.world()[1]}
    for name, method in (("cd1", lambda: harmonium.CD(1)), ("pcd1", lambda: harmonium.PCD(100))):
        rbm = _parallel_model(torch.float64)
        n = args.steps * 100
        harmonium.fit(rbm, x[:n].double(), method(), epochs=1, batch_size=100, monitor=0,
                      progress=False, generator=torch.Generator().manual_seed(1))
        out[f"{name}_weight"] = rbm.weight.detach().flatten().tolist()
    rbm = _parallel_model(torch.float32)
    hist = harmonium.fit(rbm, x, harmonium.CD(1), epochs=2, batch_size=100, monitor=0,
                         progress=False, generator=torch.Generator().manual_seed(1))
    out["epoch_s"] = [r["seconds"] for r in hist.records]
    if parallel.is_main():
        Path(args.worker).write_text(json.dumps(out))


def data_parallel(args) -> dict:
    tmp = OUT / "_scale_tmp"
    tmp.mkdir(exist_ok=True)
    common = ["--parallel-rows", str(args.parallel_rows), "--steps", str(args.steps)]
    runs = {}
    per_rank = max(1, args.threads // 2)
    for key, procs, threads in (("1", 1, args.threads), ("1x1", 1, 1), ("2", 2, per_rank)):
        target = tmp / f"ws{key}.json"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node", str(procs)] if procs > 1 else [sys.executable]
        subprocess.run([*launcher, __file__, "--worker", str(target), *common], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        runs[key] = json.loads(target.read_text())
        target.unlink()
    tmp.rmdir()
    diffs = {name: float(np.max(np.abs(np.subtract(runs["1"][f"{name}_weight"],
                                                   runs["2"][f"{name}_weight"]))))
             for name in ("cd1", "pcd1")}
    return {"steps": args.steps, "max_weight_difference_float64": diffs,
            "epoch_s_1_process": min(runs["1"]["epoch_s"]),
            "epoch_s_1_process_1_thread": min(runs["1x1"]["epoch_s"]),
            "epoch_s_2_processes": min(runs["2"]["epoch_s"]),
            "rows": args.parallel_rows, "threads_1_process": args.threads,
            "threads_per_rank": per_rank}


def write_report(results: dict) -> None:
    OUT.mkdir(exist_ok=True)
    old = OUT / "scale.json"
    merged = json.loads(old.read_text()) if old.exists() else {}
    merged.update(results)
    old.write_text(json.dumps(merged, indent=2))
    lines = ["# Scale: out-of-core and data-parallel training", "",
             "Written by `benchmarks/scale.py` on this 2-core CPU machine.", ""]
    if "out_of_core" in merged:
        o = merged["out_of_core"]
        lines += ["## Out of core: 784 x 500 RBM, CD-1, batch 100, from a .npy path", "",
                  "| rows | file | threads | epoch | samples/s | peak RSS (anon) "
                  "| peak RSS (all) |", "| --- | --- | --- | --- | --- | --- | --- |",
                  f"| {o['rows']:,} | {o['file_gb']} GB | {o['threads']} | {o['train_s']:.0f} s "
                  f"| {o['samples_per_s']:,.0f} | {o['peak_rss_anon_mib']:.0f} MiB "
                  f"| {o['peak_rss_mib']:.0f} MiB |", "",
                  "Anonymous resident memory at each tenth of the epoch (MiB): "
                  + ", ".join(f"{v:.0f}" for v in o["rss_anon_mib_by_tenth"]) + ".", "",
                  f"End of epoch: pseudo-log-likelihood {o['pseudo_ll']:.2f}, reconstruction "
                  f"error {o['recon_error']:.4f} (256 monitored rows).",
                  "Reproduce: `python benchmarks/scale.py --part out-of-core --rows "
                  f"{o['rows']} --threads {o['threads']}` (about 8 GB of free disk).", ""]
    if "data_parallel" in merged:
        p = merged["data_parallel"]
        d = p["max_weight_difference_float64"]
        lines += ["## Data parallel: 1 process against 2 gloo processes, same global batches",
                  "", f"Time per epoch, {p['rows']:,} MNIST rows, CD-1, batch 100, float32 "
                  "(fastest of 2 epochs):", "",
                  f"| 1 process, {p['threads_1_process']} threads | 1 process, 1 thread "
                  f"| 2 processes, {p['threads_per_rank']} thread each |",
                  "| --- | --- | --- |",
                  f"| {p['epoch_s_1_process']:.2f} s | {p['epoch_s_1_process_1_thread']:.2f} s "
                  f"| {p['epoch_s_2_processes']:.2f} s |",
                  "", f"Largest weight difference after {p['steps']} updates (float64): "
                  f"CD-1 {d['cd1']:.1e}, PCD-1 {d['pcd1']:.1e}.",
                  "Reproduce: `python benchmarks/scale.py --part parallel`.", ""]
    if merged.get("note"):
        lines += [f"Conditions: {merged['note']}", ""]
    lines += ["GPU: no GPU was lent to the session that wrote this file; not measured.", ""]
    (OUT / "scale.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("all", "out-of-core", "parallel"), default="all")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--file", default="/tmp/harmonium_scale.npy")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--parallel-rows", type=int, default=20_000)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--note", default=None, help="conditions of the run, for the report")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        parallel_worker(args)
        return
    torch.set_num_threads(args.threads)
    results = {} if args.note is None else {"note": args.note}
    if args.part in ("all", "parallel"):
        results["data_parallel"] = data_parallel(args)
        write_report(results)
    if args.part in ("all", "out-of-core"):
        results["out_of_core"] = out_of_core(args)
        write_report(results)
    print((OUT / "scale.md").read_text())


if __name__ == "__main__":
    main()
