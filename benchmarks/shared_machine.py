"""Thread count on a shared machine: speed with and without a busy neighbour, and whether
seeded results depend on the thread count.

Run: ``python benchmarks/shared_machine.py [--reps 3] [--cap 2.5]``. Writes
``benchmarks/results/shared_machine.{json,md}``.

Protocol
--------
Three workloads, each run in a fresh subprocess per configuration (OpenMP reads
``OMP_WAIT_POLICY`` and MKL reads ``MKL_CBWR`` once, when they start):

- ``cd1``: CD-1 on a 784 x 500 Bernoulli RBM, batch 100, MNIST training rows
  (binarised at 128), one ``harmonium.fit`` epoch of 500 rows per grain; samples/s.
- ``ais``: AIS on a seeded 784 x 500 RBM (weights N(0, 0.05^2)), 100 chains, 20
  intermediate distributions per grain; annealing steps/s.
- ``hopfield``: ``capacity_curve(500, [0.1], n_trials=1)`` (what ``harmonium hopfield
  capacity --units 500`` does per load) per grain; grains/s.

Each workload runs grains until ``--cap`` seconds have passed (the first grain always
completes), and its first grain is fingerprinted (a hash of the RBM's weights after it,
the AIS log Z, the recall fraction) to compare results across thread counts.

Configurations (torch threads x OpenMP wait policy x MKL reproducible mode):
``default`` (torch's own choice: one thread per core), ``default+passive``
(``OMP_WAIT_POLICY=PASSIVE``), ``1``, ``auto`` (:func:`harmonium.threads.choose_threads`:
free cores), ``1+cnr`` and ``default+cnr`` (``MKL_CBWR=AUTO,STRICT``, the reproducible
mode :func:`harmonium.threads.configure` sets), and ``cli``: what the ``harmonium``
command does (free cores, passive waiting, reproducible MKL). ``--configs`` and
``--neighbours`` choose a subset, ``--out`` the results' name.

Neighbours, started by this script for the duration of a block of runs: ``none``; a
pure-Python busy loop pinned to the last core (``pinned``); a NumPy matrix-product loop
on one thread, not pinned (``numpy``). Configurations are shuffled within each
neighbour block and the blocks repeated ``--reps`` times; the tables give medians and
the min-max spread. The machine is shared with other users' processes too, so "none"
is not a quiet machine: each run records the busy cores seen just before it starts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MNIST = Path("/work/shared/data/mnist.npz")
WORKLOADS = ("cd1", "ais", "hopfield")
CONFIGS = {  # name -> (threads: "default" | "1" | "auto", extra environment)
    "default": ("default", {}),
    "default+passive": ("default", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "1": ("1", {}),
    "auto": ("auto", {}),
    "1+cnr": ("1", {"MKL_CBWR": "AUTO,STRICT"}),
    "default+cnr": ("default", {"MKL_CBWR": "AUTO,STRICT"}),
    "cli": ("auto", {"OMP_WAIT_POLICY": "PASSIVE", "MKL_CBWR": "AUTO,STRICT"}),
}
NEIGHBOURS = {
    "none": None,
    "pinned": "import os\nos.sched_setaffinity(0, {max(os.sched_getaffinity(0))})\n"
              "while True:\n    pass\n",
    "numpy": "import numpy as np\na = np.random.rand(300, 300)\nwhile True:\n    a @ a\n",
}


# ---------------------------------------------------------------- child: the workloads
def _grains(run_grain, cap: float) -> tuple[int, float]:
    """Run ``run_grain(i)`` for i = 0, 1, ... until ``cap`` seconds; (grains, seconds)."""
    start, n = time.perf_counter(), 0
    while True:
        run_grain(n)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= cap:
            return n, elapsed


def _digest(t) -> str:
    return hashlib.sha1(t.detach().contiguous().numpy().tobytes()).hexdigest()[:12]


def _cd1(cap: float) -> dict:
    import numpy as np
    import torch

    import harmonium
    from harmonium.units import Bernoulli

    with np.load(MNIST) as f:
        x = torch.from_numpy(f["x_train"][:10_000].reshape(-1, 784) >= 128).float()
    g = torch.Generator().manual_seed(0)
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=g)
    first = {}

    def grain(i):
        rows = x[500 * (i % 20): 500 * (i % 20 + 1)]
        harmonium.fit(rbm, rows, harmonium.CD(1), epochs=1, batch_size=100, lr=0.05,
                      generator=g, progress=False, monitor=0)
        if i == 0:
            first["weights"] = _digest(rbm.weight)

    n, seconds = _grains(grain, cap)
    return {"rate": 500 * n / seconds, "unit": "samples/s", "fingerprint": first["weights"]}


def _ais(cap: float) -> dict:
    import torch

    import harmonium
    from harmonium.partition import ais
    from harmonium.units import Bernoulli

    g = torch.Generator().manual_seed(1)
    rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=g)
    with torch.no_grad():
        rbm.weight.copy_(0.05 * torch.randn(rbm.weight.shape, generator=g))
    betas = torch.linspace(0, 1, 21, dtype=torch.float64)
    first = {}

    def grain(i):
        result = ais(rbm, n_chains=100, betas=betas, generator=g, progress=False)
        if i == 0:
            first["log_z"] = float(result.log_z)

    n, seconds = _grains(grain, cap)
    return {"rate": 20 * n / seconds, "unit": "steps/s", "fingerprint": repr(first["log_z"])}


def _hopfield(cap: float) -> dict:
    import torch

    from harmonium.tasks.capacity import capacity_curve

    first = {}

    def grain(i):
        g = torch.Generator().manual_seed(i)
        curve = capacity_curve(500, [0.1], n_trials=1, generator=g, progress=False)
        if i == 0:
            first["recall"] = float(curve.recall_fraction[0])

    n, seconds = _grains(grain, cap)
    return {"rate": n / seconds, "unit": "grains/s", "fingerprint": repr(first["recall"])}


def child(threads: str, cap: float) -> dict:
    """Run the workloads under ``threads`` (default, 1 or auto) in this fresh process."""
    import torch

    from harmonium.threads import busy_cores, choose_threads, set_threads

    busy = busy_cores(0.1)
    if threads == "auto":
        set_threads(choose_threads())
    elif threads != "default":
        set_threads(int(threads))
    out = {"threads": torch.get_num_threads(), "busy_before": busy}
    for name, work in (("cd1", _cd1), ("ais", _ais), ("hopfield", _hopfield)):
        out[name] = work(cap)
    return out


# ---------------------------------------------------------------- parent: the runs
def _run_child(config: str, cap: float) -> dict:
    threads, extra = CONFIGS[config]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_CBWR",
                        "HARMONIUM_THREADS")}
    env.update(extra)
    proc = subprocess.run([sys.executable, __file__, "--child", threads, "--cap", str(cap)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(reps: int, cap: float, configs, neighbours, seed: int = 0) -> list[dict]:
    """Every configuration under every neighbour, ``reps`` times, shuffled per block."""
    shuffle = random.Random(seed)
    records = []
    for rep in range(reps):
        for neighbour in neighbours:
            code, proc = NEIGHBOURS[neighbour], None
            if code is not None:
                proc = subprocess.Popen([sys.executable, "-c", code],
                                        env={**os.environ, "OMP_NUM_THREADS": "1",
                                             "OPENBLAS_NUM_THREADS": "1"})
                time.sleep(0.5)
            try:
                order = list(configs)
                shuffle.shuffle(order)
                for config in order:
                    record = _run_child(config, cap)
                    record.update(config=config, neighbour=neighbour, rep=rep,
                                  loadavg=os.getloadavg()[0])
                    print(json.dumps(record), flush=True)
                    records.append(record)
            finally:
                if proc is not None:
                    proc.terminate()
                    proc.wait()
    return records


def summarise(records: list[dict]) -> dict:
    """Median and spread of each rate; the slowdown against 1 thread with the same neighbour."""
    table = {}
    configs = [c for c in CONFIGS if any(r["config"] == c for r in records)]
    for neighbour in dict.fromkeys(r["neighbour"] for r in records):
        for config in configs:
            runs = [r for r in records if r["config"] == config and r["neighbour"] == neighbour]
            row = {"threads": sorted({r["threads"] for r in runs}),
                   "busy_before": statistics.median(r["busy_before"] for r in runs)}
            for w in WORKLOADS:
                rates = [r[w]["rate"] for r in runs]
                row[w] = {"median": statistics.median(rates), "min": min(rates),
                          "max": max(rates), "fingerprints": sorted({r[w]["fingerprint"]
                                                                     for r in runs})}
            table[f"{neighbour}|{config}"] = row
    for key, row in table.items():
        base = table[f"{key.split('|')[0]}|1"]
        for w in WORKLOADS:
            row[w]["vs_1_thread"] = row[w]["median"] / base[w]["median"]
    return table


def markdown(table: dict, meta: dict) -> str:
    lines = [
        "# Threads on a shared machine", "",
        f"{meta['machine']}; torch {meta['torch']}; {meta['reps']} repeats of every "
        f"configuration per neighbour, shuffled; {meta['cap']} s per workload per run; "
        f"wall time {meta['wall_s']:.0f} s. Medians (min-max); x = median rate over the "
        "1-thread median with the same neighbour. Other users' processes shared the "
        "machine throughout: 'busy' is the median number of busy cores seen just before "
        "each run (neighbour included).", "",
        "| neighbour | config | threads | busy | CD-1 samples/s | AIS steps/s | "
        "hopfield grains/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in table.items():
        neighbour, config = key.split("|")
        cells = [f"{row[w]['median']:.3g} ({row[w]['min']:.3g}-{row[w]['max']:.3g}) "
                 f"x{row[w]['vs_1_thread']:.2f}" for w in WORKLOADS]
        threads = "/".join(map(str, row["threads"]))
        lines.append(f"| {neighbour} | {config} | {threads} | {row['busy_before']:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Fingerprints of the first grain (RBM weights after 500 CD-1 samples; "
              "AIS log Z; recall fraction), all runs of a configuration pooled:", "",
              "| config | CD-1 | AIS | hopfield |", "| --- | --- | --- | --- |"]
    for config in dict.fromkeys(key.split("|")[1] for key in table):
        cells = []
        for w in WORKLOADS:
            prints = sorted({p for key, row in table.items() if key.endswith(f"|{config}")
                             for p in row[w]["fingerprints"]})
            cells.append(", ".join(prints))
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cap", type=float, default=1.0, help="seconds per workload per run")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--neighbours", nargs="+", choices=list(NEIGHBOURS),
                        default=list(NEIGHBOURS))
    parser.add_argument("--out", default="shared_machine", help="results file name")
    parser.add_argument("--child", choices=("default", "1", "auto"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cap)))
        return
    import torch

    tic = time.perf_counter()
    records = measure(args.reps, args.cap, args.configs, args.neighbours)
    meta = {"machine": f"{platform.processor() or platform.machine()}, "
                       f"{len(os.sched_getaffinity(0))} cores",
            "torch": torch.__version__, "reps": args.reps, "cap": args.cap,
            "wall_s": time.perf_counter() - tic}
    table = summarise(records)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(
        json.dumps({"meta": meta, "summary": table, "runs": records}, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(table, meta))
    print(markdown(table, meta))


if __name__ == "__main__":
    main()
