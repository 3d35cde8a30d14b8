"""``harmonium rbm`` end to end on temporary files."""

import numpy as np
import pytest
import torch

import harmonium
from harmonium.cli.main import main
from harmonium.datasets import load_digits
from harmonium.partition import log_likelihood_exact


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("rbm") / "model.safetensors"
    code = main(["rbm", "train", "digits", "-o", str(path), "--hidden", "16", "--epochs", "2",
                 "--binarize", "threshold", "-q", "--seed", "1"])
    assert code == 0
    return path


def test_train_writes_a_loadable_model(model, capsys):
    rbm = harmonium.load(model)
    assert isinstance(rbm, harmonium.RBM) and rbm.weight.shape == (64, 16)


def test_train_from_npy_and_csv_with_cd_and_gaussian(tmp_path, capsys):
    x = (np.random.default_rng(0).random((40, 6)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c,d,e,f", comments="")
    for data, extra in (("x.npy", ["--method", "cd", "-k", "2"]),
                        ("x.csv", ["--visible", "gaussian", "--lr", "0.01"])):
        out = tmp_path / f"{data}.safetensors"
        assert main(["rbm", "train", str(tmp_path / data), "-o", str(out), "--hidden", "3",
                     "--epochs", "2", "--batch-size", "10", "-q", *extra]) == 0
        assert harmonium.load(out).n_visible == 6
    assert "trained 6x3 RBM on 40 samples" in capsys.readouterr().out


def test_sample_png_and_npy(model, tmp_path):
    assert main(["rbm", "sample", str(model), "-n", "8", "--steps", "5",
                 "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["rbm", "sample", str(model), "-n", "5", "--steps", "5",
                 "-o", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (5, 64) and samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("mask", ["bottom", "random"])
def test_inpaint_and_filters(model, tmp_path, capsys, mask):
    assert main(["rbm", "inpaint", str(model), "digits", "-n", "4", "--steps", "5",
                 "--mask", mask, "-o", str(tmp_path / "i.png")]) == 0
    assert "hidden pixels" in capsys.readouterr().out
    assert main(["rbm", "filters", str(model), "-o", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()


def test_evaluate_prints_exact_likelihood_when_enumerable(model, capsys):
    assert main(["rbm", "evaluate", str(model), "digits", "--binarize", "threshold"]) == 0
    out = capsys.readouterr().out
    values = dict(line.split(": ") for line in out.strip().splitlines())
    assert int(values["n_samples"]) == 1797
    ll, pll = float(values["log_likelihood_exact"]), float(values["pseudo_ll"])
    assert ll < 0 and pll < 0
    rbm = harmonium.load(model)
    x = (torch.tensor(harmonium.datasets.load_digits()[0]) > 0.5).float()
    expected = harmonium.partition.log_likelihood_exact(rbm, x).item()
    assert ll == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rbm", "evaluate", "{model}", "digits"], "must contain only 0 and 1"),
        (["rbm", "sample", "/nonexistent.safetensors", "-o", "x.png"], "no such model file"),
        (["rbm", "train", "/nonexistent.npy", "-o", "m.safetensors"], "no such file"),
        (["rbm", "train", "{csv}", "-o", "m.safetensors"], "expected a .npy or .csv"),
        (["rbm", "train", "digits", "-o", "m.safetensors", "--epochs", "0"], "epochs"),
        (["rbm", "filters", "{model}", "-o", "f.png", "--shape", "3x3"], "pixels"),
        (["rbm", "sample", "{model}", "-o", "s.png", "--shape", "ab"], "--shape"),
    ],
)
def test_user_errors_exit_2(model, tmp_path, capsys, argv, message):
    (tmp_path / "data.txt").write_text("1,2\n")
    argv = [a.format(model=model, csv=tmp_path / "data.txt") for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_one_loader_reads_every_data_name(tmp_path):
    from harmonium.cli._data import is_image_set, load_data, load_rows

    digits = load_data("digits")
    assert digits.samples.shape == (1797, 8, 8) and digits.labels.shape == (1797,)
    np.testing.assert_array_equal(load_rows("digits"), harmonium.datasets.load_digits()[0])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    path = tmp_path / "mnist.NPZ"  # the suffix in any case
    with open(path, "wb") as f:
        np.savez(f, x_train=images, y_train=labels, x_test=images, y_test=labels)
    assert is_image_set(str(path)) and not is_image_set(str(tmp_path / "x.npy"))
    mnist = load_data(str(path), n=3)
    np.testing.assert_array_equal(mnist.samples, images[:3] / 255.0)
    assert mnist.labels.tolist() == [0, 1, 2] and mnist.labels.dtype == np.int64
    np.save(tmp_path / "x.npy", images)
    array = load_data(str(tmp_path / "x.npy"))
    assert array.labels is None and array.samples.shape == (5, 784)
    np.testing.assert_array_equal(load_rows(str(path)), images.reshape(5, -1) / 255.0)


_NO_CUDA = "cuda:999" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize("action", ["train", "sample", "inpaint", "evaluate"])
@pytest.mark.parametrize(("device", "message"), [
    ("foo", "unknown device 'foo'"),
    (_NO_CUDA, "CUDA" if not torch.cuda.is_available() else "only"),
])
def test_unusable_device_is_a_one_line_error(model, tmp_path, capsys, action, device, message):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 64), dtype=np.float32))
    out = str(tmp_path / "out.npy")
    argv = {"train": ["train", str(x), "-o", out, "--epochs", "1", "-q"],
            "sample": ["sample", str(model), "-o", out, "--steps", "1"],
            "inpaint": ["inpaint", str(model), str(x), "-o", out, "--steps", "1"],
            "evaluate": ["evaluate", str(model), str(x)]}[action]
    assert main(["rbm", *argv, "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out.npy").exists()


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    """2x2-pixel Bernoulli and Gaussian models and data in (0, 1)."""
    tmp = tmp_path_factory.mktemp("small")
    x = np.random.default_rng(0).random((12, 4)).astype(np.float32)
    np.save(tmp / "x.npy", x)
    for visible in ("bernoulli", "gaussian"):
        assert main(["rbm", "train", str(tmp / "x.npy"), "-o", str(tmp / f"{visible}.st"),
                     "--visible", visible, "--hidden", "2", "--epochs", "1", "-q",
                     "--lr", "0.01"]) == 0
    return tmp


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_inpaint_binarizes_only_two_state_units(small_models, monkeypatch, visible):
    seen = []
    real_inpaint = harmonium.inpaint

    def spy(rbm, v, *args, **kwargs):
        seen.append(v.clone())
        return real_inpaint(rbm, v, *args, **kwargs)

    monkeypatch.setattr(harmonium, "inpaint", spy)
    x = np.load(small_models / "x.npy")[:3]
    assert main(["rbm", "inpaint", str(small_models / f"{visible}.st"),
                 str(small_models / "x.npy"), "-n", "3", "--steps", "2",
                 "-o", str(small_models / f"{visible}.png")]) == 0
    expected = (x >= 0.5).astype(np.float32) if visible == "bernoulli" else x
    np.testing.assert_array_equal(seen[0].numpy(), expected)


@pytest.mark.parametrize(("data", "extra", "message"), [
    ("nan", [], "NaN"),
    ("x.npy", ["--fraction", "2"], "--fraction"),
    ("x.npy", ["--fraction", "0"], "--fraction"),
    ("x.npy", ["--fraction", "1"], "--fraction"),
])
def test_inpaint_refuses_nan_data_and_fractions_outside_0_1(small_models, capsys, data, extra,
                                                            message):
    bad = np.load(small_models / "x.npy")
    bad[1, 2] = np.nan
    np.save(small_models / "nan.npy", bad)
    path = small_models / ("nan.npy" if data == "nan" else data)
    out = small_models / "bad.png"
    assert main(["rbm", "inpaint", str(small_models / "gaussian.st"), str(path),
                 "-o", str(out), "--steps", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and err.count("\n") == 1 and message in err
    assert not out.exists()



@pytest.mark.parametrize(("extra", "message"), [
    (["--momentum", "5"], "momentum"),
    (["--visible", "gaussian", "--lr", "1e38"], "diverged"),  # TrainingDiverged
])
def test_bad_training_is_a_one_line_error_and_writes_nothing(small_models, tmp_path, capsys,
                                                              extra, message):
    out = tmp_path / "m.safetensors"
    assert main(["rbm", "train", str(small_models / "x.npy"), "-o", str(out), "--hidden", "2",
                 "--epochs", "5", "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonium: error:") and err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize("hidden_type", ["relu", "drelu", "prelu", "xrelu"])
def test_train_with_a_relu_family_hidden_type_and_evaluate_against_enumeration(
        tmp_path, capsys, hidden_type):
    x = (load_digits()[0][:400, 20:30] > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "m.safetensors"
    assert main(["rbm", "train", str(tmp_path / "x.npy"), "-o", str(out), "--hidden", "4",
                 "--hidden-type", hidden_type, "--epochs", "3", "--lr", "0.01", "-q"]) == 0
    rbm = harmonium.load(out)
    assert type(rbm.hidden).__name__.lower() == hidden_type
    capsys.readouterr()
    assert main(["rbm", "evaluate", str(out), str(tmp_path / "x.npy"), "--ais",
                 "--n-betas", "1000", "--n-chains", "100"]) == 0
    values = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    # 10 binary visible units: log Z by enumerating them, the real hidden units integrated
    exact = log_likelihood_exact(rbm, torch.from_numpy(x)).mean().item()
    assert float(values["log_likelihood_exact"]) == pytest.approx(exact, rel=1e-5)
    assert float(values["log_likelihood_ais"]) == pytest.approx(exact, abs=0.05)
