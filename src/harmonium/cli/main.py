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

from harmonium import __version__

# command modules, in the order they appear in --help
_COMMANDS = ["demo", "hopfield", "memory", "rbm", "dbn", "recommend"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="harmonium",
        description="Hopfield networks and Boltzmann machines: train, sample, recall, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"harmonium {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(f"harmonium.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"harmonium: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("harmonium: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
