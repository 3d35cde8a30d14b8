"""``harmonium hopfield ...`` and ``harmonium demo`` end to end on temporary files."""

import json

import numpy as np
import pytest

from harmonium.cli.main import main
from harmonium.datasets import images_to_spins, load_images, read_image, write_image


@pytest.fixture
def images(tmp_path):
    paths = []
    for name, image in zip(("camera", "horse", "coins"), load_images(("camera", "horse",
                                                                       "coins"), 32), strict=True):
        paths.append(write_image(tmp_path / f"{name}.png", image))
    return paths


def test_store_then_recall_from_a_noisy_probe(tmp_path, images, capsys):
    memory = tmp_path / "memory.safetensors"
    assert main(["hopfield", "store", *map(str, images), "-o", str(memory), "--size",
                 "24"]) == 0
    assert "stored 3 images" in capsys.readouterr().out
    clean = images_to_spins(read_image(images[1]), 24)
    rng = np.random.default_rng(0)
    noisy = read_image(images[1])
    noisy = np.where(rng.random(noisy.shape) < 0.1, 1 - noisy, noisy)
    write_image(tmp_path / "probe.png", noisy)
    out = tmp_path / "out.png"
    assert main(["hopfield", "recall", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out)]) == 0
    assert "fixed point" in capsys.readouterr().out
    recalled = read_image(out)
    assert recalled.shape == (24, 24)
    assert np.array_equal(np.where(recalled > 0.5, 1.0, -1.0).ravel(), clean[0].numpy())
    assert main(["hopfield", "recall", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out), "--mode", "sync"]) == 0


@pytest.mark.parametrize("model", ["dense", "modern"])
def test_store_and_recall_with_each_memory_model(tmp_path, images, capsys, model):
    memory = tmp_path / f"{model}.safetensors"
    assert main(["hopfield", "store", *map(str, images), "-o", str(memory), "--size", "24",
                 "--model", model]) == 0
    assert f"{model} memory" in capsys.readouterr().out
    clean = images_to_spins(read_image(images[2]), 24)
    noisy = read_image(images[2])
    noisy = np.where(np.random.default_rng(1).random(noisy.shape) < 0.15, 1 - noisy, noisy)
    write_image(tmp_path / "probe.png", noisy)
    out = tmp_path / "out.png"
    assert main(["hopfield", "recall", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out)]) == 0
    assert "fixed point after" in capsys.readouterr().out
    recalled = np.where(read_image(out) > 0.5, 1.0, -1.0).ravel()
    assert np.array_equal(recalled, clean[0].numpy())
    # every memory takes the same arguments; a mode it does not offer is a clear error
    mode = {"dense": "sync", "modern": "async"}[model]
    code = main(["hopfield", "recall", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out), "--mode", mode])
    assert code == (0 if model == "dense" else 2)
    if model == "modern":
        assert "mode must be one of ('sync',)" in capsys.readouterr().err


def test_capacity_command(tmp_path, capsys):
    fig, data = tmp_path / "cap.png", tmp_path / "cap.json"
    code = main(["hopfield", "capacity", "--units", "60", "--alphas", "0.05", "0.4",
                 "--trials", "1", "--no-progress", "-o", str(fig), "--json", str(data)])
    assert code == 0
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(data.read_text())["n_patterns"] == [3, 24]
    assert "hebbian, d=60" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["hopfield", "store", "missing.png", "-o", "m.safetensors"], "no such image"),
        (["hopfield", "store", "{img}", "-o", "m.safetensors", "--size", "0"], "size"),
        (["hopfield", "store", "{junk}", "-o", "m.safetensors"], "cannot read"),
        (["hopfield", "recall", "{junk}", "{img}", "-o", "o.png"], "not a readable"),
        (["hopfield", "recall", "{dictfile}", "{img}", "-o", "o.png"], "associative memory"),
        (["hopfield", "recall", "{odd}", "{img}", "-o", "o.png"], "not a square"),
        (["hopfield", "capacity", "--alphas", "-1", "-o", "c.png"], "alphas"),
        (["hopfield", "capacity", "--units", "20", "--alphas", "0.1", "--trials", "1",
          "--no-progress", "-o", "c.unknownext"], "unknownext"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, images, monkeypatch, capsys, argv, message):
    import harmonium
    from harmonium.models.hopfield import HopfieldNetwork

    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk").write_bytes(b"\x00junk")
    harmonium.save({"a": 1}, tmp_path / "dict.safetensors")
    harmonium.save(HopfieldNetwork(10), tmp_path / "odd.safetensors")
    files = {"img": str(images[0]), "junk": "junk", "dictfile": "dict.safetensors",
             "odd": "odd.safetensors"}
    assert main([a.format(**files) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and message in err
    assert err.count("\n") == 1


def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--only", "hopfield"]) == 0
    out = capsys.readouterr().out
    assert "Hopfield: recalled 6/6 images from 20% noise and 6/6 from half masks" in out
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64" in html and "pseudo-inverse" in html
    assert len(list(tmp_path.glob("*.png"))) == 2


@pytest.mark.parametrize(("alphas", "expected"), [
    (["2"], "fewer than 50% of patterns recalled already at the smallest load, alpha = 2.000"),
    (["0.02"], "at least 50% of patterns recalled at every load up to the largest, alpha = 0.020"),
])
def test_capacity_without_a_crossing_says_so(tmp_path, capsys, alphas, expected):
    assert main(["hopfield", "capacity", "--units", "50", "--alphas", *alphas, "--trials", "1",
                 "--no-progress", "-o", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert expected in out and "nan" not in out


def test_capacity_refuses_loads_beyond_gardners_bound(tmp_path, capsys):
    assert main(["hopfield", "capacity", "--units", "20", "--alphas", "0.1", "2.5",
                 "--no-progress", "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and "(0, 2]" in err and err.count("\n") == 1
    assert not (tmp_path / "c.png").exists()
