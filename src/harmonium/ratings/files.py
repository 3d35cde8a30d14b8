"""Rating files: generic (user, item, rating[, timestamp]) text files and MovieLens.

Nothing is downloaded: every loader reads files you already have.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from harmonium.ratings.columns import RatingsData, find_columns
from harmonium.ratings.ids import encode
from harmonium.ratings.pairs import latest_per_pair

__all__ = ["load_movielens", "load_ratings_csv", "load_titles"]

# file names of each MovieLens layout: ratings, titles, separator, encoding
_MOVIELENS_LAYOUTS = (
    ("u.data", "u.item", "\t", "latin-1"),  # 100k
    ("ratings.dat", "movies.dat", "::", "latin-1"),  # 1M, 10M
    ("ratings.csv", "movies.csv", ",", "utf-8"),  # latest, 20M, 25M
)


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


def _layout(rows: list[list[str]], path: Path) -> tuple[dict[str, int], int]:
    """The column of each role and the line number of the first rating."""
    try:
        float(rows[0][2])
    except (IndexError, ValueError):  # a header row
        return find_columns(rows[0], f"{path}: the header"), 2
    cols = {"user": 0, "item": 1, "rating": 2}
    if len(rows[0]) > 3:
        cols["timestamp"] = 3
    return cols, 1


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


def _read_columns(rows, cols: dict[str, int], path: Path, first_line: int) -> RatingsData:
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
    return RatingsData(
        users=_id_column(columns["user"]),
        items=_id_column(columns["item"]),
        ratings=_number_column(columns["rating"], "rating", path, first_line, np.float64),
        timestamps=ts,
    )


def _one_per_pair(data: RatingsData, path: Path, duplicates: str) -> RatingsData:
    """Resolve repeated (user, item) rows by the ``duplicates`` policy."""
    _, u = encode(data.users, "users")
    _, i = encode(data.items, "items")
    keep = latest_per_pair(u, i, data.users, data.items, timestamps=data.timestamps,
                           duplicates=duplicates, source=f"{path}: ")
    if len(keep) == len(u):
        return data
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
    ``item``/``movieId``, ``rating``, ``timestamp``, case-insensitive; all accepted
    names are in :data:`harmonium.ratings.RATING_COLUMNS`); without one, they are taken
    in that order.

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
    cols, first_line = _layout(rows, path)
    rows = rows[first_line - 1:]
    if not rows:
        raise ValueError(f"{path} has a header but no ratings")
    return _one_per_pair(_read_columns(rows, cols, path, first_line), path, duplicates)


#: the titles files of MovieLens releases, in the order a folder is searched
TITLE_FILES = ("movies.csv", "movies.dat", "u.item")


def load_titles(path: str | os.PathLike) -> dict:
    """Item titles of a MovieLens movies file: ``movies.csv``, ``movies.dat`` or ``u.item``,
    or of the MovieLens folder that holds one.

    Returns
    -------
    dict
        Movie id (int, or str for non-integer ids) -> title.
    """
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in TITLE_FILES if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(f"no titles file ({', '.join(TITLE_FILES)}) in {path}")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"no such titles file: {path}")
    if path.suffix == ".csv":
        rows = _split_rows(path, ",", "utf-8")[1:]
    else:
        rows = _split_rows(path, "|" if path.name == "u.item" else "::", "latin-1")
    rows = [row for row in rows if len(row) >= 2]
    ids = _id_column([row[0] for row in rows])
    return dict(zip(ids.tolist(), (row[1] for row in rows), strict=True))


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
