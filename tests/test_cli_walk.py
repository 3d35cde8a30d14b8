"""Walk every ``harmonium`` subcommand through bad inputs: each must end in exactly one
``harmonium: error:`` line on stderr and exit status 2, never a traceback.

The subcommands come from the parser itself, so new ones are walked automatically; a
positional argument whose name this file does not know fails the walk (add it to
``INPUTS``). Inputs are tiny and the base arguments keep any run that does start short.
"""

import argparse
import os
import zlib

import numpy as np
import pytest

from harmonium.cli._options import Number
from harmonium.cli.main import build_parser, main

# what each positional argument names: a kind of input file, per command group
INPUTS = {"data": "data", "probe": "image", "images": "image", "ratings": "ratings",
          "model": {"rbm": "rbm", "dbn": "dbn", "dbm": "dbm", "recommend": "recommender",
                    "potts": "potts"},
          "memory": {"hopfield": "hopfield", "memory": "memory"}}
SUFFIX = {"data": ".npy", "image": ".png", "ratings": ".csv"}  # model files: .safetensors
# arguments that keep a run that starts cheap (tiny models, few steps)
BASE = {
    ("rbm", "train"): ["--hidden", "2", "--epochs", "1", "--batch-size", "3", "-q"],
    ("rbm", "sample"): ["-n", "2", "--steps", "2"],
    ("rbm", "inpaint"): ["-n", "2", "--steps", "2"],
    ("dbn", "train"): ["--layers", "3", "2", "--epochs", "1", "--fine-tune-epochs", "0", "-q"],
    ("dbn", "dream"): ["-n", "1", "--steps", "2"],
    ("dbn", "evaluate"): ["--labels", "{labels}"],
    ("dbm", "train"): ["--layers", "3", "2", "--pretrain-epochs", "1", "--epochs", "1",
                       "--sweeps", "1", "--fine-tune-epochs", "0", "--batch-size", "3", "-q"],
    ("dbm", "evaluate"): ["--chains", "2", "--betas", "3", "--mean-field-steps", "2", "-q"],
    ("potts", "fit"): ["--epochs", "1", "--iterations", "2", "-q"],
    ("potts", "sample"): ["-n", "2", "--sweeps", "2"],
    ("potts", "plant"): ["--sites", "4", "--states", "3", "--contacts", "2"],
    ("hopfield", "store"): ["--size", "4"],
    ("hopfield", "capacity"): ["--units", "10", "--alphas", "0.1", "--trials", "1",
                               "--no-progress"],
    ("memory", "store"): ["--size", "4"],
    ("memory", "evaluate"): ["--corrupt", "half"],
    ("recommend", "train"): ["--epochs", "1", "--hidden", "2", "--validation", "0"],
    ("recommend", "predict"): ["--user", "1"],
}
NOT_RUN = {("demo",)}  # runs for minutes whatever its options: only its refusals are walked
INT_VALUES, FLOAT_VALUES = ("0", "-1", str(10**30)), ("0", "-1", "1e300")


def _leaves(parser, path=()):
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, sub in subparsers[0].choices.items():
        yield from _leaves(sub, (*path, name))


LEAVES = dict(_leaves(build_parser()))


def _positionals(parser):
    return [a for a in parser._actions if not a.option_strings]


def _numeric_options(parser):
    return [a for a in parser._actions if a.option_strings and (
        isinstance(a.type, Number) or a.type in (int, float))]


def _kind(path, dest):
    kind = INPUTS.get(dest)
    return kind.get(path[0]) if isinstance(kind, dict) else kind


def _cases():
    for path, parser in LEAVES.items():
        name = " ".join(path)
        for action in _positionals(parser):
            for case in ("missing", "empty", "garbage", "other-kind", "non-utf8"):
                yield pytest.param(path, ("file", action.dest, case),
                                   id=f"{name}-{action.dest}-{case}")
        for action in _numeric_options(parser):
            option = action.option_strings[-1]
            values = FLOAT_VALUES if getattr(action.type, "kind", action.type) is float else (
                INT_VALUES)
            for value in values:
                yield pytest.param(path, ("number", option, value), id=f"{name}{option}={value}")
        if any(a.dest in ("output", "out") for a in parser._actions):
            yield pytest.param(path, ("unwritable", None, None), id=f"{name}-unwritable")


CASES = list(_cases())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One small valid file of each kind, plus empty and garbage files."""
    tmp = tmp_path_factory.mktemp("walk")
    rng = np.random.default_rng(0)
    out = {"tmp": tmp, "data": tmp / "data.npy", "labels": tmp / "labels.npy",
           "image": tmp / "image.png", "ratings": tmp / "ratings.csv"}
    np.save(out["data"], (rng.random((6, 4)) < 0.5).astype(np.float32))
    np.save(out["labels"], np.arange(6)[:, None] % 2)
    from harmonium.datasets import write_image

    write_image(out["image"], rng.random((8, 8)))
    rows = [f"{u},{i},{1 + (u + i) % 5}" for u in range(1, 5) for i in range(1, 4)]
    out["ratings"].write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    for kind, argv in {
        "rbm": ["rbm", "train", str(out["data"]), *BASE[("rbm", "train")]],
        "dbn": ["dbn", "train", str(out["data"]), "--labels", str(out["labels"]),
                *BASE[("dbn", "train")]],
        "dbm": ["dbm", "train", str(out["data"]), *BASE[("dbm", "train")]],
        "hopfield": ["hopfield", "store", str(out["image"]), "--size", "4"],
        "memory": ["memory", "store", str(out["image"]), "--size", "4"],
        "recommender": ["recommend", "train", str(out["ratings"]), *BASE[("recommend", "train")]],
        "potts": ["potts", "plant", *BASE[("potts", "plant")]],
    }.items():
        out[kind] = tmp / f"{kind}.safetensors"
        assert main([*argv, "-o", str(out[kind])]) == 0, kind
    for suffix in (".npy", ".png", ".csv", ".safetensors"):
        (tmp / f"empty{suffix}").write_bytes(b"")
        (tmp / f"garbage{suffix}").write_bytes(b"\x93\x00\xffnot this format\x01\n" * 3)
    (tmp / "a-file").write_text("")
    return out


def _input(files, path, dest, case=None):
    kind = _kind(path, dest)
    assert kind is not None, f"{' '.join(path)}: add the positional {dest!r} to INPUTS"
    suffix = SUFFIX.get(kind, ".safetensors")
    tmp = files["tmp"]
    if case == "missing":
        return str(tmp / f"missing{suffix}")
    if case in ("empty", "garbage"):
        return str(tmp / f"{case}{suffix}")
    if case == "other-kind":  # a valid file of another kind
        return str(files["image"] if kind in ("data", "ratings") or suffix == ".safetensors"
                   else files["data"])
    if case == "non-utf8":
        return os.fsdecode(os.fsencode(str(tmp)) + b"/x\xff" + suffix.encode())
    return str(files[kind])


def _argv(files, path, bad=None):
    """A valid command line for the leaf ``path``, with ``bad`` = (dest, value) swapped in."""
    parser = LEAVES[path]
    argv = list(path)
    for action in _positionals(parser):
        value = bad[1] if bad and bad[0] == action.dest else _input(files, path, action.dest)
        argv.append(value)
    outputs = [a for a in parser._actions if a.dest in ("output", "out")]
    for action in outputs:
        suffix = ".safetensors" if path[-1] in ("train", "store") else ".png"
        target = files["tmp"] / "a-file" / f"out{suffix}" if bad and bad[0] == "output" else (
            files["tmp"] / f"out-{'-'.join(path)}{suffix}")
        argv += [action.option_strings[-1], str(target)]
    argv += [a.format(labels=files["labels"]) for a in BASE.get(path, [])]
    return argv


def _expect_one_error_line(argv, capsys, allowed=(2,)):
    try:
        code = main(argv)
    except BaseException as exc:  # a traceback is what the walk exists to catch
        pytest.fail(f"harmonium {' '.join(argv)} raised {type(exc).__name__}: {exc}")
    err = capsys.readouterr().err
    assert code in allowed, f"exit {code} for: harmonium {' '.join(argv)}\n{err}"
    if code:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("harmonium: error:"), (
            f"harmonium {' '.join(argv)} printed:\n{err}")
        assert "Traceback" not in err


@pytest.mark.parametrize(("path", "case"), CASES)
def test_bad_input_is_one_error_line_and_exit_2(files, capsys, path, case):
    what, dest, value = case
    if what == "file":
        _expect_one_error_line(_argv(files, path, (dest, _input(files, path, dest, value))),
                               capsys)
    elif what == "unwritable":  # the output under a regular file
        if path in NOT_RUN:
            pytest.skip("runs for minutes before writing")
        _expect_one_error_line(_argv(files, path, ("output", None)), capsys)
    else:
        parser = LEAVES[path]
        action = next(a for a in parser._actions if dest in a.option_strings)
        assert isinstance(action.type, Number), f"{' '.join(path)} {dest}: declare its range"
        in_range = action.type.contains(action.type.kind(float(value)) if (
            action.type.kind is float) else int(value))
        if in_range and path in NOT_RUN:
            pytest.skip("a valid value: the command would run for minutes")
        _expect_one_error_line([*_argv(files, path), dest, value], capsys,
                               allowed=(0, 2) if in_range else (2,))


def test_the_walk_covers_every_subcommand():
    walked = {path for p in CASES for path in [p.values[0]]}
    assert walked == set(LEAVES) and len(LEAVES) >= 18


NOT_NUMBERS = ("nan", "inf", "-inf", "abc", "", "1,5")


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(LEAVES))
def test_longer_walk_random_bytes_and_non_numbers(files, capsys, path):
    """The slow variant: seeded random-byte inputs of many lengths and sizes for every
    file argument, and values that are not finite numbers for every numeric option."""
    rng = np.random.default_rng(zlib.crc32(" ".join(path).encode()))
    parser = LEAVES[path]
    for action in _positionals(parser):
        suffix = SUFFIX.get(_kind(path, action.dest), ".safetensors")
        for k, size in enumerate((1, 7, 64, 1000, 50_000)):
            junk = files["tmp"] / f"junk-{'-'.join(path)}-{action.dest}-{k}{suffix}"
            junk.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
            _expect_one_error_line(_argv(files, path, (action.dest, str(junk))), capsys)
    for action in _numeric_options(parser):
        for value in NOT_NUMBERS:
            _expect_one_error_line([*_argv(files, path), action.option_strings[-1], value],
                                   capsys)
