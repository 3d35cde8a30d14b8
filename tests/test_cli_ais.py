"""``harmonium rbm evaluate --ais`` and ``harmonium rbm sample --tempering`` end to end."""

import numpy as np
import pytest

from harmonium.cli.main import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("rbm") / "model.safetensors"
    code = main(["rbm", "train", "digits", "-o", str(path), "--hidden", "12", "--epochs", "3",
                 "--binarize", "threshold", "-q", "--seed", "2"])
    assert code == 0
    return path


def _values(out):
    return {k: v for k, v in (line.split(": ", 1) for line in out.strip().splitlines())
            if not k.startswith(("trained", "wrote"))}


def test_evaluate_ais_brackets_the_exact_likelihood(model, capsys):
    capsys.readouterr()
    argv = ["rbm", "evaluate", str(model), "digits", "--binarize", "threshold", "--ais",
            "--n-betas", "500", "--n-chains", "100", "--reverse"]
    assert main(argv) == 0
    values = {k: float(v) for k, v in _values(capsys.readouterr().out).items()}
    exact = values["log_likelihood_exact"]
    ais, se = values["log_likelihood_ais"], values["ais_log_z_std_err"]
    assert values["log_likelihood_ais_low"] < ais < values["log_likelihood_ais_high"]
    assert abs(ais - exact) < 4 * se + 0.02
    reverse = values["log_likelihood_reverse_ais"]
    assert reverse < exact + 4 * values["reverse_ais_log_z_std_err"] + 0.02
    assert values["ais_log_z"] < values["reverse_ais_log_z"] + 0.1


def test_sample_with_tempering(model, tmp_path, capsys):
    out = tmp_path / "s.npy"
    argv = ["rbm", "sample", str(model), "-o", str(out), "-n", "10", "--steps", "20",
            "--tempering", "4"]
    assert main(argv) == 0
    assert "swap rates" in capsys.readouterr().out
    v = np.load(out)
    assert v.shape == (10, 64) and v.min() >= 0 and v.max() <= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["evaluate", "{model}", "digits", "--binarize", "threshold", "--ais",
          "--n-betas", "2"], "--n-betas: expected an integer >= 3"),
        (["evaluate", "{model}", "digits", "--binarize", "threshold", "--ais",
          "--n-chains", "1"], "--n-chains: expected an integer >= 2"),
        (["sample", "{model}", "-o", "{tmp}/s.npy", "--tempering", "1"], "--tempering: expected"),
    ],
)
def test_bad_options_exit_2(model, tmp_path, capsys, extra, message):
    argv = ["rbm"] + [a.format(model=model, tmp=tmp_path) for a in extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
