"""The README's shell examples run as written, top to bottom, in an empty folder.

Every fenced ``bash`` block outside the Quickstart's two install commands is split into
commands (comments dropped). ``harmonium ...`` commands run in this process through
:func:`harmonium.cli.main.main` (one torch import for all of them), in order, in one
temporary folder, so each reads only what the bundled data and the commands before it
made. A ``torchrun ... -m harmonium ...`` line runs its ``harmonium`` part in-process in
the default test; the slow test runs it under ``torchrun`` with two processes.
"""

import re
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


def shell_commands(text: str) -> list[list[str]]:
    """The commands of the ``bash`` blocks of ``text`` outside the Quickstart, in order."""
    blocks = re.findall(r"^```bash\n(.*?)^```", QUICKSTART.sub("", text), re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


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


COMMANDS = shell_commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_examples_this_file_runs():
    assert len(COMMANDS) >= 25
    assert all(argv[0] in ("harmonium", "torchrun") for argv in COMMANDS), COMMANDS
    # the Quickstart's install lines are not among them
    assert not any("pip" in argv or "venv" in argv for argv in COMMANDS)
    groups = {_harmonium_part(argv)[0] for argv in COMMANDS}
    assert {"data", "hopfield", "memory", "rbm", "dbn", "recommend"} <= groups


def test_shell_commands_skip_comments_and_the_quickstart():
    text = ("<!-- demo-command -->\n```bash\npip install x\n```\n<!-- demo-command -->\n"
            "```bash\n# a comment\nharmonium a b  # trailing\n\nharmonium c \\\n  d\n```\n"
            "```python\nharmonium no\n```\n")
    assert shell_commands(text) == [["harmonium", "a", "b"], ["harmonium", "c", "d"]]


def test_every_shell_example_runs_in_order_in_an_empty_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in COMMANDS:
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
