"""Data that ships with the dependencies (no download): scikit-image sample images,
its faces subset, and scikit-learn's 8x8 digits."""

from __future__ import annotations

import numpy as np

from harmonium.datasets.images import resize_images

__all__ = ["IMAGE_NAMES", "load_digits", "load_faces", "load_image", "load_images"]

# scikit-image sample images that ship inside the package (no download)
IMAGE_NAMES = (
    "astronaut", "brick", "camera", "cell", "checkerboard", "chelsea", "clock", "coffee",
    "coins", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry",
    "logo", "microaneurysms", "moon", "page", "retina", "rocket", "shepp_logan_phantom",
    "text",
)


def load_image(name: str) -> np.ndarray:
    """One scikit-image sample image as grayscale.

    Parameters
    ----------
    name : str
        One of :data:`IMAGE_NAMES` (e.g. ``"camera"``, ``"astronaut"``, ``"horse"``).

    Returns
    -------
    numpy.ndarray, shape (height, width), float in [0, 1]
    """
    if name not in IMAGE_NAMES:
        raise ValueError(f"unknown image {name!r}; expected one of {', '.join(IMAGE_NAMES)}")
    import skimage.data
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    image = img_as_float(getattr(skimage.data, name)())
    if image.ndim == 3 and image.shape[-1] == 4:
        image = rgba2rgb(image)
    if image.ndim == 3:
        image = rgb2gray(image)
    return image.astype(np.float64)


def load_images(names=("camera", "astronaut", "horse", "coins", "text", "moon"),
                size: int | tuple[int, int] = 64) -> np.ndarray:
    """Several sample images, grayscale and resized to a common size.

    Parameters
    ----------
    names : sequence of str
        Names from :data:`IMAGE_NAMES`.
    size : int or (int, int)
        Output (height, width).

    Returns
    -------
    numpy.ndarray, shape (len(names), *size), float in [0, 1]
    """
    names = list(names)
    if not names:
        raise ValueError("names is empty: expected at least one image name")
    return np.concatenate([resize_images(load_image(n), size) for n in names])


def load_faces() -> tuple[np.ndarray, np.ndarray]:
    """The scikit-image ``lfw_subset``: 100 faces then 100 non-faces, 25x25.

    Returns
    -------
    images : numpy.ndarray, shape (200, 25, 25), float in [0, 1]
    is_face : numpy.ndarray of bool, shape (200,)
    """
    import skimage.data

    images = skimage.data.lfw_subset().astype(np.float64)
    return images, np.arange(len(images)) < 100


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1].

    Returns
    -------
    images : numpy.ndarray, shape (1797, 64), float in [0, 1]
    labels : numpy.ndarray of int, shape (1797,)
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    return bunch.data / 16.0, bunch.target.astype(np.int64)
