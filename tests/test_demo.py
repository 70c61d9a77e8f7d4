"""``nof1 demo``: the whole flow on a simulated patient, in seconds, ending in a report."""

from __future__ import annotations

import re
from datetime import date

import pytest
from click.testing import CliRunner

from nof1.cli import cli
from nof1.cli.demo import DEMO_DESIGN, DEMO_PATIENT, run_demo


def test_cli_demo_runs_and_prints_the_report_path(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "--out", str(out), "--seed", "1"])
    assert res.exit_code == 0, res.output
    report = out / "report.html"
    assert f"Open the report: {report}" in res.output
    assert f"The patient's page: {out / 'summary.html'}" in res.output
    steps = re.findall(r"^(\d)\. (\w+)", res.output, flags=re.M)
    assert [s[0] for s in steps] == ["1", "2", "3", "4", "5", "6", "7"]
    assert report.exists() and report.stat().st_size > 50_000
    assert sorted(p.name for p in out.iterdir()) == [
        "diary.csv",
        "helper-passphrase.txt",
        "report.html",
        "summary.html",
        "trial",
    ]


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert res.stderr.strip() == (
        f"Error: {tmp_path} is not empty: choose a new folder or use --force to replace the demo in it"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_demo_force_replaces_only_its_own_files(tmp_path):
    first = run_demo(tmp_path, seed=2)
    (tmp_path / "keep.txt").write_text("mine")
    second = run_demo(tmp_path, seed=3, force=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert second.report.exists() and second.patient_page.exists()
    assert first.report == second.report


def test_demo_patient_and_design(tmp_path):
    res = run_demo(tmp_path / "d", seed=1)
    s = res.result.summary
    protocol_days = (
        DEMO_DESIGN["run_in_days"] + 2 * DEMO_DESIGN["blocks"] * DEMO_DESIGN["period_days"]
    )
    assert res.truth["effect"] == DEMO_PATIENT["effect"] == -1.5
    # The truth lies in the 95% interval and the benefit is detected.
    assert s.hdi_low < DEMO_PATIENT["effect"] < s.hdi_high
    assert s.p_benefit > 0.9
    assert s.engine == "exact" and s.diagnostics.ok
    # One missed week (and a few scattered days): fewer scores than analysis days.
    assert s.n_days - s.n_observed >= 7
    diary_rows = (res.out / "diary.csv").read_text().strip().splitlines()[1:]
    assert protocol_days - 14 <= len(diary_rows) <= protocol_days - 7
    assert sorted(set(res.allocation)) == ["A", "B"]


@pytest.mark.slow
def test_report_of_an_mcmc_fit(tmp_path):
    from nof1.analysis.analyze import analyze_trial
    from nof1.report import build_report, trial_report

    res = run_demo(tmp_path / "m", seed=1)
    result = analyze_trial(res.trial_dir, engine="mcmc", seed=1, chains=2, tune=500)
    s = result.summary
    assert s.engine == "mcmc"
    assert s.diagnostics.ok, s.diagnostics.messages
    assert s.hdi_low < DEMO_PATIENT["effect"] < s.hdi_high
    page = build_report(result)
    assert "R-hat (max)" in page and "Divergent transitions" in page
    assert 'id="diagnostics-banner"' not in page
    # The posterior predictive check comes from the MCMC draws too.
    assert page.count('src="data:image/png;base64,') == 3
    # A given result is not refitted: only the secondary outcomes are (exact here).
    page = trial_report(res.trial_dir, result=result, seed=1)
    assert f'data-value="{s.p_benefit:.4f}"' in page
    # Only the engine differs from the registration: it is the pre-registered analysis.
    assert (
        "mcmc engine, neutral prior, normal likelihood (the pre-registered analysis, MCMC engine)"
        in page
    )
    assert "(pre-registered analysis, MCMC engine)" in page and "not pre-registered" not in page


def test_cli_demo_writes_to_a_new_temporary_folder_by_default(tmp_path, monkeypatch):
    import tempfile
    from pathlib import Path
    from types import SimpleNamespace

    import nof1.cli.demo

    monkeypatch.chdir(tmp_path)
    seen = []

    def fake_run_demo(out, **kwargs):  # the folder is all this test is about
        seen.append(Path(out))
        return SimpleNamespace(
            report=Path(out) / "report.html", patient_page=Path(out) / "summary.html"
        )

    monkeypatch.setattr(nof1.cli.demo, "run_demo", fake_run_demo)
    res = CliRunner().invoke(cli, ["demo"])
    assert res.exit_code == 0, res.output
    (out,) = seen
    assert out.parent == Path(tempfile.gettempdir()) and out.name.startswith("nof1-demo-")
    assert out.is_dir() and not any(out.iterdir())
    assert list(tmp_path.iterdir()) == []  # nothing in the current folder (a clone, maybe)
    out.rmdir()


def test_the_committed_example_trial_works_as_git_checks_it_out(tmp_path):
    """examples/README.md's recipe, on files with git's modes (0644)."""
    import os
    import shutil
    from pathlib import Path

    examples = Path(__file__).parents[1] / "examples"
    trial = tmp_path / "demo-trial"
    shutil.copytree(examples / "demo-trial", trial)
    for f in trial.iterdir():
        os.chmod(f, 0o644)
    assert sorted(f.name for f in trial.iterdir()) == [
        "allocation.sealed", "diary.csv", "protocol.toml",
    ]  # fmt: skip
    passphrase = examples / "demo-helper-passphrase.txt"
    for args in (
        ["import", "--trial", trial, trial / "diary.csv"],
        ["unblind", "--trial", trial, "--passphrase-file", passphrase],
        ["analyze", "--trial", trial],
    ):
        res = CliRunner().invoke(cli, [str(a) for a in args])
        assert res.exit_code == 0, (args, res.output)
    assert "A is Magnesium, B is Placebo." in res.output


def test_cli_sequential_demo_looks_block_by_block_stops_and_reports(tmp_path):
    from nof1.diary.store import open_diary
    from nof1.plan.protocol import load_protocol
    from nof1.trial.monitoring import read_monitoring

    out = tmp_path / "seq"
    res = CliRunner().invoke(cli, ["demo", "--sequential", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    # The default patient continues at the first look and stops at the second.
    assert "blocks 1-2: 106 days recorded; look 1 on 2026-05-04 (blocks 1-2): CONTINUE" in text
    assert "block 3: 54 days recorded; look 2 on 2026-06-29 (blocks 1-3): STOP: efficacy" in text
    assert (
        "the trial ended on 2026-06-28 instead of 2026-08-23, 56 days (about 8 weeks) sooner "
        "than the fixed 4-block design" in text
    )
    assert "reason: interim look 2 after block 3: STOP: efficacy" in text
    assert "5. analyze (exact, blocks 1-3)" in text
    assert "Stopping early tends to overestimate the effect. In the design's simulation" in text
    steps = re.findall(r"^(\d)\. ", res.output, flags=re.M)
    assert steps == ["1", "2", "3", "4", "5", "6", "7"]
    report = out / "report.html"
    assert f"Open the report: {report}" in res.output
    assert "7. patient's page -> " in res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "diary.csv", "helper-passphrase.txt", "report.html", "summary.html", "trial",
    ]  # fmt: skip
    trial = out / "trial"
    protocol = load_protocol(trial)
    assert protocol.sequential.simulated["sims"] == 200  # pre-registered with its simulation
    with open_diary(trial, protocol, readonly=True) as diary:
        assert [(x.look, x.after_block, x.decision) for x in diary.looks()] == [
            (1, 2, "CONTINUE"), (2, 3, "STOP: efficacy"),
        ]  # fmt: skip
        assert max(r.entry.date for r in diary.current_entries()).isoformat() <= "2026-06-28"
    monitoring = read_monitoring(trial)
    assert monitoring.stopped_early and monitoring.blocks_analysed == 3
    page = report.read_text()
    assert '<section id="interim">' in page
    assert re.findall(r'<tr data-decision="([^"]+)">', page) == ["CONTINUE", "STOP: efficacy"]
    # Each look is run on the simulated day after its block, not on the day the demo ran.
    runs = re.findall(
        r"<td>\d \((\d{4}-\d\d-\d\d)\)</td><td>(\d{4}-\d\d-\d\d) \d\d:\d\d</td>", page
    )
    assert len(runs) == 2
    for ended, run in runs:
        assert 1 <= (date.fromisoformat(run) - date.fromisoformat(ended)).days <= 3, (ended, run)
    assert "trials that stopped here for efficacy overestimated the benefit by" in page


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(out, *extra) -> str:
    res = CliRunner().invoke(cli, ["demo", "--out", str(out), *extra])
    assert res.exit_code == 1, res.output
    (line,) = res.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_demo_refuses_a_trial_folder_and_any_folder_inside_one(trial, force):
    before = _snapshot(trial)
    line = _refused(trial, *force)
    assert line == (
        f"Error: refusing to put the demo in {trial}: it holds a trial's protocol.toml; "
        "choose a new folder outside any trial"
    )
    inside = trial / "demo"
    line = _refused(inside, *force)
    assert line == (
        f"Error: refusing to put the demo in {inside}: it lies inside {trial}, which holds a "
        "trial's protocol.toml; choose a new folder outside any trial"
    )
    assert _snapshot(trial) == before and not inside.exists()


@pytest.mark.parametrize("name", ["diary.sqlite", "allocation.sealed", "diary.sqlite-wal"])
def test_demo_refuses_a_folder_holding_a_diary_or_sealed_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"precious")
    line = _refused(tmp_path, "--force")
    assert f"it holds a trial's {name}" in line
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).read_bytes() == b"precious"


def test_demo_force_never_replaces_a_real_trial_in_its_trial_folder(tmp_path, _template_trial):
    import shutil

    shutil.copytree(_template_trial, tmp_path / "trial")
    before = _snapshot(tmp_path)
    line = _refused(tmp_path, "--force")
    assert line == (
        f"Error: refusing to replace {tmp_path / 'trial'}: it holds a trial that is not an "
        "earlier demo's (its allocation does not open with the demo's passphrase); --force "
        "replaces only a demo"
    )
    assert _snapshot(tmp_path) == before
