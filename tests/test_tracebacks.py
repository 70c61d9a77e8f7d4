"""Every traceback issue 14 found is one ``Error:`` line, a non-zero exit and nothing changed.

Each test feeds the command line what once crashed it, and checks the exact error line
and that the files of the trial are byte for byte as they were.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import html
import json
import os
import re
import shutil
import subprocess
import threading
import time
import tomllib
from datetime import date, datetime
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from conftest import PASS

from nof1.cli import cli
from nof1.errors import BlindingError
from nof1.plan.registration import registration_digest
from nof1.plan.sealing import SEALED_FILE, check_passphrase, unseal
from nof1.trial.writes import import_diary, unblind_trial


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(args: list[str], *folders: Path) -> str:
    """Run a command that must fail: its one ``Error:`` line; no file of ``folders`` changed."""
    before = [_snapshot(f) for f in folders]
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert [_snapshot(f) for f in folders] == before
    return lines[0]


# --------------------------------------------------------------------------- text and passphrases


def test_a_note_that_is_not_utf8_is_refused(trial, tmp_path):
    line = _error(
        ["record", "--trial", trial, "--date", "2026-01-05", "--pain", "5", "--correct"]
        + ["--note", "bad \udcff byte"],
        trial,
    )
    assert line == "Error: note 'bad \\\\xff byte' is not valid UTF-8 text"
    raw = tmp_path / "raw.csv"
    raw.write_bytes(b"date,pain,note\n2026-01-05,5,bad \xff byte\n")
    line = _error(["import", "--trial", trial, raw], trial)
    assert line.startswith(f"Error: {raw} is not a readable CSV file: 'utf-8' codec can't decode")


def _protocol_new(trial: Path, phrase_file: Path) -> list:
    return ["protocol", "new", "--template", "generic-ab", "--trial", trial] + [
        "--passphrase-file",
        phrase_file,
    ]


def test_a_passphrase_file_that_is_not_utf8_is_refused(tmp_path):
    phrase = tmp_path / "phrase.txt"
    phrase.write_bytes(b"caf\xe9 au lait et croissants\n")
    line = _error(_protocol_new(tmp_path / "t", phrase), tmp_path)
    assert line == (
        f"Error: passphrase file {phrase} is not UTF-8 text; save it as UTF-8 (or type the "
        "passphrase when asked, without --passphrase-file)"
    )
    assert not (tmp_path / "t").exists()


def test_a_byte_order_mark_is_not_part_of_the_passphrase(tmp_path):
    with_bom = tmp_path / "bom.txt"
    with_bom.write_bytes(b"\xef\xbb\xbf" + PASS.encode() + b"\r\n")
    plain = tmp_path / "plain.txt"
    plain.write_text(PASS + "\n")
    res = CliRunner().invoke(cli, [str(a) for a in _protocol_new(tmp_path / "t", with_bom)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        cli, ["kits", "--trial", str(tmp_path / "t"), "--passphrase-file", str(plain)]
    )
    assert res.exit_code == 0, res.output
    assert "KIT PACKING SHEET" in res.output


@pytest.mark.parametrize(
    "phrase, message",
    [
        ("12345678", "the passphrase must not be only digits (a number is guessed quickly)"),
        ("31415926535897932384", "the passphrase must not be only digits"),
        ("abababababab", "the passphrase has only 2 different characters"),
        ("abc", "the passphrase must have at least 8 characters, got 3"),
    ],
)
def test_weak_passphrases_are_refused(tmp_path, phrase, message):
    file = tmp_path / "phrase.txt"
    file.write_text(phrase + "\n")
    line = _error(_protocol_new(tmp_path / "t", file), tmp_path)
    assert line.startswith(f"Error: {message}")
    assert not (tmp_path / "t").exists()
    with pytest.raises(BlindingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_passphrase(phrase)


def test_the_passphrase_rule_accepts_a_few_words():
    check_passphrase(PASS)
    check_passphrase("tulip 7 kettle")


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    "args",
    [
        ["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--seed", "-1"],
        ["analyze", "--trial", "{trial}", "--seed", "-1"],
        ["report", "--trial", "{trial}", "--out", "{tmp}/r.html", "--seed", "-1"],
        ["design", "--blocks", "3", "--seed", "-1"],
        ["pool", "{tmp}/a.csv", "--seed", "-1"],
        ["demo", "--out", "{tmp}/demo", "--seed", "-1"],
    ],
)
def test_a_negative_seed_is_refused(trial, tmp_path, args):
    args = [a.format(tmp=tmp_path, trial=trial) for a in args]
    line = _error(args, trial, tmp_path)
    assert line == "Error: --seed -1 must be a whole number, 0 or more"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial"]


# --------------------------------------------------------------------------- sealed files


def _sealed_doc(trial: Path) -> dict:
    return json.loads((trial / SEALED_FILE).read_bytes())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda doc: [doc], "not a nof1 sealed allocation (a JSON list)"),
        (
            lambda doc: {**doc, "nonce": base64.b64encode(b"abc").decode()},
            "the nonce has 3 bytes, expected 12-12",
        ),
        (
            lambda doc: {**doc, "kdf": {**doc["kdf"], "n": 2**24}},
            "scrypt cost n=16777216, r=8, p=1 is outside what nof1 writes",
        ),
        (
            lambda doc: {**doc, "kdf": {**doc["kdf"], "r": 16, "n": 2**18}},
            "scrypt cost n=262144, r=16 needs more than 256 MiB",
        ),
        (lambda doc: {**doc, "kdf": {**doc["kdf"], "n": "many"}}, "scrypt n, r and p must be"),
        (lambda doc: {**doc, "ciphertext": "***"}, "Only base64 data is allowed"),
        (lambda doc: {**doc, "commitment": 7}, "the commitment must be text"),
    ],
)
def test_a_damaged_sealed_file_is_an_error_naming_the_field(trial, change, message):
    content = json.dumps(change(_sealed_doc(trial))).encode()
    with pytest.raises(BlindingError, match=f"^{SEALED_FILE} is damaged: ") as caught:
        unseal(content, PASS)
    assert message in str(caught.value)
    # Through the command line (where the protocol's digest of the file may object first).
    (trial / SEALED_FILE).write_bytes(content)
    phrase = trial.parent / "phrase.txt"
    phrase.write_text(PASS + "\n")
    _error(["kits", "--trial", trial, "--passphrase-file", phrase], trial)


# --------------------------------------------------------------------------- diary files


def test_a_diary_that_is_a_folder_is_refused(trial, tmp_path):
    (trial / "diary.sqlite").mkdir()
    for args in (
        ["status", "--trial", trial, "--date", "2026-01-06"],
        ["history", "--trial", trial, "--date", "2026-01-05"],
        ["export", "--trial", trial, tmp_path / "e.csv"],
        ["record", "--trial", trial, "--date", "2026-01-05", "--pain", "5", "--correct"],
    ):
        line = _error(args, trial)
        assert line == f"Error: {trial / 'diary.sqlite'} is a folder, not a diary"
    assert not (tmp_path / "e.csv").exists()


def test_a_dangling_diary_link_is_refused(trial, tmp_path):
    (trial / "diary.sqlite").symlink_to(tmp_path / "gone.sqlite")
    for args in (
        ["status", "--trial", trial, "--date", "2026-01-06"],
        ["history", "--trial", trial, "--date", "2026-01-05"],
        ["export", "--trial", trial, tmp_path / "e.csv"],
    ):
        assert "is a symbolic link" in _error(args, trial)
    assert not (tmp_path / "gone.sqlite").exists()


def _recorded(trial: Path, tmp_path: Path) -> Path:
    src = tmp_path / "in.csv"
    src.write_text("date,pain\n2026-01-05,5\n2026-01-06,4\n")
    import_diary(trial, src)
    return trial / "diary.sqlite"


def test_a_diary_nobody_may_read_is_refused(trial, tmp_path, monkeypatch):
    diary = _recorded(trial, tmp_path)
    diary.chmod(0o000)
    if os.access(diary, os.R_OK):  # root reads anything: make the open fail as it would
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):
            if os.fspath(path) == os.fspath(diary):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    try:
        for args in (
            ["status", "--trial", trial, "--date", "2026-01-06"],
            ["history", "--trial", trial, "--date", "2026-01-05"],
            ["record", "--trial", trial, "--date", "2026-01-05", "--pain", "5", "--correct"],
        ):
            assert _error(args) == f"Error: cannot open {diary}: Permission denied"
    finally:
        diary.chmod(0o600)


@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` and its files unwritable, even for root (which ignores modes): with
    the immutable attribute where the file system has it, else skip."""
    files = [folder, *folder.iterdir()]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in files}
        for p in files:
            p.chmod(0o500 if p.is_dir() else 0o400)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
    if done.returncode != 0:
        subprocess.run(["chattr", "-i", *map(str, files)], capture_output=True)
        pytest.skip(f"chattr +i is not supported here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


def test_reading_commands_work_on_a_read_only_medium(trial, tmp_path):
    _recorded(trial, tmp_path)
    unblind_trial(trial, PASS, today=date(2026, 5, 1))
    assert not (trial / "diary.sqlite-wal").exists()
    out = tmp_path / "export.csv"
    before = _snapshot(trial)
    with _read_only(trial):
        for args in (
            ["status", "--trial", trial, "--date", "2026-01-07"],
            ["history", "--trial", trial, "--date", "2026-01-05"],
            ["export", "--trial", trial, out],
            ["export", "--anonymise", "--trial", trial, tmp_path / "anon.csv"],
        ):
            res = CliRunner().invoke(cli, [str(a) for a in args])
            assert res.exit_code == 0, res.output
        line = _error(
            ["record", "--trial", trial, "--date", "2026-01-05", "--pain", "3", "--correct"]
        )
        assert line.startswith("Error: cannot ")
    assert "2026-01-06,4.0" in out.read_text()
    assert _snapshot(trial) == before


# --------------------------------------------------------------------------- outputs and CSVs


def test_pool_out_into_a_missing_folder_is_refused_before_fitting(tmp_path):
    out = tmp_path / "nowhere" / "pool.html"
    line = _error(["pool", tmp_path / "a.csv", "--out", out], tmp_path)
    assert (
        line
        == f"Error: cannot write the pooled report to {out}: folder {out.parent} does not exist"
    )


@pytest.fixture
def day_csv(tmp_path) -> Path:
    path = tmp_path / "days.csv"
    rows = [f"{d},{'A' if (d - 1) // 7 % 2 == 0 else 'B'},{4 + d % 3}" for d in range(1, 29)]
    path.write_text("day,arm,pain\n" + "\n".join(rows) + "\n")
    return path


def _analyze_csv(path: Path, *extra: str) -> list:
    return ["analyze", "--csv", path, "--outcome", "pain", "--treatment", "arm", *extra]


def test_analyze_csv_refuses_a_day_number_beyond_any_calendar(day_csv, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text(day_csv.read_text().replace("\n28,", "\n1e20,"))
    line = _error(_analyze_csv(big, "--time", "day"), tmp_path)
    assert line == (
        "Error: time column 'day' value '1e20' is not a whole day number "
        "(from -1,000,000,000 to 1,000,000,000)"
    )
    far = tmp_path / "far.csv"
    far.write_text(day_csv.read_text().replace("\n28,", "\n90000000,"))
    line = _error(_analyze_csv(far, "--time", "day"), tmp_path)
    assert line == (
        "Error: time column 'day' spans 89,999,999 days, from '1' to '90000000'; a series "
        "covers at most 36,525 days (100 years)"
    )


@pytest.mark.parametrize(
    "bounds, message",
    [
        (["--low", "nan"], "--low nan must be a finite number"),
        (["--high", "inf"], "--high inf must be a finite number"),
        (
            ["--low", "10", "--high", "0"],
            "--low 10 must be below --high 0: the scale is upside down",
        ),
        (["--low", "5", "--high", "5"], "--low 5 must be below --high 5: the scale is empty"),
        (
            ["--low", "0", "--high", "5"],
            "row 2: outcome 'pain' value '6' is outside the scale 0-5 given by --low/--high",
        ),
        (
            ["--low", "5"],
            "row 3: outcome 'pain' value '4' is outside the scale at least 5 given by --low/--high",
        ),
    ],
)
def test_analyze_csv_refuses_bad_bounds_and_values_outside_them(day_csv, tmp_path, bounds, message):
    assert _error(_analyze_csv(day_csv, *bounds), tmp_path) == f"Error: {message}"


def test_analyze_csv_accepts_values_within_the_bounds(day_csv):
    res = CliRunner().invoke(
        cli, [str(a) for a in _analyze_csv(day_csv, "--low", "0", "--high", "10")]
    )
    assert res.exit_code == 0, res.output


# --------------------------------------------------------------------------- interim looks


@pytest.fixture
def sequential(tmp_path, monkeypatch) -> Path:
    """A sequential generic-ab trial (looks after blocks 2, 3, 4 of 7-day periods) on the
    day its first look opens (2026-02-02), as ``nof1 interim`` sees today."""
    from datetime import timedelta

    from nof1.plan.stopping import SequentialRule
    from nof1.trial.create import create_trial

    folder = tmp_path / "seq"
    rule = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))
    create_trial(folder, "generic-ab", passphrase=PASS, start=date(2026, 1, 5), seed=1,
                 period_days=7, washout_days=0, sequential=rule)  # fmt: skip
    src = tmp_path / "seq.csv"
    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(28)]
    src.write_text("date,pain\n" + "".join(f"{d},{4 + i % 3}\n" for i, d in enumerate(days)))
    import_diary(folder, src)

    class LookDay(date):
        @classmethod
        def today(cls) -> date:
            return date(2026, 2, 2)

    monkeypatch.setattr("nof1.cli.interim_cmds.date", LookDay)
    return folder


def test_interim_on_a_damaged_folder_is_one_error_line(sequential, tmp_path):
    phrase = tmp_path / "phrase.txt"
    phrase.write_bytes(b"caf\xe9 au lait et croissants\n")
    line = _error(["interim", "--trial", sequential, "--passphrase-file", phrase], sequential)
    assert line.startswith(f"Error: passphrase file {phrase} is not UTF-8 text")
    phrase.write_text(PASS + "\n")
    sealed = sequential / SEALED_FILE
    sealed.write_bytes(sealed.read_bytes()[:-4] + b"AAA}")
    line = _error(["interim", "--trial", sequential, "--passphrase-file", phrase], sequential)
    assert line.startswith("Error: nof1 will not look at this trial: ")
    assert SEALED_FILE in line
    shutil.move(sequential / "diary.sqlite", tmp_path / "moved.sqlite")
    (sequential / "diary.sqlite").mkdir()
    line = _error(["interim", "--trial", sequential, "--passphrase-file", phrase], sequential)
    assert line == f"Error: {sequential / 'diary.sqlite'} is a folder, not a diary"


# ------------------------------------------------------------------ issue 22: the daily entry

NO_ANSWER = "Error: no answer (end of input); nothing was saved."


def _error_at_prompt(args: list, answers: str, *folders: Path) -> str:
    """Run a command whose prompts get ``answers`` and must fail: its one ``Error:`` line
    (the prompts' own lines around it are not errors); no file of ``folders`` changed."""
    before = [_snapshot(f) for f in folders]
    res = CliRunner().invoke(cli, [str(a) for a in args], input=answers)
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and res.stderr.rstrip("\n").endswith(errors[0]), res.stderr
    assert "Aborted!" not in res.output
    assert [_snapshot(f) for f in folders] == before
    return errors[0]


@pytest.fixture
def kit_day(trial, freeze_today) -> Path:
    """The shared trial with 2026-01-05 (period 1, Kit 1) recorded; today is 2026-01-08."""
    freeze_today(date(2026, 1, 8))
    args = ["record", "--trial", str(trial), "--date", "2026-01-05", "--pain", "5"]
    done = CliRunner().invoke(cli, [*args, "--outcome", "side_effects=yes", "--guess", "B"])
    assert done.exit_code == 0, done.output
    return trial


@pytest.mark.parametrize(
    ("args", "answers"),
    [
        (["record", "--date", "2026-01-06"], ""),
        (["record", "--date", "2026-01-06"], "6\n"),  # ends at the yes/no question
        (["record", "--date", "2026-01-06"], "6\n\n\n"),  # Enter there asks again, then ends
        (["record", "--date", "2026-01-06"], "6\nno\nA\n"),
        (["record", "--date", "2026-01-05", "--correct"], "\n\n"),
        (["unblind", "--early", "--reason", "a test"], ""),
        (["kits"], ""),
    ],
)
def test_end_of_input_at_any_prompt_is_one_error_line(kit_day, args, answers):
    assert _error_at_prompt([*args, "--trial", kit_day], answers, kit_day) == NO_ANSWER


@pytest.mark.parametrize("answers", ["", "1234\n", "12345678\n", f"{PASS}\n", f"{PASS}\nother\n"])
def test_end_of_input_while_choosing_a_passphrase_creates_nothing(tmp_path, answers):
    args = ["protocol", "new", "--template", "generic-ab", "--trial", tmp_path / "t"]
    assert _error_at_prompt(args, answers, tmp_path) == NO_ANSWER
    assert not (tmp_path / "t").exists()


def test_end_of_input_at_the_interim_passphrase_is_one_error_line(sequential):
    assert _error_at_prompt(["interim", "--trial", sequential], "", sequential) == NO_ANSWER


def test_ctrl_c_at_a_prompt_saves_nothing(kit_day):
    import io

    class CtrlC(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            raise KeyboardInterrupt

    before = _snapshot(kit_day)
    for args in (
        ["record", "--date", "2026-01-06"],
        ["record", "--date", "2026-01-05", "--correct"],
    ):
        res = CliRunner().invoke(
            cli, [*args, "--trial", str(kit_day)], input=io.BufferedReader(CtrlC())
        )
        assert res.exit_code == 130, res.output
        assert res.stderr.endswith("Interrupted: nothing was saved for the command in progress.\n")
    assert _snapshot(kit_day) == before


def test_three_weak_passphrases_end_in_one_error_line(tmp_path):
    args = ["protocol", "new", "--template", "generic-ab", "--trial", tmp_path / "t"]
    line = _error_at_prompt(args, "12345678\naaaaaaaa\nshort\n", tmp_path)
    assert line == (
        "Error: the passphrase must have at least 8 characters, got 5; no passphrase after 3 "
        "attempts, nothing was saved"
    )
    line = _error_at_prompt(args, f"{PASS}\nx\n{PASS}\ny\n{PASS}\nz\n", tmp_path)
    assert line == (
        "Error: the two passphrases typed differ; no passphrase after 3 attempts, nothing was saved"
    )
    assert not (tmp_path / "t").exists()


def test_a_correction_that_changes_nothing_is_refused(kit_day, tmp_path):
    same = "Error: Nothing changed: the entry for 2026-01-05 already holds these values."
    record = ["record", "--trial", kit_day, "--date", "2026-01-05", "--correct"]
    assert _error([*record, "--pain", "5.0", "--guess", "b"], kit_day) == same
    assert _error([*record, "--outcome", "side_effects=yes"], kit_day) == same
    assert _error_at_prompt(record, "\n" * 5, kit_day) == same  # Enter keeps every value


def test_an_interactive_correction_of_a_day_without_entry_is_refused_before_asking(kit_day):
    line = _error(["record", "--trial", kit_day, "--date", "2026-01-06", "--correct"], kit_day)
    assert line == "Error: 2026-01-06 has no entry to correct; record it without --correct"


@pytest.fixture
def run_in(tmp_path, freeze_today) -> Path:
    """A blinded generic-ab trial with 3 run-in days (2026-01-05 to 2026-01-07, no kit)."""
    from nof1.trial.create import create_trial

    freeze_today(date(2026, 1, 8))
    folder = tmp_path / "run-in"
    create_trial(folder, "generic-ab", passphrase=PASS, start=date(2026, 1, 5), seed=1,
                 run_in_days=3, blocks=2)  # fmt: skip
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--guess", "A"], "guess 'A' for 2026-01-07: a run-in day has no kit to guess"),
        (["--guess", "?"], "guess 'unsure' for 2026-01-07: a run-in day has no kit to guess"),
        (
            ["--adherence", "yes"],
            "adherence 'yes' for 2026-01-07: a run-in day has no kit, so no dose to take",
        ),
    ],
)
def test_a_kit_answer_on_a_run_in_day_is_refused(run_in, tmp_path, extra, message):
    record = ["record", "--trial", run_in, "--date", "2026-01-07", "--pain", "5"]
    assert _error([*record, *extra], run_in, tmp_path) == f"Error: {message}"
    assert not (run_in / "diary.sqlite").exists()
    (tmp_path / "in.csv").write_text("date,pain,guess,adherence\n2026-01-08,5,,\n"
                                     f"2026-01-07,5,{extra[1] if extra[0] == '--guess' else ''},"
                                     f"{extra[1] if extra[0] == '--adherence' else ''}\n")  # fmt: skip
    line = _error(["import", "--trial", run_in, tmp_path / "in.csv"], run_in, tmp_path)
    assert line == f"Error: {tmp_path / 'in.csv'} line 3: {message}"


def test_a_guess_in_an_open_label_trial_and_a_dose_of_nothing_are_refused(tmp_path, freeze_today):
    from nof1.trial.create import create_trial

    folder = tmp_path / "open"
    p = create_trial(folder, "magnesium-open", passphrase=None, start=date(2026, 1, 5), seed=3)
    freeze_today(p.periods[1].start)
    for period in p.periods[:2]:
        d = period.start
        record = ["record", "--trial", folder, "--date", d, "--pain", "5"]
        line = _error([*record, "--guess", "magnesium"], folder)
        assert line == f"Error: guess 'A' for {d}: the trial is open-label, with no kit to guess"
        if p.treatments[p.open_allocation[period.index - 1]].doses_per_day == 0:
            line = _error([*record, "--adherence", "no"], folder)
            assert line == (
                f"Error: adherence 'no' for {d}: that day's treatment (No magnesium) has no "
                "dose to take"
            )


@pytest.mark.parametrize(
    "text", ["5/4", "1/0", "-1/2", "150%", "2", "-0.5", "nan", "inf", "half", "1/2/3"]
)
def test_adherence_that_is_not_a_share_of_the_doses_is_refused(kit_day, text):
    line = _error(["record", "--trial", kit_day, "--date", "2026-01-06", "--pain", "5",
                   "--adherence", text], kit_day)  # fmt: skip
    assert line.startswith(f"Error: adherence {text!r}")


# ------------------------------------------------------------------ issue 22: print, help, calendar


@pytest.mark.parametrize(
    "zone",
    ["Europe", "America", "A" * 300],  # a folder of the zone database; too long a file name
)
def test_calendar_with_a_time_zone_that_is_no_file_is_one_error_line(trial, tmp_path, zone):
    out = tmp_path / "trial.ics"
    line = _error(["calendar", "--trial", trial, "--out", out, "--tz", zone], trial, tmp_path)
    assert line == f"Error: time zone {zone!r} is unknown; give an IANA name such as Europe/Berlin"
    assert not out.exists()


@pytest.mark.parametrize("zone", ["Europe", "A" * 300])
def test_calendar_under_a_tz_variable_that_is_no_zone_follows_the_device(
    trial, tmp_path, monkeypatch, zone
):
    # TZ is this computer's, not an option the user typed: unknown, the reminder floats.
    monkeypatch.setenv("TZ", zone)
    out = tmp_path / "trial.ics"
    res = CliRunner().invoke(cli, ["calendar", "--trial", str(trial), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "(the device's own time zone)" in res.output
    assert b"DTSTART:20260105T200000\r\n" in out.read_bytes()  # floating: no Z, no TZID


# ------------------------------------------------------------------ issue 22: edited protocol, templates, capped reads, dates

EDITED = (
    "(protocol.toml was edited after the trial was created: it no longer matches its own "
    "commitment)"
)


def _edit_doc(change):
    """A text edit of protocol.toml made by changing its parsed document."""

    def edit(text: str) -> str:
        doc = tomllib.loads(text)
        change(doc)
        return tomli_w.dumps(doc)

    return edit


def _period(i: int, **values):
    return _edit_doc(lambda d: d["schedule"]["periods"][i - 1].update(values))


def _set(section: str, **values):
    return _edit_doc(lambda d: d[section].update(values))


def _outcome(i: int, **values):
    return _edit_doc(lambda d: d["outcomes"][i - 1].update(values))


def _drop(*path: str):
    def change(doc):
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return _edit_doc(change)


def _replace(key: str, value):
    return _edit_doc(lambda d: d.__setitem__(key, value))


def _sequential(**simulated):
    rule = {"looks": [2, 3, 4], "efficacy": [0.8, 0.8, 0.8], "futility": [0.5, 0.5]}
    return _replace("sequential", {**rule, "simulated": simulated})


# (edit of protocol.toml, what the one Error line says after "<path>: ")
PROTOCOL_EDITS = {
    "start a datetime": (
        _set("schedule", start=datetime(2026, 1, 5)),
        "schedule.start must be a date (YYYY-MM-DD), not 2026-01-05T00:00:00 (a date and time)",
    ),
    "period start a string": (
        _period(3, start="2026-02-02"),
        "schedule.periods[3].start must be a date (YYYY-MM-DD), not '2026-02-02'",
    ),
    "washout a string": (
        _period(3, washout_days="3"),
        "schedule.periods[3].washout_days must be a whole number of days, not '3'",
    ),
    "washout a float": (
        _period(3, washout_days=3.0),
        "schedule.periods[3].washout_days must be a whole number of days, not 3.0",
    ),
    "washout the whole period": (
        _period(3, washout_days=14),
        "schedule.periods[3].washout_days must be 0-13 days, not 14",
    ),
    "period 99": (_period(3, period=99), "schedule.periods[3].period must be 1-8, not 99"),
    "periods renumbered": (
        _period(3, period=4),
        "schedule.periods[3].period must be 3: periods are numbered in order, not 4",
    ),
    "block out of order": (
        _period(3, block=1),
        "schedule.periods[3].block must be 2: each block holds two periods in order, not 1",
    ),
    "period ends before it starts": (
        _period(3, end=date(2026, 1, 1)),
        "schedule.periods[3] runs 2026-02-02 to 2026-01-01; a period lasts 1-365 days",
    ),
    "period of years": (
        _period(8, end=date(2099, 1, 1)),
        "schedule.periods[8] runs 2026-04-13 to 2099-01-01; a period lasts 1-365 days",
    ),
    "end in 9999": (
        _set("schedule", end=date(9999, 12, 31)),
        "schedule.end must lie between 2000-01-01 and 2100-12-31, not 9999-12-31",
    ),
    "period start in year 1": (
        _period(1, start=date(1, 1, 1)),
        "schedule.periods[1].start must lie between 2000-01-01 and 2100-12-31, not 0001-01-01",
    ),
    "kit a number": (_period(2, kit=2), "schedule.periods[2].kit must be text, not 2"),
    "kit empty": (_period(2, kit=" "), "schedule.periods[2].kit must not be empty"),
    "arm in a blinded trial": (
        _period(1, arm="A"),
        "schedule.periods[1].arm must not be stated: the trial is blinded",
    ),
    "period key missing": (
        _drop("schedule", "periods", 0, "kit"),
        "schedule.periods[1].kit is missing",
    ),
    "too few periods": (
        _edit_doc(lambda d: d["schedule"]["periods"].pop()),
        "schedule.periods lists 7 periods for 4 blocks (2 a block)",
    ),
    "periods a table": (
        _set("schedule", periods={"a": 1}),
        "schedule.periods must be an array of tables ([[schedule.periods]]), not a table",
    ),
    "schedule missing": (_drop("schedule"), "[schedule] is missing"),
    "mcid 1e308": (
        _set("analysis", mcid=1e308),
        "analysis.mcid must be above 0 and at most 10 (the whole scale of the primary "
        "outcome, 0-10), not 1e+308",
    ),
    "mcid negative": (_set("analysis", mcid=-1), "analysis.mcid must be above 0 and at most 10"),
    "mcid nan": (
        _set("analysis", mcid=float("nan")),
        "analysis.mcid must be a finite number, not nan",
    ),
    "mcid a string": (_set("analysis", mcid="1"), "analysis.mcid must be a finite number, not '1'"),
    "threshold 1": (_set("analysis", threshold=1.0), "analysis.threshold must be below 1, not 1"),
    "threshold inf": (
        _set("analysis", threshold=float("inf")),
        "analysis.threshold must be a finite number, not inf",
    ),
    "prior a number": (
        _set("analysis", prior=7),
        "analysis.prior must be one of 'vague', 'neutral', 'sceptical', not 7",
    ),
    "ar1 1": (_set("analysis", ar1=1), "analysis.ar1 must be true or false, not 1"),
    "high inf": (
        _outcome(1, high=float("inf")),
        "outcomes[1].high must be a finite number, not inf",
    ),
    "low nan": (_outcome(1, low=float("nan")), "outcomes[1].low must be a finite number, not nan"),
    "low huge": (
        _outcome(1, low=-1e300),
        "outcomes[1].low must be at least -1e+06 and at most 1e+06, not -1e+300",
    ),
    "scale upside down": (
        _outcome(1, low=10.0, high=0.0),
        "outcomes[1] scale 10-0 is empty: low must be below high",
    ),
    "binary scale": (
        _outcome(2, high=5.0),
        "outcomes[2] is yes/no: its low and high are 0 and 1, not 0-5",
    ),
    "primary 1": (_outcome(1, primary=1), "outcomes[1].primary must be true or false, not 1"),
    "kind unknown": (
        _outcome(1, kind="count"),
        "outcomes[1].kind must be one of 'scale', 'binary', not 'count'",
    ),
    "question a list": (
        _outcome(1, question=["a", "b"]),
        "outcomes[1].question must be text, not the array ['a', 'b']",
    ),
    "outcomes a string": (
        _replace("outcomes", "pain"),
        "[[outcomes]] must be an array of tables, got 'pain'",
    ),
    "blocks true": (
        _set("design", blocks=True),
        "design.blocks must be a whole number of blocks, not true",
    ),
    "blocks 0": (_set("design", blocks=0), "design.blocks must be 2-64 blocks, not 0"),
    "period days negative": (
        _set("design", period_days=-14),
        "design.period_days must be 2-365 days, not -14",
    ),
    "design washout the whole period": (
        _set("design", washout_days=14),
        "[design] washout-days (14) must be shorter than period-days (14)",
    ),
    "scheme unknown": (
        _set("design", scheme="coin"),
        "design.scheme must be one of 'block', 'alternating', 'random-pairs', not 'coin'",
    ),
    "doses a fraction": (
        _edit_doc(lambda d: d["treatments"]["A"].update(doses_per_day=1.5)),
        "treatments.A.doses_per_day must be a whole number of doses, not 1.5",
    ),
    "doses huge": (
        _edit_doc(lambda d: d["treatments"]["A"].update(doses_per_day=10**9)),
        "treatments.A.doses_per_day must be 0-100 doses, not 1000000000",
    ),
    "treatment missing": (
        _edit_doc(lambda d: d["treatments"].pop("B")),
        "treatments.B is missing: describe treatment B ([treatments.B] with a name)",
    ),
    "title a number": (_set("trial", title=5), "trial.title must be text, not 5"),
    "title rewrites the terminal": (
        _set("trial", title="\x1b[2J ok"),
        "trial.title must not hold the control character '\\x1b'",
    ),
    "blinded yes": (_set("trial", blinded="yes"), "trial.blinded must be true or false, not 'yes'"),
    "trial a string": (_replace("trial", "x"), "[trial] must be a table of keys, got 'x'"),
    "safety notes a string": (
        _set("safety", notes="be careful"),
        "safety.notes must be an array of text, not 'be careful'",
    ),
    "commitment a number": (
        _set("blinding", commitment=5),
        "blinding.commitment must be text, not 5",
    ),
    "unknown key": (_set("schedule", extra=1), "unknown key 'extra' in"),
    "simulated a string": (
        _sequential(sims="many"),
        "[sequential.simulated] sims must hold whole numbers, 0 or more, got 'many'",
    ),
    "simulated nan": (
        _sequential(power=float("nan")),
        "[sequential.simulated] power must hold finite numbers, got nan",
    ),
    "format version true": (_set("nof1", format_version=True), "has format version True"),
    "nested arrays": (
        lambda text: text.replace('condition = ""', "condition = " + "[" * 5000 + "]" * 5000),
        "nests arrays or tables too deeply to be a plan (at most 8 levels)",
    ),
}
EDIT_COMMANDS = {
    "protocol show": ["protocol", "show"],
    "status": ["status", "--date", "2026-01-06"],
    "record": ["record", "--date", "2026-01-06", "--pain", "5", "--correct"],
    "history": ["history", "--date", "2026-01-06"],
    "export": ["export", "{tmp}/e.csv"],
    "analyze": ["analyze"],
    "report": ["report", "--out", "{tmp}/r.html"],
    "calendar": ["calendar", "--out", "{tmp}/c.ics"],
    "kits": ["kits", "--passphrase-file", "{tmp}/phrase.txt"],
}


@pytest.mark.parametrize("case", list(PROTOCOL_EDITS))
def test_an_edited_protocol_is_one_error_line_in_every_command(trial, tmp_path, case):
    edit, message = PROTOCOL_EDITS[case]
    path = trial / "protocol.toml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    (tmp_path / "phrase.txt").write_text(PASS + "\n")
    lines = set()
    for args in EDIT_COMMANDS.values():
        args = [a.format(tmp=tmp_path) for a in args] + ["--trial", trial]
        lines.add(_error(args, trial))
    (line,) = lines  # every command says the same
    assert message in line, line
    assert str(path) in line
    if not case.startswith(("nested", "format")):  # refused before the commitment is read
        assert line.endswith(EDITED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phrase.txt", "trial"]


def test_an_edited_protocol_with_a_recomputed_commitment_names_the_value_only(trial):
    path = trial / "protocol.toml"
    doc = tomllib.loads(path.read_text())
    doc["schedule"]["periods"][2]["washout_days"] = "3"
    doc["commitment"]["sha256"] = registration_digest(doc)
    path.write_text(tomli_w.dumps(doc))
    line = _error(["protocol", "show", "--trial", trial], trial)
    assert line == (
        f"Error: {path}: schedule.periods[3].washout_days must be a whole number of days, not '3'"
    )


@pytest.fixture
def unblinded(trial, tmp_path) -> Path:
    """The shared trial with every day recorded and unblinded, ready for a report."""
    from datetime import timedelta

    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(112)]
    src = tmp_path / "days.csv"
    src.write_text("date,pain\n" + "".join(f"{d},{3 + i % 4}\n" for i, d in enumerate(days)))
    import_diary(trial, src)
    unblind_trial(trial, PASS, today=date(2026, 5, 1))
    return trial


def test_report_on_a_protocol_ending_in_9999_is_refused_at_once(unblinded, tmp_path):
    """Issue 22: it ran for over 400 s and used 4 GB (a day-by-day table to 9999)."""
    path = unblinded / "protocol.toml"
    doc = tomllib.loads(path.read_text())
    doc["schedule"]["end"] = doc["schedule"]["periods"][-1]["end"] = date(9999, 12, 31)
    path.write_text(tomli_w.dumps(doc))
    began = time.monotonic()
    line = _error(["report", "--trial", unblinded, "--out", tmp_path / "r.html"], unblinded)
    assert time.monotonic() - began < 10
    assert line == (
        f"Error: {path}: schedule.end must lie between 2000-01-01 and 2100-12-31, not "
        f"9999-12-31 {EDITED}"
    )


def test_a_longer_schedule_within_the_limits_reaches_the_red_banner(unblinded, tmp_path):
    path = unblinded / "protocol.toml"
    doc = tomllib.loads(path.read_text())
    doc["schedule"]["end"] = doc["schedule"]["periods"][-1]["end"] = date(2026, 12, 31)
    path.write_text(tomli_w.dumps(doc))
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(unblinded), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    banner = re.search(r'<div class="banner" id="integrity-banner">(.*?)</div>', page, re.S)
    assert "protocol.toml was changed after the trial was created" in banner.group(1)
    assert "schedule.end, schedule.periods[8].end" in html.unescape(banner.group(1))


@pytest.mark.parametrize(
    "args, message",
    [
        (["status", "--date", "0001-01-01"], "date 0001-01-01"),
        (["status", "--date", "9999-12-31"], "date 9999-12-31"),
        (["record", "--date", "0001-01-01", "--pain", "5"], "date 0001-01-01"),
        (["record", "--date", "9999-12-31", "--pain", "5"], "date 9999-12-31"),
        (
            ["protocol", "new", "--template", "generic-ab", "--start", "0001-01-01"],
            "start date 0001-01-01",
        ),
        (
            ["protocol", "new", "--template", "generic-ab", "--start", "9999-12-31"],
            "start date 9999-12-31",
        ),
    ],
)
def test_a_date_beyond_any_trial_is_one_error_line(trial, tmp_path, args, message):
    where = tmp_path / "new" if args[0] == "protocol" else trial
    # No passphrase is given: protocol new must refuse before it asks for one.
    line = _error([*args, "--trial", where], trial, tmp_path)
    assert line == f"Error: {message} must be between 2000-01-01 and 2100-12-31"
    assert not (tmp_path / "new").exists()


def test_a_csv_row_beyond_any_trial_is_one_error_line(trial, tmp_path):
    src = tmp_path / "far.csv"
    src.write_text("date,pain\n0001-01-01,5\n")
    line = _error(["import", "--trial", trial, src], trial)
    assert "date 0001-01-01 must be between 2000-01-01 and 2100-12-31" in line


def test_status_of_a_day_beyond_any_trial_is_refused_by_the_library(trial):
    from nof1.errors import DiaryError
    from nof1.trial.status import trial_status

    with pytest.raises(DiaryError, match="day 0001-01-01 must be between"):
        trial_status(trial, date(1, 1, 1))


DEVICES = [d for d in ("/dev/zero", "/dev/urandom") if Path(d).exists()]


@pytest.mark.skipif(not DEVICES, reason="no /dev/zero or /dev/urandom here")
@pytest.mark.parametrize("device", DEVICES or ["/dev/zero"])
@pytest.mark.parametrize(
    "args, what",
    [
        (
            ["analyze", "--csv", "{dev}", "--outcome", "pain", "--treatment", "arm"],
            "a CSV file (over 50 MB)",
        ),
        (
            [
                "report",
                "--csv",
                "{dev}",
                "--outcome",
                "pain",
                "--treatment",
                "arm",
                "--out",
                "{tmp}/r.html",
            ],
            "a CSV file (over 50 MB)",
        ),
        (["import", "--trial", "{trial}", "{dev}"], "a CSV file (over 50 MB)"),
        (
            ["kits", "--trial", "{trial}", "--passphrase-file", "{dev}"],
            "a passphrase file (over 64 KB)",
        ),
        (
            ["unblind", "--trial", "{trial}", "--passphrase-file", "{dev}"],
            "a passphrase file (over 64 KB)",
        ),
        (
            ["protocol", "new", "--template", "{dev}", "--trial", "{tmp}/t"],
            "a template (over 1 MB)",
        ),
        (["design", "--template", "{dev}"], "a template (over 1 MB)"),
        (["pool", "{dev}"], "an anonymised series (over 50 MB)"),
    ],
)
def test_a_device_given_as_a_file_is_too_large(trial, tmp_path, device, args, what):
    args = [a.format(dev=device, tmp=tmp_path, trial=trial) for a in args]
    line = _error(args, trial, tmp_path)
    assert line == f"Error: {device} is too large to be {what}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial"]


def test_a_fifo_that_never_ends_is_too_large_to_be_a_passphrase_file(trial, tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "phrase.fifo"
    os.mkfifo(fifo)

    def feed():
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as fh:
            for _ in range(100):
                fh.write(b"x" * 4096)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    line = _error(["kits", "--trial", trial, "--passphrase-file", fifo], trial)
    writer.join(5)
    assert line == f"Error: {fifo} is too large to be a passphrase file (over 64 KB)"


def test_a_sealed_file_too_large_is_one_error_line(trial, tmp_path):
    (trial / SEALED_FILE).write_bytes(b"\0" * (2 << 20))
    (tmp_path / "phrase.txt").write_text(PASS + "\n")
    line = _error(["kits", "--trial", trial, "--passphrase-file", tmp_path / "phrase.txt"], trial)
    assert (
        line == f"Error: {trial / SEALED_FILE} is too large to be a sealed allocation (over 1 MB)"
    )


def _template(tmp_path: Path, old: str, new: str) -> Path:
    from nof1.plan.templates import builtin_templates

    text = builtin_templates()["generic-ab"].read_text()
    assert old in text
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("low = 0\n", 'low = "zero"\n', "outcomes[1].low must be a finite number, not 'zero'"),
        ("low = 0\n", "low = nan\n", "outcomes[1].low must be a finite number, not nan"),
        ("high = 10\n", "high = inf\n", "outcomes[1].high must be a finite number, not inf"),
        ("mcid = 1.0", "mcid = nan", "analysis.mcid must be a finite number, not nan"),
        ("mcid = 1.0", "mcid = inf", "analysis.mcid must be a finite number, not inf"),
        ("mcid = 1.0", "mcid = 11", "analysis.mcid must be above 0 and at most 10"),
        ("blocks = 4", "blocks = 4.0", "design.blocks must be a whole number of blocks, not 4.0"),
        ("blocks = 4", "blocks = true", "design.blocks must be a whole number of blocks, not true"),
        (
            "doses_per_day = 1",
            "doses_per_day = -1",
            "treatments.A.doses_per_day must be 0-100 doses, not -1",
        ),
        ("primary = true", "primary = 1", "outcomes[1].primary must be true or false, not 1"),
        (
            'title = "N-of-1 trial: treatment A versus control B"',
            "title = 1979-05-27T07:32:00",
            "trial.title must be text, not 1979-05-27T07:32:00 (a date and time)",
        ),
        (
            'condition = ""',
            "condition = " + "[" * 5000 + "]" * 5000,
            "nests arrays or tables too deeply",
        ),
        (
            "looks = [2, 3, 4, 5]",
            "looks = [2, 3, 4, 5.5]",
            "[sequential]: looks must be block numbers from 1, got 5.5",
        ),
    ],
)
def test_a_bad_template_value_is_one_error_line(tmp_path, old, new, message):
    template = _template(tmp_path, old, new)
    (tmp_path / "phrase.txt").write_text(PASS + "\n")
    args = ["protocol", "new", "--template", template, "--trial", tmp_path / "t"]
    line = _error([*args, "--passphrase-file", tmp_path / "phrase.txt"], tmp_path)
    assert line.startswith(f"Error: template {template}"), line
    assert message in line
    assert not (tmp_path / "t").exists()


# ------------------------------------------------------------------ issue 22: numbers, CSV files, design/analyze options, pool

#: Every numeric option of every command with a value it must refuse, and the line it gives.
#: ``{trial}``, ``{tmp}`` and ``{csv}`` are filled in; nothing runs long (the options are
#: checked before any file is read or anything is fitted).
_BAD_OPTIONS = [
    (["analyze", "--trial", "{trial}", "--mcid", "inf"], "--mcid inf must be a finite number"),
    (["analyze", "--trial", "{trial}", "--mcid", "0"], "--mcid 0 must be more than 0 and at most 1e+09"),
    (["analyze", "--trial", "{trial}", "--mcid", "-1"], "--mcid -1 must be more than 0 and at most 1e+09"),
    (["analyze", "--trial", "{trial}", "--expectation-max", "nan"], "--expectation-max nan must be a finite number"),
    (["analyze", "--trial", "{trial}", "--expectation-max", "inf"], "--expectation-max inf must be a finite number"),
    (["analyze", "--trial", "{trial}", "--expectation-max", "-0.5"], "--expectation-max -0.5 must be 0 or more"),
    (["analyze", "--trial", "{trial}", "--draws", "0"], "--draws 0 must be from 1 to 20,000"),
    (["analyze", "--trial", "{trial}", "--draws", "100000000"], "--draws 100000000 must be from 1 to 20,000"),
    (["analyze", "--trial", "{trial}", "--draws", "1e3"], "--draws '1e3' is not a whole number"),
    (["analyze", "--csv", "{csv}", "--outcome", "pain", "--treatment", "arm", "--low", "-inf"], "--low -inf must be a finite number"),
    (["analyze", "--csv", "{csv}", "--outcome", "pain", "--treatment", "arm", "--high", "1_0"], "--high '1_0' is not a number (write it with digits and a decimal point, e.g. 1.5)"),
    (["analyze", "--trial", "{trial}", "--seed", "x"], "--seed 'x' is not a whole number"),
    (["report", "--trial", "{trial}", "--out", "{tmp}/r.html", "--mcid", "infinity"], "--mcid infinity must be a finite number"),
    (["report", "--trial", "{trial}", "--out", "{tmp}/r.html", "--mcid", "1e999"], "--mcid 1e999 must be a finite number"),
    (["report", "--trial", "{trial}", "--out", "{tmp}/r.html", "--draws", "20001"], "--draws 20001 must be from 1 to 20,000"),
    (["report", "--csv", "{csv}", "--outcome", "pain", "--treatment", "arm", "--out", "{tmp}/r.html", "--low", "nan"], "--low nan must be a finite number"),
    (["design", "--effect", "inf"], "--effect inf must be a finite number"),
    (["design", "--effect", "nan"], "--effect nan must be a finite number"),
    (["design", "--effect", "0"], "--effect 0 must not be 0: it is the effect you hope for (no effect is always simulated beside it)"),
    (["design", "--effect", "-1000"], "--effect -1000 must be from -100 to 100 points"),
    (["design", "--tau", "-1"], "--tau -1 must be from 0 to 365 days"),
    (["design", "--tau", "nan"], "--tau nan must be a finite number"),
    (["design", "--mcid", "0"], "--mcid 0 must be more than 0 and at most 100"),
    (["design", "--mcid", "inf"], "--mcid inf must be a finite number"),
    (["design", "--sd", "0"], "--sd 0 must be more than 0 and at most 100"),
    (["design", "--sd", "1e308"], "--sd 1e308 must be more than 0 and at most 100"),
    (["design", "--rho", "1"], "--rho 1 must be between -1 and 1"),
    (["design", "--rho", "nan"], "--rho nan must be a finite number"),
    (["design", "--threshold", "1"], "--threshold 1 must be at least 0.5 and less than 1"),
    (["design", "--threshold", "0.4"], "--threshold 0.4 must be at least 0.5 and less than 1"),
    (["design", "--sims", "100000000"], "--sims 100000000 must be from 10 to 20,000"),
    (["design", "--sims", "5"], "--sims 5 must be from 10 to 20,000"),
    (["design", "--sims", "1_000"], "--sims '1_000' is not a whole number"),
    (["design", "--washout-days", "three"], "--washout-days 'three' is not a whole number"),
    (["design", "--blocks", "2,\u0663"], "--blocks '2,\u0663': '\u0663' is not a whole number (give e.g. 2,3,4)"),
    (["design", "--period-days", "7,8,9,10,11,12,13,14,15"], "--period-days '7,8,9,10,11,12,13,14,15' gives 9 values; at most 8"),
    (["design", "--sequential", "--max-blocks", "4.5"], "--max-blocks '4.5' is not a whole number"),
    (["design", "--sequential", "--target-fpr", "nan"], "--target-fpr nan must be a finite number"),
    (["design", "--sequential", "--target-fpr", "0"], "--target-fpr 0 must be between 0 and 0.5 (e.g. 0.05)"),
    (["design", "--sequential", "--sims", "50000"], "--sims 50000 must be from 10 to 20,000"),
    (["design", "--sequential", "--effect", "inf"], "--effect inf must be a finite number"),
    (["pool", "{tmp}/a.csv", "--mcid", "nan"], "--mcid nan must be a finite number"),
    (["pool", "{tmp}/a.csv", "--mcid", "0"], "--mcid 0 must be more than 0 and at most 1e+09"),
    (["pool", "{tmp}/a.csv", "--draws", "99"], "--draws 99 must be from 100 to 20,000"),
    (["pool", "{tmp}/a.csv", "--draws", "10000000"], "--draws 10000000 must be from 100 to 20,000"),
    (["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--blocks", "4.0"], "--blocks '4.0' is not a whole number"),
    (["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--period-days", "1_4"], "--period-days '1_4' is not a whole number"),
    (["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--washout-days", "nan"], "--washout-days nan must be a finite number"),
    (["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--run-in-days", "x"], "--run-in-days 'x' is not a whole number"),
    (["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--sequential", "--max-blocks", "inf"], "--max-blocks inf must be a finite number"),
    (["demo", "--out", "{tmp}/demo", "--seed", "1.5"], "--seed '1.5' is not a whole number"),
]  # fmt: skip


@pytest.mark.parametrize("args, message", _BAD_OPTIONS)
def test_every_numeric_option_refuses_non_finite_and_absurd_values(
    trial, tmp_path, day_csv, args, message
):
    args = [a.format(tmp=tmp_path, trial=trial, csv=day_csv) for a in args]
    assert _error(args, trial, tmp_path) == f"Error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["days.csv", "trial"]


def test_every_numeric_option_is_checked():
    """No numeric option is a bare click int or float: each has the project's type (one
    Error line naming it) or is parsed by a callback."""
    import click

    from nof1.cli.common import Count, Number

    ctx = click.Context(cli)
    bare = []

    def walk(cmd, name):
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, sub), f"{name} {sub}".strip())
            return
        for p in cmd.params:
            numeric = isinstance(p.type, click.types.IntParamType | click.types.FloatParamType)
            if numeric and not isinstance(p.type, Count | Number):
                bare.append(f"{name} {p.opts[0]}")

    walk(cli, "")
    assert bare == []


def test_scale_bounds_refuse_an_mcid_beyond_the_scale(day_csv, tmp_path):
    args = _analyze_csv(day_csv, "--low", "0", "--high", "10")
    line = _error([*args, "--mcid", "11"], tmp_path)
    assert line == (
        "Error: mcid 11 is more than the whole scale (0-10): no change of the outcome can reach it"
    )
    line = _error([*args, "--expectation-max", "500"], tmp_path)
    assert line.startswith("Error: expectation_max 500 is more than the whole scale (0-10)")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mcid": float("inf")}, "mcid inf must be a finite number of outcome units"),
        ({"mcid": 11.0}, "mcid 11 is more than the whole scale (0-10)"),
        ({"expectation_max": float("nan")}, "expectation_max nan must be a finite number"),
        ({"draws": 10**9}, "draws 1000000000 must be from 1 to 20,000"),
        ({"chains": 0}, "chains 0 must be from 1 to 16"),
        ({"tune": -1, "engine": "mcmc"}, "tune -1 must be from 0 to 20,000"),
    ],
)
def test_the_library_refuses_what_the_options_refuse(day_csv, kwargs, message):
    from nof1.analysis.analyze import analyze_csv
    from nof1.errors import Nof1Error

    with pytest.raises(Nof1Error) as err:
        analyze_csv(day_csv, "pain", "arm", low=0, high=10, **kwargs)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"effect": float("inf")}, "effect must be a number, got inf"),
        ({"tau": -1.0}, "tau must be 0-365 days, got -1"),
        ({"mcid": 0.0}, "mcid must be positive and at most 100, got 0"),
        ({"sims": 10**8}, "sims must be at most 20,000, got 100,000,000"),
    ],
)
def test_evaluate_designs_refuses_what_design_refuses(kwargs, message):
    from nof1.design import evaluate_designs
    from nof1.errors import ProtocolError

    with pytest.raises(ProtocolError) as err:
        evaluate_designs(blocks=(2,), period_days=(7,), **{"sims": 20, **kwargs})
    assert str(err.value) == message


#: Text that Python's float() reads but that is no score (and text that is no number at all).
_NOT_SCORES = [
    ("1_0", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("1e1", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("+5", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("infinity", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("nan", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("\u0661\u0660", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("\uff16", "is not a plain decimal number; write digits 0-9 with at most one decimal point, e.g. 6.5"),
    ("0x10", "is not a number"),
    ("6..5", "is not a number"),
    ("6,5", "has a decimal comma; write 6.5 (a decimal point)"),
]  # fmt: skip


@pytest.mark.parametrize("text, why", _NOT_SCORES)
def test_record_refuses_what_is_not_a_plain_score(trial, freeze_today, text, why):
    freeze_today(date(2026, 1, 6))
    for how in (["--pain", text], ["--outcome", f"pain={text}"]):
        line = _error(["record", "--trial", trial, "--date", "2026-01-06", *how], trial)
        assert line == f"Error: pain score {text!r} {why}"


@pytest.mark.parametrize("text, why", _NOT_SCORES)
def test_import_and_analyze_csv_refuse_what_is_not_a_plain_score(trial, tmp_path, text, why):
    src = tmp_path / "in.csv"
    src.write_text(f'date,pain\n2026-01-05,5\n2026-01-06,"{text}"\n', encoding="utf-8")
    line = _error(["import", "--trial", trial, src], trial, tmp_path)
    assert line == f"Error: {src} line 3: pain score {text!r} {why}"
    if text == "nan":
        return  # in any CSV, NA and NaN mark a missing day (csv_input.MISSING)
    rows = [f"{d},{'A' if (d - 1) // 7 % 2 == 0 else 'B'},{4 + d % 3}" for d in range(1, 29)]
    rows[3] = f'4,A,"{text}"'
    src.write_text("day,arm,pain\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for cmd in (["analyze"], ["report", "--out", tmp_path / "r.html"]):
        line = _error([*cmd, "--csv", src, "--outcome", "pain", "--treatment", "arm"], tmp_path)
        assert line == f"Error: row 4: outcome 'pain' value {text!r} {why}"
    assert not (tmp_path / "r.html").exists()


def test_a_csv_day_number_must_be_a_plain_whole_number(day_csv, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(day_csv.read_text().replace("\n28,", "\n2_8,"))
    line = _error(_analyze_csv(bad, "--time", "day"), tmp_path)
    assert line == (
        "Error: time column 'day' value '2_8' is not a whole day number "
        "(from -1,000,000,000 to 1,000,000,000)"
    )


def test_one_outcome_given_twice_is_refused(trial, freeze_today):
    freeze_today(date(2026, 1, 6))
    args = ["record", "--trial", trial, "--date", "2026-01-06"]
    line = _error([*args, "--pain", "6", "--outcome", "pain=2"], trial)
    assert line == "Error: --pain '6' and --outcome pain='2' both give pain; give it once"
    line = _error([*args, "--outcome", "pain=2", "--outcome", "pain=3"], trial)
    assert line == "Error: --outcome pain is given twice ('2' and '3'); give each outcome once"
    line = _error([*args, "--pain", "2", "--outcome", "side_effects=no", "--outcome", "side_effects=yes"], trial)  # fmt: skip
    assert line.startswith("Error: --outcome side_effects is given twice ('no' and 'yes')")


def test_a_column_twice_in_a_csv_header_is_refused(trial, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("date,pain,pain\n2026-01-05,6,2\n")
    line = _error(["import", "--trial", trial, src], trial, tmp_path)
    assert line == (
        f"Error: {src} line 1: column 'pain' is in the header twice; which one is meant "
        "cannot be known (give each column once)"
    )
    src.write_text("day,arm,pain,arm\n1,A,3,B\n2,B,4,A\n")
    line = _error(["analyze", "--csv", src, "--outcome", "pain", "--treatment", "arm"], tmp_path)
    assert line == (
        "Error: treatment column 'arm' is in the header of in.csv 2 times; which one is "
        "meant cannot be known (give each column once)"
    )


def test_a_local_date_layout_is_named_with_its_fix(trial, tmp_path, day_csv):
    src = tmp_path / "in.csv"
    src.write_text("date;pain\n05.01.2026;6\n13.01.2026;5\n")
    line = _error(["import", "--trial", trial, src], trial, tmp_path)
    assert line == (
        f"Error: {src} line 2: date '05.01.2026' is not a date (YYYY-MM-DD); it looks like "
        "DD.MM.YYYY or MM.DD.YYYY: give --date-format DD.MM.YYYY or --date-format MM.DD.YYYY"
    )
    src.write_text("date;pain\n05.01.2026;6\n31.02.2026;5\n")
    line = _error(["import", "--trial", trial, src, "--date-format", "DD.MM.YYYY"], trial)
    assert line == f"Error: {src} line 3: date '31.02.2026' is not a day of the calendar"
    line = _error(["import", "--trial", trial, src, "--date-format", "DD.MM"], trial)
    assert line == (
        "Error: --date-format 'DD.MM' must hold DD, MM and YYYY once each, between . / - or "
        "spaces (e.g. DD.MM.YYYY)"
    )
    rows = [f"{d + 4:02d}/01/2026,{'A' if d < 8 else 'B'},{4 + d % 3}" for d in range(1, 15)]
    src.write_text("date,arm,pain\n" + "\n".join(rows) + "\n")
    line = _error(_analyze_csv(src, "--time", "date"), tmp_path)
    assert line == (
        "Error: row 1: time column 'date' value '05/01/2026' is not a date (YYYY-MM-DD); it "
        "looks like DD/MM/YYYY or MM/DD/YYYY: give --date-format DD/MM/YYYY or --date-format "
        "MM/DD/YYYY"
    )
    line = _error(_analyze_csv(day_csv, "--date-format", "DD.MM.YYYY"), tmp_path)
    assert line == "Error: --date-format applies only with --time COLUMN"
    line = _error(["analyze", "--trial", trial, "--date-format", "DD.MM.YYYY"], trial)
    assert line == "Error: --date-format applies only with --csv FILE"


def test_a_wrong_treatment_column_names_at_most_five_values(tmp_path):
    src = tmp_path / "days.csv"
    src.write_text("day,arm,pain\n" + "".join(f"{d},{d},{d % 10}\n" for d in range(1, 113)))
    line = _error(_analyze_csv(src, "--treatment", "day"), tmp_path)
    assert line == (
        "Error: treatment column 'day' must have exactly 2 values, it has 112: '1', '10', "
        "'100', '101', '102' and 107 more values"
    )


@pytest.fixture
def pool_file(tmp_path) -> Path:
    from nof1.design.simulate import simulate_pool
    from nof1.research.anonymise import anonymise_simulated, write_anonymised

    path = tmp_path / "a.csv"
    write_anonymised(anonymise_simulated(simulate_pool(2, mu=-1.0, tau_between=0.5, rng=1)), path)
    return path


def test_pool_refuses_one_file_given_twice_under_any_name(pool_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _error(["pool", "a.csv", "a.csv", "--engine", "fast"], tmp_path)
    assert line == "Error: a.csv is given twice: each file is pooled once"
    line = _error(["pool", "a.csv", "./a.csv", "--engine", "fast"], tmp_path)
    assert line == "Error: a.csv is given twice: each file is pooled once"
    line = _error(["pool", "a.csv", pool_file, "--engine", "fast"], tmp_path)
    assert line == (
        f"Error: {pool_file} is the same file as a.csv, given before: each file is pooled once "
        "(its series would count twice)"
    )
    (tmp_path / "link.csv").symlink_to(pool_file)
    line = _error(["pool", pool_file, "link.csv", "--engine", "fast"], tmp_path)
    assert line.startswith(f"Error: link.csv is the same file as {pool_file}, given before")
    shutil.copy(pool_file, tmp_path / "copy.csv")
    line = _error(["pool", "a.csv", "copy.csv", "--engine", "fast"], tmp_path)
    assert line.startswith("Error: copy.csv is a copy of a.csv, given before")


def test_pool_refuses_an_mcid_beyond_the_scale(pool_file, tmp_path):
    line = _error(["pool", pool_file, "--engine", "fast", "--mcid", "11"], tmp_path)
    assert line == (
        "Error: MCID 11 is more than the whole scale of 'pain' (0-10): no patient's change "
        "can reach it"
    )


def test_pool_refuses_a_column_or_an_outcome_twice(pool_file, tmp_path):
    lines = pool_file.read_text().splitlines()
    table = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    bad = tmp_path / "b.csv"
    bad.write_text("\n".join([*lines[:table], lines[table] + ",pain", *lines[table + 1 :]]) + "\n")
    line = _error(["pool", bad, "--engine", "fast"], tmp_path)
    assert line == (
        f"Error: {bad} line {table + 1}: column 'pain' is in the header twice; which one is "
        "meant cannot be known"
    )
    outcome = next(i for i, line in enumerate(lines) if line.startswith("# outcome: pain "))
    bad.write_text("\n".join([*lines[:table], lines[outcome], *lines[table:]]) + "\n")
    line = _error(["pool", bad, "--engine", "fast"], tmp_path)
    assert line == f"Error: {bad} line {table + 1}: outcome 'pain' is described twice"


@pytest.mark.parametrize("at", ["0_7:30", "\u0660\u0667:30", "7:3_0", "+7:30", "07:30:00"])
def test_calendar_refuses_a_time_that_is_not_plain_digits(trial, tmp_path, at):
    line = _error(["calendar", "--trial", trial, "--out", tmp_path / "c.ics", "--time", at], trial, tmp_path)  # fmt: skip
    assert line == f"Error: reminder time {at!r} is not a time of day; use HH:MM"
    assert not (tmp_path / "c.ics").exists()


# ------------------------------------------------------------------ issue 22: a damaged diary, leftovers, full disk, read-only media


def _finished_trial(folder: Path, unblind: bool = True) -> Path:
    """A generic-ab trial of 3 blocks of 7-day periods with a score on every day (42),
    unblinded the day after its last period when ``unblind``."""
    from datetime import timedelta

    from nof1.trial.create import create_trial

    p = create_trial(folder, "generic-ab", passphrase=PASS, start=date(2026, 1, 5), seed=1,
                     blocks=3, period_days=7, washout_days=0)  # fmt: skip
    src = folder.parent / f"{folder.name}.csv"
    days = [p.start + timedelta(days=i) for i in range(p.n_days)]
    src.write_text("date,pain\n" + "".join(f"{d},{3 + i % 4}\n" for i, d in enumerate(days)))
    import_diary(folder, src, today=p.end + timedelta(days=1))
    if unblind:
        unblind_trial(folder, PASS, today=p.end + timedelta(days=1))
    return folder


@pytest.fixture(scope="module")
def _finished(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("damaged")
    return {
        "unblinded": _finished_trial(root / "unblinded"),
        "blinded": _finished_trial(root / "blinded", unblind=False),
    }


def _copy(base: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "trial"
    shutil.copytree(base, folder)
    return folder


def _damage(folder: Path, *statements: str) -> None:
    """Change the diary as another program could: SQLite's own guards (the append-only
    triggers, CHECK constraints) are switched off first."""
    import sqlite3

    con = sqlite3.connect(folder / "diary.sqlite", isolation_level=None)
    try:
        con.execute("PRAGMA ignore_check_constraints = 1")
        for trigger in ("entries_no_update", "unblinding_no_update", "chain_no_update"):
            con.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    for suffix in ("-wal", "-shm"):
        assert not (folder / f"diary.sqlite{suffix}").exists()


def _rebuilt(table: str, columns: str) -> list[str]:
    """Statements that rebuild ``table`` with the same columns but no types or NOT NULL
    (what a careless repair with another tool leaves), keeping its rows."""
    return [
        f"ALTER TABLE {table} RENAME TO old_{table}",
        f"CREATE TABLE {table} ({columns})",
        f"INSERT INTO {table} SELECT * FROM old_{table}",
        f"DROP TABLE old_{table}",
    ]


_ENTRY_COLUMNS = (
    "id, date, outcomes, guess, adherence, note, recorded_at, supersedes, recall, deviation, late"
)
_UNBLINDING_COLUMNS = "id, unblinded_at, early, reason, arms, salt, head, signature"


def _entry(column_value: str, row: int = 2) -> str:
    return f"UPDATE entries SET {column_value} WHERE id = {row}"


#: Damage that leaves the diary unreadable as nof1 wrote it: (statements, what the one
#: ``Error:`` line of every command names after "is damaged: ").
DATA_DAMAGE = {
    "no entries table": (["DROP TABLE entries"], "it has no table 'entries'"),
    "no unblinding table": (["DROP TABLE unblinding"], "it has no table 'unblinding'"),
    "entries lacks a column": (
        ["ALTER TABLE entries DROP COLUMN deviation"],
        "its table 'entries' has no column 'deviation'",
    ),
    "unblinding lacks a column": (
        ["ALTER TABLE unblinding DROP COLUMN signature"],
        "its table 'unblinding' has no column 'signature'",
    ),
    "outcomes not JSON": (
        [_entry("outcomes = '{pain: 4'")],
        "entry #2 (2026-01-06): outcomes '{pain: 4' is not JSON",
    ),
    "outcomes a JSON list": (
        [_entry("outcomes = '[4]'")],
        "entry #2 (2026-01-06): outcomes '[4]' is not a JSON object of outcome values",
    ),
    "outcome not a number": (
        [_entry("""outcomes = '{"pain": "four"}'""")],
        "entry #2 (2026-01-06): outcome 'pain' holds 'four', not a number",
    ),
    "date not ISO": (
        [_entry("date = '06/01/2026'")],
        "entry #2: date '06/01/2026' is not a date (YYYY-MM-DD)",
    ),
    "date a BLOB": ([_entry("date = x'3036'")], "entry #2: date a BLOB of 2 bytes is not text"),
    "recorded_at not ISO": (
        [_entry("recorded_at = 'last night'")],
        "entry #2 (2026-01-06): recorded_at 'last night' is not a UTC time (ISO 8601)",
    ),
    "recorded_at without offset": (
        [_entry("recorded_at = '2026-01-06T20:00:00'")],
        "entry #2 (2026-01-06): recorded_at '2026-01-06T20:00:00' is not a UTC time (ISO 8601)",
    ),
    "supersedes text": (
        [_entry("supersedes = 'one'")],
        "entry #2 (2026-01-06): supersedes 'one' is not a whole number",
    ),
    "adherence text": (
        [_entry("adherence = 'yes'")],
        "entry #2 (2026-01-06): adherence 'yes' is not a share from 0 to 1 or NULL",
    ),
    "adherence above 1": (
        [_entry("adherence = 2")],
        "entry #2 (2026-01-06): adherence 2 is not a share from 0 to 1 or NULL",
    ),
    "guess unknown": (
        [_entry("guess = 'C'")],
        "entry #2 (2026-01-06): guess 'C' is not A, B, unsure or NULL",
    ),
    "recall a BLOB": (
        [_entry("recall = x'01'")],
        "entry #2 (2026-01-06): recall a BLOB of 1 bytes is not 0 or 1",
    ),
    "note NULL": (
        [*_rebuilt("entries", _ENTRY_COLUMNS), _entry("note = NULL")],
        "entry #2 (2026-01-06): note is NULL, not text",
    ),
    "id text": (
        [*_rebuilt("entries", _ENTRY_COLUMNS), _entry("id = 'two'")],
        "entry 'two': id 'two' is not a whole number",
    ),
    "unblinded_at not ISO": (
        ["UPDATE unblinding SET unblinded_at = 'soon'"],
        "the unblinding record: unblinded_at 'soon' is not a UTC time (ISO 8601)",
    ),
    "arms not JSON": (
        ["UPDATE unblinding SET arms = 'ABABAB'"],
        "the unblinding record: arms is not JSON",
    ),
    "salt NULL": (
        [*_rebuilt("unblinding", _UNBLINDING_COLUMNS), "UPDATE unblinding SET salt = NULL"],
        "the unblinding record: salt is not text",
    ),
    "early text": (
        ["UPDATE unblinding SET early = 'no'"],
        "the unblinding record: early 'no' is not 0 or 1",
    ),
    "schema version negative": (
        ["PRAGMA user_version = -1"],
        "its schema version -1 is not one nof1 writes",
    ),
}

#: Every command that reads the diary, on the unblinded trial (``{t}``: its folder,
#: ``{o}``: a folder for outputs).
DIARY_COMMANDS = {
    "status": ["status", "--trial", "{t}", "--date", "2026-01-20"],
    "status --json": ["status", "--trial", "{t}", "--date", "2026-01-20", "--json"],
    "record": ["record", "--trial", "{t}", "--date", "2026-02-15", "--pain", "3"]
    + ["--after-unblinding", "--reason", "late"],
    "record --correct": ["record", "--trial", "{t}", "--date", "2026-01-06", "--pain", "3"]
    + ["--correct", "--after-unblinding", "--reason", "typo"],
    "history": ["history", "--trial", "{t}", "--date", "2026-01-06"],
    "history --json": ["history", "--trial", "{t}", "--date", "2026-01-06", "--json"],
    "export": ["export", "--trial", "{t}", "{o}/export.csv"],
    "export --anonymise": ["export", "--anonymise", "--trial", "{t}", "{o}/anon.csv"],
    "import": ["import", "--trial", "{t}", "{o}/fix.csv", "--correct"]
    + ["--after-unblinding", "--reason", "typo"],
    "analyze": ["analyze", "--trial", "{t}"],
    "report": ["report", "--trial", "{t}", "--out", "{o}/report.html"],
    "unblind": ["unblind", "--trial", "{t}", "--passphrase-file", "{o}/phrase.txt"],
}


def _outputs(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "fix.csv").write_text("date,pain\n2026-01-06,3\n")
    (out / "phrase.txt").write_text(PASS + "\n")
    return out


def _args(command: str, trial: Path, out: Path) -> list[str]:
    return [a.format(t=trial, o=out) for a in DIARY_COMMANDS[command]]


@pytest.mark.parametrize("command", DIARY_COMMANDS)
@pytest.mark.parametrize("damage", DATA_DAMAGE)
def test_a_damaged_diary_is_one_error_line_naming_the_damage(
    _finished, tmp_path, freeze_today, damage, command
):
    freeze_today(date(2026, 2, 17))
    trial = _copy(_finished["unblinded"], tmp_path)
    statements, what = DATA_DAMAGE[damage]
    _damage(trial, *statements)
    out = _outputs(tmp_path)
    line = _error(_args(command, trial, out), trial, out)
    assert line == (
        f"Error: the diary {trial / 'diary.sqlite'} is damaged: {what}. nof1 changed nothing "
        "in it; restore it from a backup copy"
    )
    assert sorted(p.name for p in trial.iterdir()) == [
        "allocation.sealed", "diary.sqlite", "protocol.toml"
    ]  # fmt: skip


@pytest.mark.parametrize("damage", ["no entries table", "outcomes not JSON", "date not ISO"])
def test_a_damaged_blinded_diary_is_refused_before_the_passphrase_is_asked(
    _finished, tmp_path, damage
):
    trial = _copy(_finished["blinded"], tmp_path)
    _damage(trial, *DATA_DAMAGE[damage][0])
    # No --passphrase-file: a prompt would read the empty input and fail differently.
    line = _error(["unblind", "--trial", trial], trial)
    assert line.endswith(f"is damaged: {DATA_DAMAGE[damage][1]}. nof1 changed nothing in it; "
                         "restore it from a backup copy")  # fmt: skip


def test_a_diary_with_a_damaged_page_is_one_error_line(_finished, tmp_path):
    trial = _copy(_finished["unblinded"], tmp_path)
    diary = trial / "diary.sqlite"
    content = bytearray(diary.read_bytes())
    content[3 * 4096 : 3 * 4096 + 256] = b"\xff" * 256  # a page of the file overwritten
    diary.write_bytes(bytes(content))
    out = _outputs(tmp_path)
    for command in ("status", "history", "export", "record --correct", "report"):
        line = _error(_args(command, trial, out), trial, out)
        assert line == (
            f"Error: the diary {diary} is damaged: SQLite cannot read it (database disk image "
            "is malformed). nof1 changed nothing in it; restore it from a backup copy"
        )


#: Damage to the hash chain alone: the rows are all there, but nothing proves them. It is
#: what an alteration is: warned about by the commands that show the diary, refused by
#: those that would add to it or conclude from it, shown in red in the report.
CHAIN_DAMAGE = {
    "no chain table": (
        ["DROP TABLE chain"],
        "the diary has no table 'chain' (its hash chain), so nothing proves the diary's history",
    ),
    "chain rebuilt without a column": (
        [
            *_rebuilt("chain", "seq INTEGER PRIMARY KEY, kind, content, prev, hash"),
            "ALTER TABLE chain DROP COLUMN prev",
        ],
        "the diary's table 'chain' has no column 'prev', so nothing proves the diary's history",
    ),
    "chain record not JSON": (
        ["UPDATE chain SET content = '{\"id\": 2' WHERE seq = 3"],
        "diary record 3 of the chain (entry) is damaged: its content is not JSON",
    ),
    "chain record a JSON list": (
        ["UPDATE chain SET content = '[2]' WHERE seq = 3"],
        "diary record 3 of the chain (entry) is damaged: its content is not a JSON object",
    ),
    "chain record without its id": (
        ['UPDATE chain SET content = \'{"date": "2026-01-06"}\' WHERE seq = 3'],
        "diary record 3 of the chain (entry) is damaged: its 'id' is NULL, not a whole number",
    ),
    "chain kind a BLOB": (
        ["UPDATE chain SET kind = x'00' WHERE seq = 3"],
        "diary record 3 of the chain is damaged: its kind is a BLOB of 1 bytes, not text",
    ),
    "protocol record not JSON": (
        ["""UPDATE chain SET content = '{"registration": "", "document": "{"}' WHERE seq = 1"""],
        "diary record 1 of the chain (protocol) is damaged: its protocol document is not a "
        "JSON object",
    ),
    "unblinding record without its time": (
        ["UPDATE chain SET content = '{\"id\": 1}' WHERE kind = 'unblinding'"],
        "diary record 44 of the chain (unblinding) is damaged: its 'unblinded_at' is NULL, not "
        "a UTC time",
    ),
}


@pytest.mark.parametrize("damage", CHAIN_DAMAGE)
def test_a_damaged_chain_is_one_error_line_and_never_a_traceback(
    _finished, tmp_path, freeze_today, damage
):
    # Damage to the chain itself (not a changed record, which the reading commands only
    # warn about) is a damaged diary: every command but the report refuses it.
    freeze_today(date(2026, 2, 17))
    trial = _copy(_finished["unblinded"], tmp_path)
    statements, what = CHAIN_DAMAGE[damage]
    _damage(trial, *statements)
    out = _outputs(tmp_path)
    before = _snapshot(trial)
    for command in ("status", "status --json", "history", "history --json", "export"):
        line = _error(_args(command, trial, out), trial)
        assert line.startswith(f"Error: the diary {trial / 'diary.sqlite'} is damaged: "), line
        assert what in line and line.endswith("restore it from a backup copy"), line
    assert not (out / "export.csv").exists()
    for command, refusal in (
        ("record", "was altered outside nof1 ("),
        ("record --correct", "was altered outside nof1 ("),
        ("import", "was altered outside nof1 ("),
        ("analyze", "nof1 will not analyse this trial: "),
        ("export --anonymise", "nof1 will not export this trial: "),
    ):
        line = _error(_args(command, trial, out), trial)
        assert refusal in line and what in line, line
    assert _snapshot(trial) == before
    assert not (out / "anon.csv").exists()


@pytest.mark.parametrize("damage", ["no chain table", "chain record not JSON"])
def test_the_report_shows_a_damaged_chain_in_red(_finished, tmp_path, damage):
    import html
    import re

    trial = _copy(_finished["unblinded"], tmp_path)
    statements, what = CHAIN_DAMAGE[damage]
    _damage(trial, *statements)
    before = _snapshot(trial)
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(trial), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    banner = re.search(r'<div class="banner" id="integrity-banner">(.*?)</div>', page, re.S)
    assert banner is not None and what in html.unescape(re.sub(r"\s+", " ", banner.group(1)))
    assert _snapshot(trial) == before


def test_a_damaged_look_record_is_never_acted_on(sequential, tmp_path):
    import sqlite3

    from nof1.diary.store import open_diary

    with open_diary(sequential) as diary:
        diary.record_look(1, 2, "STOP: efficacy")  # unsigned: nof1 would not act on it anyway
    seq = 30  # the protocol record, 28 entries, then the look
    con = sqlite3.connect(sequential / "diary.sqlite")
    assert con.execute("SELECT kind FROM chain WHERE seq = ?", (seq,)).fetchone() == ("look",)
    con.close()
    _damage(sequential, f"UPDATE chain SET content = '{{\"look\": 1}}' WHERE seq = {seq}")
    line = _error(["status", "--trial", sequential, "--date", "2026-02-02"], sequential)
    assert (
        f"diary record {seq} of the chain (look) is damaged: its 'after_block' is NULL, not a "
        "whole number"
    ) in line
    assert "Interim look 1" not in line
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    line = _error(["interim", "--trial", sequential, "--passphrase-file", phrase], sequential)
    assert f"diary record {seq} of the chain (look) is damaged" in line


@pytest.fixture
def full_disk(monkeypatch):
    """The trial's disk is full, as SQLite meets it: opening a WAL diary makes an empty
    ``-wal`` and a short ``-shm`` file, then fails to size the ``-shm`` (SQLITE_IOERR_SHMSIZE);
    the disk reports no space left, and a file write fails with ENOSPC. SQLite's exclusive
    locking mode, which needs no ``-shm``, still reads (a real SQLite does that here)."""
    import sqlite3

    real_connect = sqlite3.connect

    class FullDisk(sqlite3.Connection):
        diary: Path
        exclusive = False

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA locking_mode = EXCLUSIVE"):
                self.exclusive = True
            if sql == "PRAGMA user_version" and not self.exclusive:
                Path(f"{self.diary}-wal").touch()
                Path(f"{self.diary}-shm").write_bytes(b"\x00" * 3)
                exc = sqlite3.OperationalError("disk I/O error")
                exc.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE
                raise exc
            return super().execute(sql, *args)

    def connect(database, *args, **kwargs):
        name = str(database)
        if not name.endswith("diary.sqlite") or kwargs.get("factory"):
            return real_connect(database, *args, **kwargs)
        con = real_connect(database, *args, factory=FullDisk, **kwargs)
        con.diary = Path(name.removeprefix("file://"))
        return con

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0)
    )
    monkeypatch.setattr(os, "fsync", no_space)


def test_reading_commands_work_on_a_full_disk_and_leave_no_wal(_finished, tmp_path, full_disk):
    trial = _copy(_finished["unblinded"], tmp_path)
    before = _snapshot(trial)
    for args in (
        ["status", "--trial", trial, "--date", "2026-01-20"],
        ["history", "--trial", trial, "--date", "2026-01-06", "--json"],
        ["analyze", "--trial", trial],
    ):
        res = CliRunner().invoke(cli, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        assert _snapshot(trial) == before  # no -wal, no -shm left behind
    # The anonymised export reads the diary, then cannot write its file onto the full disk.
    out = trial / "anon.csv"
    line = _error(["export", "--anonymise", "--trial", trial, out], trial)
    assert line == (
        f"Error: cannot write the anonymised export to {out}: the disk holding {trial} is full "
        "(free some space there and try again)"
    )


def test_a_write_on_a_full_disk_says_so_and_leaves_no_wal(_finished, tmp_path, full_disk):
    trial = _copy(_finished["blinded"], tmp_path)
    diary = trial / "diary.sqlite"
    line = _error(["record", "--trial", trial, "--date", "2026-01-06", "--pain", "3", "--correct"],
                  trial)  # fmt: skip
    assert line == (
        f"Error: cannot open {diary}: the disk holding {trial} is full (free some space there "
        "and try again)"
    )


def test_a_full_disk_while_another_program_reads_the_diary_is_named(
    _finished, tmp_path, full_disk, monkeypatch
):
    import sqlite3

    import nof1.diary.schema

    trial = _copy(_finished["unblinded"], tmp_path)
    diary = trial / "diary.sqlite"
    other = sqlite3.connect(diary, factory=sqlite3.Connection)  # holds the diary open
    other.execute("SELECT count(*) FROM entries").fetchone()
    monkeypatch.setattr(nof1.diary.schema, "BUSY_TIMEOUT_S", 0.1)
    try:
        line = _error(["status", "--trial", trial, "--date", "2026-01-20"])
    finally:
        other.close()
    assert line == (
        f"Error: cannot read {diary}: the disk holding {trial} is full (free some space there "
        "and try again)"
    )
    assert not Path(f"{diary}-wal").exists()  # the other program, last to close, removed it


@pytest.mark.parametrize("wal", [None, b""], ids=["no -wal", "an empty -wal left by a full disk"])
def test_every_reading_command_works_on_a_read_only_medium(_finished, tmp_path, wal):
    trial = _copy(_finished["unblinded"], tmp_path)
    if wal is not None:
        (trial / "diary.sqlite-wal").write_bytes(wal)
    out = tmp_path / "out"
    out.mkdir()
    before = _snapshot(trial)
    with _read_only(trial):
        for args in (
            ["status", "--trial", trial, "--date", "2026-01-20", "--json"],
            ["history", "--trial", trial, "--date", "2026-01-06", "--json"],
            ["export", "--trial", trial, out / "export.csv"],
            ["export", "--anonymise", "--trial", trial, out / "anon.csv"],
            ["analyze", "--trial", trial, "--json"],
            ["report", "--trial", trial, "--out", out / "report.html"],
            ["calendar", "--trial", trial, "--out", out / "trial.ics"],
            ["protocol", "show", "--trial", trial],
        ):
            res = CliRunner().invoke(cli, [str(a) for a in args])
            assert res.exit_code == 0, (args, res.output)
    assert _snapshot(trial) == before
    assert sorted(p.name for p in out.iterdir()) == [
        "anon.csv", "export.csv", "report.html", "trial.ics"
    ]  # fmt: skip


def test_a_read_only_medium_with_unsaved_pages_in_its_wal_is_named(_finished, tmp_path):
    trial = _copy(_finished["unblinded"], tmp_path)
    (trial / "diary.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\x00" * 28)
    with _read_only(trial):
        line = _error(["status", "--trial", trial, "--date", "2026-01-20"], trial)
    assert line == (
        f"Error: cannot read {trial / 'diary.sqlite'}: it is on a read-only medium and its "
        "diary.sqlite-wal file may hold entries not yet saved in it; copy the trial to a "
        "writable place"
    )


# ------------------------------------------------------------------ issue 22: wording


@pytest.mark.parametrize("early", [True, False])
def test_a_second_unblind_names_the_first_before_asking_for_the_passphrase(trial, early):
    # Early or not, the reason is that the trial is unblinded, never "too early".
    today = date(2026, 3, 20) if early else None
    reason = "a flare" if early else ""
    _, first = unblind_trial(trial, PASS, early=early, reason=reason, today=today)
    expected = (
        f"Error: the trial was already unblinded on {first.unblinded_at:%Y-%m-%d} (code "
        f"{first.code}): a trial is unblinded once; `nof1 analyze` and `nof1 report` use that "
        "unblinding"
    )
    # No --passphrase-file: the command would ask for it; it is refused before that.
    assert _error(["unblind", "--trial", trial], trial) == expected
    assert _error(["unblind", "--trial", trial, "--early", "--reason", "again"], trial) == expected
    with pytest.raises(BlindingError, match=r"^the trial was already unblinded on .* \(code "):
        unblind_trial(trial, PASS, today=date(2026, 5, 1))


# ------------------------------------------------------------------ issue 22: usage errors


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "No such option '--bogus'. (see nof1 --help)"),
        (["bogus"], "No such command 'bogus'. (see nof1 --help)"),
        (["protocol", "bogus"], "No such command 'bogus'. (see nof1 protocol --help)"),
        (["protocol", "new"], "Missing option '--template'. (see nof1 protocol new --help)"),
        (["record", "--trial", "{trial}", "--diarrhoea", "no"], "No such option '--diarrhoea'."),
        (["record", "--trial", "{trial}", "--pain"], "Option '--pain' requires an argument."),
        (["analyze", "--trial", "{trial}", "--engine", "jags"], "'jags' is not one of"),
    ],
)
def test_an_unknown_or_missing_option_is_one_error_line(trial, args, message):
    # click would print its usage and a hint above the error: three lines, exit 2. (Under
    # CliRunner the program is called "cli", not "nof1".)
    line = _error([a.format(trial=trial) for a in args], trial)
    assert message.replace("see nof1", "see cli") in line, line


# ------------------------------------------------------------------ issue 22: the patient's page


def test_the_patients_page_before_unblinding_is_one_error_line(trial, tmp_path):
    from nof1.report.patient import BLINDED

    out = tmp_path / "summary.html"
    args = ["report", "--trial", trial, "--for", "patient", "--out", out]
    assert _error(args, trial) == f"Error: {BLINDED}"
    assert not out.exists()


def test_the_patients_page_of_a_tampered_trial_is_refused(unblinded, tmp_path):
    """A one-page decision aid cannot present a result and say it is not to be trusted:
    it is refused, and the clinician's report shows the damage in red."""
    path = unblinded / "protocol.toml"
    doc = tomllib.loads(path.read_text())
    doc["schedule"]["end"] = doc["schedule"]["periods"][-1]["end"] = date(2026, 12, 31)
    path.write_text(tomli_w.dumps(doc))
    out = tmp_path / "summary.html"
    line = _error(["report", "--trial", unblinded, "--for", "patient", "--out", out], unblinded)
    assert line.startswith(
        "Error: nof1 will not write the patient's page of this trial: protocol.toml was "
        "changed after the trial was created"
    ), line
    assert line.endswith("(`nof1 report` shows the details in red)")
    assert not out.exists()


def test_the_patients_page_needs_a_trial_not_a_csv(tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("day,pain,arm\n1,5,A\n2,4,B\n")
    out = tmp_path / "summary.html"
    args = ["report", "--csv", src, "--outcome", "pain", "--treatment", "arm", "--active", "A"]
    line = _error([*args, "--for", "patient", "--out", out], tmp_path)
    assert line == (
        f"Error: --for patient needs a trial folder (--trial), not a CSV file ({src}): the "
        "page names the treatments and the rule registered before the trial"
    )


def test_an_unknown_reader_of_the_report_is_one_error_line(unblinded, tmp_path):
    out = tmp_path / "summary.html"
    line = _error(["report", "--trial", unblinded, "--for", "nobody", "--out", out], unblinded)
    assert "'nobody' is not one of 'clinician', 'patient'" in line, line


def test_the_patients_page_never_replaces_a_file_without_force(unblinded, tmp_path):
    out = tmp_path / "summary.html"
    out.write_text("the patient's own notes")
    line = _error(["report", "--trial", unblinded, "--for", "patient", "--out", out], tmp_path)
    assert line == f"Error: {out} already exists; use --force to replace it"
    assert out.read_text() == "the patient's own notes"


# ------------------------------------------------------------------ issue 24: the trade-off


def _new_with(tmp_path: Path, *extra: str, template: str = "magnesium-crps") -> list:
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    return ["protocol", "new", "--template", template, "--trial", tmp_path / "t",
            "--passphrase-file", phrase, *extra]  # fmt: skip


@pytest.mark.parametrize(
    "extra, message",
    [
        (["diarrhoea=abc"], "decision.days_per_point.diarrhoea must be a finite number, not 'abc'"),
        (["diarrhoea=nan"], "decision.days_per_point.diarrhoea must be a finite number, not 'nan'"),
        (["diarrhoea=1e999"], "must be a finite number, not '1e999'"),
        (["diarrhoea=0"], "decision.days_per_point.diarrhoea must be above 0 and at most 7"),
        (["diarrhoea=-2"], "must be above 0 and at most 7 (days a week), not -2"),
        (["diarrhoea=8"], "must be above 0 and at most 7 (days a week), not 8"),
        (["diarrhoea="], "must be a finite number, not ''"),
        (["sleep=2"], "names 'sleep', not a yes/no outcome of this protocol (yes/no outcomes: diarrhoea)"),
        (["Nausea!=2"], "decision.days_per_point names 'Nausea!', not a yes/no outcome"),
        (["diarrhoea"], "--trade-off 'diarrhoea' must be NAME=DAYS"),
        (["=2"], "--trade-off '=2' must be NAME=DAYS"),
        (["diarrhoea=2", "--trade-off", "diarrhoea=3"], "--trade-off names 'diarrhoea' twice"),
    ],
)  # fmt: skip
def test_a_bad_trade_off_option_is_one_error_line_and_creates_nothing(tmp_path, extra, message):
    line = _error(_new_with(tmp_path, "--trade-off", *extra), tmp_path)
    assert message in line, line
    assert not (tmp_path / "t").exists()


def test_a_trade_off_for_a_template_without_that_outcome_is_refused(tmp_path):
    line = _error(
        _new_with(tmp_path, "--trade-off", "diarrhoea=2", template="generic-ab"), tmp_path
    )
    assert (
        "names 'diarrhoea', not a yes/no outcome of this protocol (yes/no outcomes: side_effects)"
        in line
    )


def test_end_of_input_at_the_trade_off_question_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr("nof1.cli.protocol_cmds._interactive", lambda: True)
    for answers in ("", "two\n"):
        line = _error_at_prompt(_new_with(tmp_path), answers, tmp_path)
        assert line == NO_ANSWER
        assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(decision={"days_per_point": {"diarrhoea": "lots"}}),
         "decision.days_per_point.diarrhoea must be a finite number, not 'lots'"),
        (lambda d: d.update(decision={"days_per_point": {"sleep": 2.0}}),
         "decision.days_per_point.sleep names 'sleep', not a yes/no outcome"),
        (lambda d: d.update(decision={"days_per_point": {"diarrhoea": 2.0}, "threshold": 2}),
         "decision.threshold must be at least 0.5 and at most 1, not 2"),
        (lambda d: d.update(decision=[1, 2]), "decision must be a table of keys"),
    ],
)  # fmt: skip
def test_a_hand_edited_decision_section_is_one_error_line(tmp_path, change, message):
    from nof1.trial.create import create_trial

    create_trial(tmp_path / "t", "magnesium-crps", passphrase=PASS, start=date.today(),
                 trade_off={"diarrhoea": 2})  # fmt: skip
    path = tmp_path / "t" / "protocol.toml"
    document = tomllib.loads(path.read_text())
    change(document)
    path.write_text(tomli_w.dumps(document))
    for args in (
        ["status", "--trial", tmp_path / "t"],
        ["protocol", "show", "--trial", tmp_path / "t"],
    ):
        line = _error(args, tmp_path)
        assert message in line, line
        assert line.endswith("(protocol.toml was edited after the trial was created: it no longer "
                             "matches its own commitment)")  # fmt: skip


# ------------------------------------------------------------------ issue 22: audit

_LONG_NAME = "x" * 300


@pytest.mark.parametrize(
    "args, message",
    [
        (["status", "--trial", "a\x00b"], "--trial 'a\\x00b' holds a NUL character"),
        (["status", "--trial", _LONG_NAME], "--trial 'xxxxxxxx"),
        (["status", "--trial", ""], "--trial '' is empty: give a file or folder name"),
        (["record", "--trial", " ", "--pain", "5"], "--trial ' ' is empty"),
        (["export", "--trial", "{trial}", "a\x00b.csv"], "CSV_FILE 'a\\x00b.csv' holds a NUL"),
        (["export", "--trial", "{trial}", f"{_LONG_NAME}.csv"], "CSV_FILE 'xxxxxxxx"),
        (["export", "--trial", "{trial}", ""], "CSV_FILE '' is empty"),
        (["import", "--trial", "{trial}", "in\x00.csv"], "CSV_FILE 'in\\x00.csv' holds a NUL"),
        (["calendar", "--trial", "{trial}", "--out", "{tmp}/" + _LONG_NAME], "--out '"),
        (
            ["kits", "--trial", "{trial}", "--passphrase-file", "p\x00"],
            "--passphrase-file 'p\\x00'",
        ),
        (["analyze", "--csv", "d\x00.csv", "--outcome", "p", "--treatment", "a"], "--csv 'd\\x00"),
        (
            ["report", "--trial", "{trial}", "--out", "r\x00.html"],
            "--out 'r\\x00.html' holds a NUL",
        ),
        (["pool", "a\x00.csv"], "FILES 'a\\x00.csv' holds a NUL"),
        (["demo", "--out", "d\x00"], "--out 'd\\x00' holds a NUL"),
    ],
)
def test_a_name_no_file_can_have_is_one_error_line(trial, tmp_path, args, message):
    # os.stat raised ValueError on a NUL byte, and OSError (ENAMETOOLONG) on a long name in
    # whatever read it first; an empty name was taken for the current folder.
    line = _error([a.format(trial=trial, tmp=tmp_path) for a in args], trial, tmp_path)
    assert line.startswith(f"Error: {message}"), line
    if any(_LONG_NAME in a for a in args):
        assert line.endswith("is too long for a file name (at most 255 bytes a name, 4095 a path)")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["analyze", "--trial", "{trial}", "--seed", "9" * 400],
            "--seed 99999999999999999999...(400 characters) is too large: at most "
            "9,223,372,036,854,775,807 (a whole number, 0 or more)",
        ),
        (
            ["analyze", "--trial", "{trial}", "--draws", "9" * 30],
            "--draws 999999999999999999999999999999 must be from 1 to 20,000",
        ),
        (
            ["design", "--sims", "-" + "9" * 25],
            "--sims -9999999999999999999999999 must be from 10 to 20,000",
        ),
        (
            ["protocol", "new", "--template", "generic-ab", "--trial", "{tmp}/t", "--blocks"]
            + ["1" + "0" * 30],
            "--blocks 1000000000000000000000000000000 is too large: at most "
            "9,223,372,036,854,775,807",
        ),
        (
            ["analyze", "--trial", "{trial}", "--mcid", "9" * 400],
            "--mcid 99999999999999999999...(400 characters) must be a finite number",
        ),
    ],
)
def test_a_whole_number_beyond_64_bits_is_one_error_line(trial, tmp_path, args, message):
    # math.isfinite(int) raised OverflowError; a long value is named, not printed in full.
    line = _error([a.format(trial=trial, tmp=tmp_path) for a in args], trial, tmp_path)
    assert line.startswith(f"Error: {message}"), line


@pytest.mark.parametrize("command", [["design"], ["protocol", "new", "--trial", "{tmp}/t"]])
@pytest.mark.parametrize(
    "template, message",
    [
        ("a\x00b", "template 'a\\x00b' is not a file name (built-in templates: generic-ab, "),
        ("", "template '' is not a file name (built-in templates: "),
        ("x" * 300, "template 'xxxxxxxx"),
    ],
)
def test_a_template_name_no_file_can_have_is_one_error_line(
    trial, tmp_path, command, template, message
):
    args = [a.format(tmp=tmp_path) for a in command] + ["--template", template]
    line = _error(args, trial, tmp_path)
    assert line.startswith(f"Error: {message}"), line
    assert not (tmp_path / "t").exists()


def test_a_reason_that_is_not_utf8_is_refused_before_anything_is_written(
    unblinded, trial, tmp_path
):
    # Diary.unblind and the deviation's insert raised UnicodeEncodeError (sqlite3).
    line = _error(
        ["record", "--trial", unblinded, "--date", "2026-04-26", "--pain", "5", "--correct"]
        + ["--after-unblinding", "--reason", "typo \udcff"],
        unblinded,
    )
    assert line == "Error: reason 'typo \\\\xff' is not valid UTF-8 text"
    (tmp_path / "fix.csv").write_text("date,pain\n2026-04-26,5\n")
    line = _error(
        ["import", "--trial", unblinded, "--correct", "--after-unblinding", "--reason", "\udcff"]
        + [tmp_path / "fix.csv"],
        unblinded,
    )
    assert line == "Error: reason '\\\\xff' is not valid UTF-8 text"


def test_an_early_unblinding_reason_that_is_not_utf8_is_refused(trial, tmp_path):
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    line = _error(
        ["unblind", "--trial", trial, "--passphrase-file", phrase, "--early"]
        + ["--reason", "side effects \udcff"],
        trial,
    )
    assert line == "Error: reason 'side effects \\\\xff' is not valid UTF-8 text"


def test_a_correction_in_a_trial_without_a_diary_creates_no_diary(trial, tmp_path, freeze_today):
    # The diary was created, then the correction refused: a new file in the trial folder.
    freeze_today(date(2026, 1, 7))
    line = _error(
        ["record", "--trial", trial, "--date", "2026-01-06", "--pain", "5", "--correct"], trial
    )
    assert line == "Error: 2026-01-06 has no entry to correct; record it without --correct"
    src = tmp_path / "fix.csv"
    src.write_text("date,pain\n2026-01-05,5\n2026-01-06,4\n")
    line = _error(["import", "--trial", trial, "--correct", src], trial)
    assert line == (
        f"Error: {src} line 2: 2026-01-05 has no entry to correct; record it without --correct"
    )
    assert not (trial / "diary.sqlite").exists()


def test_a_closed_diary_is_said_before_the_questions(unblinded, freeze_today):
    # The interactive entry asked every question, then refused: the answers were lost.
    freeze_today(date(2026, 4, 27))
    for extra in ([], ["--correct"]):
        line = _error(["record", "--trial", unblinded, "--date", "2026-04-26", *extra], unblinded)
        assert re.fullmatch(
            r"Error: the trial was unblinded on [-0-9]{10}: the diary is closed\..*", line
        )


def test_analyze_csv_refuses_a_row_with_more_cells_than_the_header(day_csv, tmp_path):
    # The cell beyond the header was dropped without a word (import refuses such a row).
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(day_csv.read_text() + "29,A,4,5\n")
    line = _error(_analyze_csv(ragged), tmp_path)
    assert line == (
        "Error: row 29 of ragged.csv has 4 cells, more than the 3 columns of its header: "
        "which column each cell belongs to cannot be known"
    )


def test_analyze_csv_refuses_more_rows_than_a_series_has_days(tmp_path):
    # 100,000 rows in row order ran analyze for 23 s and report past two minutes.
    big = tmp_path / "big.csv"
    big.write_text("arm,pain\n" + "".join(f"{'AB'[d // 7 % 2]},5\n" for d in range(36_526)))
    line = _error(["analyze", "--csv", big, "--outcome", "pain", "--treatment", "arm"], tmp_path)
    assert line == (
        f"Error: CSV file '{big}' has 36,526 rows; a series covers at most 36,525 days "
        "(100 years), one row a day"
    )


@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_pool_refuses_a_day_number_that_is_not_finite_without_a_warning(pool_file, tmp_path, value):
    # pandas warned "invalid value encountered in cast" above the Error line.
    lines = pool_file.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    cells = lines[header + 1].split(",")
    day = lines[header].split(",").index("day")
    cells[day] = value
    lines[header + 1] = ",".join(cells)
    pool_file.write_text("\n".join(lines) + "\n")
    line = _error(["pool", pool_file, "--engine", "fast"], tmp_path)
    assert line == f"Error: {pool_file} line {header + 2}: day '{value}' is not a whole number"


@pytest.mark.parametrize(
    "args, start",
    [
        (["record", "--trial", "{trial}", "--outcome", "a" * 100_000 + "=1"], "Error: unknown "),
        (["calendar", "--trial", "{trial}", "--out", "{tmp}/c.ics", "--tz", "a" * 10_000], ""),
        (["import", "--trial", "{trial}", "--date-format", "D" * 5000, "{tmp}/in.csv"], ""),
    ],
)
def test_a_very_long_value_is_named_by_its_start_and_length(trial, tmp_path, args, start):
    # The error line printed the whole 100,000-character value.
    (tmp_path / "in.csv").write_text("date,pain\n2026-01-05,5\n")
    line = _error([a.format(trial=trial, tmp=tmp_path) for a in args], trial, tmp_path)
    assert len(line) < 400 and re.search(r"\.\.\.\([0-9,]+ characters\)", line), line
    assert line.startswith(start)


def test_a_score_of_400_digits_is_named_as_typed(trial, freeze_today):
    # It overflowed to inf and the error said "pain score inf is outside 0-10".
    freeze_today(date(2026, 1, 6))
    line = _error(["record", "--trial", trial, "--date", "2026-01-06", "--pain", "9" * 400], trial)
    assert line == "Error: pain score 99999999999999999999...(400 digits) is outside 0-10"


@pytest.mark.parametrize("command", ["analyze", "report"])
def test_an_mcid_beyond_any_scale_is_refused_even_without_bounds(day_csv, tmp_path, command):
    # Without --low/--high there is no scale to check it against; 1e308 overflowed the
    # fit's arithmetic into warnings instead of one line.
    args = [command, "--csv", day_csv, "--outcome", "pain", "--treatment", "arm",
            "--mcid", "1e308"]  # fmt: skip
    if command == "report":
        args += ["--out", tmp_path / "r.html"]
    line = _error(args, tmp_path)
    assert line == "Error: --mcid 1e308 must be more than 0 and at most 1e+09"
