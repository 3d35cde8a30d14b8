"""``harmonium data export / corrupt / split`` end to end on temporary files."""

import numpy as np
import pytest

from harmonium.cli.main import main
from harmonium.datasets import load_digits, read_image
from harmonium.ratings import load_ratings_csv, load_titles


def _run(*argv) -> None:
    assert main([str(a) for a in argv]) == 0


def _refused(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and err.count("\n") == 1
    return err


def test_export_digits_as_rows_and_as_one_image(tmp_path):
    _run("data", "export", "digits", "-o", tmp_path / "d.npy")
    images = load_digits()[0]
    assert np.array_equal(np.load(tmp_path / "d.npy"), images)
    _run("data", "export", "digits", "-o", tmp_path / "seven.png", "--index", 7)
    # 8-bit PNG of pixels that are multiples of 1/16: within half a grey level
    assert np.abs(read_image(tmp_path / "seven.png") - images[7].reshape(8, 8)).max() <= 0.5 / 255


def test_export_a_picture_at_a_size(tmp_path):
    _run("data", "export", "camera", "-o", tmp_path / "camera.png", "--size", 32)
    image = read_image(tmp_path / "camera.png")
    assert image.shape == (32, 32) and 0.1 < image.mean() < 0.9


def test_export_ratings_and_titles_read_back(tmp_path):
    _run("data", "export", "ratings", "-o", tmp_path / "r.csv", "--titles", tmp_path / "m.csv")
    from harmonium.demo.ratings import taste_ratings

    data = taste_ratings(seed=0)[0]
    back = load_ratings_csv(tmp_path / "r.csv")
    for name in ("users", "items", "ratings", "timestamps"):
        assert np.array_equal(getattr(back, name), getattr(data, name)), name
    assert load_titles(tmp_path / "m.csv") == data.titles


def test_corrupt_flips_the_asked_fraction_reproducibly(tmp_path, capsys):
    x = (np.random.default_rng(0).random((50, 64)) > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for name in ("a", "b"):
        _run("data", "corrupt", tmp_path / "x.npy", "-o", tmp_path / f"{name}.npy",
             "--flip", 0.25, "--seed", 3)
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert np.array_equal(a, b) and set(np.unique(a)) <= {0.0, 1.0}
    flipped = (a != x).mean()
    assert abs(flipped - 0.25) < 4 * np.sqrt(0.25 * 0.75 / x.size)  # binomial, 4 sd
    assert f"{int((a != x).sum())} pixels flipped" in capsys.readouterr().out


def test_corrupt_masks_the_named_half_of_each_image(tmp_path):
    _run("data", "export", "digits", "-o", tmp_path / "d.npy")
    _run("data", "corrupt", tmp_path / "d.npy", "-o", tmp_path / "h.npy", "--mask", "bottom")
    d, h = (np.load(tmp_path / f).reshape(-1, 8, 8) for f in ("d.npy", "h.npy"))
    assert not h[:, 4:].any() and np.allclose(h[:, :4], d[:, :4])
    _run("data", "export", "camera", "-o", tmp_path / "c.png", "--size", 16)
    _run("data", "corrupt", tmp_path / "c.png", "-o", tmp_path / "l.png", "--mask", "left")
    c, left = read_image(tmp_path / "c.png"), read_image(tmp_path / "l.png")
    assert not left[:, :8].any() and np.array_equal(left[:, 8:], c[:, 8:])


def test_split_rows_partition_the_array(tmp_path):
    x = np.arange(40, dtype=np.float64).reshape(20, 2)
    np.save(tmp_path / "x.npy", x)
    _run("data", "split", tmp_path / "x.npy", "--train", tmp_path / "tr.npy", "--test",
         tmp_path / "te.npy", "--test-fraction", 0.25)
    train, test = np.load(tmp_path / "tr.npy"), np.load(tmp_path / "te.npy")
    assert len(test) == 5 and len(train) == 15
    assert sorted(np.concatenate([train, test])[:, 0].tolist()) == x[:, 0].tolist()


def test_split_ratings_temporal_holds_out_each_users_newest(tmp_path):
    _run("data", "export", "ratings", "-o", tmp_path / "r.csv")
    _run("data", "split", tmp_path / "r.csv", "--protocol", "temporal", "--train",
         tmp_path / "tr.csv", "--test", tmp_path / "te.csv")
    train, test = (load_ratings_csv(tmp_path / f) for f in ("tr.csv", "te.csv"))
    assert len(train.ratings) + len(test.ratings) == len(load_ratings_csv(tmp_path / "r.csv")
                                                         .ratings)
    newest_train = {}
    for u, t in zip(train.users, train.timestamps, strict=True):
        newest_train[u] = max(newest_train.get(u, t), t)
    # every held-out rating is at least as new as the user's newest training rating
    assert all(t >= newest_train[u] for u, t in zip(test.users, test.timestamps, strict=True))


@pytest.mark.parametrize(("argv", "message"), [
    (["data", "corrupt", "{png}", "-o", "{out}.png"], "nothing to do"),
    (["data", "corrupt", "{png}", "-o", "{out}.npy", "--flip", "0.1"], "not .npy"),
    (["data", "corrupt", "{png}", "-o", "{out}.png", "--flip", "1.5"], "--flip"),
    (["data", "split", "{npy}", "--train", "{out}.npy", "--test", "{out}.npy"], "same file"),
    (["data", "split", "{npy}", "--train", "{out}.npy", "--test", "{out}2.npy",
      "--protocol", "temporal"], "applies to ratings"),
    (["data", "split", "{npy}", "--train", "{out}.csv", "--test", "{out}2.npy"], "--train"),
    (["data", "export", "digits", "-o", "{out}.png", "--index", "1797"], "--index 1797"),
    (["data", "export", "ratings", "-o", "{out}.npy"], "ratings is written as a .csv"),
    (["data", "export", "camera", "-o", "{out}.npy"], "a picture is written as"),
    (["data", "export", "nothing", "-o", "{out}.png"], "invalid choice"),
])
def test_refusals_are_one_line_in_the_users_terms(tmp_path, capsys, argv, message):
    np.save(tmp_path / "a.npy", np.zeros((4, 4)))
    _run("data", "export", "camera", "-o", tmp_path / "p.png", "--size", 8)
    capsys.readouterr()
    files = {"png": tmp_path / "p.png", "npy": tmp_path / "a.npy", "out": tmp_path / "out"}
    assert message in _refused(capsys, *[a.format(**files) for a in argv])
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".*tmp*"))
