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


# ------------------------------------------------------------------ issue 22: wording


@pytest.mark.parametrize("early", [True, False])
def test_a_second_unblind_names_the_first_before_asking_for_the_passphrase(trial, early):
    # Early or not, the reason is that the trial is unblinded, never "too early".
    today = date(2026, 3, 20) if early else None
    first = unblind_trial(trial, PASS, early=early, reason="a flare" if early else "", today=today)[
        1
    ]
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
