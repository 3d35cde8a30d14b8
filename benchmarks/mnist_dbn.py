"""Deep belief net on MNIST (Hinton, Osindero and Teh 2006): pretraining + fine-tuning.

Protocol: MNIST from ``/work/shared/data/mnist.npz`` (or ``--data``), pixels binarized
at 0.5 (intensity > 127). A 784-500-500-2000 DBN with a 10-way softmax label unit
joined to the top RBM's visible layer (the paper's 784-500-500-2000-10 model) is
pretrained greedily on all 60,000 training images (labels only enter the top RBM):
CD-1 for the two lower RBMs, ``--top-method`` for the top one, SGD with momentum,
weight decay 2e-4, batches of 100, ``--pretrain-epochs`` epochs per layer.

Fine-tuning: the DBN is unrolled and trained by backprop (Adam, lr decayed to 0 along a
cosine, batches of 100, ``--finetune-epochs`` epochs), on the binarized images or, with
``--finetune-input gray``, on the intensities / 255 read as probabilities (as in Hinton
and Salakhutdinov's code; the test images are then given the same way). Model selection follows the
issue's protocol: each learning rate of ``--finetune-lrs`` is fine-tuned on training
images 1..50,000 and scored on 50,001..60,000; the one with the best final validation
accuracy is then fine-tuned on all 60,000 and scored once on the 10,000 test images.
(The pretraining saw the validation images, and the top RBM their labels, so the
validation error is slightly optimistic; only the test error is reported as a result.)

Side by side, with the same data:

- the pretrained DBN as a *generative* classifier (up pass, then the top RBM's free
  energy of each label), before any fine-tuning;
- logistic regression (scikit-learn, lbfgs) on the 500 first-layer RBM features;
- the same 784-500-500-2000-10 network from random initialisation, with the same
  selection and budget: each RBM's weights uniform(-1/sqrt(n), 1/sqrt(n)) with n its
  visible width (PyTorch's default for the hidden layers; the output layer, made from the
  top RBM's label rows, gets that RBM's bound), biases 0.

Dreams: for each class, ``--dream-steps`` alternating Gibbs sweeps in the top RBM with
the label clamped, then a down pass (a figure of 10 per class).

Published: 1.25% test error for the 784-500-500-2000-10 DBN (Hinton et al. 2006, after
long generative fine-tuning); 1.2% for pretraining + backprop (Hinton and Salakhutdinov
2006). Timings are wall-clock per phase on the device named in the results.

Usage::

    python benchmarks/mnist_dbn.py --device cuda --pretrain-epochs 50 --finetune-epochs 30 \
        --finetune-lrs 1e-3 3e-4 --tag _gpu                    # the GPU run
    python benchmarks/mnist_dbn.py --pretrain-epochs 12 --top-epochs 30 \
        --finetune-epochs 10                                   # the CPU run (dreams)
    python benchmarks/mnist_dbn.py --pretrain-epochs 50 --finetune-epochs 30 \
        --finetune-input gray --threads 2 --tag _full          # the full CPU run
    python benchmarks/mnist_dbn.py --quick                     # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import harmonium
from harmonium import DBN, fine_tune, fit_greedy
from harmonium.plot import image_grid

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
SIZES = [784, 500, 500, 2000]
N_FIT = 50000  # images used to choose the fine-tuning learning rate; the rest validate
NETS = ("pretrained", "random")
FINE_TUNED = {"pretrained": "DBN pretrained + fine-tuned",
              "random": "same net, random init, same fine-tuning"}
PUBLISHED = {"DBN 784-500-500-2000-10 (Hinton et al. 2006)": 1.25,
             "pretraining + backprop (Hinton and Salakhutdinov 2006)": 1.2}


def load(path: Path, quick: bool, device: str):
    """Binarized images, labels, and the intensities / 255, for training and test."""
    d = np.load(path)
    n = 6000 if quick else 60000
    gray = d["x_train"].reshape(60000, -1)[:n] / 255.0
    gray_test = d["x_test"].reshape(10000, -1) / 255.0
    as_t = lambda a, t=np.float32: torch.from_numpy(np.asarray(a, t)).to(device)  # noqa: E731
    return {"x": as_t(gray > 0.5), "y": as_t(d["y_train"][:n], np.int64),
            "xt": as_t(gray_test > 0.5), "yt": as_t(d["y_test"], np.int64),
            "gray": as_t(gray), "gray_test": as_t(gray_test)}


def error(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (pred != y).float().mean().item()


class Phases:
    """Wall-clock seconds per named phase (synchronising the GPU at both ends)."""

    def __init__(self, device: str):
        self.device, self.seconds = device, {}

    def _sync(self):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    @contextmanager
    def __call__(self, name: str):
        self._sync()
        tic = time.perf_counter()
        yield
        self._sync()
        self.seconds[name] = time.perf_counter() - tic
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {self.seconds[name]:.1f} s", flush=True)


def random_init(device: str, generator: torch.Generator) -> DBN:
    """The same architecture, weights uniform(-1/sqrt(n_visible), 1/sqrt(n_visible))."""
    net = DBN(SIZES, n_labels=10).to(device)
    with torch.no_grad():
        for rbm in net.rbms:
            bound = 1.0 / rbm.weight.shape[0] ** 0.5
            rbm.weight.copy_(torch.empty(rbm.weight.shape).uniform_(-bound, bound,
                                                                    generator=generator))
    return net


def select_and_fit(dbn: DBN, x, y, n_fit: int, lrs, epochs, phases: Phases, name: str,
                   generator):
    """Choose the lr on ``x[n_fit:]`` after training on ``x[:n_fit]``, then fit on all."""
    curves = {}
    with phases(f"fine-tuning selection ({name}, {len(lrs)} lr x {epochs} epochs)"):
        for lr in lrs:
            hist = fine_tune(dbn, x[:n_fit], y[:n_fit], epochs=epochs, lr=lr,
                             validation_data=(x[n_fit:], y[n_fit:]), generator=generator,
                             progress=False)
            curves[str(lr)] = hist["val_accuracy"]
    best = max(lrs, key=lambda lr: curves[str(lr)][-1])
    with phases(f"fine-tuning on all training images ({name})"):
        fine_tune(dbn, x, y, epochs=epochs, lr=best, generator=generator, progress=False)
    return best, curves


def pretrain(args, top, x, y, xt, yt, g, g_cpu, phases: Phases, errors: dict, result: dict,
             stem: str) -> DBN:
    """Greedy pretraining, then the generative classifier, dreams and layer-1 features."""
    epochs = result["pretrain"]["epochs_per_layer"]
    layer_epochs = iter(epochs)

    def linear_decay(optimizer):  # fit_greedy makes one scheduler per layer, bottom first
        n = next(layer_epochs)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 - epoch / n)

    dbn = DBN(SIZES, n_labels=10, generator=g_cpu).to(args.device)
    with phases(f"pretraining ({'+'.join(map(str, epochs))} epochs)"):
        fit_greedy(dbn, x, y, method=[harmonium.CD(1), harmonium.CD(1), top], epochs=epochs,
                   lr=args.pretrain_lr, momentum=args.pretrain_momentum, weight_decay=2e-4,
                   batch_size=100, monitor=0, generator=g, progress=False,
                   scheduler=linear_decay)
    if args.save_model is not None:
        harmonium.save(dbn, args.save_model)
    with phases("generative classification of the test set"):
        errors["DBN generative (pretrained only)"] = error(dbn.predict(xt), yt)
    with phases(f"dreaming 10 digits per class ({args.dream_steps} Gibbs sweeps)"):
        dreams = [dbn.dream(c, 10, steps=args.dream_steps, generator=g).view(10, 28, 28).cpu()
                  for c in range(10)]
    fig = image_grid([d.numpy() for d in dreams], row_labels=[str(c) for c in range(10)])
    fig.savefig(RESULTS / f"{stem}_dreams.png", dpi=80)
    write(result, stem)
    with phases("logistic regression on layer-1 features"):
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(max_iter=200).fit(dbn.transform(x, depth=1).cpu().numpy(),
                                                  y.cpu().numpy())
        errors["logistic regression on layer-1 RBM features"] = 100.0 * (1 - lr.score(
            dbn.transform(xt, depth=1).cpu().numpy(), yt.cpu().numpy()))
    write(result, stem)
    return dbn


def write(result: dict, stem: str) -> str:
    """Write the JSON and markdown results (called after every phase); return the table."""
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    pre, ft = result["pretrain"], result["finetune"]
    pretraining = "no pretraining (random initialisation only)" if pre is None else (
        "pretraining {} epochs for the three RBMs (CD-1, top RBM {}, lr {} decayed "
        "linearly to 0 in each, momentum {})".format(
            "+".join(map(str, pre["epochs_per_layer"])), pre["top_method"], pre["lr"],
            pre["momentum"]))
    lines = [
        f"# DBN on MNIST ({result['machine']['device']})", "",
        f"{result['n_train']} training images (the first {result['n_fit_for_selection']} "
        f"to choose the fine-tuning lr, the rest to validate it) / {result['n_test']} test "
        f"images, binarized at 0.5; 784-500-500-2000-10; {pretraining}; fine-tuning "
        f"{ft['epochs']} epochs (Adam, cosine) on the "
        f"{'intensities / 255' if ft.get('input') == 'gray' else 'binarized images'}, "
        f"lr chosen from {ft['lrs_tried']}: "
        + ", ".join(f"{v} {k}" for k, v in ft["chosen_lr"].items()) + ".", "",
        "| model | test error (%) |", "| --- | --- |",
        *[f"| {k} | {v:.2f} |" for k, v in result["test_error_percent"].items()],
        *[f"| published: {k} | {v:.2f} |" for k, v in PUBLISHED.items()],
        "", "| phase | seconds |", "| --- | --- |",
        *[f"| {k} | {v:.1f} |" for k, v in result["seconds"].items()],
        f"| total | {sum(result['seconds'].values()):.1f} |",
    ]
    if pre is not None:
        lines += ["", f"![dreamed digits]({stem}_dreams.png)"]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6,000 images, 1 epoch: a smoke run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--pretrain-lr", type=float, default=0.05)
    ap.add_argument("--pretrain-momentum", type=float, default=0.5)
    ap.add_argument("--top-epochs", type=int, help="epochs of the top RBM "
                    "(default: --pretrain-epochs)")
    ap.add_argument("--top-method", choices=("cd", "pcd"), default="pcd")
    ap.add_argument("--finetune-epochs", type=int, default=8)
    ap.add_argument("--finetune-lrs", type=float, nargs="+", default=[1e-3])
    ap.add_argument("--finetune-input", choices=("binary", "gray"), default="binary",
                    help="what the fine-tuned networks see (train and test): the binarized "
                    "images or the intensities / 255 read as probabilities")
    ap.add_argument("--dream-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS),
                    help="which networks to train (random init alone skips pretraining)")
    ap.add_argument("--save-model", type=Path, help="save the pretrained DBN here")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pre_epochs = [1] * 3 if args.quick else [args.pretrain_epochs] * 2 + [
        args.top_epochs or args.pretrain_epochs]
    ft_epochs = 1 if args.quick else args.finetune_epochs
    data = load(args.data, args.quick, args.device)
    x, y, xt, yt = data["x"], data["y"], data["xt"], data["yt"]
    x_ft, xt_ft = (data["gray"], data["gray_test"]) if args.finetune_input == "gray" else (
        x, xt)
    n_fit = 5000 if args.quick else N_FIT
    g_cpu = torch.Generator().manual_seed(args.seed)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    phases = Phases(args.device)
    errors: dict[str, float] = {}
    stem = f"mnist_dbn{'_quick' if args.quick else ''}{args.tag}"
    RESULTS.mkdir(exist_ok=True)
    top = harmonium.PCD(100, 1) if args.top_method == "pcd" else harmonium.CD(1)
    chosen: dict[str, float] = {}
    curves: dict[str, dict] = {}
    result = {
        "protocol": __doc__.split("Usage")[0].strip(),
        "quick": args.quick,
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "device": (torch.cuda.get_device_name(args.device)
                               if args.device.startswith("cuda")
                               else f"CPU, {args.threads} torch thread(s)")},
        "n_train": int(x.shape[0]), "n_fit_for_selection": n_fit, "n_test": int(xt.shape[0]),
        "pretrain": None if "pretrained" not in args.nets else {
            "epochs_per_layer": pre_epochs, "lr": args.pretrain_lr,
            "momentum": args.pretrain_momentum, "top_method": repr(top)},
        "finetune": {"epochs": ft_epochs, "input": args.finetune_input,
                     "lrs_tried": args.finetune_lrs, "chosen_lr": chosen,
                     "validation_accuracy_per_epoch": curves},
        "test_error_percent": errors,
        "published_test_error_percent": PUBLISHED,
        "seconds": phases.seconds,
    }

    if "pretrained" in args.nets:
        dbn = pretrain(args, top, x, y, xt, yt, g, g_cpu, phases, errors, result, stem)
    for name in args.nets:
        net = dbn if name == "pretrained" else random_init(args.device, g_cpu)
        chosen[name], curves[name] = select_and_fit(net, x_ft, y, n_fit, args.finetune_lrs,
                                                    ft_epochs, phases, name, g)
        errors[FINE_TUNED[name]] = error(net.predict(xt_ft), yt)
        print(write(result, stem))


if __name__ == "__main__":
    main()
