"""``harmonium memory``: store real-valued images in a modern Hopfield memory, retrieve
and complete them, evaluate retrieval from corrupted copies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from harmonium.cli._options import count, counted, positive, seed
from harmonium.datasets import HALVES

# Gaussian noise of the "noise" corruption (Millidge et al. 2022 protocol)
NOISE_SIGMA = 0.5
CORRUPTIONS = ("half", "noise", "pixels")
# evaluate this many queries at a time (bounds the (queries, memories) score matrix)
CHUNK = 256


def register(sub) -> None:
    p = sub.add_parser("memory", help="modern Hopfield memory for real-valued images",
                       description="Store grayscale images in a modern Hopfield memory "
                       "(Ramsauer et al. 2020), retrieve or complete them from probes, "
                       "evaluate retrieval from corrupted copies.")
    cmds = p.add_subparsers(dest="memory_command", metavar="ACTION")
    cmds.required = True

    s = cmds.add_parser("store", help="store images in a new memory file",
                        description="Store grayscale images (pixels in [0, 1]) as vectors "
                        "in a modern Hopfield memory saved as a model file. IMAGES are image "
                        "files, or 'digits' (the bundled 8x8 digits), or an MNIST .npz file.")
    s.add_argument("images", nargs="+", metavar="IMAGES",
                   help="image files (PNG, JPEG, ...), 'digits', or a path to mnist.npz")
    s.add_argument("-o", "--output", required=True, help="memory file (.safetensors)")
    s.add_argument("--size", type=count(), help="side of the square images (default: 28 for "
                   "image files, the native side for digits and MNIST)")
    s.add_argument("--n", type=count(), help="store the first N digits / MNIST training images "
                   "(default: 1000)")
    s.add_argument("--beta", type=positive(), default=8.0,
                   help="inverse temperature (default: %(default)s)")
    s.add_argument("--similarity", choices=["dot", "euclidean", "manhattan"],
                   default="euclidean", help="similarity (default: %(default)s)")
    s.add_argument("--normalize", action="store_true",
                   help="compare unit-length vectors (cosine; use a beta of ~100)")
    s.add_argument("--separation", choices=["softmax", "sparsemax", "entmax15"],
                   default="softmax", help="map from similarities to weights; sparsemax "
                   "and entmax15 give exact zeros (default: %(default)s)")
    s.set_defaults(func=_store, writes=(".safetensors",))

    r = cmds.add_parser("retrieve", help="retrieve (or complete) an image from a probe",
                        description="Retrieve the stored image nearest to a probe image in "
                        "one step. With --mask, the named half of the probe is treated as "
                        "unknown: only the rest is compared and kept, the hidden half is "
                        "filled in, and the output is a figure probe | retrieved.")
    r.add_argument("memory", help="memory file written by 'harmonium memory store'")
    r.add_argument("probe", help="probe image file")
    r.add_argument("-o", "--output", required=True,
                   help="retrieved image, or with --mask a figure (.png)")
    r.add_argument("--mask", choices=[*HALVES, "none"], default="none",
                   help="half of the probe that is unknown (default: %(default)s)")
    r.set_defaults(func=_retrieve)

    e = cmds.add_parser("evaluate", help="retrieval accuracy from corrupted stored images",
                        description="Corrupt every stored image, retrieve in one step and "
                        "count a retrieval correct when its squared error to the stored "
                        "image is below the threshold (Millidge et al. 2022). 'half' hides "
                        "the bottom half and 'pixels' a random half of the pixels (both "
                        "retrieved mask-aware); 'noise' adds Gaussian noise (sigma 0.5).")
    e.add_argument("memory", help="memory file written by 'harmonium memory store'")
    e.add_argument("--corrupt", choices=CORRUPTIONS, required=True, help="corruption")
    e.add_argument("--threshold", type=positive(),
                   help="squared-error threshold (default: 50 per 784 pixels, the UHN "
                   "threshold on MNIST, scaled to the image size)")
    e.add_argument("--n", type=count(), help="evaluate the first N stored images (default: all)")
    e.add_argument("--seed", type=seed(), default=0, help="random seed (default: %(default)s)")
    e.set_defaults(func=_evaluate)


def _images(args) -> np.ndarray:
    """The images to store, (n, side, side) in [0, 1]."""
    from harmonium._numerics import check_positive_int
    from harmonium.cli._data import is_image_set, load_data
    from harmonium.datasets import read_image, resize_images

    sources = args.images
    dataset = len(sources) == 1 and is_image_set(sources[0])
    if args.n is not None and not dataset:
        raise ValueError("--n applies only to 'digits' or an MNIST .npz file")
    if dataset:
        n = check_positive_int(1000 if args.n is None else args.n, "--n")
        images = load_data(sources[0], n).samples
        return images if args.size is None else resize_images(images, args.size)
    side = 28 if args.size is None else args.size  # each image resized: sizes may differ
    return np.concatenate([resize_images(read_image(path), side) for path in sources])


def _store(args) -> None:
    from harmonium.io import save
    from harmonium.models.modern_hopfield import ModernHopfield

    images = _images(args)
    n, side = len(images), images.shape[1]
    memory = ModernHopfield(beta=args.beta, similarity=args.similarity,
                            normalize=args.normalize, separation=args.separation)
    memory.store(torch.from_numpy(images.reshape(n, -1).astype(np.float32)))
    save(memory, args.output)
    sparse = "" if args.separation == "softmax" else f", {args.separation} separation"
    print(f"stored {counted(n, 'image')} ({side}x{side}, {args.similarity} similarity, beta "
          f"{args.beta:g}{sparse}) in {args.output}")


def _load(path: str):
    """The memory in ``path`` and the side of its square images."""
    from harmonium.io import load
    from harmonium.models.memory import AssociativeMemory

    memory = load(path)
    if not isinstance(memory, AssociativeMemory) or memory.state_space != "real":
        raise ValueError(f"{path} holds a {type(memory).__name__}, not a memory of "
                         "real-valued images (write one with 'harmonium memory store')")
    side = math.isqrt(memory.n_features)
    if side * side != memory.n_features:
        raise ValueError(f"{path} stores vectors of width {memory.n_features}, "
                         "not square images")
    return memory, side


def _retrieve(args) -> None:
    from harmonium.datasets import half_mask, read_image, resize_images, write_image
    from harmonium.plot import image_grid

    memory, side = _load(args.memory)
    image = read_image(args.probe)
    resized = "" if image.shape == (side, side) else (
        f" (the {image.shape[1]}x{image.shape[0]} probe was resized to the memory's "
        f"{side}x{side}" + (", changing its proportions)" if image.shape[0] != image.shape[1]
                            else ")"))
    probe = torch.from_numpy(resize_images(image, side).reshape(1, -1))
    mask = None if args.mask == "none" else half_mask((side, side), args.mask)
    result = memory.recall(probe.to(memory.patterns_.dtype), mask=mask)
    retrieved = result.states[0].reshape(side, side).cpu().numpy()
    weight, index = result.weights[0].max(0)
    if mask is None:
        write_image(args.output, retrieved)
    else:  # the hidden half shown mid-grey
        shown = torch.where(mask, probe[0], 0.5).reshape(side, side).numpy()
        figure = image_grid([np.stack([shown, retrieved])],
                            col_labels=[f"probe ({args.mask} hidden)", "retrieved"], cell=2.0)
        figure.savefig(args.output, dpi=100)
    print(f"nearest stored image #{int(index)} (weight {float(weight):.3f}); "
          f"wrote {args.output}{resized}")


def _corrupt(x: torch.Tensor, kind: str, side: int, generator: torch.Generator):
    """Corrupted copies of x (n, d) and the observation mask (None for noise)."""
    from harmonium.datasets import half_mask

    if kind == "noise":
        noise = NOISE_SIGMA * torch.randn(x.shape, generator=generator).to(x)
        return (x + noise).abs().clamp(0, 1), None
    if kind == "half":
        mask = half_mask((side, side), "bottom").to(x.device).expand_as(x)
    else:
        mask = (torch.rand(x.shape, generator=generator) >= 0.5).to(x.device)
    return x * mask, mask


def _evaluate(args) -> None:
    from harmonium._numerics import check_positive_int

    memory, side = _load(args.memory)
    stored = memory.patterns_
    n = len(stored) if args.n is None else min(check_positive_int(args.n, "--n"), len(stored))
    threshold = 50.0 * side * side / 784 if args.threshold is None else args.threshold
    if not threshold > 0:
        raise ValueError(f"--threshold must be positive, got {threshold}")
    generator = torch.Generator().manual_seed(args.seed)
    correct = identified = 0
    error = 0.0
    for start in range(0, n, CHUNK):
        x = stored[start:min(n, start + CHUNK)]
        queries, mask = _corrupt(x, args.corrupt, side, generator)
        result = memory.recall(queries, mask=mask)
        sq_error = (result.states - x).pow(2).sum(1)
        correct += int((sq_error < threshold).sum())
        index = torch.arange(start, start + len(x), device=x.device)
        identified += int((result.weights.argmax(1) == index).sum())
        error += float(sq_error.sum())
    how = "mask-aware" if args.corrupt != "noise" else f"sigma {NOISE_SIGMA}"
    print(f"{args.corrupt} ({how}): {correct}/{n} = {correct / n:.3f} retrieved within "
          f"squared error {threshold:.4g}; {identified}/{n} identified (largest weight on "
          f"the stored image); mean squared error {error / n:.2f} ({Path(args.memory).name})")
