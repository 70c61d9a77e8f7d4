"""Shared pieces of the CLI: error translation, the trial option, passphrase reading, the
types of numeric options."""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from pathlib import Path

import click

from nof1.errors import BlindingError, Nof1Error
from nof1.plan.files import MAX_PASSPHRASE_BYTES, read_input

#: Exit status of ``nof1 analyze`` and ``nof1 pool`` when the fit failed its convergence
#: checks and so gave no conclusion (the output is printed all the same, with advice on
#: what to run instead). 1 is bad input, 2 bad usage (click), 130 an interrupt.
NO_CONCLUSION_EXIT = 3


def exit_without_conclusion() -> None:
    """End the command with ``NO_CONCLUSION_EXIT`` after its output has been printed."""
    raise click.exceptions.Exit(NO_CONCLUSION_EXIT)


#: Stands in for a hyphen inside a word while click wraps help text: wrapping breaks lines
#: at hyphens, and a template name (magnesium-crps) or an option (--after-unblinding) split
#: over two lines cannot be copied. Same width, so the wrapping is otherwise unchanged.
_HELD_HYPHEN = "\u2011"
_WORD_HYPHEN = re.compile(r"(?<=\S)-(?=\w)")


class Nof1HelpFormatter(click.HelpFormatter):
    """Click's help formatter, except that a line never ends inside a hyphenated word."""

    def _hold(self, write, text_or_rows, *args) -> None:
        start = len(self.buffer)
        write(text_or_rows, *args)
        self.buffer[start:] = [part.replace(_HELD_HYPHEN, "-") for part in self.buffer[start:]]

    def write_text(self, text: str) -> None:
        self._hold(super().write_text, _WORD_HYPHEN.sub(_HELD_HYPHEN, text))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        held = [(term, _WORD_HYPHEN.sub(_HELD_HYPHEN, text)) for term, text in rows]
        self._hold(super().write_dl, held, col_max, col_spacing)


class Nof1Context(click.Context):
    formatter_class = Nof1HelpFormatter


class Nof1Command(click.Command):
    """A command whose --help is formatted by ``Nof1HelpFormatter``."""

    context_class = Nof1Context


class Nof1Group(click.Group):
    """A click group that turns library errors into one ``Error: ...`` line, exit 1.

    Library code raises ``Nof1Error`` subclasses and never prints; this is the one place
    where they meet the user. Unexpected exceptions keep their traceback (they are bugs).

    Commands load lazily: ``lazy_commands`` maps a command name to the module of
    ``nof1.cli`` that defines it (and registers it on this group when imported).
    """

    lazy_commands: dict[str, str] = {}
    context_class = Nof1Context
    command_class = Nof1Command
    #: A subgroup (nof1 protocol) is a Nof1Group too, so its commands are Nof1Commands.
    group_class = type

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(f"nof1.cli.{self.lazy_commands[cmd_name]}")
        return self.commands.get(cmd_name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if parent is not None:
                raise  # a subgroup's: its parent's invoke says it in one line
            raise click.ClickException(_usage_line(exc)) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Nof1Error as exc:
            raise click.ClickException(_clip_long_words(str(exc))) from None
        except click.UsageError as exc:
            # An unknown or missing option is bad input like any other: one Error line
            # (click would print the usage and a hint first).
            raise click.ClickException(_usage_line(exc)) from None
        except click.Abort as exc:
            # A prompt answered with end of input (Ctrl-D, a script's input that runs out):
            # click raises Abort from the EOFError. Every prompt comes before anything is
            # written, so nothing was saved.
            if isinstance(exc.__context__, EOFError):
                raise click.ClickException(NO_ANSWER) from None
            if isinstance(exc.__context__, KeyboardInterrupt):
                _interrupted()
            raise
        except KeyboardInterrupt:
            _interrupted()


#: A word of an error this long (1,000 characters) is a value the user gave (a 100,000-character note
#: or column name), named by its start and length rather than printed in full.
_LONG_WORD = re.compile(r"\S{1000,}")


def _clip_long_words(message: str) -> str:
    """The message with every very long word cut to its first 60 characters and its length."""
    return _LONG_WORD.sub(lambda m: f"{m[0][:60]}...({len(m[0]):,} characters)", message)


def _usage_line(exc: click.UsageError) -> str:
    """An unknown or missing option, said in one line that points to the command's help."""
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    return f"{exc.format_message()}{where}"


#: The error of a prompt answered with end of input.
NO_ANSWER = "no answer (end of input); nothing was saved."


def _interrupted() -> None:
    """Ctrl-C, at a prompt or while working: exit 130, nothing saved (writes are atomic)."""
    click.echo("\nInterrupted: nothing was saved for the command in progress.", err=True)
    sys.exit(130)


# ------------------------------------------------------------------ numeric options

#: An option's number: decimal digits 0-9, one optional sign, point and exponent (what a
#: user types: 0.8, -1.5, 5e-2). Python's float() also takes "1_0", "infinity" and digits
#: of other scripts; an option does not.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "the value"
    return max(param.opts, key=len) if param.opts else str(param.name)


def _bounds_text(low, high, low_open: bool, high_open: bool, fmt) -> str:
    """The range of an option in words: ``from 0 to 365``, ``more than 0``, ``at most 20,000``."""
    if low == 0 and not low_open and high is None:
        return "0 or more"
    lo = None if low is None else (f"more than {fmt(low)}" if low_open else f"at least {fmt(low)}")
    hi = (
        None
        if high is None
        else (f"less than {fmt(high)}" if high_open else f"at most {fmt(high)}")
    )
    if lo and hi:
        if not low_open and not high_open:
            return f"from {fmt(low)} to {fmt(high)}"
        if low_open and high_open:
            return f"between {fmt(low)} and {fmt(high)}"
        return f"{lo} and {hi}"
    return lo or hi or "any number"


#: The largest whole number an option takes (numpy's seeds and counts are 64-bit).
_LARGEST_WHOLE = 2**63 - 1


class _Bounded(click.ParamType):
    """Shared by ``Number`` and ``Count``: parse the text, check the range, name the option.

    A bad value is a ``click.ClickException``, not click's ``BadParameter``: one ``Error:``
    line naming the option and the value as typed, exit status 1, no usage text.
    """

    whole = False

    def __init__(
        self, low=None, high=None, *, low_open=False, high_open=False, hint="", words=None
    ):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.hint, self.words = hint, words

    def _fmt(self, x) -> str:
        return f"{x:,}" if self.whole else f"{x:g}"

    def describe(self) -> str:
        """The accepted range in words, for messages and help texts."""
        if self.words is not None:
            return self.words
        return _bounds_text(self.low, self.high, self.low_open, self.high_open, self._fmt)

    def convert(self, value, param, ctx):
        name = _option_name(param)
        if isinstance(value, bool):
            raise click.ClickException(f"{name} {value!r} is not a number")
        if isinstance(value, int | float):
            x, text = value, self._fmt(value)
        else:
            text = str(value).strip()
            if _NON_FINITE.fullmatch(text):
                raise click.ClickException(f"{name} {text} must be a finite number")
            if self.whole:
                if not _WHOLE.fullmatch(text):
                    raise click.ClickException(f"{name} {text!r} is not a whole number")
                x = int(text)
            else:
                if not _DECIMAL.fullmatch(text):
                    raise click.ClickException(
                        f"{name} {text!r} is not a number (write it with digits and a "
                        "decimal point, e.g. 1.5)"
                    )
                x = float(text)
        if len(text) > 40:  # a value is named in the error, not printed in full
            text = f"{text[:20]}...({len(text)} characters)"
        if self.whole and self.high is None and x > _LARGEST_WHOLE:
            # numpy takes at most 64 bits (and math.isfinite overflows on such an int)
            raise click.ClickException(
                f"{name} {text} is too large: at most {_LARGEST_WHOLE:,} ({self.describe()})"
            )
        if not self.whole and not math.isfinite(x):  # 1e999 overflows to inf
            raise click.ClickException(f"{name} {text} must be a finite number")
        below = self.low is not None and (x <= self.low if self.low_open else x < self.low)
        above = self.high is not None and (x >= self.high if self.high_open else x > self.high)
        if below or above:
            raise click.ClickException(f"{name} {text} must be {self.describe()}{self.hint}")
        return x


class Number(_Bounded):
    """A finite decimal number, optionally within ``low``/``high`` (open or closed bounds).

    ``hint`` is appended to the range error, e.g. ``" (the decision threshold)"``; ``words``
    replaces the range's description.

    Example
    -------
    >>> click.option("--rho", type=Number(-1, 1, low_open=True, high_open=True))  # doctest: +SKIP
    """

    name = "float"


class Count(_Bounded):
    """A whole number within ``low``/``high``; a count's upper bound keeps runs finite."""

    name = "integer"
    whole = True


def parse_whole_list(text: str, name: str, most: int) -> tuple[int, ...]:
    """A comma-separated list of whole numbers (``2,3,4``), at most ``most`` of them.

    Raises ``click.ClickException`` naming the option (``name``) and the bad item.
    """
    items = [v.strip() for v in text.split(",")]
    bad = next((v for v in items if not _WHOLE.fullmatch(v)), None)
    if bad is not None:
        raise click.ClickException(
            f"{name} {text!r}: {bad!r} is not a whole number (give e.g. 2,3,4)"
        )
    if len(items) > most:
        raise click.ClickException(f"{name} {text!r} gives {len(items)} values; at most {most}")
    return tuple(int(v) for v in items)


#: The longest file name, and path, a POSIX system takes (NAME_MAX, PATH_MAX).
_NAME_MAX, _PATH_MAX = 255, 4096


class PathArg(click.Path):
    """click's ``Path``, except that a name no file can have is one ``Error:`` line.

    An empty name (click reads it as the current folder), a NUL byte (``os.stat`` raises
    ValueError) and a name or path too long for the system (``OSError`` in whatever reads it
    later) are refused here, naming the option, before any command opens anything.
    """

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            argument = isinstance(param, click.Argument)
            name = param.human_readable_name if argument else _option_name(param)
            shown = value if len(value) <= 60 else f"{value[:60]}..."
            if not value.strip():
                raise click.ClickException(f"{name} {value!r} is empty: give a file or folder name")
            if "\x00" in value:
                raise click.ClickException(
                    f"{name} {shown!r} holds a NUL character, which no file name can"
                )
            encoded = os.fsencode(value)
            if len(encoded) >= _PATH_MAX or any(
                len(part) > _NAME_MAX for part in encoded.split(b"/")
            ):
                raise click.ClickException(
                    f"{name} {shown!r} is too long for a file name (at most {_NAME_MAX} "
                    f"bytes a name, {_PATH_MAX - 1} a path)"
                )
        return super().convert(value, param, ctx)


def trial_option():
    """The ``--trial DIR`` option (default: the current folder)."""
    return click.option(
        "--trial",
        "trial",
        type=PathArg(file_okay=False, path_type=Path),
        default=".",
        show_default=True,
        help="The trial folder.",
    )


#: How many times the helper may choose a new passphrase before the command gives up.
PASSPHRASE_ATTEMPTS = 3


def read_passphrase(path: Path | None, new: bool = False) -> str:
    """Read the helper's passphrase from the first line of a file, or ask for it hidden.

    ``new``: the passphrase is being chosen (``protocol new``), so it must pass
    ``check_passphrase``, from a file as typed. Typed, a weak one is refused before it is
    typed a second time, and asked again; after ``PASSPHRASE_ATTEMPTS`` refusals (weak, or
    the two typings differ) the command ends with one ``Error:`` line.
    """
    from nof1.plan.sealing import check_passphrase  # cryptography: only when it is needed

    if path is None and new:
        return _choose_passphrase()
    if path is None:
        return click.prompt("Helper's passphrase", hide_input=True, err=True)
    try:
        # utf-8-sig: a byte-order mark that an editor put first is not part of the phrase.
        raw = read_input(path, MAX_PASSPHRASE_BYTES, "a passphrase file", BlindingError)
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise click.ClickException(f"cannot read passphrase file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(
            f"passphrase file {path} is not UTF-8 text; save it as UTF-8 (or type the "
            "passphrase when asked, without --passphrase-file)"
        ) from None
    lines = text.splitlines()
    phrase = lines[0].strip() if lines else ""
    if not phrase:
        raise click.ClickException(f"passphrase file {path} is empty")
    if new:
        check_passphrase(phrase)  # now, before a sequential design's simulation runs
    return phrase


def _choose_passphrase() -> str:
    """Ask for a new passphrase: checked first, then typed again; a refusal asks again."""
    from nof1.plan.sealing import check_passphrase

    for attempt in range(1, PASSPHRASE_ATTEMPTS + 1):
        phrase = click.prompt("Helper's passphrase", hide_input=True, err=True)
        try:
            check_passphrase(phrase)
        except Nof1Error as exc:
            problem = str(exc)
        else:
            if click.prompt("Repeat for confirmation", hide_input=True, err=True) == phrase:
                return phrase
            problem = "the two passphrases typed differ"
        if attempt < PASSPHRASE_ATTEMPTS:
            click.echo(f"Not accepted: {problem}. Try again.", err=True)
    raise click.ClickException(
        f"{problem}; no passphrase after {PASSPHRASE_ATTEMPTS} attempts, nothing was saved"
    )


def seed_option(help: str, default: int | None = None):
    """The ``--seed N`` option: a whole number, 0 or more (numpy refuses negative seeds)."""
    return click.option(
        "--seed",
        type=Count(0, words="a whole number, 0 or more"),
        default=default,
        show_default=default is not None,
        help=help,
    )


def force_option(what: str):
    """The ``--force`` option of a command that writes an output file."""
    return click.option(
        "--force",
        is_flag=True,
        help=f"Replace {what} if it exists (a trial's own files are never replaced).",
    )


def date_format_option():
    """The ``--date-format`` option of a command that reads dates from a CSV."""
    return click.option(
        "--date-format",
        default=None,
        metavar="LAYOUT",
        help="Layout of the CSV's dates, e.g. DD.MM.YYYY or MM/DD/YYYY (default: YYYY-MM-DD).",
    )


def passphrase_option():
    return click.option(
        "--passphrase-file",
        type=PathArg(dir_okay=False, path_type=Path),
        default=None,
        help="File whose first line is the helper's passphrase (asked for, hidden, if omitted).",
    )


_CSV_OPTIONS = (
    click.option(
        "--csv",
        "csv_path",
        type=PathArg(dir_okay=False, path_type=Path),
        default=None,
        help="Read one patient's series from a CSV file (one row per day) instead of a trial folder.",
    ),
    click.option(
        "--outcome",
        default=None,
        help="CSV column with the daily scores (with a trial: one of its outcomes; default its primary).",
    ),
    click.option(
        "--treatment", default=None, help="CSV column with the arm of each day (two values)."
    ),
    click.option(
        "--active", default=None, help="The value of --treatment that is the active arm (A)."
    ),
    click.option(
        "--time",
        "time_col",
        default=None,
        help="CSV column of day numbers or dates (default: row order).",
    ),
    click.option(
        "--date-format",
        default=None,
        metavar="LAYOUT",
        help="Layout of the --time column's dates, e.g. DD.MM.YYYY (default: YYYY-MM-DD).",
    ),
    click.option(
        "--block",
        "block_col",
        default=None,
        help="CSV column of blocks (default: pairs of consecutive periods).",
    ),
    click.option(
        "--higher-is-better",
        is_flag=True,
        help="CSV outcome where higher is better (default: lower, as for pain).",
    ),
    click.option(
        "--low",
        type=Number(),
        default=None,
        help="Lower bound of the CSV outcome's scale (e.g. 0).",
    ),
    click.option(
        "--high",
        type=Number(),
        default=None,
        help="Upper bound of the CSV outcome's scale (e.g. 10).",
    ),
)


def csv_options(command):
    """Add the options that read a series from any CSV (``--csv FILE --outcome COL ...``)."""
    for option in reversed(_CSV_OPTIONS):
        command = option(command)
    return command


def csv_source(
    csv_path: Path | None,
    outcome: str | None,
    treatment: str | None,
    active: str | None,
    time_col: str | None,
    date_format: str | None,
    block_col: str | None,
    higher_is_better: bool,
    low: float | None,
    high: float | None,
    *,
    outcome_with_trial: bool,
) -> dict | None:
    """Check the CSV options: None for a trial folder, else the ``series_from_csv`` arguments.

    ``outcome_with_trial``: whether ``--outcome`` may also pick an outcome of a trial.
    """
    if csv_path is None:
        csv_only = {
            "--treatment": treatment,
            "--active": active,
            "--time": time_col,
            "--date-format": date_format,
            "--block": block_col,
            "--low": low,
            "--high": high,
            **({} if outcome_with_trial else {"--outcome": outcome}),
        }
        given = [name for name, v in csv_only.items() if v is not None]
        given += ["--higher-is-better"] if higher_is_better else []
        if given:
            raise click.ClickException(f"{given[0]} applies only with --csv FILE")
        return None
    for name, value in (("--outcome", outcome), ("--treatment", treatment)):
        if value is None:
            raise click.ClickException(f"--csv needs {name} COLUMN")
    if date_format is not None and time_col is None:
        raise click.ClickException("--date-format applies only with --time COLUMN")
    return {
        "path": csv_path,
        "outcome": outcome,
        "treatment": treatment,
        "active": active,
        "time": time_col,
        "date_format": date_format,
        "block": block_col,
        "lower_is_better": not higher_is_better,
        "low": low,
        "high": high,
    }


def check_sequential_options(
    max_blocks: int | None, looks: tuple[int, ...] = (), target: float | None = None
) -> tuple[int | None, tuple[int, ...]]:
    """Check ``--max-blocks``, ``--looks`` and ``--target-fpr``; the looks end at max blocks.

    Returns ``(max_blocks, looks)``: with both given, a last look after the last block is
    added when ``looks`` stops short of it; without ``--max-blocks`` the last look is the
    most blocks. Raises ``click.ClickException`` (one ``Error:`` line) naming the bad value.
    """
    if max_blocks is not None and max_blocks < 2:
        raise click.ClickException(
            f"--max-blocks {max_blocks} must be 2 or more: one A/B pair cannot separate an "
            "effect from chance"
        )
    given = ",".join(map(str, looks))
    if any(k < 1 for k in looks):
        raise click.ClickException(f"--looks {given}: looks are block numbers from 1")
    if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise click.ClickException(f"--looks {given} must increase (give e.g. 2,3,4)")
    if looks and max_blocks is not None and looks[-1] > max_blocks:
        raise click.ClickException(
            f"--looks {given} goes beyond --max-blocks {max_blocks}: a look after block "
            f"{looks[-1]} would never come"
        )
    if target is not None and not 0 < target < 0.5:
        raise click.ClickException(f"--target-fpr {target:g} must be between 0 and 0.5 (e.g. 0.05)")
    if looks and max_blocks is None:
        max_blocks = looks[-1]
    if looks and looks[:-1] == () and looks[-1] == max_blocks:
        raise click.ClickException(
            f"--looks {given} has no look before the last block: that is the fixed "
            f"{max_blocks}-block design (`nof1 design` without --sequential)"
        )
    if looks and looks[-1] < max_blocks:
        looks = (*looks, max_blocks)
    return max_blocks, looks
