"""The command line of sequential trials (issue 16): protocol show, protocol new, design."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from nof1.cli import cli
from nof1.protocol import (
    load_protocol,
    look_dates,
    protocol_from_template,
    read_template,
    template_rule,
)
from nof1.stopping import SequentialRule
from nof1.trial import create_trial

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
    assert "The helper or the clinician runs each look on its day, never the patient alone" in (
        block
    )
    assert "nof1 interim --trial" in " ".join(block.split())


def test_protocol_show_json_gives_the_rule_and_the_look_dates(sequential_trial):
    args = ["protocol", "show", "--trial", str(sequential_trial), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    seq = json.loads(result.output)["sequential"]
    assert (seq["looks"], seq["efficacy"], seq["futility"]) == ([2, 3, 4], [0.8] * 3, [0.3, 0.5])
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
