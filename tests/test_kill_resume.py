"""Training killed hard (SIGKILL) and resumed: the checkpoint survives, the result is exact.

A child process runs ``harmonium.fit`` with a checkpoint and dies by SIGKILL: in the
middle of writing a checkpoint (half the bytes in the temporary file), just before the
temporary file is renamed over the checkpoint, just after, or (slow variant) at random
moments chosen by the parent. The fast variant forks (no second import of torch); the
slow one starts fresh interpreters and kills them from outside. After every kill the
checkpoint on disk must be a complete, loadable file (the previous one or the new one),
and finishing the run from it must give parameters bit-identical to a run that was
never interrupted.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import harmonium
from harmonium import io
from harmonium.units import Bernoulli

EPOCHS = 6

# A fresh interpreter that runs the training until the parent kills it.
CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_kill_resume import run
    print("ready", flush=True)
    run(sys.argv[1], int(sys.argv[2]))
""")


def run(path, epochs: int = EPOCHS) -> harmonium.RBM:
    """The training run every process repeats: same data, seeds and checkpoint."""
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(40, 6, generator=g) < 0.4).float()
    rbm = harmonium.RBM(Bernoulli(6), Bernoulli(4), generator=g)
    harmonium.fit(rbm, data, epochs=epochs, batch_size=10, lr=0.1,
                  generator=torch.Generator().manual_seed(1), progress=False,
                  checkpoint=path, resume=True)
    return rbm


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hooks(mode: str, kill_at: int):
    """os.fsync and os.replace for io.save that SIGKILL at save number ``kill_at``."""
    saves = [0]
    fsync, replace = os.fsync, os.replace

    def hooked_fsync(fd):
        saves[0] += 1
        if mode == "write" and saves[0] == kill_at:
            os.ftruncate(fd, os.fstat(fd).st_size // 2)  # half the bytes reached the disk
            _die()
        fsync(fd)

    def hooked_replace(src, dst):
        if mode == "before-replace" and saves[0] == kill_at:
            _die()
        replace(src, dst)
        if mode == "after-replace" and saves[0] == kill_at:
            _die()

    return hooked_fsync, hooked_replace


def _killed_in_fork(mode: str, kill_at: int, path) -> int:
    """Train in a forked child (no second import) that kills itself; its wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            torch.set_num_threads(1)
            io.os.fsync, io.os.replace = _hooks(mode, kill_at)
            run(path)
        finally:
            os._exit(3)  # not killed: the parent reports it
    for _ in range(6000):  # at most a minute
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the child training ({mode} at save {kill_at}) hung")


def _spawned(path, epochs: int) -> subprocess.Popen:
    code = CHILD.format(tests=os.path.dirname(__file__))
    return subprocess.Popen([sys.executable, "-c", code, str(path), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _check_checkpoint(path, folder) -> int:
    """The checkpoint loads; the only other files are hidden temporaries; its epoch."""
    others = [n for n in os.listdir(folder) if n != path.name]
    assert all(n.startswith(f".{path.name}.") and n.endswith(".tmp") for n in others), others
    if not path.exists():
        return 0
    return harmonium.load(path)["epoch"]


def _assert_same(a: harmonium.RBM, b: harmonium.RBM) -> None:
    for x, y in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(x, y)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return run(tmp_path_factory.mktemp("straight") / "c.safetensors")


KILLS = [("write", 2), ("before-replace", 2), ("after-replace", 2)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("kills", [KILLS, [*KILLS[::-1], ("write", 1)]])
def test_killed_while_saving_resumes_bit_for_bit(tmp_path, straight, kills):
    path = tmp_path / "c.safetensors"
    for mode, kill_at in kills:
        before = _check_checkpoint(path, tmp_path)
        status = _killed_in_fork(mode, kill_at, path)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        after = _check_checkpoint(path, tmp_path)
        # killed while writing or before the rename: the previous checkpoint is intact
        assert after == before + kill_at - (mode != "after-replace"), (mode, before, after)
    _assert_same(run(path), straight)
    assert _check_checkpoint(path, tmp_path) == EPOCHS


@pytest.mark.slow
def test_killed_at_random_moments_resumes_bit_for_bit(tmp_path):
    epochs = 60
    straight = run(tmp_path / "straight.safetensors", epochs)
    folder = tmp_path / "killed"
    folder.mkdir()
    path = folder / "c.safetensors"
    rng = random.Random(0)
    for _ in range(12):
        proc = _spawned(path, epochs)
        assert proc.stdout.readline() == b"ready\n"  # imports done: training starts now
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.3))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        _check_checkpoint(path, folder)
    _assert_same(run(path, epochs), straight)
