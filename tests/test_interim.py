"""``nof1 interim`` (issue 16): a pre-registered look gives away its decision and nothing else.

Most tests run a small sequential generic-ab trial: 4 blocks of two 7-day periods without
washout or run-in, looks after blocks 2, 3 and 4, starting on ``START`` (block 2 ends on
2026-02-01, block 3 on 2026-02-15, block 4 on 2026-03-01). The CLI's today is fixed by the
``clock`` fixture; library calls take ``today``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from nof1.analysis.analyze import analyze
from nof1.analysis.series import series_from_trial, washout_mode
from nof1.cli import cli
from nof1.diary.schema import DIARY_FILE
from nof1.diary.store import open_diary
from nof1.errors import DataError
from nof1.interim import interim_look
from nof1.plan.calendar import block_end
from nof1.plan.protocol import PROTOCOL_FILE, Protocol, load_protocol
from nof1.plan.sealing import open_allocation
from nof1.plan.stopping import CONTINUE, STOP_EFFICACY, STOP_FUTILITY, SequentialRule
from nof1.plan.templates import read_template, template_rule
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.status import trial_status
from nof1.trial.writes import import_diary, unblind_trial

PASS = "correct horse battery"
START = date(2026, 1, 5)
RULE = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))
DESIGN = {"period_days": 7, "washout_days": 0}
#: The day after block 2, 3, 4 of the small design: when each look opens.
LOOK_DAY = {2: date(2026, 2, 2), 3: date(2026, 2, 16), 4: date(2026, 3, 2)}


def make(folder: Path, seed: int = 1, rule: SequentialRule | None = RULE) -> Protocol:
    """A sealed trial whose allocation the seed alone gives (``reproducible``: tests only)."""
    return create_trial(
        folder, "generic-ab", passphrase=PASS, start=START, seed=seed, sequential=rule,
        reproducible=True, **DESIGN,
    )  # fmt: skip


def fill(folder: Path, protocol: Protocol, effect: float, blocks: int, seed: int = 0) -> None:
    """Import a score for every day of blocks 1..``blocks``: 5.5 + effect on A + noise (sd 1).

    With ``effect`` 0 the scores do not depend on the allocation at all.
    """
    arms = open_allocation(folder, PASS).arms if effect else None
    rng = np.random.default_rng(seed)
    lines = ["date,pain"]
    for i in range(protocol.n_days):
        day = protocol.start + timedelta(days=i)
        period = protocol.day_info(day).period
        if period is None or period.block > blocks:
            continue
        on_a = arms is not None and arms[period.index - 1] == "A"
        pain = np.clip(np.round(5.5 + effect * on_a + rng.normal(0, 1)), 0, 10)
        lines.append(f"{day},{pain:g}")
    path = folder.parent / f"{folder.name}-diary.csv"
    path.write_text("\n".join(lines) + "\n")
    import_diary(folder, path)


@pytest.fixture(scope="session")
def _effective(tmp_path_factory) -> Path:
    """A trial with a clear benefit (2.5 points less pain on A), scored up to block 3."""
    folder = tmp_path_factory.mktemp("effective") / "trial"
    fill(folder, make(folder), -2.5, blocks=3)
    return folder


@pytest.fixture
def effective(tmp_path, _effective) -> Path:
    folder = tmp_path / "trial"
    shutil.copytree(_effective, folder)
    return folder


@pytest.fixture
def passfile(tmp_path) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text(PASS + "\n")
    return path


@pytest.fixture
def clock(monkeypatch):
    """Fix the day ``nof1 interim`` (and ``unblind``, ``status``) take as today."""
    current = [START]

    class FixedDate(date):
        @classmethod
        def today(cls) -> date:
            return current[0]

    for module in ("nof1.cli.interim_cmds", "nof1.cli.diary_cmds"):
        monkeypatch.setattr(f"{module}.date", FixedDate)
    return lambda day: current.__setitem__(0, day)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _code(stdout: str) -> str:
    """The look code ``nof1 interim`` printed."""
    return re.search(r"Look code: (\S+)", stdout).group(1)


def _without_code(stdout: str) -> str:
    return re.sub(r"Look code: \S+", "Look code: X", stdout)


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def look_records(folder: Path, kind: str = "look") -> list[dict]:
    """The content of every look record (or refused look) in the diary's chain, oldest first."""
    con = sqlite3.connect(folder / DIARY_FILE)
    try:
        rows = con.execute(
            "SELECT content FROM chain WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
    finally:
        con.close()
    return [json.loads(text) for (text,) in rows]


def expected_decision(folder: Path, after_block: int) -> str:
    """The decision computed apart from ``nof1.interim``: ``analyze`` on the opened series."""
    protocol = load_protocol(folder)
    pre = protocol.analysis
    series = series_from_trial(
        folder,
        washout=washout_mode(pre.exclude_washout, pre.carryover),
        allocation=open_allocation(folder, PASS),
    )
    series = series.subset(series.block <= after_block)
    result = analyze(
        series, engine="exact", prior=pre.prior, ar1=pre.ar1, trend=pre.trend,
        carryover=pre.carryover, mcid=pre.mcid, threshold=pre.threshold, seed=1,
    )  # fmt: skip
    rule = protocol.sequential
    return rule.decide(rule.looks.index(after_block), result.summary.p_mcid)


# ------------------------------------------------------------------ (a) only the decision


#: Never stops at look 1 (no futility stop, an efficacy boundary no 28 days reach).
NO_EARLY_STOP = SequentialRule((2, 3, 4), (0.999, 0.99, 0.8), (0.0, 0.0))


@pytest.mark.parametrize(
    ("rule", "decision"), [(RULE, STOP_FUTILITY), (NO_EARLY_STOP, CONTINUE)], ids=["stop", "go"]
)
def test_two_allocations_with_the_same_decision_write_the_same_bytes(
    tmp_path, clock, monkeypatch, rule, decision
):
    """The same diary (no effect) under two mirror allocations (BABA and ABAB in blocks
    1-2): stdout, stderr, exit code and the look record (its time aside) are byte for byte
    the same."""
    outputs = []
    arms = []
    for name, seed in (("one", 1), ("two", 2)):
        place = tmp_path / name
        folder = place / "trial"
        protocol = make(folder, seed, rule)
        arms.append(open_allocation(folder, PASS).arms)
        fill(folder, protocol, 0.0, blocks=2)
        assert expected_decision(folder, 2) == decision
        (place / "pass.txt").write_text(PASS + "\n")
        monkeypatch.chdir(place)
        clock(LOOK_DAY[2])
        res = run("interim", "--trial", "trial", "--passphrase-file", "pass.txt")
        records = look_records(folder)
        assert [r.pop("at") for r in records] and len(records) == 1
        # Each trial has its own helper key: the signature, the chain head it covers and the
        # code derived from them differ from trial to trial whatever the data, so they are
        # set aside here (they are checked in tests/test_signed.py).
        for r in records:
            assert r.pop("signature") and r.pop("head")
        out = re.sub(r"Look code: \S+", "Look code: X", res.stdout)
        outputs.append((res.exit_code, out.encode(), res.stderr.encode(), records))
    assert arms[0][:4] != arms[1][:4], "the two allocations must differ where the look sees"
    assert outputs[0] == outputs[1]
    code, out, err, records = outputs[0]
    assert code == 0 and err == b""
    assert records == [{"look": 1, "after_block": 2, "decision": decision}]
    assert out.decode().splitlines()[0] == f"Look 1 of 3 (after block 2): {decision}"


def test_an_arm_without_scores_is_refused_without_naming_it(tmp_path, clock, monkeypatch):
    """Scores only in periods 1 and 3: under an allocation where both are the same arm the
    model could not be fitted, so the look is refused on what the blinded diary shows (kits
    without scores), before the allocation is used, in words that name no arm; the refusal
    is recorded (signed), and nothing else changes."""
    seeds = {}
    # Two sealed trials whose periods 1 and 3 hold the same arm (A/A and B/B).
    for seed in range(1, 60):
        folder = tmp_path / f"s{seed}" / "trial"
        make(folder, seed)
        arms = open_allocation(folder, PASS).arms
        if arms[0] == arms[2] and arms[0] not in seeds:
            seeds[arms[0]] = folder
        else:
            shutil.rmtree(folder.parent)
        if len(seeds) == 2:
            break
    lines = []
    for folder in seeds.values():
        protocol = load_protocol(folder)
        days = [d for p in protocol.periods if p.index in (1, 3) for d in _days(p)]
        rng = np.random.default_rng(0)
        csv = folder.parent / "d.csv"
        csv.write_text("date,pain\n" + "".join(f"{d},{rng.integers(3, 8)}\n" for d in days))
        import_diary(folder, csv)
        (folder.parent / "pass.txt").write_text(PASS + "\n")
        before = snapshot(folder)
        monkeypatch.chdir(folder.parent)
        clock(LOOK_DAY[2])
        res = run("interim", "--trial", "trial", "--passphrase-file", "pass.txt")
        assert res.exit_code == 1 and res.stdout == ""
        after = snapshot(folder)
        assert {f: b for f, b in after.items() if f.name != DIARY_FILE} == {
            f: b for f, b in before.items() if f.name != DIARY_FILE
        }
        assert look_records(folder) == []
        refused = look_records(folder, kind="look-refused")
        assert [(r["look"], r["after_block"]) for r in refused] == [(1, 2)]
        lines.append(res.stderr)
    assert (
        lines[0]
        == lines[1]
        == (
            "Error: too few pain scores in blocks 1-2 to look: Kit 2, Kit 4 have fewer than 2 "
            "scored days (each kit needs at least 2, washout days not counted): the refused "
            "look was recorded\n"
        )
    )


def _days(period) -> list[date]:
    return [period.start + timedelta(days=i) for i in range((period.end - period.start).days + 1)]


# ------------------------------------------------------------------ (b) off schedule


@pytest.mark.parametrize(
    ("today", "message"),
    [
        (
            START,
            "no look is due: no block is complete; looks are after blocks 2, 3 and 4, the "
            "next on 2026-02-02",
        ),
        (
            LOOK_DAY[2] - timedelta(days=1),  # the last day of block 2: not over yet
            "no look is due: 1 block is complete; looks are after blocks 2, 3 and 4, the "
            "next on 2026-02-02",
        ),
    ],
)
def test_a_look_before_its_block_is_over_is_refused(effective, passfile, clock, today, message):
    clock(today)
    before = snapshot(effective)
    res = run("interim", "--trial", effective, "--passphrase-file", passfile)
    assert (res.exit_code, res.stdout, res.stderr) == (1, "", f"Error: {message}\n")
    assert snapshot(effective) == before


def test_a_look_whose_time_has_passed_is_refused(tmp_path, passfile, clock):
    folder = tmp_path / "trial"
    fill(folder, make(folder, rule=SequentialRule((2, 4), (0.9, 0.8), (0.2,))), -2.5, blocks=3)
    before = snapshot(folder)
    clock(LOOK_DAY[3])  # block 3 is complete: the look after block 2 was due until 2026-02-15
    res = run("interim", "--trial", folder, "--passphrase-file", passfile)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr == (
        "Error: no look is due: 3 blocks are complete; looks are after blocks 2 and 4, the "
        "next on 2026-03-02 (the look after block 2 could be taken until 2026-02-15)\n"
    )
    assert snapshot(folder) == before
    # On the last day of block 3 the look after block 2 was still open.
    clock(LOOK_DAY[3] - timedelta(days=1))
    assert run("interim", "--trial", folder, "--passphrase-file", passfile).exit_code == 0


# ------------------------------------------------------------------ (c) repeated, (d) STOP


def test_a_repeated_look_gives_the_same_decision_and_is_recorded_again(effective, passfile, clock):
    clock(LOOK_DAY[3] - timedelta(days=3))  # still the look after block 2
    first = run("interim", "--trial", effective, "--passphrase-file", passfile)
    again = run("interim", "--trial", effective, "--passphrase-file", passfile)
    assert first.exit_code == again.exit_code == 0
    # Each look record has its own code (it covers the chain head, which the first moved).
    assert _without_code(first.stdout) == _without_code(again.stdout)
    assert _code(first.stdout) != _code(again.stdout)
    with open_diary(effective, readonly=True) as diary:
        looks = diary.looks()
        assert diary.chain.ok
    assert [(x.look, x.after_block) for x in looks] == [(1, 2), (1, 2)]
    assert looks[0].decision == looks[1].decision


def test_a_stop_lets_unblind_run_before_the_planned_end(effective, passfile, clock):
    clock(LOOK_DAY[2] + timedelta(days=1))
    refused = run("unblind", "--trial", effective, "--passphrase-file", passfile)
    assert refused.exit_code == 1 and "--early" in refused.stderr
    res = run("interim", "--trial", effective, "--passphrase-file", passfile)
    assert res.exit_code == 0, res.output
    assert res.stdout == (
        "Look 1 of 3 (after block 2): STOP: efficacy\n"
        f"Look code: {_code(res.stdout)} (give it to the clinician with the decision)\n"
        f"The trial can end now: unblind with `nof1 unblind --trial {effective} "
        f"--passphrase-file {passfile}`, then analyse.\n"
    )
    status = run("status", "--trial", effective, "--date", str(LOOK_DAY[2] + timedelta(days=1)))
    assert "): STOP: efficacy" in status.stdout
    assert status.stdout.splitlines()[-1].startswith("Next: the trial can end now; the helper")
    recorded = run("record", "--trial", effective, "--pain", "4", "--correct")
    assert recorded.exit_code == 0, recorded.output
    assert "The trial stopped at an interim look: no more kits to take." in recorded.stdout
    done = run("unblind", "--trial", effective, "--passphrase-file", passfile)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("Unblinded (early, ")
    unblinding = load_unblinding(effective)
    assert unblinding.reason == "interim look 1 after block 2: STOP: efficacy"


def load_unblinding(folder: Path):
    with open_diary(folder, readonly=True) as diary:
        return diary.unblinding()


# ------------------------------------------------------------------ (e) every bad call


def _tamper(folder: Path) -> None:
    path = folder / PROTOCOL_FILE
    document = tomllib.loads(path.read_text())
    document["sequential"]["efficacy"][0] = 0.6
    path.write_text(tomli_w.dumps(document))


def _unblind(folder: Path) -> None:
    unblind_trial(folder, PASS, early=True, reason="test", today=LOOK_DAY[2])


def _stopped(folder: Path) -> None:
    """A STOP at look 1, signed by the helper as ``nof1 interim`` signs it."""
    key = open_trial(folder).open_secrets(PASS).signing_key
    with open_diary(folder) as diary:
        diary.record_look(1, 2, STOP_EFFICACY, signing_key=key)


@pytest.mark.parametrize(
    ("change", "today", "args", "message"),
    [
        (None, LOOK_DAY[2] - timedelta(days=2), [], "no look is due: 1 block is complete"),
        (None, LOOK_DAY[2], ["--passphrase-file", "wrong"], "wrong passphrase"),
        (None, LOOK_DAY[2], ["--trial-is-missing"], "no trial folder at "),
        (_tamper, LOOK_DAY[2], [], "nof1 will not look at this trial: protocol.toml"),
        (_unblind, LOOK_DAY[2], [], "the trial was unblinded on "),
        (
            _stopped,
            LOOK_DAY[3],
            [],
            "the trial stopped at look 1 (STOP: efficacy, after block 2): unblind it with "
            "`nof1 unblind`",
        ),
    ],
    ids=[
        "not-a-look-point",
        "wrong-passphrase",
        "missing-folder",
        "tampered",
        "unblinded",
        "stopped-earlier",
    ],  # fmt: skip
)
def test_every_bad_call_is_one_error_line_and_changes_nothing(
    effective, passfile, clock, tmp_path, change, today, args, message
):
    if change is not None:
        change(effective)
    trial = effective
    phrase = passfile
    if args == ["--passphrase-file", "wrong"]:
        phrase = tmp_path / "wrong.txt"
        phrase.write_text("not the right passphrase\n")
    if args == ["--trial-is-missing"]:
        trial = tmp_path / "nowhere"
    clock(today)
    before = snapshot(tmp_path)
    res = run("interim", "--trial", trial, "--passphrase-file", phrase)
    assert res.exit_code == 1 and res.stdout == "", res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert message in lines[0]
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "nowhere").exists()


def test_a_trial_without_sequential_rules_is_refused(tmp_path, passfile, clock):
    folder = tmp_path / "trial"
    fill(folder, make(folder, rule=None), -2.5, blocks=2)
    clock(LOOK_DAY[2])
    before = snapshot(tmp_path)
    res = run("interim", "--trial", folder, "--passphrase-file", passfile)
    assert (res.exit_code, res.stdout) == (1, "")
    assert res.stderr == (
        "Error: this trial has no pre-registered interim looks (its protocol.toml has no "
        "[sequential] section): it is analysed once, at the end\n"
    )
    assert snapshot(tmp_path) == before


def test_nothing_is_decrypted_before_the_schedule_is_checked(effective, clock, monkeypatch):
    """A look that is not due is refused before the passphrase is asked for."""
    clock(START)
    res = CliRunner().invoke(cli, ["interim", "--trial", str(effective)], input="")
    assert res.exit_code == 1 and "no look is due" in res.stderr
    assert "passphrase" not in res.output.lower()


# ------------------------------------------------------------------ (f) the decisions


def test_a_clear_benefit_stops_for_efficacy_as_the_fit_says(effective):
    assert expected_decision(effective, 2) == STOP_EFFICACY
    result = interim_look(effective, PASS, today=LOOK_DAY[2])
    assert (result.point.look, result.point.after_block, result.decision) == (1, 2, STOP_EFFICACY)
    assert result.point.next_block == 3 and result.point.next_on == LOOK_DAY[3]


def test_no_effect_with_enough_data_gives_what_the_rule_says(tmp_path):
    folder = tmp_path / "trial"
    fill(folder, make(folder), 0.0, blocks=3, seed=5)
    expected = expected_decision(folder, 3)
    assert expected in (STOP_FUTILITY, CONTINUE)
    assert interim_look(folder, PASS, today=LOOK_DAY[3]).decision == expected


def test_the_continue_line_names_the_next_look(tmp_path, passfile, clock):
    """A rule with no futility stop at look 1 and a boundary no data reach: CONTINUE."""
    folder = tmp_path / "trial"
    fill(folder, make(folder, rule=NO_EARLY_STOP), 0.0, blocks=2)
    assert expected_decision(folder, 2) == CONTINUE
    clock(LOOK_DAY[2])
    res = run("interim", "--trial", folder, "--passphrase-file", passfile)
    assert res.exit_code == 0 and res.stderr == ""
    assert res.stdout == (
        "Look 1 of 3 (after block 2): CONTINUE\n"
        f"Look code: {_code(res.stdout)} (give it to the clinician with the decision)\n"
        "Go on with the next kit as planned. The next look is after block 3 (on or after "
        "2026-02-16).\n"
    )
    status = trial_status(folder, LOOK_DAY[2] + timedelta(days=1))
    assert [(x.look, x.decision) for x in status.looks] == [(1, CONTINUE)]
    assert (status.next_look, status.next_look_on, status.stopped) == (3, LOOK_DAY[3], None)
    shown = run("status", "--trial", folder, "--date", "2026-02-03").stdout
    assert f"Interim look 1 (after block 2, {status.looks[0].at:%Y-%m-%d}): CONTINUE" in shown
    assert "Next interim look: after block 3, on or after 2026-02-16 (the helper or" in shown


def test_status_says_when_a_look_is_due(effective):
    s = trial_status(effective, LOOK_DAY[2])
    assert (s.next_look, s.next_look_on, s.looks) == (2, LOOK_DAY[2], ())
    assert s.to_dict()["next_look"] == {"after_block": 2, "on": "2026-02-02"}
    before = trial_status(effective, START)
    assert (before.next_look, before.next_look_on) == (2, LOOK_DAY[2])


def test_the_look_uses_the_exact_engine_whatever_the_protocol_says(tmp_path):
    """A protocol that pre-registers the PyMC engine: the look still fits exactly (same
    answer every time, no sampling)."""
    text = (
        (read_template_path("generic-ab"))
        .read_text()
        .replace('engine = "exact"', 'engine = "mcmc"')
    )
    template = tmp_path / "mcmc.toml"
    template.write_text(text)
    folder = tmp_path / "trial"
    protocol = create_trial(folder, template, passphrase=PASS, start=START, seed=1,
                            sequential=RULE, **DESIGN)  # fmt: skip
    assert protocol.analysis.engine == "mcmc"
    fill(folder, protocol, -2.5, blocks=2)
    decisions = {interim_look(folder, PASS, today=LOOK_DAY[2]).decision for _ in range(2)}
    assert decisions == {expected_decision(folder, 2)}


def read_template_path(name: str) -> Path:
    from nof1.plan.templates import builtin_templates

    return builtin_templates()[name]


def test_the_magnesium_template_looks_with_its_onset_model(tmp_path):
    """4 blocks of 28 days (7 washout) after a 7-day run-in: the onset model's look."""
    rule = template_rule(read_template("magnesium-crps"))
    folder = tmp_path / "trial"
    protocol = create_trial(folder, "magnesium-crps", passphrase=PASS, start=START, seed=3,
                            sequential=rule)  # fmt: skip
    assert protocol.analysis.carryover and rule.looks == (2, 3, 4)
    fill(folder, protocol, -2.5, blocks=2)
    today = block_end(protocol, 2) + timedelta(days=1)
    result = interim_look(folder, PASS, today=today)
    assert result.decision == expected_decision(folder, 2)
    assert result.point.next_on == block_end(protocol, 3) + timedelta(days=1)


def test_an_unfittable_look_is_refused_and_the_refusal_recorded(tmp_path):
    """Block 2 unscored: refused on the kits the blinded diary shows, and the refusal is
    recorded (signed), so it cannot be retried without a trace; no look is recorded."""
    folder = tmp_path / "trial"
    fill(folder, make(folder), -2.5, blocks=1)
    before = snapshot(folder)
    with pytest.raises(DataError, match="too few pain scores in blocks 1-2 to look: Kit 3, Ki"):
        interim_look(folder, PASS, today=LOOK_DAY[2])
    after = snapshot(folder)
    assert [f for f in after if after[f] != before.get(f)] == [folder / DIARY_FILE]
    assert look_records(folder) == []
    assert len(look_records(folder, kind="look-refused")) == 1
    assert open_trial(folder).signed.problems == ()


def test_look_days_agree_with_the_protocols_calendar(effective):
    """``nof1 status`` and ``nof1 interim`` open each look on the day ``protocol show`` gives."""
    from nof1.plan.calendar import look_dates
    from nof1.trial.status import look_opens

    protocol = load_protocol(effective)
    assert look_dates(protocol) == tuple(look_opens(protocol, k) for k in RULE.looks)
    assert look_dates(protocol) == tuple(LOOK_DAY.values())


def test_after_a_stop_the_blocks_never_run_are_not_missing(effective):
    """A STOP ends the trial with the block it looked at: status no longer asks for the
    days of blocks 3-4, names no kit, and says where the trial stopped."""
    interim_look(effective, PASS, today=LOOK_DAY[2])
    later = LOOK_DAY[3] + timedelta(days=3)  # block 4 would be running
    s = trial_status(effective, later)
    assert s.phase == "after" and s.kit is None and s.next_switch is None
    assert s.last_day == block_end(load_protocol(effective), 2)
    assert s.missing == () and s.days_so_far == s.days_recorded == 28
    out = CliRunner().invoke(cli, ["status", "--trial", str(effective)], catch_exceptions=False)
    # The CLI's clock is today's date, long after this 2026 trial: the stop line shows.
    assert (
        "the trial stopped at interim look 1 (STOP: efficacy); its last day was 2026-02-01."
        in out.output
    )
