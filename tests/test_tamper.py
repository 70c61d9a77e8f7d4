"""Attacks on a trial after the fact: each is refused, or shown in red in the report.

Issue 14 tried these by hand; here each is a test. Every attack starts from a copy of one
finished trial (blinded generic-ab, 3 blocks of 7-day periods, unblinded, about 1.5 points
less pain on A) and changes its files as a careful user or an impatient patient could.
Where a command refuses, the test asserts that the exact bytes of every file in the trial
folder are unchanged.

Sections: the commitment (protocol, allocation, fingerprint), the unblinding record, the
diary's hash chain, the diary frozen by unblinding, older trials.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import stat
import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from nof1.cli import cli
from nof1.diary.schema import DIARY_FILE, MIGRATIONS
from nof1.diary.store import open_diary
from nof1.plan.protocol import load_protocol
from nof1.plan.registration import registration_digest
from nof1.plan.sealing import open_allocation
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, record_day, unblind_trial

PASS = "correct horse battery"
START = date(2026, 1, 5)
DESIGN = {"blocks": 3, "period_days": 7, "washout_days": 0}


def _make_trial(folder: Path, passphrase: str = PASS, seed: int = 1) -> str:
    """A finished, unblinded trial in ``folder``; returns its fingerprint."""
    p = create_trial(folder, "generic-ab", passphrase=passphrase, start=START, seed=seed, **DESIGN)
    arms = open_allocation(folder, passphrase).arms
    rng = np.random.default_rng(seed)
    lines = ["date,pain"]
    for i in range(p.n_days):
        day = p.start + timedelta(days=i)
        arm = arms[p.day_info(day).period.index - 1]
        pain = np.clip(np.round(5.5 - 1.5 * (arm == "A") + rng.normal(0, 1)), 0, 10)
        lines.append(f"{day},{pain:g}")
    diary = folder.parent / f"{folder.name}-diary.csv"
    diary.write_text("\n".join(lines) + "\n")
    import_diary(folder, diary)
    unblind_trial(folder, passphrase, today=p.end + timedelta(days=1))
    return p.fingerprint


@pytest.fixture(scope="session")
def _finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tamper") / "trial"
    return folder, _make_trial(folder)


@pytest.fixture
def trial(tmp_path, _finished) -> Path:
    """A fresh copy of the finished trial."""
    folder = tmp_path / "trial"
    shutil.copytree(_finished[0], folder)
    return folder


@pytest.fixture
def given(_finished) -> str:
    """The fingerprint the patient gave the clinician before the first dose."""
    return _finished[1]


def snapshot(folder: Path) -> dict[str, bytes]:
    """The exact bytes of every file in a folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(trial: Path, *args) -> str:
    """Run a command that must refuse; assert one Error line and not one byte changed."""
    before = snapshot(trial)
    res = run(*args)
    assert res.exit_code == 1, res.output
    assert snapshot(trial) == before
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


def report_page(trial: Path) -> str:
    out = trial.parent / "report.html"
    res = run("report", "--trial", trial, "--out", out, "--seed", "1", "--force")
    assert res.exit_code == 0, res.output
    return out.read_text(encoding="utf-8")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment))).strip()


def banner(page: str) -> str:
    """The text of the red integrity banner ("" when there is none)."""
    m = re.search(r'<div class="banner" id="integrity-banner">(.*?)</div>', page, re.S)
    return "" if m is None else _text(m.group(1))


def item(page: str, name: str) -> str:
    """The text of one summary line (``<li id=name>``)."""
    return _text(re.search(rf'<li id="{name}">(.*?)</li>', page, re.S).group(1))


def fingerprint_in(page: str) -> str:
    return re.search(r'id="fingerprint">Fingerprint <strong>([^<]+)</strong>', page).group(1)


def refuses_to_analyse_and_export(trial: Path, problem: str) -> None:
    line = refused(trial, "analyze", "--trial", trial)
    assert line.startswith("Error: nof1 will not analyse this trial: ")
    assert problem in line
    out = trial.parent / "anon.csv"
    line = refused(trial, "export", "--trial", trial, "--anonymise", out)
    assert line.startswith("Error: nof1 will not export this trial: ")
    assert problem in line
    assert not out.exists()


def effect(trial: Path) -> float:
    res = run("analyze", "--trial", trial, "--json", "--seed", "1")
    assert res.exit_code == 0, res.output
    return float(re.search(r'"mean": (-?[0-9.]+)', res.output).group(1))


# ================================================================== the commitment
# Issue 14, items 1 and 2: one commitment over the whole pre-registration.


def rewrite_protocol(trial: Path, change, recommit: bool = False) -> None:
    """Edit protocol.toml as a text editor would (``change`` edits the parsed document);
    with ``recommit``, also recompute its commitment, as an informed attacker would."""
    path = trial / "protocol.toml"
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    change(document)
    if recommit:
        document["commitment"]["sha256"] = registration_digest(document)
    path.write_text(tomli_w.dumps(document), encoding="utf-8")


PROTOCOL_CHANGED = (
    "protocol.toml was changed after the trial was created: it no longer matches its own commitment"
)
NOT_THE_ONE = "protocol.toml is not the one the diary was started with (changed: "


def test_the_untouched_trial_is_verified(trial, given):
    assert run("analyze", "--trial", trial).exit_code == 0
    page = report_page(trial)
    assert banner(page) == ""
    assert item(page, "integrity").startswith("Trial files: verified")
    assert fingerprint_in(page) == given
    assert "compare with the one you were given at the start" in item(page, "fingerprint")
    assert "a forged trial can only be caught this way" in item(page, "fingerprint")


def test_protocol_new_and_kits_print_the_fingerprint_for_the_clinician(tmp_path):
    phrase = tmp_path / "pass.txt"
    phrase.write_text(PASS + "\n")
    folder = tmp_path / "new"
    res = run(
        "protocol", "new", "--template", "generic-ab", "--trial", folder,
        "--passphrase-file", phrase,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    fingerprint = load_protocol(folder).fingerprint
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", fingerprint)
    for out in (res.output, run("kits", "--trial", folder, "--passphrase-file", phrase).output):
        assert f"Fingerprint: {fingerprint}\n" in out
        assert "Give it to the clinician BEFORE THE FIRST DOSE" in out


def _swap_periods(document) -> None:
    """Periods 1<->2, 3<->4, 5<->6 trade their dates: every block's order is reversed."""
    periods = document["schedule"]["periods"]
    for i in (0, 2, 4):
        a, b = periods[i], periods[i + 1]
        a["start"], a["end"], b["start"], b["end"] = b["start"], b["end"], a["start"], a["end"]


def test_period_swap_is_refused_and_shown_in_red(trial):
    honest = effect(trial)
    rewrite_protocol(trial, _swap_periods)
    refuses_to_analyse_and_export(trial, PROTOCOL_CHANGED)
    page = report_page(trial)
    assert PROTOCOL_CHANGED in banner(page)
    assert f"{NOT_THE_ONE}schedule.periods[1].end, schedule.periods[1].start" in banner(page)
    assert item(page, "integrity").startswith("Trial files: NOT verified")
    swapped = float(re.search(r'id="effect">([^<]+)<', page).group(1))
    assert swapped > 0 > honest  # what the swap does, and why it must show


def test_period_swap_with_a_recomputed_commitment_is_named_by_the_diary(trial, given):
    rewrite_protocol(trial, _swap_periods, recommit=True)
    refuses_to_analyse_and_export(trial, NOT_THE_ONE)
    page = report_page(trial)
    assert PROTOCOL_CHANGED not in banner(page)
    assert f"{NOT_THE_ONE}schedule.periods[1].end" in banner(page)
    assert fingerprint_in(page) != given


def _edit_plan(document) -> None:
    document["analysis"].update(mcid=0.1, threshold=0.5, prior="vague")


def test_analysis_plan_edit_is_refused_and_shown_in_red(trial):
    rewrite_protocol(trial, _edit_plan)
    refuses_to_analyse_and_export(trial, PROTOCOL_CHANGED)
    text = banner(report_page(trial))
    assert PROTOCOL_CHANGED in text
    assert f"{NOT_THE_ONE}analysis.mcid, analysis.prior, analysis.threshold)" in text


def test_analysis_plan_edit_with_a_recomputed_commitment_is_named_by_the_diary(trial, given):
    rewrite_protocol(trial, _edit_plan, recommit=True)
    refuses_to_analyse_and_export(trial, NOT_THE_ONE)
    page = report_page(trial)
    assert f"{NOT_THE_ONE}analysis.mcid, analysis.prior, analysis.threshold)" in banner(page)
    assert fingerprint_in(page) != given


def _throwaway(tmp_path: Path) -> tuple[Path, str, str]:
    """The forger's own trial: same design and dates, own passphrase, blinded."""
    phrase = "the forger's own passphrase"
    folder = tmp_path / "throwaway"
    p = create_trial(folder, "generic-ab", passphrase=phrase, start=START, seed=2, **DESIGN)
    return folder, phrase, p.fingerprint


def test_forged_allocation_copied_into_the_trial_is_refused_at_unblinding(tmp_path, _finished):
    """Issue 14 item 2: the throwaway's sealed file and `commitment =` line, copied in."""
    trial = tmp_path / "blinded"
    trial.mkdir()
    shutil.copy2(_finished[0] / "protocol.toml", trial / "protocol.toml")
    forger, phrase, _ = _throwaway(tmp_path)
    shutil.copy2(forger / "allocation.sealed", trial / "allocation.sealed")
    forged = re.search(r'^commitment = ".*"$', (forger / "protocol.toml").read_text(), re.M)
    text = (trial / "protocol.toml").read_text()
    (trial / "protocol.toml").write_text(
        re.sub(r'^commitment = ".*"$', forged.group(0), text, flags=re.M)
    )
    phrase_file = tmp_path / "forger.txt"
    phrase_file.write_text(phrase + "\n")
    line = refused(trial, "unblind", "--trial", trial, "--passphrase-file", phrase_file)
    assert PROTOCOL_CHANGED in line
    assert "allocation.sealed was replaced or altered" in line


def test_forged_allocation_in_a_finished_trial_is_shown_in_red(trial, tmp_path):
    forger, _, _ = _throwaway(tmp_path)
    shutil.copy2(forger / "allocation.sealed", trial / "allocation.sealed")
    refuses_to_analyse_and_export(trial, "allocation.sealed was replaced or altered")
    assert "allocation.sealed was replaced or altered" in banner(report_page(trial))


def test_a_whole_forged_trial_is_caught_only_by_the_fingerprint(tmp_path, given):
    """Every file replaced consistently: it verifies, and only the fingerprint differs."""
    forged = tmp_path / "forged"
    printed = _make_trial(forged, passphrase="the forger's own passphrase", seed=2)
    page = report_page(forged)
    assert banner(page) == ""
    assert fingerprint_in(page) == printed != given


# ============================================================ the unblinding record
# Issue 14 item 4: analyze and export re-check the revealed allocation every time.

UNBLINDING_CHANGED = "the unblinding record was changed after it was made"
ALLOCATION_CHANGED = (
    "the unblinding record in diary.sqlite does not match the allocation's commitment"
)


def test_edited_unblinding_row_is_refused_and_shown_in_red(trial):
    con = sqlite3.connect(trial / DIARY_FILE)
    (arms,) = con.execute("SELECT arms FROM unblinding").fetchone()
    flipped = arms.replace('"A"', '"X"').replace('"B"', '"A"').replace('"X"', '"B"')
    con.execute("DROP TRIGGER unblinding_no_update")
    con.execute("UPDATE unblinding SET arms = ?", (flipped,))
    con.commit()
    con.close()
    refuses_to_analyse_and_export(trial, UNBLINDING_CHANGED)
    refuses_to_analyse_and_export(trial, ALLOCATION_CHANGED)
    text = banner(report_page(trial))
    assert UNBLINDING_CHANGED in text and ALLOCATION_CHANGED in text


# ============================================================== the diary's chain
# Issue 14 item 5: the audit trail cannot be rewritten without trace.


def _sql(trial: Path, *statements: str) -> None:
    con = sqlite3.connect(trial / DIARY_FILE)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def test_the_chain_is_stated_in_the_report(trial):
    n = len(load_protocol(trial).periods) * DESIGN["period_days"]
    assert item(report_page(trial), "chain") == f"Diary: {n} entries, chain verified."


def test_trigger_dropped_edits_and_delete_are_refused_and_shown_in_red(trial, tmp_path):
    _sql(
        trial,
        "DROP TRIGGER entries_no_update",
        "DROP TRIGGER entries_no_delete",
        "UPDATE entries SET outcomes = '{\"pain\": 9.0}' WHERE id IN (3, 4, 5, 6, 7)",
        "DELETE FROM entries WHERE id = 12",
    )
    problems = [f"diary entry #{i} ({START + timedelta(days=i - 1)}) was changed" for i in (3, 7)]
    problems.append(f"diary entry #12 ({START + timedelta(days=11)}) was deleted")
    for problem in problems:
        refuses_to_analyse_and_export(trial, problem)
    page = report_page(trial)
    for problem in problems:
        assert problem in banner(page)
    assert "chain BROKEN" in item(page, "chain")
    history = run("history", "--trial", trial, "--date", START + timedelta(days=2))
    assert "WARNING: this diary was altered outside nof1" in history.output
    assert problems[0] in history.output


def test_an_edit_of_the_chain_itself_breaks_its_hash(trial):
    _sql(
        trial,
        "DROP TRIGGER entries_no_update",
        "DROP TRIGGER chain_no_update",
        "UPDATE entries SET outcomes = '{\"pain\": 9.0}' WHERE id = 3",
        "UPDATE chain SET content = json_set(content, '$.outcomes', '{\"pain\": 9.0}')"
        " WHERE kind = 'entry' AND json_extract(content, '$.id') = 3",
    )
    refuses_to_analyse_and_export(trial, "of the chain (entry) was altered")


def test_a_deleted_chain_record_leaves_a_gap(trial):
    _sql(trial, "DROP TRIGGER chain_no_delete", "DELETE FROM chain WHERE seq = 20")
    refuses_to_analyse_and_export(trial, "diary record 20 of the chain is missing (deleted)")


def test_a_row_slipped_in_outside_nof1_is_refused(trial):
    _sql(
        trial,
        "INSERT INTO entries (date, outcomes, recorded_at, supersedes) VALUES"
        f" ('{START}', '{{\"pain\": 0.0}}', '2026-01-05T20:00:00+00:00', 1)",
    )
    refuses_to_analyse_and_export(trial, "was added outside nof1 (not in the chain)")


def test_nothing_is_added_to_a_broken_diary(trial, tmp_path):
    _sql(trial, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE id = 12")
    line = refused(
        trial, "record", "--trial", trial, "--date", START, "--pain", "3", "--correct",
        "--after-unblinding", "--reason", "typo",
    )  # fmt: skip
    assert "was altered outside nof1" in line
    assert "nof1 will not add to a diary whose history does not hold" in line


# ====================================================== unblinding freezes the diary
# Issue 14 item 3: corrections after unblinding are refused, or recorded as deviations.

CLOSED = "the diary is closed. An entry made now is a deviation from the protocol"


def _fix_csv(trial: Path) -> Path:
    """Issue 14's correction file: pain 2 on every A day, 8 on every B day."""
    p = load_protocol(trial)
    con = sqlite3.connect(trial / DIARY_FILE)
    arms = json.loads(con.execute("SELECT arms FROM unblinding").fetchone()[0])
    con.close()
    lines = ["date,pain"] + [
        f"{q.start + timedelta(days=i)},{2 if arms[q.index - 1] == 'A' else 8}"
        for q in p.periods
        for i in range(DESIGN["period_days"])
    ]
    path = trial.parent / "fix.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_corrections_after_unblinding_are_refused(trial):
    fix = _fix_csv(trial)
    for args in (
        ("import", "--trial", trial, "--correct", fix),
        ("import", "--trial", trial, fix),
        ("record", "--trial", trial, "--date", START, "--pain", "2", "--correct"),
    ):
        line = refused(trial, *args)
        assert CLOSED in line, line
        assert "--after-unblinding --reason TEXT" in line
    line = refused(trial, "import", "--trial", trial, "--correct", fix, "--after-unblinding")
    assert line == "Error: --after-unblinding needs --reason TEXT: why the entry is made now"


def test_corrections_after_unblinding_are_deviations_shown_with_and_without(trial):
    honest = effect(trial)
    fix = _fix_csv(trial)
    # A row that holds what its day already holds changes nothing and is not stored.
    with open_diary(trial) as diary:
        held = {str(r.entry.date): r.entry.values["pain"] for r in diary.current_entries()}
    rows = [line.split(",") for line in fix.read_text().splitlines()[1:]]
    # Make sure at least one row repeats what its day holds, whatever the simulated scores.
    first = next(i for i, (day, _) in enumerate(rows) if day in held)
    rows[first][1] = f"{held[rows[first][0]]:g}"
    fix.write_text("date,pain\n" + "".join(f"{day},{pain}\n" for day, pain in rows))
    n = sum(held.get(day) != float(pain) for day, pain in rows)
    assert 0 < n < len(rows) == 2 * DESIGN["blocks"] * DESIGN["period_days"]
    res = run(
        "import", "--trial", trial, "--correct", fix, "--after-unblinding",
        "--reason", "remembered better",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.output == f"Imported {n} entries from {fix}.\n"
    corrected = effect(trial)
    assert corrected < honest - 2  # the corrections move the effect a lot
    said = " ".join(run("analyze", "--trial", trial).output.split())
    assert f"Deviations: this result includes {n} diary entries made after unblinding" in said
    page = report_page(trial)
    summary = item(page, "summary-deviations")
    assert summary.startswith(f"{n} diary entries were made after unblinding")
    assert f"without them: effect {honest:+.1f}" in summary
    assert re.search(rf"<p id=\"unblinded\">Unblinded on [0-9-]+ [0-9:]+ UTC; {n} diary", page)
    table = re.search(r'<div class="note" id="deviations">(.*?)</div>', page, re.S).group(1)
    assert table.count("remembered better") == n
    assert "pain 2" in _text(table) and "pain 8" in _text(table)


def test_new_entries_after_an_early_unblinding_are_refused(tmp_path):
    folder = tmp_path / "early"
    start = date.today() - timedelta(days=2)
    create_trial(folder, "generic-ab", passphrase=PASS, start=start, **DESIGN)
    record_day(folder, start, {"pain": 5}, today=start)
    phrase = tmp_path / "pass.txt"
    phrase.write_text(PASS + "\n")
    res = run(
        "unblind", "--trial", folder, "--passphrase-file", phrase, "--early",
        "--reason", "side effects",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    line = refused(folder, "record", "--trial", folder, "--date", start + timedelta(days=1),
                   "--pain", "4")  # fmt: skip
    assert CLOSED in line
    res = run(
        "record", "--trial", folder, "--date", start + timedelta(days=1), "--pain", "4",
        "--after-unblinding", "--reason", "kept the diary going",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    history = run("history", "--trial", folder, "--date", start + timedelta(days=1)).output
    assert "after unblinding: kept the diary going" in history


def test_entries_before_unblinding_need_no_reason_and_accept_none(tmp_path):
    folder = tmp_path / "blinded"
    create_trial(folder, "generic-ab", passphrase=PASS, start=date.today(), **DESIGN)
    line = refused(
        folder, "record", "--trial", folder, "--pain", "3", "--after-unblinding",
        "--reason", "x",
    )  # fmt: skip
    assert line == "Error: --after-unblinding applies only once the trial is unblinded"
    assert run("record", "--trial", folder, "--pain", "3").exit_code == 0


# =================================================================== older trials
# A trial made before the commitment and the chain existed: migrated once, never trusted
# beyond what can be proven.

OLD_FORMAT = (
    "protocol.toml was made by an older nof1 (format 1) and has no commitment over its "
    "schedule and analysis plan: run `nof1 protocol upgrade`"
)


def _make_old(trial: Path) -> None:
    """Turn the trial into one made by nof1 before issue 14: format-1 protocol (no helper
    key), a diary of schema 2 (recall entries, no chain, an unsigned unblinding)."""

    def downgrade(document) -> None:
        document["nof1"]["format_version"] = 1
        del document["commitment"], document["blinding"]["sealed_sha256"]
        del document["blinding"]["helper_key"]  # records were not signed then either

    rewrite_protocol(trial, downgrade)
    old = sqlite3.connect(trial / "old.sqlite")
    for migrate in MIGRATIONS[:2]:
        migrate(old)
    old.execute("ATTACH ? AS new", (str(trial / DIARY_FILE),))
    old.execute(
        "INSERT INTO entries SELECT id, date, outcomes, guess, adherence, note, recorded_at,"
        " supersedes, recall FROM new.entries"
    )
    old.execute(
        "INSERT INTO unblinding SELECT id, unblinded_at, early, reason, arms, salt"
        " FROM new.unblinding"
    )
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.execute("DETACH new")
    old.close()
    (trial / "old.sqlite").chmod(0o600)
    (trial / "old.sqlite").replace(trial / DIARY_FILE)


def test_an_older_trial_is_migrated_once_and_refused_until_upgraded(trial):
    _make_old(trial)
    assert run("status", "--trial", trial).exit_code == 0  # the diary gets its chain
    refuses_to_analyse_and_export(trial, OLD_FORMAT)
    assert OLD_FORMAT in banner(report_page(trial))
    res = run("protocol", "upgrade", "--trial", trial)
    assert res.exit_code == 0, res.output
    printed = re.search(r"Fingerprint: (\S+)", res.output).group(1)
    assert run("analyze", "--trial", trial).exit_code == 0
    page = report_page(trial)
    assert banner(page) == ""
    assert fingerprint_in(page) == printed
    assert 'id="upgraded"' in page
    n = len(load_protocol(trial).periods) * DESIGN["period_days"]
    assert item(page, "chain").startswith(f"Diary: {n} entries, chain verified (it holds from")
    assert f"so the chain holds from entry {n + 1} on" in page
    line = refused(trial, "protocol", "upgrade", "--trial", trial)
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


def test_a_downgraded_protocol_cannot_be_upgraded_into_trust(trial):
    """Stripping the commitment and upgrading again is named: the diary knew the original."""
    rewrite_protocol(trial, _edit_plan)

    def downgrade(document) -> None:
        document["nof1"]["format_version"] = 1
        del document["commitment"], document["blinding"]["sealed_sha256"]
        del document["blinding"]["helper_key"]  # records were not signed then either

    rewrite_protocol(trial, downgrade)
    assert run("protocol", "upgrade", "--trial", trial).exit_code == 0
    text = banner(report_page(trial))
    assert "the diary was started under another protocol.toml, replaced later" in text
    assert "analysis.mcid" in text
