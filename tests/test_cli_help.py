"""Every command's --help is plain text for a terminal: no RST or Markdown markup, no line
longer than the terminal, and no name or option cut in two at a hyphen."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from nof1.cli import cli


def _commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The words after ``nof1`` of every command, ``nof1`` itself and subgroups included."""
    found = [path]
    ctx = click.Context(group, info_name="nof1")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands()

#: What a reader of a terminal would see as stray markup: RST literals (``x``) and roles
#: (:func:`x`), Markdown code (`x`) and emphasis (*x* or **x**), and click's \b marker left
#: inside a paragraph instead of on its own line before one.
MARKUP = {
    "RST or Markdown literal": re.compile(r"`"),
    "RST role": re.compile(r":[a-z]+:"),
    "emphasis": re.compile(r"(?<![\w*])\*{1,2}[^\s*][^*\n]*(?<=[^\s*])\*{1,2}(?![\w*])"),
    "click's \\b marker": re.compile("\x08"),
}


def _help(words: tuple[str, ...], width: int) -> str:
    result = CliRunner().invoke(cli, [*words, "--help"], prog_name="nof1", terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_walked():
    names = {" ".join(words) for words in COMMANDS}
    assert {"", "report", "calendar", "protocol", "protocol new", "pool"} <= names
    assert len(names) >= 19


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: "nof1 " + " ".join(w))
def test_help_is_plain_text(words):
    text = _help(words, 78)
    for what, pattern in MARKUP.items():
        hit = pattern.search(text)
        assert hit is None, f"nof1 {' '.join(words)} --help shows {what}: {hit.group(0)!r}"


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: "nof1 " + " ".join(w))
def test_help_fits_an_80_column_terminal(words):
    # click wraps to 78 columns in any terminal 80 wide or wider; only the unwrapped
    # example blocks (\b) can overflow, and an example wrapped by the terminal misleads.
    long = [line for line in _help(words, 78).splitlines() if len(line) > 80]
    assert long == []


@pytest.mark.parametrize("width", [50, 78, 120])
def test_no_line_ends_inside_a_hyphenated_word(width):
    # A template name or an option cut at its hyphen (magnesium- / crps) cannot be copied.
    cut = [
        (" ".join(words), line)
        for words in COMMANDS
        for line in _help(words, width).splitlines()
        if re.search(r"\w-$", line)
    ]
    assert cut == []


def test_the_held_hyphen_never_reaches_the_reader():
    text = "".join(_help(words, 50) for words in COMMANDS)
    assert "\u2011" not in text
    assert "magnesium-crps" in text
