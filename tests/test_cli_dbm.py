"""``harmonium dbm`` end to end on temporary files."""

import numpy as np
import pytest

import harmonium
from harmonium.cli.main import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("dbm") / "digits.safetensors"
    code = main(["dbm", "train", "digits", "--binarize", "threshold", "--layers", "16", "8",
                 "--labels", "--pretrain-epochs", "1", "--epochs", "1", "--sweeps", "1",
                 "--fine-tune-epochs", "3", "--fine-tune-lr", "0.01", "--batch-size", "50",
                 "-q", "-o", str(path)])
    assert code == 0
    return path


def test_train_saves_a_fine_tuned_dbm(model, capsys):
    dbm = harmonium.load(model)
    assert isinstance(dbm, harmonium.DBM)
    assert [layer.n_units for layer in dbm.layers] == [64, 16, 8]
    assert dbm.classifier is not None and dbm.classifier.n_classes == 10


def test_evaluate_prints_log_z_bound_and_accuracy(model, capsys):
    assert main(["dbm", "evaluate", str(model), "digits", "--binarize", "threshold",
                 "--labels", "--chains", "20", "--betas", "100", "-q"]) == 0
    out = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    low, high = (float(v) for v in out["log_z_bracket_3sigma"].split())
    assert low <= float(out["log_z"]) <= high
    assert float(out["lower_bound_nats"]) < 0  # a log-probability of 64 binary pixels
    assert float(out["lower_bound_nats"]) > -64 * np.log(2) - 10
    assert 0.0 <= float(out["accuracy"]) <= 1.0


def test_user_errors_exit_2(model, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 10)))
    code = main(["dbm", "evaluate", str(model), str(tmp_path / "x.npy"), "-q"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "64 features" in err
    unlabelled = tmp_path / "u.safetensors"
    assert main(["dbm", "train", str(tmp_path / "x.npy"), "--layers", "3", "--epochs", "1",
                 "--pretrain-epochs", "0", "-q", "-o", str(unlabelled)]) == 0
    capsys.readouterr()
    np.savetxt(tmp_path / "y.csv", np.zeros(5), fmt="%d")
    assert main(["dbm", "evaluate", str(unlabelled), str(tmp_path / "x.npy"), "--labels",
                 str(tmp_path / "y.csv"), "-q"]) == 2
    assert "no classifier" in capsys.readouterr().err
    assert main(["dbm", "train", "digits", "--layers", "4", "-o",
                 str(tmp_path / "m.txt")]) == 2
