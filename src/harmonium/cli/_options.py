"""Checked option values for the ``harmonium`` command: numbers in range and devices.

Numeric options declare their range with :class:`Number` (``type=count()``,
``type=fraction()``...), so argparse refuses ``--epochs 0`` or ``--lr nan`` before any
file is read, with a message naming the option, the range and the value. Every
subcommand with ``--device`` has it checked by :func:`check_device` before it runs.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

__all__ = ["Number", "check_device", "check_output", "count", "counted", "fraction", "positive",
           "real", "seed"]

# the largest integer an option takes: torch indexes and numpy seeds stay in int64
MAX_INT = 2**63 - 1
# the largest float: models compute in float32 (1e300 would overflow there)
MAX_FLOAT = float(torch.finfo(torch.float32).max)


class Number:
    """argparse ``type``: an int or a finite float within bounds.

    Parameters
    ----------
    kind : {int, float}
    low, high : float, optional
        Bounds (None: unbounded on that side; ints are always within +-``MAX_INT``).
    open_low, open_high : bool
        Exclude the bound itself.
    """

    def __init__(self, kind, low=None, high=None, *, open_low=False, open_high=False):
        self.kind, self.low, self.high = kind, low, high
        self.open_low, self.open_high = open_low, open_high
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def contains(self, value) -> bool:
        """Whether ``value`` (already converted) lies in the range."""
        if self.kind is float and not (math.isfinite(value) and abs(value) <= MAX_FLOAT):
            return False
        if self.kind is int and abs(value) > MAX_INT:
            return False
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return self.high is None or not (
            value > self.high or (self.open_high and value == self.high))

    def describe(self) -> str:
        """The range in words, e.g. ``an integer >= 1`` or ``a number in (0, 1)``."""
        noun = "an integer" if self.kind is int else "a finite number"
        if self.low is not None and self.high is not None:
            return (f"{noun} in {'(' if self.open_low else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.open_high else ']'}")
        if self.low is not None:
            return f"{noun} {'>' if self.open_low else '>='} {self.low:g}"
        if self.high is not None:
            return f"{noun} {'<' if self.open_high else '<='} {self.high:g}"
        return noun if self.kind is float else f"{noun} of at most {MAX_INT}"

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not self.contains(value):
            beyond = (" (beyond float32, whose largest value is 3.4e+38)"
                      if self.kind is float and math.isfinite(value)
                      and abs(value) > MAX_FLOAT else "")
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text}{beyond}")
        return value


def count(low: int = 1) -> Number:
    """Integers >= ``low`` (sizes, steps, epochs)."""
    return Number(int, low)


def seed() -> Number:
    """Random seeds: integers in [0, 2**63 - 1]."""
    return Number(int, 0)


def real(low=None, high=None, **kwargs) -> Number:
    """Finite floats, optionally bounded."""
    return Number(float, low, high, **kwargs)


def positive() -> Number:
    """Finite floats > 0 (learning rates, thresholds of squared error)."""
    return Number(float, 0, open_low=True)


def fraction(*, open_low=False, open_high=False) -> Number:
    """Floats in [0, 1], with either end excluded on request."""
    return Number(float, 0, 1, open_low=open_low, open_high=open_high)


def check_device(text: str) -> str:
    """The canonical name of a torch device this process can use.

    Parameters
    ----------
    text : str
        ``cpu``, ``cuda``, ``cuda:1``, ``mps``...

    Returns
    -------
    str
        ``str(torch.device(text))``.

    Raises
    ------
    ValueError
        Unknown device names, and devices that this torch build or machine lacks.
    """
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"--device: unknown device {text!r} (expected cpu, cuda, cuda:N "
                         "or mps)") from None
    if device.type == "cpu":
        return str(device)
    if device.type == "cuda":
        _check_cuda(device)
        return str(device)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("--device mps: MPS is not available on this machine")
        return str(device)
    raise ValueError(f"--device: unsupported device {text!r} (expected cpu, cuda, cuda:N "
                     "or mps)")


def _check_cuda(device: torch.device) -> None:
    if torch.version.cuda is None and torch.version.hip is None:
        raise ValueError(f"--device {device}: CUDA is not available in this torch build "
                         f"({torch.__version__}); use --device cpu")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise ValueError(f"--device {device}: no CUDA device is available")
    if device.index is not None and device.index >= n:
        raise ValueError(f"--device {device}: there are only {n} CUDA device(s) "
                         f"(cuda:0 ... cuda:{n - 1})")


# file types a user may name by mistake for another kind of output
_KNOWN_SUFFIXES = frozenset((".safetensors", ".png", ".jpg", ".jpeg", ".pdf", ".svg", ".npy",
                             ".npz", ".csv", ".json", ".txt", ".pt", ".pkl"))


def counted(n: int, noun: str) -> str:
    """``"1 image"``, ``"2 images"``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_output(path: str, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output path that cannot be written, before any work is done.

    Parameters
    ----------
    path : str
    option : str
        The option's name, for the message.
    suffixes : tuple of str
        The file types the command writes; a name ending in another well-known type
        (``m.png`` for a model) is refused, other names are left to the user.

    Raises
    ------
    ValueError
        When ``path`` is a folder, its folder is missing or is not a folder, or it ends
        in a well-known file type other than ``suffixes``.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffixes and suffix in _KNOWN_SUFFIXES and suffix not in suffixes:
        raise ValueError(f"{option} {path}: this command writes a "
                         f"{' or '.join(suffixes)} file, not {suffix}")
    if target.is_dir():
        raise ValueError(f"{option} {path} is a folder, expected a file name")
    folder = target.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"{option} {path}: its folder {folder} {what}")


PRECISIONS = ("float32", "bf16", "fp16", "tf32")


def add_precision(p) -> None:
    """The ``--precision`` option of the training commands."""
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="precision of the weight products: bf16/fp16 where the CPU has AMX "
                   "or AVX512-BF16 and on GPUs, tf32 on GPUs; elsewhere float32, with a "
                   "note (docs/performance.md)")
