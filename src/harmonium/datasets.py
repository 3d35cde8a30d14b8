"""Data loaders and conversions: bundled images, digits, faces, MNIST files, spins.

Everything here works offline: the images come with scikit-image, the 8x8 digits with
scikit-learn; MNIST is read from a file you already have (``mnist.npz`` or the original
IDX files, gzipped or not).

Conventions: grayscale images are float arrays in [0, 1] of shape (n, height, width);
spin vectors are float32 tensors of +1/-1 of shape (n, height * width), row-major, with
bright pixels at +1.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from harmonium._numerics import as_batch, check_binary, check_positive_int, check_spin

__all__ = [
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

# scikit-image sample images that ship inside the package (no download)
IMAGE_NAMES = (
    "astronaut", "brick", "camera", "cell", "checkerboard", "chelsea", "clock", "coffee",
    "coins", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry",
    "logo", "microaneurysms", "moon", "page", "retina", "rocket", "shepp_logan_phantom",
    "text",
)


# ---------------------------------------------------------------------- conversions
def binary_to_spin(x) -> torch.Tensor:
    """Map 0/1 data to -1/+1 spins: ``2x - 1``.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (n, d)
        Entries 0 or 1.

    Returns
    -------
    torch.Tensor, shape (n, d)
    """
    x = check_binary(as_batch(x, "x", allow_1d=True), "x")
    return 2 * x - 1


def spin_to_binary(x) -> torch.Tensor:
    """Map -1/+1 spins to 0/1: ``(x + 1) / 2``; x of shape (n, d), result (n, d)."""
    x = check_spin(as_batch(x, "x", allow_1d=True), "x")
    return (x + 1) / 2


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


# ---------------------------------------------------------------------- bundled data
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


# ---------------------------------------------------------------------- MNIST files
_IDX_DTYPES = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the original MNIST format), gzipped or not.

    Parameters
    ----------
    path : str or PathLike
        E.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        Shape and dtype as the file's header says (images: (n, 28, 28) uint8).

    Raises
    ------
    ValueError
        If the file is not a well-formed IDX file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} is a damaged gzip file ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated (header incomplete)")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path} holds {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (f"{stem}-ubyte", f"{stem}-ubyte.gz", f"{stem.replace('-idx', '.idx')}-ubyte",
                 f"{stem.replace('-idx', '.idx')}-ubyte.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {stem}-ubyte[.gz] in {folder}")


def load_mnist(path: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from ``mnist.npz`` or from a folder with the original IDX files.

    Parameters
    ----------
    path : str or PathLike
        ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or a folder
        holding ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]`` and the
        ``t10k-`` test files.
    split : {"train", "test"}

    Returns
    -------
    images : numpy.ndarray, shape (n, 28, 28), uint8
    labels : numpy.ndarray, shape (n,), int64
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    if path.is_dir():
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(_find_idx(path, f"{prefix}-images-idx3"))
        labels = read_idx(_find_idx(path, f"{prefix}-labels-idx1"))
    elif path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                images, labels = data[f"x_{split}"], data[f"y_{split}"]
        except KeyError as exc:
            raise ValueError(f"{path} has no array {exc}: expected an MNIST npz") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable .npz file ({exc})") from None
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(
            f"{path}: expected images (n, h, w) and labels (n,), got {images.shape} and "
            f"{labels.shape}"
        )
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------------- image files
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


# ---------------------------------------------------------------------- plain arrays
class RatingsData(NamedTuple):
    """Explicit ratings as parallel columns (what :class:`harmonium.RBMRecommender` fits).

    Attributes
    ----------
    users, items : numpy.ndarray, shape (n,)
        Ids: int64 when every id in the file is an integer, else str.
    ratings : numpy.ndarray of float64, shape (n,)
    timestamps : numpy.ndarray of int64, shape (n,), or None
    titles : dict or None
        Item id -> title (MovieLens), when known.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray | None = None
    titles: dict | None = None


_RATING_COLUMNS = {
    "user": ("user", "userid", "user_id"),
    "item": ("item", "itemid", "item_id", "movieid", "movie_id", "movie"),
    "rating": ("rating", "score", "stars"),
    "timestamp": ("timestamp", "time", "date"),
}


def _split_rows(path: Path, sep: str | None, encoding: str) -> list[list[str]]:
    text = path.read_text(encoding=encoding)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty: expected (user, item, rating) rows")
    if sep is None:
        first = lines[0]
        sep = next((s for s in ("::", "\t", ",", ";") if s in first), None)
        if sep is None:
            sep = " "
    if len(sep) > 1:
        return [line.split(sep) for line in lines]
    return list(csv.reader(lines, delimiter=sep, skipinitialspace=sep == " "))


def _id_column(values: list[str]) -> np.ndarray:
    arr = np.array([v.strip() for v in values], dtype=str)
    try:
        return arr.astype(np.int64)
    except ValueError:
        return arr


def _number_column(values: list[str], what: str, path: Path, first_line: int, dtype):
    try:
        return np.array(values, dtype=np.float64).astype(dtype)
    except ValueError:
        for j, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise ValueError(
                    f"{path}, line {first_line + j}: {what} {v!r} is not a number"
                ) from None
        raise


def _keep_latest(data: RatingsData, path: Path, duplicates: str) -> RatingsData:
    """Resolve duplicate (user, item) rows: raise, or keep the latest (by timestamp)."""
    if duplicates not in ("error", "latest"):
        raise ValueError(f"duplicates must be 'error' or 'latest', got {duplicates!r}")
    _, u = np.unique(data.users, return_inverse=True)
    _, i = np.unique(data.items, return_inverse=True)
    key = u.reshape(-1).astype(np.int64) * (int(i.max()) + 1) + i.reshape(-1)
    time = data.timestamps if data.timestamps is not None else np.zeros(len(key), np.int64)
    order = np.lexsort((np.arange(len(key)), time, key))  # by pair, then time, then row
    last = np.r_[key[order][1:] != key[order][:-1], True]
    if last.all():
        return data
    if duplicates == "error":
        j = int(np.flatnonzero(~last)[0])
        a, b = sorted((int(order[j]), int(order[j + 1])))
        raise ValueError(
            f"{path}: duplicate rating for (user {data.users[a]!r}, item {data.items[a]!r}) "
            f"in data rows {a} and {b}; pass duplicates='latest' to keep the latest"
        )
    keep = np.sort(order[last])
    ts = None if data.timestamps is None else data.timestamps[keep]
    return data._replace(
        users=data.users[keep], items=data.items[keep], ratings=data.ratings[keep], timestamps=ts
    )


def load_ratings_csv(
    path: str | os.PathLike,
    *,
    sep: str | None = None,
    encoding: str = "utf-8",
    duplicates: str = "error",
) -> RatingsData:
    """Read (user, item, rating[, timestamp]) rows from a delimited text file.

    A header row is optional: with one, columns are found by name (``user``/``userId``,
    ``item``/``movieId``, ``rating``, ``timestamp``, case-insensitive); without one,
    they are taken in that order.

    Parameters
    ----------
    path : str or PathLike
        The file.
    sep : str, optional
        Field separator; detected from the first line (``::``, tab, comma, semicolon,
        space) when omitted.
    encoding : str
        Text encoding (MovieLens 1M/10M files are latin-1).
    duplicates : {"error", "latest"}
        A repeated (user, item) pair raises ``ValueError``, or keeps only the row with
        the latest timestamp (the last such row when there are no timestamps).

    Returns
    -------
    RatingsData
        ``users``, ``items`` (int64 if all ids are integers, else str), ``ratings``
        (float64), ``timestamps`` (int64 or None), ``titles`` None.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Empty file, short rows, non-numeric ratings, duplicates with ``"error"``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ratings file: {path}")
    rows = _split_rows(path, sep, encoding)
    header = [c.strip().lower() for c in rows[0]]
    cols = {}
    try:
        float(rows[0][2])
        first_line = 1
    except (IndexError, ValueError):  # a header row
        for what, names in _RATING_COLUMNS.items():
            found = [header.index(n) for n in names if n in header]
            if found:
                cols[what] = found[0]
        missing = {"user", "item", "rating"} - set(cols)
        if missing:
            raise ValueError(
                f"{path}: the header {rows[0]} has no {', '.join(sorted(missing))} column"
            ) from None
        rows, first_line = rows[1:], 2
    if not cols:
        cols = {"user": 0, "item": 1, "rating": 2}
        if len(rows[0]) > 3:
            cols["timestamp"] = 3
    if not rows:
        raise ValueError(f"{path} has a header but no ratings")
    width = max(cols.values()) + 1
    for j, row in enumerate(rows):
        if len(row) < width:
            raise ValueError(
                f"{path}, line {first_line + j}: expected at least {width} fields, got {row}"
            )
    columns = {what: [row[c] for row in rows] for what, c in cols.items()}
    ts = None
    if "timestamp" in columns:
        ts = _number_column(columns["timestamp"], "timestamp", path, first_line, np.int64)
    data = RatingsData(
        users=_id_column(columns["user"]),
        items=_id_column(columns["item"]),
        ratings=_number_column(columns["rating"], "rating", path, first_line, np.float64),
        timestamps=ts,
    )
    return _keep_latest(data, path, duplicates)


def load_titles(path: str | os.PathLike) -> dict:
    """Item titles of a MovieLens movies file: ``movies.csv``, ``movies.dat`` or ``u.item``.

    Returns
    -------
    dict
        Movie id (int, or str for non-integer ids) -> title.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such titles file: {path}")
    if path.suffix == ".csv":
        rows = _split_rows(path, ",", "utf-8")[1:]
    else:
        rows = _split_rows(path, "|" if path.name == "u.item" else "::", "latin-1")
    rows = [row for row in rows if len(row) >= 2]
    ids = _id_column([row[0] for row in rows])
    return dict(zip(ids.tolist(), (row[1] for row in rows), strict=True))


# file names of each MovieLens layout: ratings, titles, separator, encoding
_MOVIELENS_LAYOUTS = (
    ("u.data", "u.item", "\t", "latin-1"),  # 100k
    ("ratings.dat", "movies.dat", "::", "latin-1"),  # 1M, 10M
    ("ratings.csv", "movies.csv", ",", "utf-8"),  # latest, 20M, 25M
)


def load_movielens(path: str | os.PathLike, *, duplicates: str = "error") -> RatingsData:
    """Read a MovieLens data set (ratings and movie titles) from its folder.

    Recognised layouts: 100k (``u.data`` tab-separated, ``u.item``), 1M and 10M
    (``ratings.dat``/``movies.dat``, ``::``-separated, latin-1), and latest, 20M, 25M
    (``ratings.csv``/``movies.csv`` with headers). Nothing is downloaded.

    Parameters
    ----------
    path : str or PathLike
        The unpacked folder (or its ratings file).
    duplicates : {"error", "latest"}
        Policy for repeated (user, movie) pairs, as in :func:`load_ratings_csv`.

    Returns
    -------
    RatingsData
        int64 user and movie ids, float64 ratings, int64 timestamps, and ``titles``
        (movie id -> title; None when the titles file is missing).

    Raises
    ------
    FileNotFoundError
        If no MovieLens ratings file is found.
    """
    path = Path(path)
    folder = path.parent if path.is_file() else path
    for ratings, movies, sep, encoding in _MOVIELENS_LAYOUTS:
        if (folder / ratings).is_file() and (path == folder or path.name == ratings):
            data = load_ratings_csv(
                folder / ratings, sep=sep, encoding=encoding, duplicates=duplicates
            )
            titles = load_titles(folder / movies) if (folder / movies).is_file() else None
            return data._replace(titles=titles)
    raise FileNotFoundError(
        f"no MovieLens ratings in {path}: expected u.data, ratings.dat or ratings.csv"
    )


def load_array(path: str | os.PathLike) -> np.ndarray:
    """A 2-D numeric array from a ``.npy`` file or a comma-separated ``.csv`` file.

    A ``.csv`` may start with one header line (skipped when it is not numeric);
    arrays of more dimensions (e.g. image stacks) are flattened to one row per sample.

    Returns
    -------
    numpy.ndarray, shape (n_samples, n_features), float64 (float32 kept)

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, unknown suffix, non-numeric or ragged content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path} is not a readable numeric .npy file ({exc})") from None
    elif suffix == ".csv":
        rows = [line.split(",") for line in path.read_text(encoding="utf-8").split()]
        try:
            np.array(rows[:1], dtype=float)
        except ValueError:
            rows = rows[1:]  # a header line
        try:
            arr = np.array(rows, dtype=float)
        except ValueError as exc:
            raise ValueError(f"{path}: not a numeric, rectangular CSV ({exc})") from None
    else:
        raise ValueError(f"{path}: expected a .npy or .csv file, got {suffix or 'no suffix'!r}")
    if arr.dtype == object or arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"{path}: expected a non-empty numeric 2-D array, got shape {arr.shape}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    return arr.reshape(len(arr), -1)


# ---------------------------------------------------------------------- occlusion masks
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
        :meth:`harmonium.ModernHopfield.retrieve`).
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
