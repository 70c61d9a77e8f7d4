"""Attacks on a finished trial: each is refused, or shown in red in the report.

Every attack starts from a copy of the demo trial (unblinded, effect about -1.1 points)
and changes its files the way issue 14 found possible. Where a command refuses, the test
also asserts that the exact bytes of every file in the trial folder are unchanged.
"""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from nof1.cli import cli
from nof1.demo import DEMO_DESIGN, DEMO_START, run_demo
from nof1.diary import DIARY_FILE
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
    res = run("report", "--trial", trial, "--out", out, "--seed", "1")
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
