"""``harmonium dbn`` end to end on temporary files."""

import numpy as np
import pytest

import harmonium
from harmonium.cli.main import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("dbn") / "digits.safetensors"
    code = main(["dbn", "train", "digits", "--layers", "32", "64", "--labels", "--epochs", "2",
                 "--fine-tune-epochs", "5", "--batch-size", "20", "--lr", "0.1", "-q",
                 "-o", str(path)])
    assert code == 0
    return path


def test_train_saves_a_labelled_fine_tuned_dbn(model):
    dbn = harmonium.load(model)
    assert dbn.layer_sizes == (64, 32, 64) and dbn.n_labels == 10
    assert dbn.classifier is not None


def test_dream_writes_a_picture_and_an_array(model, tmp_path, capsys):
    png, npy = tmp_path / "dreams.png", tmp_path / "seven.npy"
    assert main(["dbn", "dream", str(model), "--steps", "20", "-n", "4", "-o", str(png)]) == 0
    assert png.stat().st_size > 1000
    assert main(["dbn", "dream", str(model), "--label", "7", "--steps", "20", "-n", "3",
                 "-o", str(npy)]) == 0
    arr = np.load(npy)
    assert arr.shape == (1, 3, 64) and arr.min() >= 0 and arr.max() <= 1
    assert "wrote" in capsys.readouterr().out


def test_evaluate_prints_accuracy(model, capsys):
    assert main(["dbn", "evaluate", str(model), "digits"]) == 0
    out = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    assert out["classifier"] == "fine-tuned network"
    assert 0.5 < float(out["accuracy"]) <= 1.0  # training data, a few epochs


def test_labels_from_files(tmp_path, capsys):
    g = np.random.default_rng(0)
    x = (g.random((60, 12)) < 0.5).astype(float)
    y = (x[:, 0] > 0).astype(int)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "y.csv", y, fmt="%d")
    out = tmp_path / "m.safetensors"
    assert main(["dbn", "train", str(tmp_path / "x.npy"), "--layers", "8", "--labels",
                 str(tmp_path / "y.csv"), "--fine-tune-only", "--epochs", "1",
                 "--fine-tune-epochs", "2", "-q", "-o", str(out)]) == 0
    assert harmonium.load(out).n_labels == 0
    assert main(["dbn", "evaluate", str(out), str(tmp_path / "x.npy"), "--labels",
                 str(tmp_path / "y.csv")]) == 0


def test_user_errors_exit_2(model, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 64)))
    rbm_file = harmonium.save(harmonium.RBM(harmonium.units.Bernoulli(4),
                                            harmonium.units.Bernoulli(2)), tmp_path / "r.st")
    cases = [
        ["dbn", "train", str(tmp_path / "x.npy"), "--layers", "4", "--labels", "-o",
         str(tmp_path / "m")],  # an .npy carries no labels
        ["dbn", "train", "digits", "--layers", "0", "-o", str(tmp_path / "m")],
        ["dbn", "dream", str(rbm_file), "-o", str(tmp_path / "d.png")],
        ["dbn", "dream", str(model), "--label", "12", "-o", str(tmp_path / "d.png")],
        ["dbn", "evaluate", str(tmp_path / "missing.safetensors"), "digits"],
        ["dbn", "evaluate", str(model), str(tmp_path / "x.npy")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        assert "harmonium: error:" in capsys.readouterr().err
