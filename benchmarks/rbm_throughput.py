"""RBM training throughput: harmonium CD-1 / PCD-1 vs scikit-learn's BernoulliRBM.

784 x 500 Bernoulli RBM on MNIST (intensities / 255 as float32), batch sizes 10 and
100, one pass over a slice of the training set per timing. In the same run and
interleaved: harmonium ``fit`` with CD(1) and PCD(batch), scikit-learn's BernoulliRBM
(n_iter=1, same float32 data), a plain CD-1 loop in eager torch written for this one
model (with and without its random draws), and the limit: the five matrix products of
one CD-1 step (v W, h W', v_model W, v' dI, v_model' dI_model) timed alone. Repeats
are interleaved; the ratios compare each contender's fastest repeat (interference from
other jobs only ever slows a run down, and this machine's speed swings by up to 2x
within a run), and the JSON keeps every run and the medians too.
Each timing starts after a short pause, so that no contender runs while the previous
one's BLAS threads are still spinning (OpenBLAS worker threads busy-wait for a while
after scikit-learn's last call; whatever ran right after scikit-learn lost about a
third of its speed at batch 100 and half at batch 10).

Also the scikit-learn digits example (plot_rbm_logistic_classification: nudged 8x8
digits, RBM features + logistic regression) with both RBMs side by side.

With ``--device cuda`` the same harmonium contenders and the products run on the GPU
(data already on the device, the GPU synchronised around each timing) and the results go
to ``rbm_throughput_gpu.{json,md}``; scikit-learn has no GPU path, so it is left out.

Usage: python benchmarks/rbm_throughput.py [--quick] [--threads N] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium.precision import Precision, fast_products
from harmonium.units import Bernoulli

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
OUT = Path(__file__).resolve().parent / "results"
N_VIS, N_HID = 784, 500
SETTLE_S = 0.5  # pause before each timing: idle BLAS threads stop spinning
NAMES = {"harmonium_cd1": "harmonium CD-1", "harmonium_pcd1": "harmonium PCD-1",
         "harmonium_cd1_draws15": "CD-1, 15-bit draws", "harmonium_cd1_bf16": "CD-1, bf16",
         "sklearn": "scikit-learn", "plain_loop": "plain torch loop",
         "plain_loop_no_draws": "plain loop, no draws", "matmul_limit": "products alone",
         "matmul_limit_bf16": "bf16 products alone"}
STEPS = ("harmonium_cd1", "harmonium_pcd1", "harmonium_cd1_draws15", "plain_loop",
         "plain_loop_no_draws")
FASTER = ("harmonium_cd1", "harmonium_pcd1", "harmonium_cd1_draws15", "harmonium_cd1_bf16",
          "plain_loop", "matmul_limit", "matmul_limit_bf16")
DRAWS15 = Precision(draw_bits=15)
BF16 = Precision("bf16", strict=True)  # timed even where bfloat16 is only emulated


def settled(fn, *args):
    """``fn(*args)`` after a pause that lets every thread pool go idle."""
    time.sleep(SETTLE_S)
    return fn(*args)


def timed(device: str, fn) -> float:
    """Seconds that ``fn()`` takes, waiting for the GPU at both ends."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def load_mnist(n: int, path: Path = MNIST) -> np.ndarray:
    with np.load(path) as f:
        return (f["x_train"][:n].reshape(n, -1) / 255.0).astype(np.float32)


def time_harmonium(x: np.ndarray, batch: int, method: str, device: str = "cpu",
                   precision=None) -> float:
    g = torch.Generator(device=device).manual_seed(0)
    rbm = harmonium.RBM(Bernoulli(N_VIS), Bernoulli(N_HID), generator=g).to(device)
    m = harmonium.CD(1) if method == "cd" else harmonium.PCD(batch, 1)
    xt = torch.from_numpy(x).to(device)
    return len(x) / timed(device, lambda: harmonium.fit(
        rbm, xt, m, epochs=1, batch_size=batch, lr=0.1, momentum=0.0, generator=g,
        progress=False, monitor=0, precision=precision))


def time_sklearn(x: np.ndarray, batch: int) -> float:
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=N_HID, learning_rate=0.1, batch_size=batch, n_iter=1,
                       random_state=0)
    t = time.perf_counter()
    rbm.fit(x)
    return len(x) / (time.perf_counter() - t)


def time_plain_loop(x: np.ndarray, batch: int, draws: bool = True, device: str = "cpu") -> float:
    """A plain eager CD-1 loop written for this one model: the peer a user could write.

    Bias folded into ``addmm``, in-place sigmoid and comparison, SGD straight into the
    parameters (no ``.grad``, no optimiser, no checks). With ``draws=False`` the
    uniforms are drawn once before the loop and reused, so the loop does the same work
    minus the random number generation: what a step would cost with free random numbers.
    """
    g = torch.Generator(device=device).manual_seed(0)
    xt = torch.from_numpy(x).to(device)
    w = torch.randn(N_VIS, N_HID, generator=g, device=device) * 0.01
    a = torch.zeros(N_VIS, device=device)
    b = torch.zeros(N_HID, device=device)
    grad = torch.empty_like(w)
    h, v_model = torch.empty(batch, N_HID, device=device), torch.empty(batch, N_VIS, device=device)
    u_h, u_v = torch.rand_like(h), torch.rand_like(v_model)  # the reused uniforms
    step = 0.1 / batch

    def sample(p, out, u_fixed):  # Bernoulli(p) into out, in place
        return torch.lt(out.uniform_(generator=g) if draws else u_fixed, p, out=out)

    def loop():
        perm = torch.randperm(len(xt), generator=g, device=device)
        for s in range(0, len(xt) - batch + 1, batch):
            v = xt[perm[s : s + batch]]
            p_h = torch.addmm(b, v, w).sigmoid_()
            p_v = torch.addmm(a, sample(p_h, h, u_h), w.T).sigmoid_()
            p_model = torch.addmm(b, sample(p_v, v_model, u_v), w).sigmoid_()
            torch.mm(v.T, p_h, out=grad)
            grad.addmm_(v_model.T, p_model, alpha=-1.0)
            w.add_(grad, alpha=step)
            a.add_(v.sum(0) - v_model.sum(0), alpha=step)
            b.add_(p_h.sum(0) - p_model.sum(0), alpha=step)

    return len(x) / timed(device, loop)


def time_matmuls(x: np.ndarray, batch: int, device: str = "cpu", dtype=torch.float32) -> float:
    """The products of one CD-1 step, on the same shapes, nothing else.

    float32: five (v W, h W', v_model W, v' dI, v_model' dI_model). A low-precision
    ``dtype``: the four of :mod:`harmonium.precision`, operands laid out as it lays
    them out (W and W' both kept; the two gradient halves stacked into one product).
    """
    xt = torch.from_numpy(x).to(device, dtype)
    w = torch.randn(N_VIS, N_HID, device=device).mul_(0.01).to(dtype)
    wt = w.T.contiguous()
    h = (torch.rand(batch, N_HID, device=device) < 0.5).to(dtype)
    v_model = (torch.rand(batch, N_VIS, device=device) < 0.5).to(dtype)
    d_i = torch.rand(batch, N_HID, device=device).to(dtype)
    stacked_states = torch.rand(N_VIS, 2 * batch, device=device).to(dtype)
    stacked_means = torch.rand(2 * batch, N_HID, device=device).to(dtype)
    grad = torch.empty(N_VIS, N_HID, device=device)
    steps = len(x) // batch

    def products():
        for s in range(steps):
            v = xt[s * batch : (s + 1) * batch]
            torch.mm(v, w)
            torch.mm(h, w.T)
            torch.mm(v_model, w)
            torch.mm(v.T, d_i, out=grad)
            grad.addmm_(v_model.T, d_i)

    def low_precision_products():
        for s in range(steps):
            v = xt[s * batch : (s + 1) * batch]
            torch.mm(v, w)
            torch.mm(h, wt)
            torch.mm(v_model, w)
            torch.mm(stacked_states, stacked_means)

    run = products if dtype == torch.float32 else low_precision_products
    return steps * batch / timed(device, run)


def throughput(repeats: int, sizes: dict[int, int], device: str = "cpu",
               data: Path = MNIST) -> dict:
    on_cpu = device == "cpu"
    contenders = {
        "harmonium_cd1": lambda x, b: time_harmonium(x, b, "cd", device),
        "sklearn": time_sklearn,
        "matmul_limit": lambda x, b: time_matmuls(x, b, device),
        "plain_loop": lambda x, b: time_plain_loop(x, b, True, device),
        "plain_loop_no_draws": lambda x, b: time_plain_loop(x, b, False, device),
        "harmonium_pcd1": lambda x, b: time_harmonium(x, b, "pcd", device),
        "harmonium_cd1_draws15": lambda x, b: time_harmonium(x, b, "cd", device, DRAWS15),
        "harmonium_cd1_bf16": lambda x, b: time_harmonium(x, b, "cd", device, BF16),
        "matmul_limit_bf16": lambda x, b: time_matmuls(x, b, device, torch.bfloat16),
    }
    if not on_cpu:
        del contenders["sklearn"]  # no GPU path
    results = {}
    for batch, n in sizes.items():
        x = load_mnist(n, data)
        runs = {name: [] for name in contenders}
        time_harmonium(x[: 10 * batch], batch, "cd", device)  # warm-up
        for _ in range(repeats):  # interleaved: every contender once per repeat
            for name, fn in contenders.items():
                runs[name].append(settled(fn, x, batch))
        best = {k: max(v) for k, v in runs.items()}
        results[str(batch)] = {
            "n_samples": n,
            "samples_per_s_runs": runs,
            "samples_per_s_median": {k: statistics.median(v) for k, v in runs.items()},
            "samples_per_s_best": best,
            # how many times the products' time a step of each loop takes
            "step_over_matmul_time": {
                **{k: best["matmul_limit"] / best[k] for k in STEPS},
                "harmonium_cd1_bf16": best["matmul_limit_bf16"] / best["harmonium_cd1_bf16"]},
        }
        if on_cpu:  # speed-ups over scikit-learn; matmul_limit's is the ceiling
            results[str(batch)]["over_sklearn"] = {k: best[k] / best["sklearn"] for k in FASTER}
        print(batch, json.dumps({k: v for k, v in results[str(batch)].items()
                                 if k.startswith(("step", "over"))}), flush=True)
    return results


def digits_example(n_iter: int = 10) -> dict:
    """scikit-learn's plot_rbm_logistic_classification, with either RBM."""
    from scipy.ndimage import convolve
    from sklearn import datasets, linear_model
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import BernoulliRBM as SkRBM
    from sklearn.pipeline import Pipeline

    from harmonium.sklearn import BernoulliRBM as HmRBM

    def nudge_dataset(X, Y):
        directions = [[[0, 1, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
                      [[0, 0, 0], [0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 1, 0]]]
        shift = lambda x, w: convolve(x.reshape((8, 8)), mode="constant", weights=w).ravel()  # noqa: E731
        shifted = [np.apply_along_axis(shift, 1, X, np.array(w)) for w in directions]
        X = np.concatenate([X, *shifted])
        return X, np.concatenate([Y for _ in range(5)], axis=0)

    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    X, Y = nudge_dataset(X, y)
    X = (X - np.min(X, 0)) / (np.max(X, 0) + 0.0001)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.2, random_state=0)
    logistic = linear_model.LogisticRegression(C=6000, max_iter=1000)
    out = {}
    for name, rbm in (("sklearn", SkRBM(random_state=0)), ("harmonium", HmRBM(random_state=0))):
        rbm.set_params(learning_rate=0.06, n_iter=n_iter, n_components=100)
        time.sleep(SETTLE_S)  # let the previous contender's BLAS threads go idle
        t = time.perf_counter()
        clone(rbm).fit(X_train)  # the RBM alone: 64 x 100, batch 10, a small-model figure
        rbm_seconds = time.perf_counter() - t
        clf = Pipeline([("rbm", rbm), ("logistic", clone(logistic))])
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X_train, Y_train)
        out[name] = {"accuracy": float(clf.score(X_test, Y_test)),
                     "fit_seconds": time.perf_counter() - t, "rbm_fit_seconds": rbm_seconds}
        print("digits", name, out[name], flush=True)
    return out


def write(results: dict, tag: str = "") -> None:
    OUT.mkdir(exist_ok=True)
    device = results["device"]
    stem = ("rbm_throughput" if device == "cpu" else "rbm_throughput_gpu") + tag
    (OUT / f"{stem}.json").write_text(json.dumps(results, indent=2))
    setup = (f"CPU; torch {torch.__version__}, {results['torch_threads']} thread(s) for torch "
             "and for scikit-learn's BLAS" if device == "cpu"
             else f"{results['device_name']}; torch {torch.__version__}")
    tp = results["throughput"]
    ratio = lambda r, key, k: f"{r[key][k]:.2f}x"  # noqa: E731

    def table(title: str, key: str, cell) -> list[str]:
        names = [k for k in NAMES if all(k in r[key] for r in tp.values())]
        rows = [f"| {b} | " + " | ".join(cell(r, key, k) for k in names) + " |"
                for b, r in tp.items()]
        return ["", f"## {title}", "", "| batch | " + " | ".join(NAMES[k] for k in names)
                + " |", "| --- " * (len(names) + 1) + "|", *rows]

    lines = [
        f"# RBM training throughput (784 x 500 Bernoulli RBM, MNIST, {device})",
        "",
        f"{setup}; the fastest of {results['repeats']} interleaved repeats (median in "
        f"brackets), each timing after a {SETTLE_S:g} s pause. The plain torch loop is "
        "CD-1 written by hand for this model; 'no draws' is the same loop reusing one set "
        "of uniforms (its step cost without random number generation). 'Products alone' "
        "are the five matrix products of a CD-1 step and nothing else (PCD-1 needs a "
        "sixth: the chains' hidden field). '15-bit draws': harmonium's "
        "Precision(draw_bits=15); 'bf16': products in bfloat16 (harmonium.precision), "
        + ("which this hardware runs on its matrix engines." if results["fast_bf16"] else
           "which this CPU only emulates (no AMX or AVX512-BF16 instructions): timed to "
           "show the cost, not a speed-up; the bf16 step is compared with the bf16 "
           "products alone."),
        *table("Training samples per second", "samples_per_s_best", lambda r, key, k:
               f"{r[key][k]:,.0f}/s ({r['samples_per_s_median'][k]:,.0f})"),
        *table("Step time over the products' time (1.00x: nothing but the products)",
               "step_over_matmul_time", ratio),
    ]
    if device == "cpu":
        lines += table("Speed over scikit-learn (products alone: the ceiling)",
                       "over_sklearn", ratio)
    d = results.get("digits")
    if d:
        lines += [
            "",
            "## scikit-learn digits example (RBM features + logistic regression)",
            "",
            "| RBM | test accuracy | pipeline fit seconds | RBM fit alone, seconds |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {k} | {v['accuracy']:.4f} | {v['fit_seconds']:.1f} | "
                  f"{v['rbm_fit_seconds']:.2f} |" for k, v in d.items()]
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for torch and BLAS alike (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU figure")
    parser.add_argument("--data", type=Path, default=MNIST, help="an mnist.npz")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    repeats = 3 if args.quick else 9
    sizes = {100: 3000, 10: 1000} if args.quick else {100: 10000, 10: 3000}
    results = {"repeats": repeats, "torch_threads": torch.get_num_threads(),
               "device": args.device, "fast_bf16": fast_products("bf16", args.device),
               "throughput": throughput(repeats, sizes, args.device, args.data)}
    if args.device == "cpu":
        results["digits"] = digits_example(n_iter=10)
    else:
        results["device_name"] = torch.cuda.get_device_name(args.device)
    write(results, "_quick" if args.quick else "")


if __name__ == "__main__":
    main()
