"""Protocol stage: randomized designs, the public protocol, the sealed allocation, bad input."""

from __future__ import annotations

import json
import os
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from nof1.cli import cli
from nof1.errors import BlindingError, ProtocolError
from nof1.plan.allocation import all_allocations, draw_allocation
from nof1.plan.protocol import load_protocol
from nof1.plan.sealing import SEALED_FILE, open_allocation, unseal
from nof1.plan.templates import builtin_templates
from nof1.trial.create import create_trial, packing_sheet

PASS = "correct horse battery"


@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    p = tmp_path / "pass.txt"
    p.write_text(PASS + "\n")
    return p


def new(tmp_path: Path, passfile: Path, *extra: str, trial: str = "trial") -> tuple[int, str, Path]:
    out = tmp_path / trial
    args = [
        "protocol",
        "new",
        "--template",
        "magnesium-crps",
        "--trial",
        str(out),
        "--seed",
        "7",
        "--start",
        "2027-01-04",
        "--passphrase-file",
        str(passfile),
        *extra,
    ]
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.output, out


# ------------------------------------------------------------------ the design itself


@pytest.mark.parametrize("blocks", [2, 3, 4, 6])
def test_block_design_is_balanced_in_every_block(blocks):
    rng = np.random.default_rng(0)
    for _ in range(50):
        arms = draw_allocation(blocks, "block", rng)
        assert len(arms) == 2 * blocks
        for b in range(blocks):
            assert sorted(arms[2 * b : 2 * b + 2]) == ["A", "B"]


def test_allocation_reproducible_from_seed_in_demos_and_tests(tmp_path, passfile):
    """``reproducible=True`` (the demo's and the tests' own switch; no command offers it):
    the seed alone gives the allocation. Without it a blinded trial's seed is mixed with a
    random salt (tests/test_signed.py shows the allocations then follow chance)."""
    make = partial(create_trial, passphrase=PASS, start=date(2027, 1, 4), reproducible=True)
    a = make(tmp_path / "a", "generic-ab", seed=11)
    b = make(tmp_path / "b", "generic-ab", seed=11)
    c = make(tmp_path / "c", "generic-ab", seed=12)
    arms = [open_allocation(tmp_path / x, PASS).arms for x in "abc"]
    assert arms[0] == arms[1]
    assert a.periods == b.periods
    # a different seed gives a different allocation for at least one of a handful of seeds
    others = {open_allocation(tmp_path / "c", PASS).arms}
    for seed in range(13, 17):
        make(tmp_path / f"s{seed}", "generic-ab", seed=seed)
        others.add(open_allocation(tmp_path / f"s{seed}", PASS).arms)
    assert len(others | {arms[0]}) > 1
    assert c.commitment != a.commitment  # fresh salt: commitments never repeat


def test_block_orders_are_fifty_fifty_over_many_seeds():
    """Each block's order is AB or BA with probability 1/2, independently of the others."""
    n, blocks = 4000, 4
    first_is_a = np.array(
        [
            [arms[2 * b] == "A" for b in range(blocks)]
            for arms in (
                draw_allocation(blocks, "block", np.random.default_rng(seed)) for seed in range(n)
            )
        ]
    )
    counts = first_is_a.sum(axis=0)
    for c in counts:  # two-sided binomial test per block at a fixed seed range
        assert stats.binomtest(int(c), n, 0.5).pvalue > 0.001
    # all 16 orders appear about equally often: chi-square goodness of fit
    codes = first_is_a.astype(int) @ (2 ** np.arange(blocks))
    observed = np.bincount(codes, minlength=2**blocks)
    assert stats.chisquare(observed).pvalue > 0.001


def test_schemes_enumerate_what_they_draw():
    rng = np.random.default_rng(3)
    for scheme, blocks, size in [("block", 3, 8), ("alternating", 3, 2), ("random-pairs", 3, 20)]:
        space = all_allocations(blocks, scheme)
        assert len(space) == len(set(space)) == size
        for _ in range(30):
            assert draw_allocation(blocks, scheme, rng) in space


# ------------------------------------------------------------- files and the secret


def test_protocol_toml_holds_no_trace_of_the_allocation(tmp_path, passfile):
    code, out, trial = new(tmp_path, passfile)
    assert code == 0, out
    text = (trial / "protocol.toml").read_text()
    allocation = open_allocation(trial, PASS)
    assert "arm =" not in text  # no per-period arm key
    assert "seed" not in text
    assert allocation.salt not in text
    assert "".join(allocation.arms) not in text.replace(" ", "")
    for kit in load_protocol(trial).periods:  # the kit lines carry no treatment name
        line = next(line for line in text.splitlines() if f'"{kit.kit}"' in line)
        assert "Magnesium" not in line and "Placebo" not in line
    sealed = (trial / SEALED_FILE).read_text()
    assert "Magnesium" not in sealed and '"A"' not in sealed


def test_trial_files_are_private(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    for name in ("protocol.toml", SEALED_FILE):
        assert (trial / name).stat().st_mode & 0o777 == 0o600
    assert trial.stat().st_mode & 0o777 == 0o700


def test_sealed_allocation_needs_the_passphrase(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    with pytest.raises(BlindingError, match="wrong passphrase"):
        open_allocation(trial, "not the passphrase")
    assert len(open_allocation(trial, PASS).arms) == 6


def test_tampered_sealed_file_is_detected(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    doc = json.loads((trial / SEALED_FILE).read_text())
    ct = bytearray(doc["ciphertext"].encode())
    ct[10] = ord("A") if ct[10] != ord("A") else ord("B")
    doc["ciphertext"] = ct.decode()
    (trial / SEALED_FILE).write_text(json.dumps(doc))
    with pytest.raises(BlindingError, match="altered"):
        open_allocation(trial, PASS)


def test_swapped_allocation_fails_the_commitment(tmp_path, passfile):
    """A validly sealed file from another trial does not match this protocol's commitment."""
    _, _, t1 = new(tmp_path, passfile, trial="one")
    _, _, t2 = new(tmp_path, passfile, trial="two")
    (t1 / SEALED_FILE).write_bytes((t2 / SEALED_FILE).read_bytes())
    with pytest.raises(BlindingError, match="commitment"):
        open_allocation(t1, PASS)
    assert unseal((t2 / SEALED_FILE).read_bytes(), PASS).arms  # the file itself is fine


def test_kits_sheet_shows_contents_to_the_helper(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    res = CliRunner().invoke(
        cli, ["kits", "--trial", str(trial), "--passphrase-file", str(passfile)]
    )
    assert res.exit_code == 0, res.output
    protocol, lines = packing_sheet(trial, PASS)
    assert [k.arm for k in lines] == list(open_allocation(trial, PASS).arms)
    assert all(k.doses == 28 * 2 for k in lines)
    for k in lines:
        assert f"{k.kit:<8} {k.period:<7}" in res.output
    assert res.output.count("Magnesium ") >= 3


def test_show_never_reveals_the_allocation(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    res = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(trial)])
    assert res.exit_code == 0
    assert "Kit 6" in res.output and "(its first days, to 2027-01-17, not analysed)" in res.output
    res_json = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(trial), "--json"])
    data = json.loads(res_json.output)
    assert all("arm" not in row for row in data["calendar"])
    assert data["start"] == "2027-01-04" and data["end"] == "2027-06-27"


def test_open_label_protocol_is_public(tmp_path):
    p = create_trial(
        tmp_path / "open", "magnesium-open", passphrase=None, start=date(2027, 1, 4), seed=1
    )
    assert not (tmp_path / "open" / SEALED_FILE).exists()
    loaded = load_protocol(tmp_path / "open")
    assert loaded.open_allocation == p.open_allocation and len(p.open_allocation) == 6
    assert open_allocation(tmp_path / "open", "").arms == p.open_allocation


def test_builtin_templates_all_load(tmp_path):
    names = builtin_templates()
    assert {"magnesium-crps", "generic-ab", "magnesium-open"} <= set(names)
    for i, name in enumerate(names):
        p = create_trial(tmp_path / f"t{i}", name, passphrase=PASS, start=date(2027, 1, 4), seed=i)
        assert p.primary.kind == "scale"
        assert load_protocol(tmp_path / f"t{i}").periods == p.periods


def test_slow_onset_templates_preregister_the_onset_model(tmp_path):
    """Magnesium may act slowly: its templates pre-register the onset/carryover model;
    the generic template keeps the plain one."""
    for i, (name, onset) in enumerate(
        [("magnesium-crps", True), ("magnesium-open", True), ("generic-ab", False)]
    ):
        create_trial(tmp_path / f"t{i}", name, passphrase=PASS, start=date(2027, 1, 4), seed=i)
        analysis = load_protocol(tmp_path / f"t{i}").analysis
        assert (analysis.carryover, analysis.exclude_washout) == (onset, True)


def test_onset_model_switch_must_be_true_or_false(tmp_path, passfile):
    bad = tmp_path / "bad.toml"
    text = builtin_templates()["generic-ab"].read_text()
    bad.write_text(text.replace('trend = "none"', 'trend = "none"\ncarryover = "yes"'))
    res = CliRunner().invoke(
        cli,
        ["protocol", "new", "--template", str(bad), "--trial", str(tmp_path / "t"),
         "--passphrase-file", str(passfile)],
    )  # fmt: skip
    assert res.exit_code != 0
    assert _error_line(res.output) == (
        f"Error: template {bad}: analysis.carryover must be true or false, not 'yes'"
    )
    assert not (tmp_path / "t").exists()


def test_protocols_folder_holds_the_templates():
    root = Path(__file__).resolve().parent.parent
    assert (root / "protocols" / "magnesium-crps.toml").read_text() == builtin_templates()[
        "magnesium-crps"
    ].read_text()


def test_day_info_marks_run_in_periods_and_washout(tmp_path):
    p = create_trial(
        tmp_path / "t", "magnesium-crps", passphrase=PASS, start=date(2027, 1, 4), seed=1
    )
    assert p.day_info(date(2027, 1, 3)).phase == "before"
    assert p.day_info(date(2027, 1, 4)).phase == "run-in"
    info = p.day_info(date(2027, 1, 11))
    assert (info.phase, info.period.index, info.washout, info.day) == ("period", 1, True, 7)
    assert not p.day_info(date(2027, 1, 18)).washout
    assert p.day_info(date(2027, 6, 28)).phase == "after"


# ------------------------------------------------------------------------ bad input


def _error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--blocks", "0"],
            "Error: blocks must be 2 or more, got 0: one A/B pair cannot separate an effect from chance",
        ),
        (
            ["--blocks", "-2"],
            "Error: blocks must be 2 or more, got -2: one A/B pair cannot separate an effect from chance",
        ),
        (
            ["--washout-days", "28"],
            "Error: washout-days (28) must be shorter than period-days (28): no day of a period would be analysed",
        ),
        (["--period-days", "1"], "Error: period-days must be 2 or more, got 1"),
        (["--run-in-days", "-1"], "Error: run-in-days must be 0 or more, got -1"),
        (
            ["--start", "2027-13-01"],
            "Error: start date '2027-13-01' is not a valid date; use YYYY-MM-DD",
        ),
    ],
)
def test_bad_design_gives_one_error_and_writes_nothing(tmp_path, passfile, extra, message):
    code, out, trial = new(tmp_path, passfile, *extra)
    assert code != 0
    assert _error_line(out) == message
    assert not trial.exists()


def test_unknown_template_key(tmp_path, passfile):
    bad = tmp_path / "bad.toml"
    text = (
        builtin_templates()["generic-ab"].read_text().replace("washout_days = 3", "washout_day = 3")
    )
    bad.write_text(text)
    res = CliRunner().invoke(
        cli,
        [
            "protocol",
            "new",
            "--template",
            str(bad),
            "--trial",
            str(tmp_path / "t"),
            "--passphrase-file",
            str(passfile),
        ],
    )
    assert res.exit_code != 0
    line = _error_line(res.output)
    assert line.startswith(
        f"Error: unknown key 'washout_day' in template {bad} [design]; known keys:"
    )
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("content", ["this is = = not toml", None])
def test_unreadable_template(tmp_path, passfile, content):
    path = tmp_path / "t.toml"
    if content is not None:
        path.write_text(content)
    res = CliRunner().invoke(
        cli,
        [
            "protocol",
            "new",
            "--template",
            str(path),
            "--trial",
            str(tmp_path / "t"),
            "--passphrase-file",
            str(passfile),
        ],
    )
    assert res.exit_code != 0
    line = _error_line(res.output)
    assert line.startswith(
        f"Error: template {path}" if content else f"Error: template '{path}' not found"
    )
    assert not (tmp_path / "t").exists()


def test_existing_trial_is_not_overwritten(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    before = {p.name: p.read_bytes() for p in trial.iterdir()}
    code, out, _ = new(tmp_path, passfile)
    assert code != 0
    assert (
        _error_line(out)
        == f"Error: {trial} already holds a trial (protocol.toml); use --force to replace it"
    )
    assert {p.name: p.read_bytes() for p in trial.iterdir()} == before
    code, out, _ = new(tmp_path, passfile, "--force", "--seed", "8")
    assert code == 0, out
    assert (trial / "protocol.toml").read_bytes() != before["protocol.toml"]


def test_force_never_replaces_a_diary(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    (trial / "diary.sqlite").write_bytes(b"entries")
    before = (trial / "protocol.toml").read_bytes()
    code, out, _ = new(tmp_path, passfile, "--force")
    assert code != 0 and "already holds a diary" in _error_line(out)
    assert (trial / "protocol.toml").read_bytes() == before


def test_wrong_passphrase_for_kits(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("definitely wrong\n")
    res = CliRunner().invoke(cli, ["kits", "--trial", str(trial), "--passphrase-file", str(wrong)])
    assert res.exit_code != 0
    assert (
        _error_line(res.output)
        == "Error: cannot open allocation.sealed: wrong passphrase, or the file was altered"
    )


def test_short_passphrase_refused_and_nothing_written(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("abc\n")
    res = CliRunner().invoke(
        cli,
        [
            "protocol",
            "new",
            "--template",
            "generic-ab",
            "--trial",
            str(tmp_path / "t"),
            "--passphrase-file",
            str(short),
        ],
    )
    assert res.exit_code != 0
    assert _error_line(res.output) == "Error: the passphrase must have at least 8 characters, got 3"
    assert not (tmp_path / "t").exists()


def test_missing_trial_folder(tmp_path):
    res = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(tmp_path / "nowhere")])
    assert res.exit_code != 0
    assert (
        _error_line(res.output)
        == f"Error: no trial folder at {tmp_path / 'nowhere'}: create one with `nof1 protocol new`"
    )
    with pytest.raises(ProtocolError):
        load_protocol(tmp_path)


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "nof1", "--help"], capture_output=True, text=True, env={**os.environ}
    )
    assert out.returncode == 0 and "protocol" in out.stdout


def test_overridden_design_says_the_template_reasoning_was_for_other_numbers(tmp_path):
    p = create_trial(
        tmp_path / "t",
        "magnesium-crps",
        passphrase=PASS,
        start=date(2027, 1, 4),
        seed=1,
        period_days=14,
        washout_days=3,
    )
    assert p.design_rationale.startswith(
        "The template's design was changed when this protocol was made (period days 28 -> 14; washout days 7 -> 3)."
    )
    same = create_trial(
        tmp_path / "u", "magnesium-crps", passphrase=PASS, start=date(2027, 1, 4), seed=1
    )
    assert same.design_rationale.startswith("Long periods with washout days")


def test_show_lists_the_outcomes_with_their_names_scales_and_questions(tmp_path, passfile):
    _, _, trial = new(tmp_path, passfile)
    res = CliRunner().invoke(cli, ["protocol", "show", "--trial", str(trial)])
    assert res.exit_code == 0, res.output
    text = res.output
    block = text[text.index("  Outcomes, recorded every day:\n") :].split("  Allocation")[0]
    assert block.splitlines()[1:3] == [
        "    pain (primary): Pain (0-10); 0-10, lower is better",
        "      asked: Your average pain in the last 24 hours: 0 = no pain, 10 = worst pain",
    ]
    assert "    sleep (secondary): Sleep quality (0-10); 0-10, higher is better\n" in block
    assert "    diarrhoea (side effect): Diarrhoea (yes/no); yes or no\n" in block
    assert "      asked: Did you have diarrhoea or loose stools today?\n" in block
    data = json.loads(
        CliRunner().invoke(cli, ["protocol", "show", "--trial", str(trial), "--json"]).output
    )
    assert [o["name"] for o in data["outcomes"]] == ["pain", "allodynia", "sleep", "diarrhoea"]
    assert data["outcomes"][0]["question"].startswith("Your average pain in the last 24 hours")
