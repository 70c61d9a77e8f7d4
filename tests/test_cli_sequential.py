"""The command line of sequential trials (issue 16): protocol show, protocol new, design."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from nof1.cli import cli
from nof1.plan.calendar import look_dates
from nof1.plan.protocol import PROTOCOL_FILE, load_protocol
from nof1.plan.stopping import SequentialRule
from nof1.plan.templates import protocol_from_template, read_template, template_rule
from nof1.trial.create import create_trial
from nof1.trial.integrity import check_trial

PASS = "correct horse battery"
START = date(2027, 1, 4)


@pytest.fixture(scope="module")
def sequential_trial(tmp_path_factory) -> Path:
    """A magnesium-crps trial with the template's own rule: looks after blocks 2, 3, 4."""
    folder = tmp_path_factory.mktemp("seq") / "trial"
    rule = template_rule(read_template("magnesium-crps"))
    create_trial(folder, "magnesium-crps", passphrase=PASS, start=START, seed=1, sequential=rule)
    return folder


# --- the protocol ----------------------------------------------------------------------


def test_a_look_is_due_the_day_after_its_block_ends(sequential_trial):
    p = load_protocol(sequential_trial)
    # run-in 7 days, then 28-day periods: block 2 ends on day 7 + 4 * 28 = 119.
    assert [p.periods[2 * k - 1].end for k in (2, 3, 4)] == [
        date(2027, 5, 2), date(2027, 6, 27), date(2027, 8, 22),
    ]  # fmt: skip
    assert look_dates(p) == (date(2027, 5, 3), date(2027, 6, 28), date(2027, 8, 23))
    assert look_dates(protocol_from_template(read_template("magnesium-crps"), start=START)) == ()


def test_a_sequential_protocol_says_so_in_its_design_rationale(tmp_path):
    spec = read_template("magnesium-crps")
    rule = template_rule(spec)
    p = create_trial(tmp_path / "t", "magnesium-crps", passphrase=PASS, start=START,
                     sequential=rule, period_days=21)  # fmt: skip
    assert p.design_rationale.startswith(
        "This is a sequential trial: it runs at most 4 blocks, with interim looks after blocks "
        "2 and 3 and the last look after block 4. It stops at the first look whose "
        "pre-registered boundary is crossed (the [sequential] section). The template's design "
        "was also changed (period days 28 -> 21). The template's reasoning for its own "
        "fixed-length design: Long periods with washout days"
    )
    assert "blocks 3 -> 4" not in p.design_rationale
    one = SequentialRule((3,), (0.8,), ())
    q = create_trial(tmp_path / "u", "magnesium-crps", passphrase=PASS, start=START,
                     sequential=one)  # fmt: skip
    assert q.design_rationale.startswith(
        "This is a sequential trial: it runs at most 3 blocks, with no interim look and the "
        "last look after block 3."
    )
    two = SequentialRule((2, 5), (0.9, 0.8), (0.1,))
    r = create_trial(tmp_path / "v", "magnesium-crps", passphrase=PASS, start=START,
                     sequential=two)  # fmt: skip
    assert "with an interim look after block 2 and the last look after block 5." in (
        r.design_rationale
    )


def test_protocol_show_gives_the_rule_and_the_look_dates(sequential_trial):
    result = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(sequential_trial)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Design: block randomization, at most 4 blocks (sequential), periods of 28 days" in out
    block = out.split("Interim looks (sequential: at most 4 blocks, constant boundaries)\n")[1]
    lines = block.splitlines()
    rule = " ".join(line.strip() for line in lines[:3])
    assert rule == template_rule(read_template("magnesium-crps")).describe(1.0)
    assert lines[3:6] == [
        "  2027-05-03  look 1, after block 2",
        "  2027-06-28  look 2, after block 3",
        "  2027-08-23  look 3, after block 4 (the last look)",
    ]
    assert (
        "The helper or the clinician runs each look on its day (or before the next block "
        "ends), never the patient alone"
    ) in " ".join(block.split())
    assert "nof1 interim --trial" in " ".join(block.split())


def test_protocol_show_json_gives_the_rule_and_the_look_dates(sequential_trial):
    args = ["protocol", "show", "--trial", str(sequential_trial), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    seq = json.loads(result.output)["sequential"]
    assert (seq["looks"], seq["efficacy"], seq["futility"]) == ([2, 3, 4], [0.8] * 3, [0.5, 0.5])
    assert seq["rule"].startswith("Looks after blocks 2, 3 and at the end (block 4).")
    assert seq["looks_due"] == [
        {"look": 1, "after_block": 2, "due": "2027-05-03"},
        {"look": 2, "after_block": 3, "due": "2027-06-28"},
        {"look": 3, "after_block": 4, "due": "2027-08-23"},
    ]


def test_a_fixed_protocol_shows_no_looks(tmp_path):
    folder = tmp_path / "fixed"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=1)
    result = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(folder)])
    assert "Interim looks" not in result.output and "sequential" not in result.output
    result = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(folder), "--json"])
    assert json.loads(result.output)["sequential"] is None


# --- protocol new --sequential -----------------------------------------------------------

#: Simulated trials per scenario in these tests (the engine's least; its default is 2000).
SIMS = 100


@pytest.fixture
def few_sims(monkeypatch):
    """``protocol new --sequential`` simulating SIMS trials: what `design --sims SIMS` runs."""
    from nof1.design import sequential as engine

    monkeypatch.setattr(engine, "rule_for_protocol", partial(engine.rule_for_protocol, sims=SIMS))


def new(tmp_path: Path, *args: str, template: str = "magnesium-crps"):
    passfile = tmp_path / "pass.txt"
    passfile.write_text(PASS + "\n")
    folder = tmp_path / "trial"
    result = CliRunner().invoke(
        cli,
        ["protocol", "new", "--template", template, "--trial", str(folder), "--seed", "3",
         "--start", date.today().isoformat(), "--passphrase-file", str(passfile), *args],
    )  # fmt: skip
    return result, folder


def test_protocol_new_sequential_pre_registers_the_templates_rule_with_its_simulation(
    tmp_path, few_sims
):
    result, folder = new(tmp_path, "--sequential")
    assert result.exit_code == 0, result.output
    document = tomllib.loads((folder / PROTOCOL_FILE).read_text())
    seq = document["sequential"]
    own = template_rule(read_template("magnesium-crps"))
    assert (seq["looks"], seq["efficacy"], seq["futility"]) == (
        list(own.looks), list(own.efficacy), list(own.futility),
    )  # fmt: skip
    sim = seq["simulated"]
    assert sim["sims"] == SIMS and sim["seed"] == 0 and sim["calibration_rhos"] == [0, 0.5, 0.8]
    assert 0 <= sim["false_positive"] <= 1 and 0 <= sim["power"] <= 1
    assert document["design"]["blocks"] == 4 == own.max_blocks
    assert document["analysis"]["threshold"] == own.efficacy[-1]
    assert document["design"]["rationale"].startswith("This is a sequential trial")
    p = load_protocol(folder)
    assert p.sequential == own and check_trial(folder).problems == ()
    out = result.output
    assert "  at most 4 blocks x 2 periods of 28 days" in out
    assert "Interim looks (sequential: at most 4 blocks, constant boundaries)" in out
    dues = [f"  {d}  look {i + 1}, after block {k}" for i, (k, d) in
            enumerate(zip(own.looks, look_dates(p), strict=True))]  # fmt: skip
    dues[-1] += " (the last look)"
    assert all(line in out.splitlines() for line in dues)
    assert f"Simulated when it was pre-registered ({SIMS} trials per scenario)" in out
    assert "nof1 interim --trial" in " ".join(out.split())


def test_protocol_new_sequential_calibrates_for_a_template_without_a_rule(tmp_path, few_sims):
    from nof1.design.sequential import evaluate_sequential

    result, folder = new(tmp_path, "--sequential", "--max-blocks", "3", template="generic-ab")
    assert result.exit_code == 0, result.output
    p = load_protocol(folder)
    expected = evaluate_sequential(read_template("generic-ab"), max_blocks=3, sims=SIMS)
    assert p.sequential == expected.recommended
    assert p.sequential.simulated == expected.recommended.simulated
    assert p.blocks == 3 and p.analysis.threshold == p.sequential.efficacy[-1]


def test_protocol_new_blocks_with_sequential_is_the_most_blocks(tmp_path, few_sims):
    result, folder = new(tmp_path, "--sequential", "--blocks", "4", "--max-blocks", "4")
    assert result.exit_code == 0, result.output
    assert load_protocol(folder).blocks == 4


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--max-blocks", "4"], "Error: --max-blocks applies only with --sequential"),
        (
            ["--sequential", "--blocks", "3", "--max-blocks", "4"],
            "Error: --blocks 3 disagrees with --max-blocks 4: a sequential trial's blocks are "
            "its most blocks (give one of them)",
        ),
        (
            ["--sequential", "--max-blocks", "1"],
            "Error: --max-blocks 1 must be 2 or more: one A/B pair cannot separate an effect "
            "from chance",
        ),
        (["--sequential", "--max-blocks", "65"], "Error: blocks must be at most 64, got 65"),
        (
            ["--sequential", "--period-days", "7"],
            "Error: washout-days (7) must be shorter than period-days (7): no day of a period "
            "would be analysed",
        ),
    ],
)
def test_protocol_new_sequential_bad_options_one_error_line_nothing_written(tmp_path, args, line):
    result, folder = new(tmp_path, *args)
    assert result.exit_code == 1
    assert [x for x in result.output.splitlines() if x.startswith("Error")] == [line]
    assert "Traceback" not in result.output and "Simulating" not in result.output
    assert not folder.exists()


# --- design --sequential -----------------------------------------------------------------


def design(*args: str):
    result = CliRunner().invoke(cli, ["design", "--sequential", "--sims", str(SIMS), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def magnesium_json() -> dict:
    return json.loads(design("--json").stdout)


def test_design_sequential_shows_three_boundary_sets_the_fixed_designs_and_the_rule(
    magnesium_json,
):
    out = design().stdout
    lines = out.splitlines()
    assert lines[0] == (
        f"Stopping early: what a sequential trial of Magnesium can show (magnesium-crps; {SIMS} "
        "simulated trials per boundary set and scenario)."
    )
    data = magnesium_json
    rec = data["recommended"]
    for section in ("Boundaries: P(benefit >= 1)", "What each design can show",
                    "Chance of stopping at each look"):  # fmt: skip
        at = next(i for i, line in enumerate(lines) if line.startswith(section))
        rows = lines[at + 3 if section.startswith("Boundaries") else at + 2 :][:3]
        assert [row[2:].split()[0] for row in rows] == [
            "constant", "obrien-fleming", "haybittle-peto",
        ], section  # fmt: skip
        assert [row[0] for row in rows] == [
            "*" if c["recommended"] else " " for c in data["candidates"]
        ]
    # the boundaries per look, as in the JSON
    at = next(i for i, line in enumerate(lines) if line.startswith("Boundaries"))
    assert lines[at + 2].split() == ["boundaries", "after", "block", "2", "after", "block",
                                     "3", "after", "block", "4"]  # fmt: skip
    for row, c in zip(lines[at + 3 : at + 6], data["candidates"], strict=True):
        cells = [f"{u:.3g} / {f:.3g}" for u, f in zip(c["efficacy"], c["futility"], strict=False)]
        assert row[2:].split()[1:] == " ".join([*cells, f"{c['efficacy'][-1]:.3g}"]).split()
    # the fixed designs beside them: the template's 3 blocks and the most, 4
    table = next(i for i, line in enumerate(lines) if line.startswith("What each design"))
    assert lines[table + 1].split()[:3] == ["design", "false", "alarm"]
    fixed = [lines[table + 5], lines[table + 6]]
    assert [row.split()[:3] for row in fixed] == [
        ["fixed,", "3", "blocks"],
        ["fixed,", "4", "blocks"],
    ]
    for row, f in zip(fixed, data["fixed"], strict=True):
        assert row.split()[3:] == [f"{f['false_alarm']:.0%}", f"{f['finds_benefit']:.0%}",
                                   f"{f['weeks']:.0f}", f"{f['weeks']:.0f}"]  # fmt: skip
    for head in ("false alarm", "finds benefit", "weeks if none", "weeks if real"):
        assert any(line.startswith(f"  {head} ") for line in lines), head
    # the recommended rule in words and the command that pre-registers a rule
    flat = " ".join(out.split())
    assert f"Recommended (marked *): the {rec['shape']} boundaries. In words: {rec['rule']}" in flat
    assert "  nof1 protocol new --template magnesium-crps --sequential --max-blocks 4" in lines
    own = template_rule(read_template("magnesium-crps"))
    if data["command_pre_registers_it"]:
        assert "To pre-register it (the looks and boundaries go into protocol.toml" in out
    else:  # the template pre-registers its own rule: the output says so, with the rule
        assert "This command pre-registers the template's own rule for 4 blocks" in flat
        assert own.describe(1.0) in flat


def test_design_sequential_json_gives_every_number(magnesium_json):
    data = magnesium_json
    assert data["template"] == "magnesium-crps" and data["looks"] == [2, 3, 4]
    assert data["assumptions"]["calibration_rhos"] == [0.0, 0.5, 0.8]
    assert [s["effect"] for s in data["scenarios"]] == [0, 0, 0, -1.5]
    assert [c["shape"] for c in data["candidates"]] == [
        "constant", "obrien-fleming", "haybittle-peto",
    ]  # fmt: skip
    assert sum(c["recommended"] for c in data["candidates"]) == 1
    for c in data["candidates"]:
        ocs = c["operating_characteristics"]
        assert len(ocs) == 4 and all(len(o["stop_efficacy"]) == 3 for o in ocs)
        for o in ocs:
            assert sum(o["stop_efficacy"]) + sum(o["stop_futility"]) == pytest.approx(1)
        assert c["false_alarm"] == max(o["p_efficacy_nonbinding"] for o in ocs[:3])
        assert c["finds_benefit"] == ocs[3]["p_efficacy"]
        assert c["expected_weeks_no_effect"] == pytest.approx(ocs[1]["expected_days"] / 7)
        assert c["false_alarm"] <= 0.05  # calibrated on these very trials
    assert [f["blocks"] for f in data["fixed"]] == [3, 4]
    assert data["fixed"][0]["days"] == 7 + 3 * 56
    rec = next(c for c in data["candidates"] if c["recommended"])
    assert {k: data["recommended"][k] for k in ("looks", "efficacy", "futility", "shape")} == {
        k: rec[k] for k in ("looks", "efficacy", "futility", "shape")
    }
    assert data["recommended"]["simulated"]["sims"] == SIMS
    assert (
        data["command"] == "nof1 protocol new --template magnesium-crps --sequential --max-blocks 4"
    )


def test_the_design_command_pre_registers_exactly_the_recommended_rule(tmp_path, few_sims):
    data = json.loads(design("--template", "generic-ab", "--json").stdout)
    assert data["command_pre_registers_it"] is True  # protocol new simulates SIMS trials too
    text = design("--template", "generic-ab").stdout
    command = text.splitlines()[-1].split()
    assert text.splitlines()[-3].startswith("To pre-register it")
    assert command[:3] == ["nof1", "protocol", "new"] and command == data["command"].split()
    result, folder = new(tmp_path, *command[5:], template=command[4])
    assert result.exit_code == 0, result.output
    rule = load_protocol(folder).sequential
    rec = data["recommended"]
    assert (list(rule.looks), list(rule.efficacy), list(rule.futility), rule.shape) == (
        rec["looks"], rec["efficacy"], rec["futility"], rec["shape"],
    )  # fmt: skip
    assert rule.simulated == rec["simulated"]
    assert load_protocol(folder).blocks == rule.max_blocks == 5  # generic-ab: 4 blocks + 1


def test_design_options_that_change_the_rule_say_the_command_may_differ():
    # generic-ab's own rule is for 5 blocks: for 4, protocol new simulates again.
    args = ("--template", "generic-ab", "--max-blocks", "4", "--looks", "2,4")
    flat = " ".join(design(*args).stdout.split())
    assert "looks after blocks 2 and 4." in flat
    assert "This command simulates again with the defaults" in flat
    assert "To pre-register it" not in flat
    # For 5 blocks protocol new pre-registers the template's own rule, not this one.
    flat = " ".join(design("--template", "generic-ab", "--looks", "2,4,5").stdout.split())
    assert "looks after blocks 2, 4 and 5." in flat
    assert "This command pre-registers the template's own rule for 5 blocks" in flat
    assert "To pre-register it" not in flat


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--sequential", "--looks", "3,2"], "Error: --looks 3,2 must increase (give e.g. 2,3,4)"),
        (
            ["--sequential", "--looks", "2,5", "--max-blocks", "4"],
            "Error: --looks 2,5 goes beyond --max-blocks 4: a look after block 5 would never come",
        ),
        (["--sequential", "--looks", "0,2"], "Error: --looks 0,2: looks are block numbers from 1"),
        (
            ["--sequential", "--looks", "4"],
            "Error: --looks 4 has no look before the last block: that is the fixed 4-block "
            "design (`nof1 design` without --sequential)",
        ),
        (
            ["--sequential", "--looks", "2,x"],
            "Error: --looks '2,x': 'x' is not a whole number (give e.g. 2,3,4)",
        ),
        (
            ["--sequential", "--target-fpr", "0.6"],
            "Error: --target-fpr 0.6 must be between 0 and 0.5 (e.g. 0.05)",
        ),
        (
            ["--sequential", "--target-fpr", "0"],
            "Error: --target-fpr 0 must be between 0 and 0.5 (e.g. 0.05)",
        ),
        (
            ["--sequential", "--max-blocks", "1"],
            "Error: --max-blocks 1 must be 2 or more: one A/B pair cannot separate an effect "
            "from chance",
        ),
        (["--sequential", "--max-blocks", "65"], "Error: blocks must be at most 64, got 65"),
        (
            ["--sequential", "--effect", "0"],
            "Error: --effect 0 must not be 0: it is the effect you hope for (no effect is "
            "always simulated beside it)",
        ),
        (
            ["--sequential", "--blocks", "3"],
            "Error: --blocks applies only without --sequential (a sequential design takes the "
            "template's periods and analysis; give --max-blocks and --looks)",
        ),
        (
            ["--sequential", "--threshold", "0.9"],
            "Error: --threshold applies only without --sequential (a sequential design takes "
            "the template's periods and analysis; give --max-blocks and --looks)",
        ),
        (["--max-blocks", "4"], "Error: --max-blocks applies only with --sequential"),
        (["--looks", "2,3"], "Error: --looks applies only with --sequential"),
        (["--target-fpr", "0.05"], "Error: --target-fpr applies only with --sequential"),
    ],
)
def test_design_bad_sequential_options_one_error_line_nothing_written(
    tmp_path, monkeypatch, args, line
):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["design", *args, "--sims", str(SIMS)])
    assert result.exit_code == 1
    assert [x for x in result.stderr.splitlines() if x.startswith("Error")] == [line]
    assert "Traceback" not in result.output and "Simulating" not in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_the_calendar_has_an_event_for_each_interim_look(sequential_trial):
    import icalendar

    from nof1.plan.reminders import trial_calendar

    p = load_protocol(sequential_trial)
    cal = icalendar.Calendar.from_ical(trial_calendar(p))
    looks = {
        str(e["uid"]).split("-", 1)[1].split("@")[0]: e
        for e in cal.walk("VEVENT")
        if "look" in str(e["uid"])
    }
    assert sorted(looks) == ["look-1", "look-2", "look-3"]
    for key, day, block in (("look-1", date(2027, 5, 3), 2), ("look-2", date(2027, 6, 28), 3),
                            ("look-3", date(2027, 8, 23), 4)):  # fmt: skip
        assert looks[key].decoded("dtstart") == day
        kind = "Last" if block == 4 else "Interim"
        assert str(looks[key]["summary"]) == (
            f"{kind} look {key[-1]} (after block {block}): helper or clinician"
        )
        assert "nof1 interim" in str(looks[key]["description"])


def test_an_open_label_sequential_trial_needs_no_passphrase_for_its_looks(tmp_path):
    folder = tmp_path / "open"
    rule = SequentialRule((2, 3), (0.9, 0.8), (0.2,))
    create_trial(folder, "magnesium-open", passphrase=None, start=START, sequential=rule)
    result = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(folder)])
    flat = " ".join(result.output.split())
    assert f"never the patient alone: `nof1 interim --trial {folder}`. It says only" in flat
