"""``harmonium recommend`` end to end on small generated rating files."""

import numpy as np
import pytest

import harmonium
from harmonium.cli.main import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ratings")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(25, 2))
    full = np.clip(np.round(3 + a @ b.T), 1, 5)
    u, i = np.nonzero(rng.random(full.shape) < 0.5)
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{x + 1},{y + 100},{full[x, y]:.1f},{1000 + j}" for j, (x, y) in
              enumerate(zip(u, i, strict=True))]
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    movies = ["movieId,title,genres"] + [f"{y + 100},Movie number {y},Drama" for y in range(25)]
    (folder / "movies.csv").write_text("\n".join(movies) + "\n")
    model = folder / "model.safetensors"
    code = main(["recommend", "train", str(folder / "ratings.csv"), "-o", str(model),
                 "--epochs", "3", "--hidden", "8"])
    assert code == 0
    return folder, model


def test_train_writes_a_model(files):
    _, model = files
    rec = harmonium.load(model)
    assert isinstance(rec, harmonium.RBMRecommender)
    assert rec.users_.dtype == np.int64 and len(rec.history_) == 3
    assert "val_rmse" in rec.history_[-1]


def test_predict_prints_titles_and_ratings(files, capsys):
    folder, model = files
    code = main(["recommend", "predict", str(model), "--user", "3", "--top", "4",
                 "--titles", str(folder / "movies.csv")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 4
    assert all("Movie number" in line for line in out)
    rec = harmonium.load(model)
    ids, scores = rec.recommend(3, 4)
    assert out[0].split()[1] == f"{scores[0]:.2f}" and out[0].split()[2] == str(ids[0])


def test_predict_unknown_user_falls_back(files, capsys):
    _, model = files
    assert main(["recommend", "predict", str(model), "--user", "9999", "--top", "2"]) == 0
    assert "unknown" in capsys.readouterr().out


def test_evaluate_prints_metrics(files, capsys):
    folder, model = files
    assert main(["recommend", "evaluate", str(model), str(folder / "ratings.csv"), "-k", "5"]) == 0
    out = capsys.readouterr().out
    for name in ("rmse", "mae", "precision@5", "recall@5"):
        assert name in out
    rmse = float(next(line for line in out.splitlines() if line.startswith("rmse")).split()[1])
    assert 0 < rmse < 1.5


@pytest.mark.parametrize(
    "argv",
    [
        ["recommend", "train", "missing.csv", "-o", "m.safetensors"],
        ["recommend", "predict", "missing.safetensors", "--user", "1"],
        ["recommend", "evaluate", "missing.safetensors", "r.csv"],
    ],
)
def test_missing_files_exit_2(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert "harmonium: error:" in capsys.readouterr().err


def test_bad_files_exit_2(files, tmp_path, capsys):
    folder, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,3\n1,2,4\n")
    assert main(["recommend", "train", str(bad), "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "duplicate" in capsys.readouterr().err
    other = harmonium.save({"x": np.zeros(1).tolist()}, tmp_path / "dict.safetensors")
    assert main(["recommend", "predict", str(other), "--user", "1"]) == 2
    assert "not an RBMRecommender" in capsys.readouterr().err
    assert main(["recommend", "train", str(folder / "ratings.csv"), "-o",
                 str(tmp_path / "m.safetensors"), "--validation", "1.5"]) == 2
