"""What the command line writes: the file type its name promises, readable like any
file the user makes."""

import os

import pytest

from harmonium.cli.main import main


def test_model_named_as_a_picture_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "model.png"
    assert main(["rbm", "train", "digits", "-o", str(out), "--epochs", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ".safetensors" in err and ".png" in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["dbn", "train", "digits", "--layers", "64", "8",
                                   "--epochs", "1", "-q"],
                                  ["hopfield", "store", "digits"]])
def test_other_model_writers_refuse_a_picture_name(tmp_path, capsys, argv):
    assert main([*argv, "-o", str(tmp_path / "m.jpg")]) == 2
    assert "not .jpg" in capsys.readouterr().err


def test_model_files_get_the_mode_of_an_ordinary_new_file(tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    assert main(["rbm", "train", "digits", "-o", str(out), "--epochs", "2", "--hidden", "8",
                 "-q"]) == 0
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert os.stat(out).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
    report = capsys.readouterr().out
    assert "2 epochs in" in report and "samples_per_s" not in report
