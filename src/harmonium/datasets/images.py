"""Grayscale images: resizing, image <-> spin conversions, image files, occlusion masks.

Conventions: grayscale images are float arrays in [0, 1] of shape (n, height, width);
spin vectors are float32 tensors of +1/-1 of shape (n, height * width), row-major, with
bright pixels at +1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from harmonium._numerics import as_batch, check_positive_int, check_spin

__all__ = [
    "HALVES",
    "half_mask",
    "images_to_spins",
    "read_image",
    "resize_images",
    "spins_to_images",
    "write_image",
]


def _as_image_stack(images) -> np.ndarray:
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(
            f"images must have shape (n, height, width) or (height, width), got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("images contain NaN or infinite values")
    return arr


def resize_images(images, size: int | tuple[int, int]) -> np.ndarray:
    """Resize grayscale images with anti-aliasing.

    Parameters
    ----------
    images : array-like, shape (n, height, width) or (height, width)
    size : int or (int, int)
        New (height, width); an int gives square images.

    Returns
    -------
    numpy.ndarray, shape (n, *size)
    """
    from skimage.transform import resize

    shape = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    for s in shape:
        check_positive_int(s, "size")
    arr = _as_image_stack(images)
    return np.stack([resize(im, shape, anti_aliasing=True) for im in arr])


def images_to_spins(images, size=None, threshold="median") -> torch.Tensor:
    """Binarize grayscale images to +1/-1 vectors (bright pixels +1).

    Parameters
    ----------
    images : array-like, shape (n, height, width) or (height, width)
    size : int or (int, int), optional
        Resize to this (height, width) first.
    threshold : {"median", "mean", "otsu"} or float
        Per-image threshold; a pixel above it becomes +1. ``"median"`` makes every image
        half +1 and half -1 (balanced patterns store best).

    Returns
    -------
    torch.Tensor, shape (n, height * width), float32
    """
    arr = _as_image_stack(images) if size is None else resize_images(images, size)
    if isinstance(threshold, str):
        if threshold == "otsu":
            from skimage.filters import threshold_otsu

            cut = np.array([threshold_otsu(im) if np.ptp(im) > 0 else im.flat[0] for im in arr])
        elif threshold in ("median", "mean"):
            cut = getattr(np, threshold)(arr.reshape(len(arr), -1), axis=1)
        else:
            raise ValueError(
                f"threshold must be 'median', 'mean', 'otsu' or a number, got {threshold!r}"
            )
    elif isinstance(threshold, (int, float)) and np.isfinite(threshold):
        cut = np.full(len(arr), float(threshold))
    else:
        raise ValueError(
            f"threshold must be 'median', 'mean', 'otsu' or a number, got {threshold!r}"
        )
    spins = np.where(arr > cut[:, None, None], 1.0, -1.0).reshape(len(arr), -1)
    return torch.from_numpy(spins.astype(np.float32))


def spins_to_images(spins, shape: tuple[int, int]) -> np.ndarray:
    """Turn +1/-1 vectors back into images with values 0 (for -1) and 1 (for +1).

    Parameters
    ----------
    spins : array-like or torch.Tensor, shape (n, height * width)
    shape : (int, int)
        (height, width).

    Returns
    -------
    numpy.ndarray, shape (n, height, width), float
    """
    height, width = shape
    x = check_spin(as_batch(spins, "spins", n_features=height * width, allow_1d=True), "spins")
    return ((x.detach().cpu().numpy() + 1) / 2).reshape(-1, height, width)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (PNG, JPEG, ...) as grayscale (ITU-R 601 luma).

    Returns
    -------
    numpy.ndarray, shape (height, width), float in [0, 1]
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"), dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path} as an image ({exc})") from None
    return gray / 255.0


def write_image(path: str | os.PathLike, image) -> Path:
    """Write a grayscale image (height, width) with values in [0, 1] as 8 bits (PNG, ...)."""
    from PIL import Image

    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"image must be a finite (height, width) array, got shape {arr.shape}")
    path = Path(path)
    Image.fromarray(np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


# sides of an image that half_mask can hide
HALVES = ("bottom", "top", "left", "right")


def half_mask(shape: tuple[int, int], hide: str = "bottom") -> torch.Tensor:
    """Observation mask of a row-major image with one half hidden.

    Parameters
    ----------
    shape : (int, int)
        (height, width) of the image.
    hide : {"bottom", "top", "left", "right"}
        The half that is not observed (for an odd side the hidden half is the smaller).

    Returns
    -------
    torch.Tensor of bool, shape (height * width,)
        True where the pixel is observed (the convention of ``mask=`` in
        :meth:`harmonium.ModernHopfield.recall`).
    """
    height, width = (check_positive_int(s, "shape") for s in shape)
    if hide not in HALVES:
        raise ValueError(f"hide must be one of {HALVES}, got {hide!r}")
    mask = torch.ones(height, width, dtype=torch.bool)
    rows, cols = height // 2, width // 2  # sizes of the hidden half
    if hide == "bottom":
        mask[height - rows:] = False
    elif hide == "top":
        mask[:rows] = False
    elif hide == "left":
        mask[:, :cols] = False
    else:
        mask[:, width - cols:] = False
    return mask.flatten()
