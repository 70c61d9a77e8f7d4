"""Every traceback issue 14 found is one ``Error:`` line, a non-zero exit and nothing changed.

Each test feeds the command line what once crashed it, and checks the exact error line
and that the files of the trial are byte for byte as they were.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASS

from nof1.cli import cli
from nof1.errors import BlindingError
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
def test_a_damaged_chain_is_warned_about_refused_and_never_a_traceback(
    _finished, tmp_path, freeze_today, damage
):
    freeze_today(date(2026, 2, 17))
    trial = _copy(_finished["unblinded"], tmp_path)
    statements, what = CHAIN_DAMAGE[damage]
    _damage(trial, *statements)
    out = _outputs(tmp_path)
    before = _snapshot(trial)
    for command in ("status", "status --json", "history", "history --json", "export"):
        res = CliRunner().invoke(cli, _args(command, trial, out))
        assert res.exit_code == 0, res.output
        assert res.stderr.startswith("WARNING: ") and what in res.stderr, res.stderr
    assert "2026-01-06,4.0" in (out / "export.csv").read_text()  # the rows are all there
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
    res = CliRunner().invoke(cli, ["status", "--trial", str(sequential), "--date", "2026-02-02"])
    assert res.exit_code == 0, res.output
    assert (
        f"diary record {seq} of the chain (look) is damaged: its 'after_block' is NULL, not a "
        "whole number"
    ) in res.stderr
    assert "Interim look 1" not in res.stdout
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
