"""RBM training throughput: harmonium CD-1 / PCD-1 vs scikit-learn's BernoulliRBM.

784 x 500 Bernoulli RBM on MNIST (intensities / 255 as float32), batch sizes 10 and
100, one pass over a slice of the training set per timing. In the same run and
interleaved: harmonium ``fit`` with CD(1) and PCD(batch), scikit-learn's BernoulliRBM
(n_iter=1, same float32 data), and the limit: the five matrix products of one CD-1 step
(v W, h W', v_model W, v' dI, v_model' dI_model) timed alone. Medians of repeats.
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
from harmonium.units import Bernoulli

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
OUT = Path(__file__).resolve().parent / "results"
N_VIS, N_HID = 784, 500
SETTLE_S = 0.5  # pause before each timing: idle BLAS threads stop spinning


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


def time_harmonium(x: np.ndarray, batch: int, method: str, device: str = "cpu") -> float:
    g = torch.Generator(device=device).manual_seed(0)
    rbm = harmonium.RBM(Bernoulli(N_VIS), Bernoulli(N_HID), generator=g).to(device)
    m = harmonium.CD(1) if method == "cd" else harmonium.PCD(batch, 1)
    xt = torch.from_numpy(x).to(device)
    return len(x) / timed(device, lambda: harmonium.fit(
        rbm, xt, m, epochs=1, batch_size=batch, lr=0.1, momentum=0.0, generator=g,
        progress=False, monitor=0))


def time_sklearn(x: np.ndarray, batch: int) -> float:
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=N_HID, learning_rate=0.1, batch_size=batch, n_iter=1,
                       random_state=0)
    t = time.perf_counter()
    rbm.fit(x)
    return len(x) / (time.perf_counter() - t)


def time_matmuls(x: np.ndarray, batch: int, device: str = "cpu") -> float:
    """The five products of one CD-1 step, on the same shapes, nothing else."""
    xt = torch.from_numpy(x).to(device)
    w = torch.randn(N_VIS, N_HID, device=device) * 0.01
    h = (torch.rand(batch, N_HID, device=device) < 0.5).float()
    v_model = (torch.rand(batch, N_VIS, device=device) < 0.5).float()
    d_i = torch.rand(batch, N_HID, device=device)
    grad = torch.empty_like(w)
    steps = len(x) // batch

    def products():
        for s in range(steps):
            v = xt[s * batch : (s + 1) * batch]
            torch.mm(v, w)
            torch.mm(h, w.T)
            torch.mm(v_model, w)
            torch.mm(v.T, d_i, out=grad)
            grad.addmm_(v_model.T, d_i)

    return steps * batch / timed(device, products)


def throughput(repeats: int, sizes: dict[int, int], device: str = "cpu",
               data: Path = MNIST) -> dict:
    on_cpu = device == "cpu"
    contenders = {
        "harmonium_cd1": lambda x, b: time_harmonium(x, b, "cd", device),
        "sklearn": time_sklearn,
        "matmul_limit": lambda x, b: time_matmuls(x, b, device),
        "harmonium_pcd1": lambda x, b: time_harmonium(x, b, "pcd", device),
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
        med = {k: statistics.median(v) for k, v in runs.items()}
        results[str(batch)] = {
            "n_samples": n,
            "samples_per_s_runs": runs,
            "samples_per_s_median": med,
            "cd1_step_over_matmul_time": med["matmul_limit"] / med["harmonium_cd1"],
            "pcd1_step_over_matmul_time": med["matmul_limit"] / med["harmonium_pcd1"],
        }
        if on_cpu:
            results[str(batch)]["cd1_over_sklearn"] = med["harmonium_cd1"] / med["sklearn"]
            results[str(batch)]["pcd1_over_sklearn"] = med["harmonium_pcd1"] / med["sklearn"]
        print(batch, json.dumps({k: round(v, 3) for k, v in results[str(batch)].items()
                                 if isinstance(v, float)}), flush=True)
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
        clf = Pipeline([("rbm", rbm), ("logistic", clone(logistic))])
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X_train, Y_train)
        out[name] = {"accuracy": float(clf.score(X_test, Y_test)),
                     "fit_seconds": time.perf_counter() - t}
        print("digits", name, out[name], flush=True)
    return out


def write(results: dict) -> None:
    OUT.mkdir(exist_ok=True)
    device = results["device"]
    stem = "rbm_throughput" if device == "cpu" else "rbm_throughput_gpu"
    (OUT / f"{stem}.json").write_text(json.dumps(results, indent=2))
    if device == "cpu":
        setup = (f"CPU; torch {torch.__version__}, {results['torch_threads']} thread(s) for "
                 "torch and for scikit-learn's BLAS")
        columns = ["harmonium CD-1", "harmonium PCD-1", "scikit-learn", "matmuls alone",
                   "CD-1 / sklearn", "PCD-1 / sklearn"]
    else:
        setup = f"{results['device_name']}; torch {torch.__version__}"
        columns = ["harmonium CD-1", "harmonium PCD-1", "matmuls alone"]
    columns += ["CD-1 step / matmuls", "PCD-1 step / matmuls"]
    lines = [
        f"# RBM training throughput (784 x 500 Bernoulli RBM, MNIST, float32, {device})",
        "",
        f"{setup}; medians of {results['repeats']} interleaved repeats, each timing after "
        f"a {SETTLE_S:g} s pause.",
        "",
        "| batch | " + " | ".join(columns) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    for batch, r in results["throughput"].items():
        m = r["samples_per_s_median"]
        cells = [f"{m[k]:,.0f}/s" for k in ("harmonium_cd1", "harmonium_pcd1", "sklearn",
                                            "matmul_limit") if k in m]
        cells += [f"{r[k]:.2f}x" for k in ("cd1_over_sklearn", "pcd1_over_sklearn",
                                           "cd1_step_over_matmul_time",
                                           "pcd1_step_over_matmul_time") if k in r]
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    d = results.get("digits")
    if d:
        lines += [
            "",
            "## scikit-learn digits example (RBM features + logistic regression)",
            "",
            "| RBM | test accuracy | fit seconds |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {k} | {v['accuracy']:.4f} | {v['fit_seconds']:.1f} |" for k, v in d.items()]
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
    repeats = 3 if args.quick else 7
    sizes = {100: 3000, 10: 1000} if args.quick else {100: 10000, 10: 3000}
    results = {"repeats": repeats, "torch_threads": torch.get_num_threads(),
               "device": args.device,
               "throughput": throughput(repeats, sizes, args.device, args.data)}
    if args.device == "cpu":
        results["digits"] = digits_example(n_iter=10)
    else:
        results["device_name"] = torch.cuda.get_device_name(args.device)
    write(results)


if __name__ == "__main__":
    main()
