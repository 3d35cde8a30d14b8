"""Rating loaders: every MovieLens layout and generic CSV files, written to tmp_path."""

import numpy as np
import pytest

from harmonium.ratings import RATING_COLUMNS, load_movielens, load_ratings_csv, load_titles

USERS, ITEMS, RATINGS, TIMES = [1, 1, 2], [10, 20, 10], [4.0, 3.0, 5.0], [100, 200, 300]
TITLE = "Café, Society (1995)"


def _write(path, lines, encoding="utf-8"):
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _check(data, titles=True):
    assert data.users.tolist() == USERS and data.items.tolist() == ITEMS
    assert data.users.dtype == np.int64
    np.testing.assert_array_equal(data.ratings, RATINGS)
    np.testing.assert_array_equal(data.timestamps, TIMES)
    if titles:
        assert data.titles == {10: TITLE, 20: "Heat (1995)"}


def _rows(sep):
    return [sep.join(map(str, r)) for r in zip(USERS, ITEMS, RATINGS, TIMES, strict=True)]


def test_movielens_100k(tmp_path):
    _write(tmp_path / "u.data", _rows("\t"))
    _write(tmp_path / "u.item", [f"10|{TITLE}|01-Jan-1995||http://x|0|1",
                                 "20|Heat (1995)|01-Jan-1995||http://y|1|0"], "latin-1")
    _check(load_movielens(tmp_path))


def test_movielens_1m(tmp_path):
    _write(tmp_path / "ratings.dat", _rows("::"))
    _write(tmp_path / "movies.dat", [f"10::{TITLE}::Comedy", "20::Heat (1995)::Action"],
           "latin-1")
    _check(load_movielens(tmp_path))
    _check(load_movielens(tmp_path / "ratings.dat"))


def test_movielens_latest(tmp_path):
    _write(tmp_path / "ratings.csv", ["userId,movieId,rating,timestamp", *_rows(",")])
    _write(tmp_path / "movies.csv", ["movieId,title,genres", f'10,"{TITLE}",Comedy',
                                     "20,Heat (1995),Action|Crime"])
    _check(load_movielens(tmp_path))
    assert load_titles(tmp_path / "movies.csv")[10] == TITLE


def test_movielens_without_titles(tmp_path):
    _write(tmp_path / "ratings.csv", ["userId,movieId,rating,timestamp", *_rows(",")])
    assert load_movielens(tmp_path).titles is None


def test_generic_csv_with_and_without_header(tmp_path):
    _check(load_ratings_csv(_write(tmp_path / "a.csv", _rows(","))), titles=False)
    _check(load_ratings_csv(_write(tmp_path / "b.tsv", _rows("\t"))), titles=False)
    reordered = ["Rating,Item,User,Timestamp"] + [
        f"{r},{i},{u},{t}" for u, i, r, t in zip(USERS, ITEMS, RATINGS, TIMES, strict=True)
    ]
    _check(load_ratings_csv(_write(tmp_path / "c.csv", reordered)), titles=False)
    data = load_ratings_csv(_write(tmp_path / "d.csv", ["user,item,rating", "ann,x,1",
                                                        "bob,x,2"]))
    assert data.users.tolist() == ["ann", "bob"] and data.timestamps is None


def test_duplicates_are_rejected_or_the_latest_kept(tmp_path):
    path = _write(tmp_path / "dup.csv", ["1,10,4,300", "1,20,3,100", "1,10,2,200"])
    with pytest.raises(ValueError, match="duplicate rating"):
        load_ratings_csv(path)
    data = load_ratings_csv(path, duplicates="latest")
    assert list(zip(data.items.tolist(), data.ratings.tolist(), strict=True)) == [(10, 4.0),
                                                                                 (20, 3.0)]
    no_time = _write(tmp_path / "dup2.csv", ["1,10,4", "1,10,2"])
    assert load_ratings_csv(no_time, duplicates="latest").ratings.tolist() == [2.0]
    with pytest.raises(ValueError, match="duplicates must be"):
        load_ratings_csv(path, duplicates="first")


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], "empty"),
        (["user,item,rating"], "no ratings"),
        (["user,item,when", "1,2,3"], "no rating column"),
        (["1,2,3", "1,2"], "line 2: expected at least 3 fields"),
        (["user,item,rating", "1,2,3", "1,3,four"], "line 3: rating 'four' is not a number"),
    ],
)
def test_bad_files_raise(tmp_path, lines, match):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=match):
        load_ratings_csv(path)


def test_missing_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_ratings_csv(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="MovieLens"):
        load_movielens(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_titles(tmp_path / "movies.csv")


def test_header_names_come_from_the_shared_table_in_any_case(tmp_path):
    for names in (("UserID", "Movie_Id", "Score", "Time"), ("user", "itemid", "STARS", "date")):
        for role, name in zip(("user", "item", "rating", "timestamp"), names, strict=True):
            assert name.lower() in RATING_COLUMNS[role]
        lines = [",".join(names), *_rows(",")]
        _check(load_ratings_csv(_write(tmp_path / "names.csv", lines)), titles=False)


def test_duplicate_error_names_the_pair_and_rows(tmp_path):
    path = _write(tmp_path / "dup.csv", ["ann,x,4", "bob,x,3", "ann,x,2"])
    with pytest.raises(ValueError, match=r"\(user 'ann', item 'x'\) at rows 0 and 2"):
        load_ratings_csv(path)
