"""Associative memory benchmark: classical, dense and modern Hopfield networks on MNIST.

Protocol (Millidge et al. 2022, "Universal Hopfield Networks", section 5): store the
first N MNIST training images (pixels scaled to [0, 1], d = 784), query with corrupted
copies of every stored image, retrieve, and count a retrieval correct when the sum of
squared pixel differences to the stored image is below T = 50 (the paper's threshold).
Corruptions: "half" (bottom half set to 0), "noise" (clip(|x + N(0, 0.5^2)|, 0, 1), as
in the paper's code) and "pixels" (each pixel set to 0 with probability 0.5).

- Modern Hopfield (harmonium.ModernHopfield): one step, similarity dot / euclidean /
  manhattan, beta in BETAS; "mask-aware" passes the observed-pixel mask (half, pixels;
  beta in MASKED_BETAS).
  "dot-cos" is the dot similarity with normalize=True (beta scaled by 100).
- Binary networks (classical Hebbian and pseudo-inverse HopfieldNetwork, dense degree-3
  polynomial and exponential): images binarised at 0.5 to -1/+1, asynchronous recall
  (max 20 sweeps); the error is counted in {0, 1} pixels against the binarised stored
  image (T = 50 wrong pixels). At most BINARY_QUERIES queries per N (a fixed random
  subset of the stored images).

Also: capacity of the modern network on random +1/-1 patterns (d = 64, 20% of bits
flipped, one step), capacity of the degree-3 dense memory against d (fit of the d^2/ln d
law), and retrieval speed against a plain NumPy implementation (10,000 stored images).

Run: python benchmarks/associative_memory.py [--quick]. Single-threaded on purpose (shared
machine; torch and NumPy both use one thread). Writes benchmarks/results/
associative_memory.{json,md,png}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import harmonium  # noqa: E402
from harmonium import DenseAssociativeMemory, HopfieldNetwork, ModernHopfield  # noqa: E402

ROOT = Path(__file__).resolve().parent
MNIST = ROOT.parent.parent / "shared" / "data" / "mnist.npz"
THRESHOLD = 50.0
BETAS = [0.1, 1.0, 10.0, 100.0]
MASKED_BETAS = [1.0, 100.0]  # mask-aware retrieval (per-query Manhattan masks are slow)
SIMILARITIES = ["dot", "euclidean", "manhattan", "dot-cos"]
CORRUPTIONS = ["half", "noise", "pixels"]
BINARY_QUERIES = 200
NOISE_SIGMA = 0.5


def load_images(n: int) -> torch.Tensor:
    if not MNIST.is_file():
        raise SystemExit(f"MNIST not found at {MNIST}")
    with np.load(MNIST) as data:
        x = data["x_train"][:n].reshape(n, -1).astype(np.float32) / 255.0
    return torch.from_numpy(x)


def corrupt(x: torch.Tensor, kind: str, g: torch.Generator):
    """Return (queries, observed-mask or None)."""
    if kind == "half":
        mask = torch.ones(28, 28, dtype=torch.bool)
        mask[14:] = False
        mask = mask.flatten().expand_as(x)
    elif kind == "pixels":
        mask = torch.rand(x.shape, generator=g) >= 0.5
    else:
        noisy = (x + NOISE_SIGMA * torch.randn(x.shape, generator=g)).abs().clamp(0, 1)
        return noisy, None
    return x * mask, mask


def modern_accuracy(x, q, mask, similarity, beta):
    norm = similarity == "dot-cos"
    mem = ModernHopfield(beta=beta * (100 if norm else 1),
                         similarity="dot" if norm else similarity, normalize=norm).store(x)
    states = mem.recall(q, mask=mask).states
    return float((((states - x) ** 2).sum(1) < THRESHOLD).float().mean())


def binary_models():
    return {
        "classical-hebbian": lambda: HopfieldNetwork(784, "hebbian"),
        "classical-pseudoinverse": lambda: HopfieldNetwork(784, "pseudoinverse"),
        "dense-poly3": lambda: DenseAssociativeMemory(784, "polynomial", 3),
        "dense-exp": lambda: DenseAssociativeMemory(784, "exponential"),
    }


def binary_accuracy(make, x, q, idx, seed):
    spins = torch.where(x > 0.5, 1.0, -1.0)
    probes = torch.where(q[idx] > 0.5, 1.0, -1.0)
    model = make().store(spins)
    out = model.recall(probes, max_sweeps=20, generator=torch.Generator().manual_seed(seed))
    wrong = (out.states != spins[idx]).sum(1)  # squared error in {0, 1} pixels
    return float((wrong < THRESHOLD).float().mean())


def mnist_curves(ns, log):
    x_all = load_images(max(ns))
    curves: dict = {}
    for n in ns:
        x = x_all[:n]
        g = torch.Generator().manual_seed(n)
        idx = torch.randperm(n, generator=g)[:BINARY_QUERIES]
        for kind in CORRUPTIONS:
            q, mask = corrupt(x, kind, g)
            for sim in SIMILARITIES:
                for beta in BETAS:
                    key = f"modern-{sim}/beta={beta:g}"
                    acc = modern_accuracy(x, q, None, sim, beta)
                    curves.setdefault(kind, {}).setdefault(key, {})[n] = acc
                    if mask is not None and beta in MASKED_BETAS and sim != "dot":
                        acc = modern_accuracy(x, q, mask, sim, beta)
                        curves[kind].setdefault(f"{key}/mask-aware", {})[n] = acc
            for name, make in binary_models().items():
                start = time.perf_counter()
                curves[kind].setdefault(name, {})[n] = binary_accuracy(make, x, q, idx, n)
                log(f"  N={n} {kind} {name}: {curves[kind][name][n]:.3f} "
                    f"({time.perf_counter() - start:.1f} s)")
        log(f"N={n} done")
    return curves


def modern_capacity(sizes, log, d=64, flips=13, n_queries=1000):
    """One-step retrieval of random +-1 patterns from queries with `flips` bits flipped."""
    g = torch.Generator().manual_seed(64)
    out = {}
    # probability that one random pattern is within Hamming distance `flips` of a query
    p_close = sum(math.comb(d, k) for k in range(flips + 1)) / 2**d
    for n in sizes:
        x = torch.randint(0, 2, (n, d), generator=g).float() * 2 - 1
        idx = torch.randperm(n, generator=g)[:n_queries]
        q = x[idx].clone()
        for row in q:
            row[torch.randperm(d, generator=g)[:flips]] *= -1
        res = {}
        for beta in (0.5, 1.0, 10.0):
            mem = ModernHopfield(beta=beta).store(x)
            states = torch.cat([mem.recall(c).states for c in q.split(100)])
            res[f"beta={beta:g}"] = float((states.sign() == x[idx]).all(1).float().mean())
        res["theory_no_closer_competitor"] = (1 - p_close) ** (n - 1)
        out[n] = res
        log(f"capacity modern N={n}: {res}")
    return out


def dense_capacity(dims, log, level=0.9):
    """Largest m with at least `level` of m random patterns stable (degree 3)."""
    out = {}
    for d in dims:
        def stable_fraction(m, d=d):
            g = torch.Generator().manual_seed(1000 * d + m)
            x = torch.randint(0, 2, (m, d), generator=g).float() * 2 - 1
            mem = DenseAssociativeMemory(d, "polynomial", 3).store(x)
            return float(mem.is_fixed_point(x).float().mean())

        lo, hi = 1, 2
        while stable_fraction(hi) >= level:
            lo, hi = hi, hi * 2
        while hi - lo > max(1, lo // 50):  # 2% resolution
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if stable_fraction(mid) >= level else (lo, mid)
        out[d] = lo
        log(f"dense capacity d={d}: {lo}")
    dims_arr = np.array(dims, dtype=float)
    caps = np.array([out[d] for d in dims], dtype=float)
    slope, intercept = np.polyfit(np.log(dims_arr), np.log(caps * np.log(dims_arr)), 1)
    ratio = caps / (dims_arr**2 / np.log(dims_arr))
    return {"level": level, "capacity": out, "fit_slope_of_log(m*ln d)_vs_log(d)": slope,
            "fit_intercept": intercept,
            "m_over_d2_per_ln_d": dict(zip(dims, ratio.tolist(), strict=True)),
            "theory_all_stable": {d: d**2 / (6 * math.log(d)) for d in dims}}


def numpy_retrieve(x, q, beta):
    s = beta * (q @ x.T)
    s -= s.max(1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(1, keepdims=True)
    return s @ x


def speed(n_stored, n_queries, repeats, log):
    x = load_images(n_stored)
    q, _ = corrupt(x[:n_queries], "half", torch.Generator().manual_seed(0))
    xn, qn = x.numpy(), q.numpy()
    mem = {s: ModernHopfield(beta=1.0, similarity=s).store(x) for s in ("dot", "euclidean")}
    times = {"harmonium-dot": [], "harmonium-euclidean": [], "numpy-dot": []}
    for _ in range(repeats):  # interleaved
        for sim in ("dot", "euclidean"):
            t = time.perf_counter()
            mem[sim].recall(q)
            times[f"harmonium-{sim}"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = numpy_retrieve(xn, qn, 1.0)
        times["numpy-dot"].append(time.perf_counter() - t)
    agree = float(np.abs(mem["dot"].recall(q).states.numpy() - ref).max())
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: n_queries / v for k, v in med.items()}
    flops = 4.0 * n_queries * n_stored * x.shape[1]  # two matrix products
    res = {"n_stored": n_stored, "d": x.shape[1], "n_queries": n_queries, "repeats": repeats,
           "median_seconds": med, "retrievals_per_second": rate,
           "ratio_harmonium_dot_over_numpy": rate["harmonium-dot"] / rate["numpy-dot"],
           "gflops_harmonium_dot": flops / med["harmonium-dot"] / 1e9,
           "max_abs_difference_vs_numpy": agree, "threads": torch.get_num_threads()}
    log(f"speed: {res}")
    return res


def plot(curves, path):
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, kind in zip(axes, CORRUPTIONS, strict=True):
        ax.set_prop_cycle(color=[matplotlib.colormaps["tab20"](i) for i in range(20)])
        for key, raw in curves[kind].items():
            if key.startswith("modern") and not key.endswith(("beta=1", "beta=1/mask-aware")):
                continue
            values = {int(n): v for n, v in raw.items()}  # JSON keys are strings
            ns = sorted(values)
            style = "--" if key.startswith(("classical", "dense")) else "-"
            ax.plot(ns, [values[n] for n in ns], style, marker="o", ms=3, label=key)
        ax.set_xscale("log")
        ax.set_title(f"corruption: {kind}")
        ax.set_xlabel("stored images N")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"fraction retrieved (sq. error < {THRESHOLD:g})")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(res) -> str:
    lines = ["# Associative memory benchmark", "",
             f"Protocol: {res['protocol']}", "",
             f"Machine: {res['machine']}; total {res['seconds']:.0f} s.", ""]
    for kind in CORRUPTIONS:
        cur = res["mnist"][kind]
        ns = sorted({int(n) for v in cur.values() for n in v})
        lines += [f"## MNIST, corruption `{kind}`", "",
                  "| model | " + " | ".join(f"N={n}" for n in ns) + " |",
                  "|---|" + "---|" * len(ns)]
        for key, values in cur.items():
            row = " | ".join(f"{values[n]:.3f}" if n in values else "" for n in ns)
            lines.append(f"| {key} | {row} |")
        lines.append("")
    cap = res["modern_capacity"]
    lines += ["## Modern Hopfield capacity (random +-1 patterns, d = 64, 13 of 64 bits "
              "flipped, one step; exact recovery of all bits)", "",
              "| stored | " + " | ".join(next(iter(cap.values())).keys()) + " |",
              "|---|" + "---|" * len(next(iter(cap.values()))), *(
                  f"| {n} | " + " | ".join(f"{v:.4f}" for v in r.values()) + " |"
                  for n, r in cap.items()), ""]
    dc = res["dense_capacity"]
    lines += [f"## Dense memory capacity, degree 3 (largest m with >= {dc['level']:.0%} of "
              "stored patterns stable)", "",
              "| d | m* | m* / (d^2 / ln d) | theory all-stable d^2/(6 ln d) |",
              "|---|---|---|---|",
              *(f"| {d} | {m} | {dc['m_over_d2_per_ln_d'][d]:.3f} | "
                f"{dc['theory_all_stable'][d]:.0f} |" for d, m in dc["capacity"].items()),
              "", f"Fit: log(m* ln d) = a log d + b gives a = "
              f"{dc['fit_slope_of_log(m*ln d)_vs_log(d)']:.3f} (theory: 2).", ""]
    sp = res["speed"]
    lines += [f"## Speed ({sp['n_stored']} stored MNIST images, d = {sp['d']}, "
              f"{sp['n_queries']} queries, one step, {sp['threads']} thread, median of "
              f"{sp['repeats']})", "", "| implementation | retrievals/s |", "|---|---|",
              *(f"| {k} | {v:.0f} |" for k, v in sp["retrievals_per_second"].items()), "",
              f"harmonium dot / NumPy: {sp['ratio_harmonium_dot_over_numpy']:.2f}x; "
              f"{sp['gflops_harmonium_dot']:.1f} GFLOP/s; max |difference| "
              f"{sp['max_abs_difference_vs_numpy']:.2e}.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small grids (smoke test)")
    parser.add_argument("--out", default=str(ROOT / "results"), help="results folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f} s] {msg}", flush=True)

    if args.quick:
        ns, cap_sizes, dims, speed_n, repeats = [10, 100, 1000], [1000, 10000], [16, 32, 64], \
            2000, 3
    else:
        ns = [10, 20, 50, 100, 200, 500, 1000]
        cap_sizes, dims, speed_n, repeats = [1000, 10000, 100000], [16, 24, 32, 48, 64, 96,
                                                                   128], 10000, 5
    res = {
        "protocol": (f"first N MNIST training images in [0,1]; threshold {THRESHOLD:g} on the "
                     "sum of squared pixel errors; modern: one step; binary models: "
                     f"binarised at 0.5, async recall <= 20 sweeps, <= {BINARY_QUERIES} "
                     f"queries per N; noise sigma {NOISE_SIGMA}; pixels: p = 0.5"),
        "machine": f"{platform.processor() or platform.machine()}, torch "
                   f"{torch.__version__}, harmonium {harmonium.__version__}",
        "quick": args.quick,
    }
    res["mnist"] = mnist_curves(ns, log)
    res["modern_capacity"] = modern_capacity(cap_sizes, log)
    res["dense_capacity"] = dense_capacity(dims, log)
    res["speed"] = speed(speed_n, 1000, repeats, log)
    res["seconds"] = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "associative_memory.json").write_text(json.dumps(res, indent=1, default=str))
    (out / "associative_memory.md").write_text(markdown(res))
    plot(res["mnist"], out / "associative_memory.png")
    log(f"wrote {out}/associative_memory.{{json,md,png}}")


if __name__ == "__main__":
    main()
