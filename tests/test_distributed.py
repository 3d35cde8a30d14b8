"""Data-parallel training on 2 CPU processes (gloo, launched by torchrun) equals the
single-process run on the same global batches; checkpoints move between world sizes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

import distributed_worker as worker

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[dict, Path]:
    """The worker's results from one torchrun launch of 2 processes."""
    out = tmp_path_factory.mktemp("ws2")
    shutil.copy(worker.__file__, out / "distributed_worker.py")
    worker.train("pcd", 1, checkpoint=out / "pcd_ws1.ckpt")  # resumed by the 2 ranks
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(out)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", str(out / "distributed_worker.py"), str(out), str(out / "pcd_ws1.ckpt")],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return load_file(out / "ws2.safetensors"), out


def _close(two: dict, prefix: str, one: dict, tol: float = 1e-5) -> None:
    for name, value in one.items():
        other = two[f"{prefix}.{name}"]
        assert torch.allclose(other, value, rtol=0, atol=tol), (prefix, name)


@pytest.mark.parametrize("method", list(worker.METHODS))
def test_two_processes_match_one_after_20_steps(two_ranks, method):
    two, _ = two_ranks
    one = worker.train(method, 2)  # 20 updates, the same global batches
    _close(two, method, one.state_dict())
    assert not torch.equal(one.weight, worker.rbm().weight)  # it trained


def test_checkpoint_from_two_processes_resumes_in_one(two_ranks):
    _, out = two_ranks
    resumed = worker.train("pcd", 2, checkpoint=out / "pcd_ws2.ckpt", resume=True)
    _close({f"pcd.{k}": v for k, v in worker.train("pcd", 2).state_dict().items()}, "pcd",
           resumed.state_dict())


def test_checkpoint_from_one_process_resumes_in_two(two_ranks):
    two, _ = two_ranks
    _close(two, "resumed", worker.train("pcd", 2).state_dict())


def test_fine_tune_two_processes_match_one(two_ranks):
    two, _ = two_ranks
    _close(two, "finetune", worker.fine_tuned())


def test_ais_merged_from_two_ranks_equals_one_process(two_ranks):
    two, _ = two_ranks
    one = worker.log_weights()
    assert one.shape == (9,)
    assert torch.allclose(two["ais.log_weights"], one, rtol=0, atol=1e-9)


def test_cli_rbm_train_under_torchrun(tmp_path):
    """``harmonium rbm train`` under torchrun: rank 0 writes the model, which matches
    the one-process command (float32: tolerance for summation order)."""
    from harmonium.cli.main import main
    from harmonium.io import load

    args = ["rbm", "train", "digits", "--hidden", "16", "--epochs", "1", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "harmonium", *args, "-o", str(tmp_path / "two.safetensors")],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("wrote") == 1  # one report, from rank 0
    assert main([*args, "-o", str(tmp_path / "one.safetensors")]) == 0
    one, two = load(tmp_path / "one.safetensors"), load(tmp_path / "two.safetensors")
    assert torch.allclose(one.weight, two.weight, rtol=0, atol=1e-5)
