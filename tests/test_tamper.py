"""Attacks on a finished trial: each is refused, or shown in red in the report.

Every attack starts from a copy of the demo trial (unblinded, effect about -1.1 points)
and changes its files the way issue 14 found possible. Where a command refuses, the test
also asserts that the exact bytes of every file in the trial folder are unchanged.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sqlite3
import stat
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from nof1.cli import cli
from nof1.demo import DEMO_DESIGN, DEMO_START, run_demo
from nof1.diary import DIARY_FILE, record_day
from nof1.protocol import load_protocol, registration_digest
from nof1.trial import create_trial


@pytest.fixture(scope="session")
def _demo(tmp_path_factory):
    """The demo, run once: an unblinded trial, and the fingerprint given at its start."""
    demo = run_demo(tmp_path_factory.mktemp("tamper") / "demo", seed=1)
    return demo.trial_dir, load_protocol(demo.trial_dir).fingerprint


@pytest.fixture
def trial(tmp_path, _demo) -> Path:
    """A fresh copy of the unblinded demo trial."""
    folder = tmp_path / "trial"
    shutil.copytree(_demo[0], folder)
    return folder


@pytest.fixture
def given(_demo) -> str:
    """The fingerprint the patient gave the clinician before the first dose."""
    return _demo[1]


def snapshot(folder: Path) -> dict[str, bytes]:
    """The exact bytes of every file in a folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(trial: Path, tmp_path: Path, *args: str) -> str:
    """Run a command that must refuse; assert one Error line and no byte changed."""
    before = snapshot(trial)
    res = run(*args)
    assert res.exit_code == 1, res.output
    assert snapshot(trial) == before
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


def report_page(trial: Path, tmp_path: Path) -> str:
    out = tmp_path / "report.html"
    res = run("report", "--trial", trial, "--out", out, "--seed", "1", "--force")
    assert res.exit_code == 0, res.output
    return out.read_text(encoding="utf-8")


def banner(page: str) -> str:
    """The text of the red integrity banner ("" when there is none)."""
    m = re.search(r'<div class="banner" id="integrity-banner">(.*?)</div>', page, re.S)
    return "" if m is None else html.unescape(re.sub(r"<[^>]+>", " ", m.group(1)))


def fingerprint_in(page: str) -> str:
    return re.search(r'id="fingerprint">Fingerprint <strong>([^<]+)</strong>', page).group(1)


def rewrite_protocol(trial: Path, change, recommit: bool = False) -> None:
    """Edit protocol.toml as a text editor would (``change`` edits the parsed document);
    with ``recommit``, also recompute the commitment, as an informed attacker would."""
    path = trial / "protocol.toml"
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    change(document)
    if recommit:
        document["commitment"]["sha256"] = registration_digest(document)
    path.write_text(tomli_w.dumps(document), encoding="utf-8")


def refuses_to_analyse_and_export(trial: Path, tmp_path: Path, problem: str) -> None:
    line = refused(trial, tmp_path, "analyze", "--trial", trial)
    assert line.startswith("Error: nof1 will not analyse this trial: ")
    assert problem in line
    out = tmp_path / "anon.csv"
    line = refused(trial, tmp_path, "export", "--trial", trial, "--anonymise", out)
    assert line.startswith("Error: nof1 will not export this trial: ")
    assert problem in line
    assert not out.exists()


# =============================================================================== the commitment
# Issue 14, items 1, 2 and 4: the commitment covers the whole pre-registration.

PROTOCOL_CHANGED = (
    "protocol.toml was changed after the trial was created: it no longer matches its own commitment"
)


def test_the_untouched_demo_is_verified(trial, tmp_path, given):
    res = run("analyze", "--trial", trial)
    assert res.exit_code == 0, res.output
    page = report_page(trial, tmp_path)
    assert banner(page) == ""
    assert '<li id="integrity">Trial files: <span class="good">verified</span>' in page
    assert fingerprint_in(page) == given
    assert "compare with the one you were given at the start" in page
    assert "a forged trial can only be caught this way" in page


def test_protocol_new_and_kits_print_the_fingerprint_for_the_clinician(tmp_path):
    phrase = tmp_path / "pass.txt"
    phrase.write_text("correct horse battery\n")
    folder = tmp_path / "new"
    res = run(
        "protocol", "new", "--template", "generic-ab", "--trial", folder,
        "--passphrase-file", phrase,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    fingerprint = load_protocol(folder).fingerprint
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", fingerprint)
    assert f"Fingerprint: {fingerprint}\n" in res.output
    assert "Give it to the clinician BEFORE THE FIRST DOSE" in res.output
    kits = run("kits", "--trial", folder, "--passphrase-file", phrase)
    assert kits.exit_code == 0, kits.output
    assert f"Fingerprint: {fingerprint}\n" in kits.output
    assert "Give it to the clinician BEFORE THE FIRST DOSE" in kits.output


def _swap_periods(document) -> None:
    periods = document["schedule"]["periods"]
    for i in (0, 2, 4):
        a, b = periods[i], periods[i + 1]
        (a["start"], a["end"]), (b["start"], b["end"]) = (
            (b["start"], b["end"]),
            (
                a["start"],
                a["end"],
            ),
        )


def test_period_swap_is_refused_and_shown_in_red(trial, tmp_path, given):
    rewrite_protocol(trial, _swap_periods)
    refuses_to_analyse_and_export(trial, tmp_path, PROTOCOL_CHANGED)
    page = report_page(trial, tmp_path)
    assert PROTOCOL_CHANGED in banner(page)
    assert '<span class="bad">NOT verified</span>' in page


def test_period_swap_with_a_recomputed_commitment_changes_the_fingerprint(trial, tmp_path, given):
    rewrite_protocol(trial, _swap_periods, recommit=True)
    page = report_page(trial, tmp_path)
    assert fingerprint_in(page) != given


def _edit_plan(document) -> None:
    document["analysis"].update(mcid=0.1, threshold=0.5, prior="vague")


def test_analysis_plan_edit_is_refused_and_shown_in_red(trial, tmp_path):
    rewrite_protocol(trial, _edit_plan)
    refuses_to_analyse_and_export(trial, tmp_path, PROTOCOL_CHANGED)
    assert PROTOCOL_CHANGED in banner(report_page(trial, tmp_path))


def test_analysis_plan_edit_with_a_recomputed_commitment_changes_the_fingerprint(
    trial, tmp_path, given
):
    rewrite_protocol(trial, _edit_plan, recommit=True)
    assert fingerprint_in(report_page(trial, tmp_path)) != given


def _throwaway(tmp_path: Path) -> tuple[Path, Path, str]:
    """The forger's own trial: same design and dates, own passphrase; and its fingerprint.

    Made with the library: ``protocol new`` refuses a start in the past, a forger need not.
    """
    phrase = tmp_path / "forger.txt"
    phrase.write_text("the forger's own passphrase\n")
    folder = tmp_path / "throwaway"
    p = create_trial(
        folder,
        "magnesium-crps",
        passphrase="the forger's own passphrase",
        start=DEMO_START,
        **DEMO_DESIGN,
    )
    return folder, phrase, p.fingerprint


def test_forged_allocation_copied_into_a_blinded_trial_is_refused_at_unblinding(tmp_path, _demo):
    """Issue 14 item 2: the throwaway trial's sealed file and commitment line, copied in."""
    source = _demo[0]
    trial = tmp_path / "blinded"
    trial.mkdir()
    for name in ("protocol.toml", "allocation.sealed"):
        shutil.copy2(source / name, trial / name)
    forger, phrase, _ = _throwaway(tmp_path)
    shutil.copy2(forger / "allocation.sealed", trial / "allocation.sealed")
    forged = re.search(r'^commitment = ".*"$', (forger / "protocol.toml").read_text(), re.M)
    text = (trial / "protocol.toml").read_text()
    text = re.sub(r'^commitment = ".*"$', forged.group(0), text, flags=re.M)
    (trial / "protocol.toml").write_text(text)
    line = refused(
        trial, tmp_path, "unblind", "--trial", trial, "--passphrase-file", phrase, "--early",
        "--reason", "forging",
    )  # fmt: skip
    assert PROTOCOL_CHANGED in line
    assert "allocation.sealed was replaced or altered" in line


def test_a_whole_forged_trial_is_caught_only_by_the_fingerprint(tmp_path, given):
    """Everything replaced consistently: only the fingerprint the report prints differs."""
    forger, phrase, printed = _throwaway(tmp_path)
    diary = tmp_path / "diary.csv"
    protocol = load_protocol(forger)
    lines = ["date,pain"] + [
        f"{protocol.start + timedelta(days=i)},{3 + (i * 7) % 5}" for i in range(protocol.n_days)
    ]
    diary.write_text("\n".join(lines) + "\n")
    assert run("import", "--trial", forger, diary).exit_code == 0
    res = run("unblind", "--trial", forger, "--passphrase-file", phrase, "--early", "--reason", "x")
    assert res.exit_code == 0, res.output
    page = report_page(forger, tmp_path)
    assert banner(page) == ""
    assert fingerprint_in(page) == printed != given


# ===================================================================== the unblinding record
# Issue 14 item 4: analyze and export re-check the revealed allocation every time.

UNBLINDING_CHANGED = (
    "the unblinding record in diary.sqlite does not match the allocation's commitment"
)


def test_edited_unblinding_row_is_refused_and_shown_in_red(trial, tmp_path):
    con = sqlite3.connect(trial / DIARY_FILE)
    (arms,) = con.execute("SELECT arms FROM unblinding").fetchone()
    flipped = arms.replace('"A"', '"X"').replace('"B"', '"A"').replace('"X"', '"B"')
    con.execute("DROP TRIGGER unblinding_no_update")
    con.execute("UPDATE unblinding SET arms = ?", (flipped,))
    con.commit()
    con.close()
    refuses_to_analyse_and_export(trial, tmp_path, UNBLINDING_CHANGED)
    page = report_page(trial, tmp_path)
    assert UNBLINDING_CHANGED in banner(page)


# ========================================================================== older trials
# A protocol made before the commitment existed is refused until upgraded, never trusted.

OLD_FORMAT = (
    "protocol.toml was made by an older nof1 (format 1) and has no commitment over its "
    "schedule and analysis plan: run `nof1 protocol upgrade`"
)


def _downgrade(document) -> None:
    document["nof1"]["format_version"] = 1
    del document["commitment"], document["blinding"]["sealed_sha256"]


def test_an_older_protocol_is_refused_until_upgraded(trial, tmp_path):
    rewrite_protocol(trial, _downgrade)
    refuses_to_analyse_and_export(trial, tmp_path, OLD_FORMAT)
    assert OLD_FORMAT in banner(report_page(trial, tmp_path))
    res = run("protocol", "upgrade", "--trial", trial)
    assert res.exit_code == 0, res.output
    printed = re.search(r"Fingerprint: (\S+)", res.output).group(1)
    assert run("analyze", "--trial", trial).exit_code == 0
    page = report_page(trial, tmp_path)
    assert banner(page) == ""
    assert fingerprint_in(page) == printed
    assert 'id="upgraded"' in page
    line = refused(trial, tmp_path, "protocol", "upgrade", "--trial", trial)
    assert line == f"Error: {trial / 'protocol.toml'} is already format 2: nothing to upgrade"


# --------------------------------------------------------------------------------------------
# Outputs pointed at the trial's files, symlinked temp and diary files, a zero-byte diary.
# Every refusal must leave the exact bytes of every file of the trial as they were.

TRIAL_FILES = ("diary.sqlite", "protocol.toml", "allocation.sealed")


def _snapshot(*folders: Path) -> dict[Path, bytes]:
    """The bytes of every regular file under the folders (links are not followed)."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path] = path.read_bytes()
    return files


def _refused(args: list[str], *folders: Path) -> str:
    """Run a command that must be refused: one ``Error:`` line, exit 1, no byte changed."""
    before = _snapshot(*folders)
    res = CliRunner().invoke(cli, args)
    lines = [line for line in res.output.strip().splitlines() if line]
    assert res.exit_code == 1, res.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert _snapshot(*folders) == before
    return lines[0]


@pytest.fixture
def unblinded(trial: Path) -> Path:
    """The unblinded demo trial (``trial`` above)."""
    return trial


@pytest.fixture
def blank(tmp_path: Path, _template_trial: Path) -> Path:
    """A fresh blinded generic-ab trial without a diary (``conftest``)."""
    folder = tmp_path / "blank"
    shutil.copytree(_template_trial, folder)
    return folder


@pytest.fixture
def pooled_input(unblinded: Path, tmp_path: Path) -> list[Path]:
    """Two anonymised series of the trial (pooling needs two)."""
    paths = [tmp_path / "series1.csv", tmp_path / "series2.csv"]
    for path in paths:
        res = CliRunner().invoke(
            cli, ["export", "--trial", str(unblinded), "--anonymise", str(path)]
        )
        assert res.exit_code == 0, res.output
    return paths


def _output_commands(trial: Path, series: list[Path], out: Path) -> list[list[str]]:
    return [
        ["export", "--trial", str(trial), str(out)],
        ["export", "--trial", str(trial), "--anonymise", str(out)],
        ["report", "--trial", str(trial), "--out", str(out)],
        ["pool", *map(str, series), "--engine", "fast", "--out", str(out)],
    ]


@pytest.mark.parametrize("name", [*TRIAL_FILES, "diary.sqlite-wal", "diary.sqlite-shm"])
@pytest.mark.parametrize("force", [False, True])
def test_no_output_is_written_onto_a_trial_file(unblinded, pooled_input, name, force):
    target = unblinded / name
    target.touch(exist_ok=True)  # -wal and -shm exist while the diary is in use
    for args in _output_commands(unblinded, pooled_input, target):
        line = _refused(args + (["--force"] if force else []), unblinded)
        assert line.startswith("Error: refusing to write the ") and str(target) in line
        assert "which it would destroy" in line


def test_no_output_reaches_a_trial_file_by_another_path(unblinded, pooled_input, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    link = other / "innocent.csv"
    link.symlink_to(unblinded / "diary.sqlite")
    dotted = unblinded / ".." / unblinded.name / "protocol.toml"
    upper = unblinded / "ALLOCATION.SEALED"  # a case-insensitive folder would reach the file
    for target in (link, dotted, upper):
        for args in _output_commands(unblinded, pooled_input, target):
            _refused(args + ["--force"], unblinded, other)
    assert link.is_symlink() and os.readlink(link) == str(unblinded / "diary.sqlite")


def test_an_existing_output_is_replaced_only_with_force(unblinded, pooled_input, tmp_path):
    out = tmp_path / "mine.txt"
    for args in _output_commands(unblinded, pooled_input, out):
        out.write_bytes(b"precious")
        line = _refused(args, unblinded, tmp_path)
        assert line == f"Error: {out} already exists; use --force to replace it"
        res = CliRunner().invoke(cli, [*args, "--force"])
        assert res.exit_code == 0, res.output
        assert out.read_bytes() != b"precious"
        assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_outputs_holding_personal_data_are_private_whatever_the_umask(unblinded, pooled_input):
    old = os.umask(0)
    try:
        for i, args in enumerate(_output_commands(unblinded, pooled_input, Path("x"))):
            out = pooled_input[0].parent / f"out{i}"
            args[args.index("x")] = str(out)
            res = CliRunner().invoke(cli, args)
            assert res.exit_code == 0, res.output
            assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_planted_temp_file_link_is_never_written_through(unblinded, pooled_input, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not yours")
    out = tmp_path / "out.csv"
    # The names earlier versions used, and what a guess at mkstemp's names could plant.
    for name in (f".{out.name}.tmp", f".{out.name}.abcdefgh.tmp"):
        (tmp_path / name).symlink_to(victim)
    for args in _output_commands(unblinded, pooled_input, out):
        res = CliRunner().invoke(cli, [*args, "--force"])
        assert res.exit_code == 0, res.output
        assert victim.read_bytes() == b"not yours"
        assert not out.is_symlink() and out.stat().st_nlink == 1


def test_a_symlinked_diary_is_not_followed(blank, tmp_path):
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE mine (x)")
    con.commit()
    con.close()
    (blank / "diary.sqlite").symlink_to(other)
    t = str(blank)
    for args in (
        ["record", "--trial", t, "--date", "2026-01-05", "--pain", "5", "--correct"],
        ["status", "--trial", t, "--date", "2026-01-06"],
        ["history", "--trial", t, "--date", "2026-01-05"],
        ["export", "--trial", t, str(tmp_path / "e.csv")],
        ["import", "--trial", t, str(_diary_csv(tmp_path))],
    ):
        line = _refused(args, blank, tmp_path)
        assert line == (
            f"Error: {blank / 'diary.sqlite'} is a symbolic link; nof1 opens only a diary "
            "file itself, never a link (put the file it points to in its place)"
        )
    con = sqlite3.connect(other)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master")]
    con.close()
    assert tables == ["mine"]


def test_a_dangling_diary_link_or_a_linked_wal_is_refused(blank, tmp_path):
    record_day(blank, "2026-01-05", {"pain": 5}, today=date(2026, 1, 5))
    (blank / "diary.sqlite-wal").unlink(missing_ok=True)
    (blank / "diary.sqlite-wal").symlink_to(tmp_path / "elsewhere-wal")
    line = _refused(
        ["record", "--trial", str(blank), "--date", "2026-01-05", "--pain", "4", "--correct"], blank
    )
    assert line == f"Error: {blank / 'diary.sqlite'}-wal is a symbolic link; remove it"
    assert not (tmp_path / "elsewhere-wal").exists()

    (blank / "diary.sqlite-wal").unlink()
    (blank / "diary.sqlite").unlink()
    (blank / "diary.sqlite").symlink_to(tmp_path / "nowhere.sqlite")
    line = _refused(
        ["record", "--trial", str(blank), "--date", "2026-01-05", "--pain", "4", "--correct"], blank
    )
    assert "is a symbolic link" in line
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_a_zero_byte_diary_is_an_error_never_a_new_diary(blank, tmp_path):
    (blank / "diary.sqlite").touch(mode=0o600)
    t = str(blank)
    for args in (
        ["record", "--trial", t, "--date", "2026-01-05", "--pain", "5", "--correct"],
        ["import", "--trial", t, str(_diary_csv(tmp_path))],
        ["status", "--trial", t, "--date", "2026-01-06"],
        ["export", "--trial", t, str(tmp_path / "e.csv")],
        ["analyze", "--trial", t],
    ):
        line = _refused(args, blank)
        assert line.startswith(
            f"Error: {blank / 'diary.sqlite'} is empty (0 bytes), so not a diary"
        )
    assert (blank / "diary.sqlite").stat().st_size == 0
    assert not (tmp_path / "e.csv").exists()


def test_a_file_that_is_not_sqlite_is_not_a_diary(blank):
    (blank / "diary.sqlite").write_bytes(b"date,pain\n2026-01-05,5\n")
    (blank / "diary.sqlite").chmod(0o600)
    line = _refused(
        ["record", "--trial", str(blank), "--date", "2026-01-05", "--pain", "5", "--correct"], blank
    )
    assert line.startswith(f"Error: {blank / 'diary.sqlite'} is not a readable nof1 diary")


def _diary_csv(folder: Path) -> Path:
    path = folder / "in.csv"
    path.write_text("date,pain\n2026-01-05,5\n")
    return path
