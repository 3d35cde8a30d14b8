"""The README's examples run as written, top to bottom, in an empty folder.

The fenced ``bash`` and ``python`` blocks outside the Quickstart's two install commands
run in README order in one temporary folder, so each reads only what the bundled data and
the blocks before it made. A ``bash`` block is split into commands (comments dropped);
``harmonium ...`` commands run in this process through :func:`harmonium.cli.main.main`
(one torch import for all of them). A ``torchrun ... -m harmonium ...`` line runs its
``harmonium`` part in-process in the default test; the slow test runs it under
``torchrun`` with two processes. A ``python`` block runs in one worker subprocess (torch
pinned to one thread, warnings as errors) in a fresh namespace of its own, so it must
define or import every name it uses: a reader can copy any block alone.
"""

import json
import os
import re
import select
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harmonium.cli.main import main

README = Path(__file__).resolve().parents[1] / "README.md"
# the Quickstart's install commands, between their marker comments
QUICKSTART = re.compile(r"<!-- (demo|test)-command -->.*?<!-- \1-command -->", re.S)
# options naming a file a command writes
OUTPUTS = ("-o", "--output", "--train", "--test", "--titles")
# seconds a Python block may take before the worker is deemed stuck
BLOCK_TIMEOUT = 300
# the worker: reads one JSON request per line ({"cwd", "code"}), runs the code in a fresh
# namespace, answers one JSON line ({"failure": traceback or None, "output": printed text})
WORKER = """
import contextlib, io, json, os, sys, traceback
import torch
torch.set_num_threads(1)
for line in sys.stdin:
    request, printed = json.loads(line), io.StringIO()
    os.chdir(request["cwd"])
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            exec(compile(request["code"], "<README block>", "exec"), {"__name__": "__main__"})
        failure = None
    except BaseException:
        failure = traceback.format_exc()
    sys.__stdout__.write(json.dumps({"failure": failure, "output": printed.getvalue()}) + "\\n")
    sys.__stdout__.flush()
"""


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """The ``bash`` and ``python`` blocks of ``text`` outside the Quickstart, in order,
    as (language, code)."""
    return re.findall(r"^```(bash|python)\n(.*?)^```", QUICKSTART.sub("", text), re.S | re.M)


def block_commands(block: str) -> list[list[str]]:
    """The commands of one ``bash`` block (continued lines joined, comments dropped)."""
    lines = (shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines())
    return [argv for argv in lines if argv]


def shell_commands(text: str) -> list[list[str]]:
    """The commands of the ``bash`` blocks of ``text`` outside the Quickstart, in order."""
    return [argv for language, block in readme_blocks(text) if language == "bash"
            for argv in block_commands(block)]


def _harmonium_part(argv: list[str]) -> list[str]:
    """The arguments after ``harmonium`` (or ``-m harmonium`` for torchrun)."""
    if argv[0] == "harmonium":
        return argv[1:]
    assert argv[0] == "torchrun" and "-m" in argv, f"not a harmonium command: {argv}"
    k = argv.index("-m")
    assert argv[k + 1] == "harmonium", argv
    return argv[k + 2:]


def _written(argv: list[str]) -> list[str]:
    """Files a command line says it writes."""
    return [argv[k + 1] for k, a in enumerate(argv[:-1]) if a in OUTPUTS]


class PythonWorker:
    """One Python subprocess that runs code blocks, each in a fresh namespace."""

    def __init__(self):
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   HARMONIUM_THREADS="1", MPLBACKEND="Agg")
        self.process = subprocess.Popen([sys.executable, "-W", "error", "-c", WORKER],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)

    def run(self, code: str, cwd: Path) -> dict:
        """Run ``code`` in ``cwd``; returns ``{"failure": traceback or None, "output"}``."""
        self.process.stdin.write(json.dumps({"cwd": str(cwd), "code": code}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], BLOCK_TIMEOUT)
        assert ready, f"a README block ran past {BLOCK_TIMEOUT} s:\n{code}"
        answer = self.process.stdout.readline()
        assert answer, f"the worker died running:\n{code}"
        return json.loads(answer)

    def close(self) -> None:
        """End the worker (its stdin closed) and its pipes."""
        self.process.communicate(timeout=60)
        assert self.process.returncode == 0, f"the worker exited {self.process.returncode}"


@pytest.fixture(scope="module")
def python():
    worker = PythonWorker()
    try:
        yield worker
    finally:
        if worker.process.poll() is None:
            worker.close()


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
COMMANDS = shell_commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_examples_this_file_runs():
    assert len(COMMANDS) >= 25
    assert all(argv[0] in ("harmonium", "torchrun") for argv in COMMANDS), COMMANDS
    # the Quickstart's install lines are not among them
    assert not any("pip" in argv or "venv" in argv for argv in COMMANDS)
    groups = {_harmonium_part(argv)[0] for argv in COMMANDS}
    assert {"data", "hopfield", "memory", "rbm", "dbn", "recommend"} <= groups


def test_the_readme_has_python_examples_for_every_part():
    code = "\n".join(block for language, block in BLOCKS if language == "python")
    for name in ("HopfieldNetwork", "ModernHopfield", "RBM", "DBN", "DBM", "PottsModel",
                 "RBMRecommender", "ais", "fit"):
        assert re.search(rf"\b{name}\(", code), name


def test_shell_commands_skip_comments_and_the_quickstart():
    text = ("<!-- demo-command -->\n```bash\npip install x\n```\n<!-- demo-command -->\n"
            "```bash\n# a comment\nharmonium a b  # trailing\n\nharmonium c \\\n  d\n```\n"
            "```python\nharmonium no\n```\n")
    assert shell_commands(text) == [["harmonium", "a", "b"], ["harmonium", "c", "d"]]
    assert [language for language, _ in readme_blocks(text)] == ["bash", "python"]


def test_each_python_block_sees_only_its_own_names(python, tmp_path):
    assert python.run("answer = 42\nprint(answer)", tmp_path) == {"failure": None,
                                                                   "output": "42\n"}
    failure = python.run("print(answer)", tmp_path)["failure"]
    assert "NameError: name 'answer' is not defined" in failure
    # warnings are errors there, as in this suite
    assert "UserWarning" in python.run("import warnings; warnings.warn('w')", tmp_path)["failure"]


def test_every_example_runs_in_order_in_an_empty_folder(python, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for language, block in BLOCKS:
        if language == "python":
            result = python.run(block, tmp_path)
            assert result["failure"] is None, f"{block}\n{result['output']}{result['failure']}"
            continue
        for argv in block_commands(block):
            args = _harmonium_part(argv)
            code = main(args)
            err = capsys.readouterr().err
            assert code == 0, f"{' '.join(argv)} exited {code}: {err}"
            for path in _written(args):
                assert Path(path).is_file() and Path(path).stat().st_size > 0, (argv, path)


@pytest.mark.slow
def test_torchrun_examples_run_under_torchrun(tmp_path):
    launches = [argv for argv in COMMANDS if argv[0] == "torchrun"]
    assert launches
    torchrun = Path(sys.executable).with_name("torchrun")
    for argv in launches:
        done = subprocess.run([str(torchrun), *argv[1:]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        for path in _written(_harmonium_part(argv)):
            assert (tmp_path / path).is_file()
