"""``harmonium recommend evaluate --protocol``: split, fit, score, on small files."""

import numpy as np
import pytest
import torch

import harmonium
from harmonium.cli.main import main
from harmonium.ratings import load_ratings_csv, split_ratings


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("protocol")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(25, 2))
    full = np.clip(np.round(3 + a @ b.T), 1, 5)
    u, i = np.nonzero(rng.random(full.shape) < 0.5)
    t = rng.permutation(len(u))
    rows = [f"{x + 1},{y + 100},{full[x, y]:.1f},{1000 + s}" for x, y, s in zip(u, i, t,
                                                                                  strict=True)]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows))
    (folder / "no_time.csv").write_text("user,item,rating\n" + "\n".join(
        ",".join(r.split(",")[:3]) for r in rows))
    return folder


def _values(out):
    pairs = (line.rsplit(": ", 1) for line in out.strip().splitlines()[1:])
    return {k: v.split()[0] for k, v in pairs}


@pytest.mark.parametrize("protocol", ["temporal", "random", "users"])
def test_protocol_run_prints_both_models_on_the_split(ratings, capsys, protocol):
    argv = ["recommend", "evaluate", str(ratings / "ratings.csv"), "--protocol", protocol,
            "--epochs", "2", "--hidden", "4", "--test-fraction", "0.2", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    data = load_ratings_csv(ratings / "ratings.csv")
    train, test = split_ratings(protocol, data.users, data.timestamps, test_fraction=0.2,
                                seed=3)
    assert out.startswith(f"protocol {protocol}: {len(train)} training ratings, "
                          f"{len(test)} held out")
    v = _values(out)
    assert int(v["n"]) == len(test) and int(v["bias model n"]) == len(test)
    for key in ("rmse", "map@10", "ndcg@10", "rmse[new items]", "bias model rmse"):
        assert key in v
    if protocol == "users":  # every held-out user is new: the RBM falls back to the biases
        assert v["rmse[new users]"] == v["rmse"] == v["bias model rmse"]


def test_protocol_run_takes_a_saved_models_settings(ratings, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["recommend", "train", str(ratings / "ratings.csv"), "-o", str(model),
                 "--epochs", "1", "--hidden", "3", "--validation", "0"]) == 0
    capsys.readouterr()
    assert main(["recommend", "evaluate", str(model), str(ratings / "ratings.csv"),
                 "--protocol", "temporal", "--validation", "temporal", "--refit"]) == 0
    out = capsys.readouterr().out
    assert "best epoch 1" in out.splitlines()[0]
    assert harmonium.load(model).n_hidden == 3


@pytest.mark.parametrize(("args", "message"), [
    (["{dir}/no_time.csv", "--protocol", "temporal"], "timestamps"),
    (["{dir}/ratings.csv"], "MODEL and RATINGS"),
    (["{dir}/ratings.csv", "--protocol", "random", "--test-fraction", "1"], "test-fraction"),
])
def test_protocol_errors_are_one_line(ratings, capsys, args, message):
    argv = ["recommend", "evaluate", *(a.format(dir=ratings) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harmonium: error:") and message in err[0]


def test_factors_option_trains_and_evaluates_a_factored_model(ratings, tmp_path, capsys):
    model = tmp_path / "f.safetensors"
    assert main(["recommend", "train", str(ratings / "ratings.csv"), "-o", str(model),
                 "--epochs", "1", "--hidden", "3", "--factors", "2"]) == 0
    saved = harmonium.load(model)
    assert saved.factors == 2 and saved.rbm_.factor_a.shape[2] == 2
    capsys.readouterr()
    argv = ["recommend", "evaluate", str(ratings / "ratings.csv"), "--protocol", "random",
            "--epochs", "2", "--hidden", "4", "--factors", "2", "--seed", "3"]
    assert main(argv) == 0
    data = load_ratings_csv(ratings / "ratings.csv")
    train, test = split_ratings("random", data.users, data.timestamps, test_fraction=0.1,
                                seed=3)
    cols = (data.users, data.items, data.ratings)
    rec = harmonium.RBMRecommender(4, epochs=2, factors=2).fit(
        *(c[train] for c in cols), progress=False,
        generator=torch.Generator().manual_seed(3))
    rmse = rec.evaluate(*(c[test] for c in cols))["rmse"]
    assert _values(capsys.readouterr().out)["rmse"] == f"{rmse:.4f}"
