"""Every command says what it does, and every option what it means and its default."""

import argparse

import pytest

from harmonium.cli.main import build_parser


def _commands(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, (*path, name))


COMMANDS = dict(_commands(build_parser()))


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_command_has_a_description_and_every_argument_a_help(path):
    parser = COMMANDS[path]
    assert parser.description, f"harmonium {' '.join(path)} has no description"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"harmonium {' '.join(path)} {name} has no help"


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_help_shows_every_default(path):
    parser = COMMANDS[path]
    formatter = parser._get_formatter()
    for action in parser._actions:
        # by identity: a default of 0 or 0.0 equals False but must be shown
        if not action.option_strings or any(action.default is hidden
                                            for hidden in (None, False, argparse.SUPPRESS)):
            continue
        line = formatter._expand_help(action)
        assert "default" in line, (path, action.option_strings[-1], line)
        assert str(action.default) in line or "default:" not in line, (path, line)
