"""``harmonium rbm``: train, sample, inpaint, show filters and evaluate RBMs on files."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import torch

from harmonium.cli._data import DATA_HELP, load_rows
from harmonium.cli._likelihood import (
    add_ais_args,
    add_tempering_args,
    ais_evaluation,
    tempering_samples,
)
from harmonium.cli._options import add_precision, count, fraction, positive, real, seed

log = logging.getLogger(__name__)

BINARIZE = ("none", "threshold", "sample")
#: --hidden-type: the name of each hidden unit type in harmonium.units
HIDDEN_TYPES = {"bernoulli": "Bernoulli", "relu": "ReLU", "drelu": "DReLU",
                "prelu": "PReLU", "xrelu": "XReLU"}
MASKS = ("bottom", "top", "left", "right", "random")


# ----------------------------------------------------------------------- data
def binarize(x: np.ndarray, how: str, threshold: float, seed: int) -> np.ndarray:
    """``none`` keeps values; ``threshold`` maps x > threshold to 1; ``sample`` draws
    Bernoulli(x) (x must lie in [0, 1])."""
    if how == "threshold":
        return (x > threshold).astype(np.float32)
    if how == "sample":
        if x.min() < 0 or x.max() > 1:
            raise ValueError("--binarize sample needs data in [0, 1]")
        return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)
    return x.astype(np.float32)


def image_shape(n_visible: int, spec: str | None) -> tuple[int, int]:
    """``HxW`` from ``--shape``, else the square side of ``n_visible``."""
    if spec:
        try:
            h, w = (int(v) for v in spec.lower().split("x"))
        except ValueError:
            raise ValueError(f"--shape must look like 28x28, got {spec!r}") from None
        if h * w != n_visible:
            raise ValueError(f"--shape {spec} has {h * w} pixels, the model {n_visible} units")
        return h, w
    side = math.isqrt(n_visible)
    if side * side != n_visible:
        raise ValueError(f"{n_visible} visible units are not a square image: pass --shape HxW")
    return side, side


def _load_model(path: str, device: str):
    from harmonium import RBM, load

    model = load(path, device=device)
    if not isinstance(model, RBM):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an RBM")
    return model


def _save_figure(fig, path: str) -> None:
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def _images(x: torch.Tensor, shape) -> np.ndarray:
    return x.detach().cpu().numpy().reshape(-1, *shape).clip(0, 1)


# ----------------------------------------------------------------------- commands
def _training_rows(args):
    """DATA for ``rbm train`` and its shape: a 2-d ``.npy`` file used as is is read
    batch by batch (never loaded whole); anything else is loaded and converted."""
    if args.data.endswith(".npy") and args.binarize == "none" and os.path.isfile(args.data):
        try:
            shape = np.load(args.data, mmap_mode="r").shape  # reads the header only
        except EOFError:
            raise ValueError(f"{args.data}: the file is empty or cut off") from None
        except ValueError as exc:
            raise ValueError(f"{args.data} is not a readable numeric .npy file ({exc})") from None
        if len(shape) == 2 and shape[0] > 0:
            return args.data, shape
    x = binarize(load_rows(args.data), args.binarize, args.threshold, args.seed)
    return x, x.shape


def _train(args) -> None:
    import harmonium
    from harmonium import parallel, units
    from harmonium.units import Bernoulli, Gaussian

    if parallel.init_from_env(args.device) and args.device.startswith("cuda"):
        args.device = f"cuda:{torch.cuda.current_device()}"  # torchrun: one GPU per rank
    x, (n_rows, n_visible) = _training_rows(args)
    g = torch.Generator().manual_seed(args.seed)
    visible = Bernoulli if args.visible == "bernoulli" else Gaussian
    hidden = getattr(units, HIDDEN_TYPES[args.hidden_type])(args.hidden)
    rbm = harmonium.RBM(visible(n_visible), hidden, generator=g).to(args.device)
    if args.device != "cpu":
        g = torch.Generator(device=args.device).manual_seed(args.seed)
    method = (
        harmonium.CD(args.k) if args.method == "cd" else harmonium.PCD(args.chains, args.k)
    )
    hist = harmonium.fit(
        rbm, x, method, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, generator=g,
        progress=not args.quiet, checkpoint=args.checkpoint, resume=args.resume,
        precision=args.precision,
    )
    if not parallel.is_main():  # data-parallel: rank 0 writes and reports
        return
    harmonium.save(rbm, args.output)
    last = hist.records[-1] if len(hist) else {}
    seconds = sum(r["seconds"] for r in hist.records)
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                        if k not in ("epoch", "seconds", "samples_per_s"))
    epochs = f"{len(hist)} epoch{'s' if len(hist) != 1 else ''}"
    print(f"trained {rbm.n_visible}x{rbm.n_hidden} RBM on {n_rows} samples, {epochs} in "
          f"{seconds:.1f} s" + (f"; last epoch: {metrics}" if metrics else ""))
    print(f"wrote {args.output}")


def _sample(args) -> None:
    import harmonium

    rbm = _load_model(args.model, args.device)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    if args.tempering is not None:
        v = tempering_samples(rbm, args.n, args.steps, args.tempering, g)
    else:
        v = harmonium.generate(rbm, args.n, args.steps, generator=g, mean=True)
    if args.output.endswith(".npy"):
        np.save(args.output, v.cpu().numpy())
        print(f"wrote {args.output}")
        return
    from harmonium.plot import image_grid

    images = _images(v, image_shape(rbm.n_visible, args.shape))
    cols = args.cols
    _save_figure(image_grid([images[i : i + cols] for i in range(0, len(images), cols)], cell=0.8),
                 args.output)


def _inpaint(args) -> None:
    import harmonium
    from harmonium.plot import image_grid

    rbm = _load_model(args.model, args.device)
    shape = image_shape(rbm.n_visible, args.shape)
    v = inpaint_input(rbm, load_rows(args.data)[: args.n], args.device)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    mask = _mask(args.mask, shape, len(v), args.fraction, g)
    filled = harmonium.inpaint(rbm, v, mask, args.steps, generator=g, mean_field=args.mean_field)
    shown = torch.where(mask, v, torch.full_like(v, 0.5))
    rows = [_images(v, shape), _images(shown, shape), _images(filled, shape)]
    _save_figure(image_grid(rows, row_labels=["original", "observed", "inpainted"]), args.output)
    error = (filled - v)[~mask].abs().mean().item()
    print(f"mean absolute error on the {int((~mask).sum())} hidden pixels: {error:.4f}")


def inpaint_input(rbm, x: np.ndarray, device) -> torch.Tensor:
    """Rows of DATA as visible states: finite, one visible axis, and moved into the
    discrete support of two-state units (rounded at the midpoint); continuous units take
    the values as they are."""
    if len(rbm.visible.shape) != 1:
        raise ValueError("inpaint pictures need one visible axis (not categorical units)")
    if x.ndim != 2 or x.shape[1] != rbm.n_visible:
        raise ValueError(f"DATA has rows of {x.shape[1:]} values, the model "
                         f"{rbm.n_visible} visible units")
    if not np.isfinite(x).all():
        raise ValueError("DATA contains NaN or infinite values")
    v = torch.as_tensor(x, dtype=rbm.weight.dtype, device=device)
    states = rbm.visible.discretize(v)
    return v if states is None else states


def _mask(kind: str, shape, n: int, fraction: float, g) -> torch.Tensor:
    """True = observed. ``bottom`` hides the lower ``fraction`` of rows, and so on."""
    h, w = shape
    m = torch.ones(h, w, dtype=torch.bool)
    rows, cols = round(h * fraction), round(w * fraction)
    if kind == "bottom":
        m[h - rows :] = False
    elif kind == "top":
        m[:rows] = False
    elif kind == "left":
        m[:, :cols] = False
    elif kind == "right":
        m[:, w - cols :] = False
    else:
        return torch.rand(n, h * w, generator=g, device=g.device) >= fraction
    return m.flatten().to(g.device).expand(n, h * w)


def _filters(args) -> None:
    from harmonium.plot import filters_figure

    rbm = _load_model(args.model, "cpu")
    if len(rbm.visible.shape) != 1:
        raise ValueError("filters need one visible axis (not categorical units)")
    shape = image_shape(rbm.n_visible, args.shape)
    fig = filters_figure(rbm.weight.detach().numpy(), shape, max_filters=args.max)
    _save_figure(fig, args.output)


def evaluation(rbm, x: torch.Tensor) -> dict[str, float]:
    """Free-energy statistics, pseudo-likelihood and (when enumerable) exact log-likelihood."""
    from harmonium.partition import log_likelihood_exact, pseudo_log_likelihood
    from harmonium.partition.exact import MAX_ENUMERATED_STATES, _n_states
    from harmonium.training.monitor import reconstruction_error

    with torch.no_grad():
        fe = rbm.free_energy(x)
    out = {"n_samples": len(x), "free_energy_mean": fe.mean().item(),
           "free_energy_std": fe.std().item() if len(x) > 1 else 0.0,
           "recon_error": reconstruction_error(rbm, x)}
    try:
        out["pseudo_ll"] = pseudo_log_likelihood(rbm, x).mean().item()
    except ValueError as exc:
        log.info("no pseudo-likelihood: %s", exc)
    if min(_n_states(rbm.visible), _n_states(rbm.hidden)) <= MAX_ENUMERATED_STATES:
        out["log_likelihood_exact"] = log_likelihood_exact(rbm, x).item()
    return out


def _evaluate(args) -> None:
    rbm = _load_model(args.model, args.device)
    x = load_rows(args.data)
    if args.binarize != "none":
        x = binarize(x, args.binarize, args.threshold, args.seed)
    try:
        x = rbm.check_visible(x, "data")
    except ValueError as exc:
        if args.binarize != "none":
            raise
        raise ValueError(f"{exc}; binarise grey DATA as for training "
                         "(--binarize threshold or --binarize sample)") from None
    results = evaluation(rbm, x)
    if args.ais:
        results.update(ais_evaluation(rbm, x, args))
    for key, value in results.items():
        print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")


# ----------------------------------------------------------------------- parser
def _common(p, with_seed=True) -> None:
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    if with_seed:
        p.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")


def add_data_arguments(p) -> None:
    """Add the options that say how DATA is binarized (shared by the rbm and dbn groups)."""
    p.add_argument("--binarize", choices=BINARIZE, default="none",
                   help="turn [0, 1] data into 0/1 (default: %(default)s)")
    p.add_argument("--threshold", type=real(), default=0.5, help="for --binarize threshold")


def register(sub) -> None:
    p = sub.add_parser("rbm", help="restricted Boltzmann machines: train, sample, evaluate",
                       description="Train, sample, inpaint, show and evaluate RBMs.")
    cmds = p.add_subparsers(dest="rbm_command", metavar="ACTION")
    cmds.required = True
    _add_train(cmds)
    _add_views(cmds)


def _add_train(cmds) -> None:
    t = cmds.add_parser("train", help="train an RBM on DATA and save it",
                        description=f"Train an RBM. DATA: {DATA_HELP}.")
    t.add_argument("data", metavar="DATA", help="training data (a 2-d .npy is read batch by "
                   "batch)")
    t.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    t.add_argument("--hidden", type=count(), default=100,
                   help="hidden units (default: %(default)s)")
    t.add_argument("--visible", choices=("bernoulli", "gaussian"), default="bernoulli",
                   help="visible unit type (gaussian: standardise the data first)")
    t.add_argument("--hidden-type", choices=tuple(HIDDEN_TYPES), default="bernoulli",
                   help="hidden unit type: binary, or real-valued from the ReLU family "
                        "(docs/rbm.md; these want a smaller --lr, e.g. 0.01)")
    t.add_argument("--method", choices=("cd", "pcd"), default="pcd",
                   help="contrastive divergence, or persistent CD with --chains chains")
    t.add_argument("-k", type=count(), default=1, help="Gibbs sweeps per update")
    t.add_argument("--chains", type=count(), default=None, help="PCD chains (default: batch size)")
    t.add_argument("--epochs", type=count(), default=10, help="passes over DATA")
    t.add_argument("--batch-size", type=count(), default=100, help="samples per update")
    t.add_argument("--lr", type=positive(), default=0.05, help="learning rate (SGD)")
    t.add_argument("--momentum", type=fraction(open_high=True), default=0.5,
                   help="in [0, 1) (default: %(default)s)")
    t.add_argument("--weight-decay", type=real(0), default=0.0,
                   help="L2 penalty on the weights")
    t.add_argument("--checkpoint", default=None, help="checkpoint file written every epoch")
    t.add_argument("--resume", action="store_true", help="resume from --checkpoint")
    add_precision(t)
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_data_arguments(t)
    _common(t)
    t.set_defaults(func=_train, writes=(".safetensors",))


def _add_views(cmds) -> None:
    """The commands that read a trained model: sample, inpaint, filters, evaluate."""
    s = cmds.add_parser("sample", help="draw samples from a model (PNG grid or .npy)",
                        description="Run Gibbs chains from random states and save the "
                        "final visible means as a picture grid (.png) or an array (.npy).")
    s.add_argument("model", metavar="MODEL", help="model file written by 'rbm train'")
    s.add_argument("-n", type=count(), default=64, help="number of samples")
    s.add_argument("-o", "--output", required=True, help=".png picture or .npy array")
    s.add_argument("--steps", type=count(), default=1000, help="Gibbs sweeps")
    s.add_argument("--cols", type=count(), default=8, help="images per row")
    s.add_argument("--shape", default=None, help="image shape HxW (default: square)")
    add_tempering_args(s)
    _common(s)
    s.set_defaults(func=_sample, writes=(".png", ".pdf", ".svg", ".npy"))

    i = cmds.add_parser("inpaint", help="hide part of images and fill it in",
                        description="Hide part of the first images of DATA (--mask) and "
                        "fill it in by Gibbs sampling with the rest clamped; the picture "
                        "shows original, observed and inpainted rows.")
    i.add_argument("model", metavar="MODEL", help="model file written by 'rbm train'")
    i.add_argument("data", metavar="DATA", help=DATA_HELP)
    i.add_argument("-o", "--output", required=True, help=".png picture")
    i.add_argument("-n", type=count(), default=8, help="number of images")
    i.add_argument("--mask", choices=MASKS, default="bottom", help="what to hide")
    i.add_argument("--fraction", type=fraction(open_low=True, open_high=True), default=0.5,
                   help="fraction hidden, in (0, 1) (default: %(default)s)")
    i.add_argument("--steps", type=count(), default=200, help="Gibbs sweeps")
    i.add_argument("--mean-field", action="store_true", help="deterministic mean-field fill")
    i.add_argument("--shape", default=None, help="image shape HxW (default: square)")
    _common(i)
    i.set_defaults(func=_inpaint, writes=(".png", ".pdf", ".svg"))

    f = cmds.add_parser("filters", help="draw the hidden units' receptive fields",
                        description="Draw each hidden unit's weights to the visible units "
                        "as an image (its receptive field).")
    f.add_argument("model", metavar="MODEL", help="model file written by 'rbm train'")
    f.add_argument("-o", "--output", required=True, help=".png picture")
    f.add_argument("--max", type=count(), default=100, help="at most this many filters")
    f.add_argument("--shape", default=None, help="image shape HxW (default: square)")
    f.set_defaults(func=_filters, writes=(".png", ".pdf", ".svg"))

    e = cmds.add_parser("evaluate", help="likelihood and free-energy statistics on DATA",
                        description="Reconstruction error, pseudo-log-likelihood and free "
                        "energy of DATA; with --ais the log-likelihood from an AIS estimate "
                        "of log Z (exact for small models). Grey DATA must be binarised "
                        "as for training (--binarize).")
    e.add_argument("model", metavar="MODEL", help="model file written by 'rbm train'")
    e.add_argument("data", metavar="DATA", help=DATA_HELP)
    add_data_arguments(e)
    add_ais_args(e)
    _common(e)
    e.set_defaults(func=_evaluate)
