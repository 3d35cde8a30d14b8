"""Entry point of the ``harmonium`` command.

Each command group lives in its own module of :mod:`harmonium.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed arguments). Errors a user can cause (bad input, missing files) become a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from harmonium import __version__
from harmonium.cli._options import check_device, check_output
from harmonium.threads import configure as configure_threads
from harmonium.threads import parse_threads

# command modules, in the order they appear in --help
_COMMANDS = ["demo", "data", "hopfield", "memory", "rbm", "dbn", "dbm", "recommend", "potts"]

EXIT_USAGE = 2


def one_line(message: str) -> str:
    """``harmonium: error: message`` on one line, printable whatever the path encoding.

    Undecodable bytes of file names (``surrogateescape``) are shown as ``\\xff``.
    """
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return f"harmonium: error: {text}"


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (``see ... --help`` for the usage)."""

    def error(self, message: str):
        print(one_line(f"{message} (see '{self.prog} --help')"), file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    ) or type(exc).__name__ == "OutOfMemoryError"


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every command group registered."""
    parser = _Parser(
        prog="harmonium",
        description="Hopfield networks and Boltzmann machines: train, sample, recall, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"harmonium {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--threads", type=_threads, default=None, metavar="N",
        help="CPU threads: an integer >= 1 or 'auto' (default: $HARMONIUM_THREADS, else "
        "the cores no other process keeps busy; see docs/performance.md)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(f"harmonium.cli.{name}").register(sub)
    for command in _all_parsers(parser):
        command.formatter_class = _ShowDefaults
    return parser


class _ShowDefaults(argparse.HelpFormatter):
    """Help that ends each option's line with its default, unless the line says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        # identity, not equality: a default of 0 or 0.0 equals False and is shown
        shown = not any(default is hidden for hidden in (None, False, argparse.SUPPRESS))
        if action.option_strings and shown and "default" not in text:
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def _threads(text: str) -> int | str:
    """argparse ``type`` of ``--threads``: an integer >= 1, or ``auto``."""
    try:
        return parse_threads(text) or "auto"
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'auto', got {text!r}"
                                         ) from None


def _all_parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand's parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_parsers(child)


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` of the CLI: ``harmonium: note: message`` on stderr."""
    print(one_line(str(message)).replace("error:", "note:", 1), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, usage errors: their status
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        configure_threads(args.threads)  # before any product: MKL reads its mode once
        if getattr(args, "device", None) is not None:
            args.device = check_device(args.device)
        for name in ("output", "json"):  # fail before the work, not after it
            if getattr(args, name, None):
                suffixes = (".json",) if name == "json" else getattr(args, "writes", ())
                check_output(getattr(args, name), f"--{name}", suffixes)
        with warnings.catch_warnings():  # warnings become one-line notes
            warnings.simplefilter("default", UserWarning)
            warnings.showwarning = _note
            args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(one_line(str(exc) or type(exc).__name__), file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as exc:
        if not _is_out_of_memory(exc):
            raise
        print(one_line(f"out of memory ({str(exc).splitlines()[-1][:200]}): use smaller "
                       "sizes"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("harmonium: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
