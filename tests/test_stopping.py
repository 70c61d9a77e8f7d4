"""The sequential rule (issue 16): its decisions, its checks and its place in the protocol."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest
import tomli_w

from nof1.errors import ProtocolError
from nof1.plan.protocol import PROTOCOL_FILE, load_protocol
from nof1.plan.stopping import (
    CONTINUE,
    STOP_EFFICACY,
    STOP_FUTILITY,
    SequentialRule,
    parse_rule,
    rule_to_toml,
)
from nof1.plan.templates import read_template, template_rule
from nof1.trial.create import create_trial
from nof1.trial.integrity import check_trial

PASS = "correct horse battery staple"
RULE = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))


@pytest.mark.parametrize(
    ("look", "p", "decision"),
    [
        (0, 0.91, STOP_EFFICACY),
        (0, 0.90, CONTINUE),  # strictly above the boundary
        (0, 0.19, STOP_FUTILITY),
        (0, 0.20, CONTINUE),
        (1, 0.86, STOP_EFFICACY),
        (1, 0.39, STOP_FUTILITY),
        (2, 0.81, STOP_EFFICACY),
        (2, 0.79, STOP_FUTILITY),  # the last look never continues
    ],
)
def test_each_look_applies_its_own_boundaries(look, p, decision):
    assert RULE.decide(look, p) == decision


def test_look_index_names_only_scheduled_looks():
    assert [RULE.look_index(b) for b in range(1, 6)] == [None, 0, 1, 2, None]
    assert RULE.max_blocks == 4
    with pytest.raises(ProtocolError, match="look 3"):
        RULE.decide(3, 0.5)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"looks": [], "efficacy": [], "futility": []}, "at least one look"),
        ({"looks": [3, 2], "efficacy": [0.8, 0.8], "futility": [0.1]}, "must increase"),
        ({"looks": [0, 2], "efficacy": [0.8, 0.8], "futility": [0.1]}, "block numbers"),
        ({"looks": [2, 4], "efficacy": [0.8], "futility": [0.1]}, "2 efficacy"),
        ({"looks": [2, 4], "efficacy": [0.8, 0.8], "futility": []}, "1 futility"),
        ({"looks": [2, 4], "efficacy": [1.2, 0.8], "futility": [0.1]}, "0.5-1"),
        ({"looks": [2, 4], "efficacy": [0.8, 0.8], "futility": [0.9]}, "below its efficacy"),
        ({"looks": [2, 4], "efficacy": ["x", 0.8], "futility": [0.1]}, "probability"),
        ({"looks": [2, 4], "efficacy": [0.8, 0.8], "futility": [0.1], "shape": "?"}, "shape"),
        ({"looks": [2, 4], "efficacy": [0.8, 0.8], "futility": [0.1], "when": 1}, "'when'"),
        ({"looks": [2, 4], "efficacy": [0.8, 0.8]}, "needs futility"),
    ],
)
def test_a_malformed_rule_is_refused_naming_the_value(section, message):
    with pytest.raises(ProtocolError, match=message):
        parse_rule(section, "here")


def test_the_last_look_must_be_the_last_block():
    with pytest.raises(ProtocolError, match="last block"):
        parse_rule(rule_to_toml(RULE), "here", blocks=5)
    assert parse_rule(rule_to_toml(RULE), "here", blocks=4) == RULE


def test_the_rule_is_written_read_back_and_covered_by_the_fingerprint(tmp_path):
    rule = template_rule(read_template("magnesium-crps"))
    assert rule is not None and rule.max_blocks == 4
    folder = tmp_path / "t"
    made = create_trial(folder, "magnesium-crps", passphrase=PASS, start=date.today(), seed=3,
                        sequential=rule)  # fmt: skip
    assert made.blocks == 4 and len(made.periods) == 8
    assert load_protocol(folder).sequential == rule
    assert check_trial(folder).problems == ()
    # Loosening a boundary after the start breaks the commitment.
    path = folder / PROTOCOL_FILE
    document = tomllib.loads(path.read_text())
    document["sequential"]["efficacy"][0] = 0.6
    path.write_text(tomli_w.dumps(document))
    assert any("no longer matches its own commitment" in p for p in check_trial(folder).problems)


def test_blocks_must_agree_with_the_rule(tmp_path):
    rule = template_rule(read_template("magnesium-crps"))
    with pytest.raises(ProtocolError, match="--blocks 3 disagrees"):
        create_trial(tmp_path / "t", "magnesium-crps", passphrase=PASS, start=date.today(),
                     blocks=3, sequential=rule)  # fmt: skip
    assert not (tmp_path / "t").exists()


def test_looks_are_chained_records_and_a_stop_opens_unblinding(tmp_path):
    from datetime import timedelta

    from nof1.diary.store import open_diary
    from nof1.errors import BlindingError, DiaryError
    from nof1.trial.handle import open_trial
    from nof1.trial.writes import unblind_trial

    rule = template_rule(read_template("magnesium-crps"))
    folder = tmp_path / "t"
    made = create_trial(folder, "magnesium-crps", passphrase=PASS, start=date.today(), seed=3,
                        sequential=rule)  # fmt: skip
    mid_trial = made.periods[5].start
    with pytest.raises(BlindingError, match="--early"):
        unblind_trial(folder, PASS, today=mid_trial)
    key = open_trial(folder).open_secrets(PASS).signing_key  # as `nof1 interim` signs
    with open_diary(folder, made) as diary:
        diary.record_look(1, 2, CONTINUE, signing_key=key)
        assert diary.stopped() is None
        with pytest.raises(DiaryError, match="unknown look decision"):
            diary.record_look(2, 3, "P = 0.93", signing_key=key)
        diary.record_look(2, 3, STOP_EFFICACY, signing_key=key)
        looks = diary.looks()
    assert [(x.look, x.after_block, x.decision) for x in looks] == [
        (1, 2, CONTINUE), (2, 3, STOP_EFFICACY),
    ]  # fmt: skip
    with open_diary(folder, made) as diary:
        assert diary.chain.ok and diary.stopped().decision == STOP_EFFICACY
    _, unblinding = unblind_trial(folder, PASS, today=mid_trial + timedelta(days=1))
    assert unblinding.early and unblinding.reason == "interim look 2 after block 3: STOP: efficacy"
    with open_diary(folder, made) as diary, pytest.raises(BlindingError, match="already unblinded"):
        diary.record_look(3, 4, CONTINUE, signing_key=key)
