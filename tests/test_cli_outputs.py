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


def test_rule_with_a_model_that_has_no_rule_is_refused(tmp_path, capsys):
    picture = tmp_path / "a.png"
    from PIL import Image
    Image.new("L", (8, 8), 255).save(picture)
    argv = ["hopfield", "store", str(picture), "-o", str(tmp_path / "m.safetensors")]
    assert main([*argv, "--model", "dense", "--rule", "storkey"]) == 2
    assert "--rule applies to --model classical" in capsys.readouterr().err
    assert main([*argv, "--size", "8"]) == 0
    assert "stored 1 image (" in capsys.readouterr().out


def test_evaluate_names_the_binarize_option_for_grey_data(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["rbm", "train", "digits", "-o", str(model), "--epochs", "1", "-q"]) == 0
    assert main(["rbm", "evaluate", str(model), "digits"]) == 2
    assert "--binarize threshold" in capsys.readouterr().err


def test_recommend_flags_the_library_asks_for(tmp_path, capsys):
    ratings = tmp_path / "one.csv"
    ratings.write_text("user,item,rating\n1,2,4\n")
    out = tmp_path / "r.safetensors"
    assert main(["recommend", "train", str(ratings), "-o", str(out)]) == 2
    assert "--rating-scale LOW HIGH STEP" in capsys.readouterr().err
    assert not out.exists()
    assert main(["recommend", "train", str(ratings), "-o", str(out), "--rating-scale", "1", "5",
                 "--validation", "0", "--epochs", "1"]) == 0
    assert "1 rating (1 user, 1 item)" in capsys.readouterr().out
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n2,Jumanji (1995),Adventure\n")
    assert main(["recommend", "predict", str(out), "--user", "1", "--include-rated",
                 "--titles", str(folder)]) == 0
    assert "Jumanji (1995)" in capsys.readouterr().out


def test_dbn_labels_on_one_layer_names_the_flags(tmp_path, capsys):
    assert main(["dbn", "train", "digits", "--layers", "64", "--labels",
                 "-o", str(tmp_path / "d.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "--layers" in err and "--fine-tune-only" in err


def test_memory_stores_pictures_of_different_sizes_and_says_when_it_resizes(tmp_path,
                                                                            capsys):
    from PIL import Image
    for name, size in (("a.png", (20, 20)), ("b.png", (30, 30))):
        Image.new("L", size, 200).save(tmp_path / name)
    memory = tmp_path / "m.safetensors"
    assert main(["memory", "store", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                 "--size", "16", "-o", str(memory)]) == 0
    assert "stored 2 images (16x16" in capsys.readouterr().out
    Image.new("L", (40, 20), 200).save(tmp_path / "probe.png")
    assert main(["memory", "retrieve", str(memory), str(tmp_path / "probe.png"),
                 "-o", str(tmp_path / "out.png")]) == 0
    assert "changing its proportions" in capsys.readouterr().out
