"""``harmonium hopfield``: store images, recall from a probe image, measure capacity."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from harmonium.cli._options import count, counted, fraction, real, seed
from harmonium.tasks.capacity import MAX_ALPHA

log = logging.getLogger(__name__)

MODELS = ("classical", "dense", "modern")
# inverse temperature of the modern memory on +1/-1 images: scores are overlaps in
# [-d, d], so a small beta already separates images that differ in a few pixels
MODERN_BETA = 0.1


def register(sub) -> None:
    p = sub.add_parser("hopfield", help="classical Hopfield associative memory",
                       description="Store images in a Hopfield network, recall them from "
                       "corrupted probes, measure capacity.")
    cmds = p.add_subparsers(dest="hopfield_command", metavar="ACTION")
    cmds.required = True

    s = cmds.add_parser("store", help="store images in a new memory file",
                        description="Binarize images (size x size, bright = +1) and store "
                        "them in a Hopfield network saved as a model file.")
    s.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    s.add_argument("-o", "--output", required=True, help="memory file (.safetensors)")
    s.add_argument("--size", type=count(), default=64, help="side of the square images "
                   "(default: %(default)s)")
    s.add_argument("--model", choices=MODELS, default="classical",
                   help="classical Hopfield network, dense associative memory (exponential "
                   "interaction) or modern Hopfield memory (default: %(default)s)")
    s.add_argument("--rule", choices=["hebbian", "storkey", "pseudoinverse"], default=None,
                   help="storage rule of the classical model (default: pseudoinverse)")
    s.add_argument("--threshold", default="median",
                   help="binarization: median, mean, otsu or a number (default: %(default)s)")
    s.set_defaults(func=_store, writes=(".safetensors",))

    r = cmds.add_parser("recall", help="recall a memory from a probe image",
                        description="Run the network's dynamics from a probe image and "
                        "write the recalled image.")
    r.add_argument("memory", help="memory file written by 'harmonium hopfield store'")
    r.add_argument("probe", help="probe image file")
    r.add_argument("-o", "--output", required=True, help="recalled image (.png)")
    r.add_argument("--mode", choices=["async", "sync"],
                   help="dynamics: one unit at a time or all at once (default: the "
                   "memory's own, async for classical and dense, sync for modern)")
    r.add_argument("--max-sweeps", type=count(), default=100, help="default: %(default)s")
    r.add_argument("--threshold", default="median", help="binarization of the probe")
    r.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")
    r.set_defaults(func=_recall)

    c = cmds.add_parser("capacity", help="plot recall against load for random patterns",
                        description="Store random patterns at increasing load n/d and plot "
                        "the fraction recalled (and exact fixed points).")
    c.add_argument("--rule", choices=["hebbian", "storkey", "pseudoinverse"],
                   default="hebbian", help="storage rule (default: %(default)s)")
    c.add_argument("--units", type=count(2), default=200,
                   help="network size d (default: %(default)s)")
    c.add_argument("--alphas", type=real(0, MAX_ALPHA, open_low=True), nargs="+",
                   help=f"loads n/d in (0, {MAX_ALPHA:g}] (default 0.02 ... 0.30)")
    c.add_argument("--trials", type=count(), default=3, help="default: %(default)s")
    c.add_argument("--noise", type=fraction(), default=0.0,
                   help="fraction of bits flipped in each probe (default: %(default)s)")
    c.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")
    c.add_argument("-o", "--output", required=True, help="figure (.png)")
    c.add_argument("--json", help="also write the numbers to this JSON file")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    c.set_defaults(func=_capacity, writes=(".png", ".pdf", ".svg"))


def _threshold(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _store(args) -> None:
    from harmonium.datasets import images_to_spins, read_image
    from harmonium.io import save

    if args.rule is not None and args.model != "classical":
        raise ValueError(f"--rule applies to --model classical only; the {args.model} "
                         "memory stores patterns as they are: drop --rule")
    rule = args.rule or "pseudoinverse"
    images = [read_image(path) for path in args.images]
    spins = torch.cat([images_to_spins(im, args.size, _threshold(args.threshold))
                       for im in images])
    net = _new_memory(args.model, spins.shape[1], rule).store(spins)
    save(net, args.output)
    kind = f"rule {rule}" if args.model == "classical" else f"{args.model} memory"
    print(f"stored {counted(len(images), 'image')} ({args.size}x{args.size}, {kind}) in "
          f"{args.output}")


def _new_memory(model: str, n_units: int, rule: str):
    if model == "classical":
        from harmonium.models.hopfield import HopfieldNetwork

        return HopfieldNetwork(n_units, rule=rule)
    if model == "dense":
        from harmonium.models.dense import DenseAssociativeMemory

        return DenseAssociativeMemory(n_units, interaction="exponential")
    from harmonium.models.modern_hopfield import ModernHopfield

    return ModernHopfield(beta=MODERN_BETA)


def _recall(args) -> None:
    from harmonium.datasets import images_to_spins, read_image, spins_to_images, write_image
    from harmonium.io import load
    from harmonium.models.memory import AssociativeMemory, sign

    net = load(args.memory)
    if not isinstance(net, AssociativeMemory):
        raise ValueError(f"{args.memory} holds a {type(net).__name__}, not an associative "
                         "memory written by 'harmonium hopfield store'")
    side = math.isqrt(net.n_features)
    if side * side != net.n_features:
        raise ValueError(f"{args.memory} has {net.n_features} units, not a square image")
    probe = images_to_spins(read_image(args.probe), side, _threshold(args.threshold))
    result = net.recall(probe, mode=args.mode or net.modes[0], max_sweeps=args.max_sweeps,
                        generator=torch.Generator().manual_seed(args.seed))
    recalled = sign(result.states)  # the modern memory recalls real vectors
    write_image(args.output, spins_to_images(recalled, (side, side))[0])
    state = "fixed point" if bool(result.converged[0]) else (
        "2-cycle" if bool(result.cycled[0]) else "not converged")
    print(f"{state} after {counted(int(result.sweeps[0]), 'sweep')}, energy "
          f"{float(net.energy(result.states)[0]):.1f}; wrote {args.output}")


def _capacity(args) -> None:
    from harmonium.tasks.capacity import capacity_curve

    curve = capacity_curve(
        args.units, args.alphas, rule=args.rule, flip_fraction=args.noise,
        n_trials=args.trials, generator=torch.Generator().manual_seed(args.seed),
        progress=not args.no_progress,
    )
    curve.plot().savefig(args.output, dpi=110)
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(curve.to_dict(), indent=1))
    print(f"{args.rule}, d={args.units}: {capacity_summary(curve)}; wrote {args.output}")


def capacity_summary(curve) -> str:
    """Where recall falls below 50%, in words, also when it does so outside the loads."""
    crossing = curve.crossing()
    if not math.isnan(crossing):
        return f"50% of patterns recalled up to alpha = {crossing:.3f}"
    first, last = curve.alphas[0], curve.alphas[-1]
    if curve.recall_fraction[0] < 0.5:
        return (f"fewer than 50% of patterns recalled already at the smallest load, alpha = "
                f"{first:.3f} ({curve.recall_fraction[0]:.0%})")
    return (f"at least 50% of patterns recalled at every load up to the largest, alpha = "
            f"{last:.3f} ({curve.recall_fraction[-1]:.0%})")
