"""Data loaders and conversions: bundled images, digits, faces, MNIST files, ratings, spins.

Everything here works offline: the images come with scikit-image, the 8x8 digits with
scikit-learn; MNIST and rating files are read from files you already have.

- :mod:`~harmonium.datasets.bundled`: scikit-image samples, faces, 8x8 digits,
- :mod:`~harmonium.datasets.mnist`: ``mnist.npz`` and IDX files,
- :mod:`~harmonium.datasets.images`: resizing, image <-> spin vectors, image files,
  half masks,
- :mod:`~harmonium.datasets.arrays`: 0/1 <-> -1/+1 and ``.npy`` / ``.csv`` arrays,
- rating files and MovieLens: :mod:`harmonium.ratings` (re-exported here).

Conventions: grayscale images are float arrays in [0, 1] of shape (n, height, width);
spin vectors are float32 tensors of +1/-1 of shape (n, height * width), row-major, with
bright pixels at +1.
"""

from harmonium.datasets.arrays import binary_to_spin, load_array, spin_to_binary
from harmonium.datasets.bundled import (
    IMAGE_NAMES,
    load_digits,
    load_faces,
    load_image,
    load_images,
)
from harmonium.datasets.images import (
    HALVES,
    half_mask,
    images_to_spins,
    read_image,
    resize_images,
    spins_to_images,
    write_image,
)
from harmonium.datasets.mnist import load_mnist, read_idx
from harmonium.ratings import RatingsData, load_movielens, load_ratings_csv, load_titles

__all__ = [
    "HALVES",
    "IMAGE_NAMES",
    "RatingsData",
    "binary_to_spin",
    "half_mask",
    "images_to_spins",
    "load_array",
    "load_digits",
    "load_faces",
    "load_image",
    "load_images",
    "load_mnist",
    "load_movielens",
    "load_ratings_csv",
    "load_titles",
    "read_idx",
    "read_image",
    "resize_images",
    "spin_to_binary",
    "spins_to_images",
    "write_image",
]
