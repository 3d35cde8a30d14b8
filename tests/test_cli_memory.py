"""``harmonium memory store/retrieve/evaluate`` end to end on temporary files."""

import re

import numpy as np
import pytest

import harmonium
from harmonium.cli.main import main
from harmonium.datasets import load_digits, load_images, read_image, write_image

NAMES = ("camera", "horse", "coins", "moon")


@pytest.fixture
def images(tmp_path):
    return [write_image(tmp_path / f"{name}.png", image)
            for name, image in zip(NAMES, load_images(NAMES, 16), strict=True)]


def _stored(path):
    return harmonium.load(path).patterns_.numpy()


def _retrieve_noisy(tmp_path, memory, image, seed):
    """`memory retrieve` from a copy of ``image`` with noise (sigma 0.2): the output path."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(read_image(image) + 0.2 * rng.standard_normal((16, 16)), 0, 1)
    write_image(tmp_path / "probe.png", noisy)
    out = tmp_path / "out.png"
    assert main(["memory", "retrieve", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out)]) == 0
    return out


def test_store_images_and_retrieve_from_a_noisy_probe(tmp_path, images, capsys):
    memory = tmp_path / "memory.safetensors"
    assert main(["memory", "store", *map(str, images), "-o", str(memory), "--size",
                 "16"]) == 0
    assert "stored 4 images (16x16, euclidean similarity, beta 8)" in capsys.readouterr().out
    stored = _stored(memory)
    assert stored.shape == (4, 256)
    assert np.allclose(stored[1], read_image(images[1]).ravel(), atol=1e-6)
    out = _retrieve_noisy(tmp_path, memory, images[1], 0)
    assert "nearest stored image #1 " in capsys.readouterr().out
    # the retrieved image is the stored one, up to 8-bit rounding of the output file
    assert np.abs(read_image(out).ravel() - stored[1]).max() <= 1 / 255 + 1e-3


def test_sparse_separation_retrieves_the_stored_image_exactly(tmp_path, images, capsys):
    memory = tmp_path / "memory.safetensors"
    assert main(["memory", "store", *map(str, images), "-o", str(memory), "--size", "16",
                 "--separation", "sparsemax"]) == 0
    assert "beta 8, sparsemax separation)" in capsys.readouterr().out
    assert harmonium.load(memory).separation == "sparsemax"
    out = _retrieve_noisy(tmp_path, memory, images[2], 1)
    assert "nearest stored image #2 (weight 1.000)" in capsys.readouterr().out
    assert np.abs(read_image(out).ravel() - _stored(memory)[2]).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("hide", ["bottom", "top", "left", "right"])
def test_masked_retrieval_completes_the_hidden_half(tmp_path, images, capsys, hide):
    memory = tmp_path / "memory.safetensors"
    assert main(["memory", "store", *map(str, images), "-o", str(memory), "--size",
                 "16"]) == 0
    probe = read_image(images[2]).copy()
    # scramble the half that will be declared hidden: only the visible half may count
    hidden = {"bottom": np.s_[8:], "top": np.s_[:8], "left": np.s_[:, :8],
              "right": np.s_[:, 8:]}[hide]
    probe[hidden] = read_image(images[0])[hidden][::-1]
    write_image(tmp_path / "probe.png", probe)
    out = tmp_path / "figure.png"
    assert main(["memory", "retrieve", str(memory), str(tmp_path / "probe.png"), "-o",
                 str(out), "--mask", hide]) == 0
    assert "nearest stored image #2 " in capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert read_image(out).shape[1] > 2 * read_image(out).shape[0] * 0.8  # two panels


def _evaluate(capsys, memory, *extra):
    assert main(["memory", "evaluate", str(memory), *extra]) == 0
    out = capsys.readouterr().out
    correct, n = map(int, re.search(r"(\d+)/(\d+) = ", out).groups())
    identified = int(re.search(r"; (\d+)/\d+ identified", out).group(1))
    return correct, identified, n, out


def test_digits_store_and_evaluate(tmp_path, capsys):
    memory = tmp_path / "digits.safetensors"
    assert main(["memory", "store", "digits", "--n", "60", "-o", str(memory)]) == 0
    assert "stored 60 images (8x8" in capsys.readouterr().out
    assert np.allclose(_stored(memory), load_digits()[0][:60], atol=1e-6)
    for kind in ("half", "pixels"):
        correct, identified, n, out = _evaluate(capsys, memory, "--corrupt", kind)
        assert n == 60 and identified == 60 and correct == 60, out
        assert "mask-aware" in out and "squared error 4.082" in out
    correct, identified, n, _ = _evaluate(capsys, memory, "--corrupt", "noise", "--n", "20")
    assert n == 20 and 0 <= identified <= 20 and 0 <= correct <= 20
    # a threshold no real-valued retrieval meets, and one every retrieval meets (64 pixels
    # in [0, 1] differ by at most 64)
    assert _evaluate(capsys, memory, "--corrupt", "noise", "--threshold", "1e-12")[0] == 0
    assert _evaluate(capsys, memory, "--corrupt", "noise", "--threshold", "64.01")[0] == 60
    # same seed, same result
    first = _evaluate(capsys, memory, "--corrupt", "noise", "--seed", "3")[3]
    assert _evaluate(capsys, memory, "--corrupt", "noise", "--seed", "3")[3] == first


def test_digits_resized_and_mnist_npz(tmp_path, capsys):
    memory = tmp_path / "m.safetensors"
    assert main(["memory", "store", "digits", "--n", "5", "--size", "16", "-o",
                 str(memory), "--similarity", "manhattan", "--beta", "2"]) == 0
    assert "stored 5 images (16x16, manhattan similarity, beta 2)" in capsys.readouterr().out
    loaded = harmonium.load(memory)
    assert (loaded.similarity, loaded.beta, loaded.normalize) == ("manhattan", 2.0, False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "fake-mnist.npz", x_train=x, y_train=np.arange(7),
             x_test=x[:1], y_test=np.arange(1))
    assert main(["memory", "store", str(tmp_path / "fake-mnist.npz"), "--n", "3", "-o",
                 str(memory), "--similarity", "dot", "--normalize", "--beta", "100"]) == 0
    assert "stored 3 images (28x28, dot similarity" in capsys.readouterr().out
    assert np.allclose(_stored(memory), x[:3].reshape(3, -1) / 255.0, atol=1e-6)
    assert harmonium.load(memory).normalize


@pytest.mark.parametrize(
    "argv, message",
    [
        (["store", "missing.png", "-o", "m.safetensors"], "no such image"),
        (["store", "{img}", "-o", "m.safetensors", "--size", "0"], "size"),
        (["store", "{junk}", "-o", "m.safetensors"], "cannot read"),
        (["store", "{img}", "-o", "m.safetensors", "--n", "3"], "--n applies only"),
        (["store", "digits", "-o", "m.safetensors", "--n", "0"], "--n: expected an integer >= 1"),
        (["store", "digits", "-o", "m.safetensors", "--beta", "0"], "beta"),
        (["store", "digits", "-o", "m.safetensors", "--beta", "nan"], "beta"),
        (["store", "{badnpz}", "-o", "m.safetensors"], "has no array"),
        (["store", "missing.npz", "-o", "m.safetensors"], "no such file"),
        (["store", "digits", "-o", "no-such-dir/m.safetensors"], "no-such-dir"),
        (["retrieve", "{junk}", "{img}", "-o", "o.png"], "not a readable"),
        (["retrieve", "{hopfield}", "{img}", "-o", "o.png"], "not a memory of real-valued"),
        (["retrieve", "{odd}", "{img}", "-o", "o.png"], "not square"),
        (["retrieve", "{good}", "{junk}", "-o", "o.png"], "cannot read"),
        (["retrieve", "{good}", "missing.png", "-o", "o.png"], "no such image"),
        (["retrieve", "{good}", "{img}", "-o", "o.unknownext", "--mask", "top"],
         "unknownext"),
        (["evaluate", "{good}", "--corrupt", "half", "--threshold", "0"], "threshold"),
        (["evaluate", "{good}", "--corrupt", "half", "--n", "0"], "--n: expected an integer >= 1"),
        (["evaluate", "missing.safetensors", "--corrupt", "half"], "missing.safetensors"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, images, monkeypatch, capsys, argv, message):
    from harmonium import HopfieldNetwork, ModernHopfield

    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk").write_bytes(b"\x00junk")
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    harmonium.save(HopfieldNetwork(16), tmp_path / "hopfield.safetensors")
    harmonium.save(ModernHopfield().store(np.zeros((2, 10))), tmp_path / "odd.safetensors")
    harmonium.save(ModernHopfield().store(np.eye(16)), tmp_path / "good.safetensors")
    files = {"img": str(images[0]), "junk": "junk", "hopfield": "hopfield.safetensors",
             "odd": "odd.safetensors", "good": "good.safetensors", "badnpz": "bad.npz"}
    assert main(["memory", *(a.format(**files) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and message in err, err
    assert err.count("\n") == 1
