"""harmonium.threads: parsing the thread setting, the CLI option, and results that do not
depend on the thread count (seeded training and inpainting in subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from harmonium.cli.main import main
from harmonium.threads import (
    ENV_VAR,
    REPRODUCIBLE_MKL,
    available_cores,
    busy_cores,
    choose_threads,
    configure,
    parse_threads,
    set_threads,
)


@pytest.fixture
def keep_threads(monkeypatch):
    """Restore the process's thread count and thread environment after the test."""
    before = torch.get_num_threads()
    for name in (ENV_VAR, "OMP_NUM_THREADS", "MKL_CBWR"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("text", "expected"), [("1", 1), (" 4 ", 4), ("auto", None),
                                                ("AUTO", None)])
def test_parse_threads_accepts_counts_and_auto(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", "", "2 threads"])
def test_parse_threads_rejects_other_values_naming_the_source(text):
    with pytest.raises(ValueError, match=f"{ENV_VAR} must be an integer >= 1 or 'auto'"):
        parse_threads(text)


def test_set_threads_sets_and_returns_the_previous_count(keep_threads):
    before = torch.get_num_threads()
    assert set_threads(1) == before
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match=">= 1"):
        set_threads(0)
    with pytest.raises(TypeError, match="must be an int"):
        set_threads(1.0)
    with pytest.raises(TypeError, match="must be an int"):
        set_threads(True)


def test_choose_threads_stays_within_the_available_cores():
    cores = available_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert 0 <= busy_cores(0.02) <= (os.cpu_count() or 1) + 1e-9
    assert 1 <= choose_threads(0.02) <= max(1, int(cores + 0.5))


def test_configure_precedence(keep_threads, monkeypatch):
    assert configure(1) == 1 and torch.get_num_threads() == 1
    assert os.environ["MKL_CBWR"] == REPRODUCIBLE_MKL  # set when the user had not
    monkeypatch.setenv(ENV_VAR, "2")
    assert configure() == 2 and torch.get_num_threads() == 2
    assert configure(1) == 1  # the explicit count (--threads) wins over the variable
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(2)
    assert configure() == 2  # the user's OMP_NUM_THREADS choice is left as torch took it
    assert 1 <= configure("auto") <= max(1, int(available_cores() + 0.5))
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    configure(1)
    assert os.environ["MKL_CBWR"] == "COMPATIBLE"  # the user's own MKL mode is kept


def test_configure_rejects_a_bad_environment_value(keep_threads, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(ValueError, match=f"{ENV_VAR} must be"):
        configure()


@pytest.mark.parametrize("value", ["0", "-2", "x", "1.5"])
def test_cli_threads_option_bad_value_is_one_line_exit_2(value, capsys):
    assert main(["--threads", value, "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("harmonium: error: argument --threads: expected an integer >= 1")


def test_cli_bad_environment_variable_is_one_line_exit_2(keep_threads, monkeypatch, capsys,
                                                         tmp_path):
    monkeypatch.setenv(ENV_VAR, "zero")
    out = str(tmp_path / "c.png")
    assert main(["hopfield", "capacity", "--units", "20", "-o", out, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harmonium: error: {ENV_VAR} must be an integer >= 1 or 'auto', got 'zero'"
    assert not os.path.exists(out)


def test_cli_threads_option_sets_the_count(keep_threads, tmp_path):
    out = str(tmp_path / "c.png")
    assert main(["--threads", "1", "hopfield", "capacity", "--units", "20", "--alphas", "0.1",
                 "--trials", "1", "-o", out, "--no-progress"]) == 0
    assert torch.get_num_threads() == 1


# ---------------------------------------------------------------- thread-count independence
# A 784 x 500 RBM: products large enough that MKL splits them across threads (small ones
# run on one thread whatever the setting, and would make this test vacuous).
_TRAIN_AND_INPAINT = """
import hashlib, json
import torch
import harmonium
from harmonium.threads import configure
from harmonium.units import Bernoulli

threads = configure()
g = torch.Generator().manual_seed(0)
prototypes = torch.rand(10, 784, generator=g) < 0.3
rows = prototypes[torch.randint(10, (600,), generator=g)]
x = (rows ^ (torch.rand(rows.shape, generator=g) < 0.05)).float()
rbm = harmonium.RBM(Bernoulli(784), Bernoulli(500), generator=g)
harmonium.fit(rbm, x[:500], harmonium.CD(1), epochs=2, batch_size=100, lr=0.05,
              generator=g, progress=False, monitor=0)
mask = torch.zeros(784, dtype=torch.bool)
mask[:392] = True
shown = x[500:]
mean = harmonium.inpaint(rbm, shown, mask, 20, mean_field=True)
sampled = harmonium.inpaint(rbm, shown, mask, 20, generator=g)
digest = lambda t: hashlib.sha1(t.contiguous().numpy().tobytes()).hexdigest()
print(json.dumps({"threads": threads, "weights": digest(rbm.weight.detach()),
                  "mean_field": digest(mean), "sampled": digest(sampled),
                  "score": (mean.round() == shown)[:, ~mask].float().mean().item()}))
"""


def _clean_env(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_CBWR", ENV_VAR)}
    # idle threads sleep: spinning ones make a 2-thread child crawl on a busy machine
    return {**env, ENV_VAR: str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.skipif(not torch.backends.mkl.is_available(),
                    reason="thread-count independence relies on MKL's reproducible mode")
def test_seeded_training_and_inpainting_do_not_depend_on_the_thread_count():
    results = [json.loads(subprocess.run(
        [sys.executable, "-c", _TRAIN_AND_INPAINT], env=_clean_env(n), check=True,
        capture_output=True, text=True).stdout) for n in (1, 2)]
    assert [r.pop("threads") for r in results] == [1, 2]
    assert results[0] == results[1]


@pytest.mark.slow  # two `harmonium rbm train` processes
@pytest.mark.skipif(not torch.backends.mkl.is_available(),
                    reason="thread-count independence relies on MKL's reproducible mode")
def test_cli_rbm_train_gives_the_same_model_with_one_or_two_threads(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((300, 784)) < rng.random(784)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    models = []
    for n in (1, 2):
        model = tmp_path / f"m{n}.safetensors"
        subprocess.run([sys.executable, "-m", "harmonium", "--threads", str(n), "rbm", "train",
                        str(tmp_path / "x.npy"), "-o", str(model), "--hidden", "500",
                        "--method", "cd", "--epochs", "2", "-q"],
                       env=_clean_env(1), check=True, capture_output=True)
        models.append(load_file(model))
    assert models[0].keys() == models[1].keys()
    for name in models[0]:
        np.testing.assert_array_equal(models[0][name], models[1][name])
