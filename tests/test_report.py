"""The clinician's report: sections, embedded figures, no network, the numbers it shows."""

from __future__ import annotations

import base64
import csv
import dataclasses
import re
import shutil
import stat
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from markupsafe import escape as html_escape

from nof1.analysis.decision import EXPECTATION_CAVEAT, stated
from nof1.analysis.models.base import Diagnostics
from nof1.cli import cli
from nof1.cli.demo import DEMO_PASSPHRASE, run_demo
from nof1.errors import BlindingError, OutputError
from nof1.report import (
    build_report,
    csv_report,
    replicate_series,
    trial_report,
    write_report,
)
from nof1.report.build import fmt_num, fmt_prob
from nof1.trial.create import create_trial

SECTIONS = (
    "header",
    "summary",
    "protocol",
    "timeseries",
    "posterior",
    "sensitivity",
    "blinding",
    "decision",
    "secondary",
    "diagnostics",
    "cent",
    "limitations",
)
PEER = Path(__file__).parent / "data" / "peer" / "nof1ins_readme_example.csv"


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The demo, run once per test session: an unblinded trial and its report."""
    return run_demo(tmp_path_factory.mktemp("demo") / "out", seed=1)


@pytest.fixture(scope="session")
def html(demo) -> str:
    return demo.report.read_text(encoding="utf-8")


def _ids(page: str) -> list[str]:
    return re.findall(r'<(?:section|header)[^>]*\bid="([^"]+)"', page)


def _refs(page: str) -> list[str]:
    return re.findall(r'\b(?:src|href)\s*=\s*["\']([^"\']*)', page, flags=re.I)


def test_every_section_in_order(html):
    assert _ids(html) == list(SECTIONS)


def test_a_trial_without_interim_looks_has_no_interim_section(demo, html):
    assert 'id="interim"' not in html and "Interim looks" not in html
    assert demo.result.sequential is None and demo.result.to_dict()["sequential"] is None


def test_title_names_an_n_of_1_trial_and_no_person(html):
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert title == "N-of-1 trial report: oral magnesium versus placebo for CRPS type 1 pain"
    assert re.search(r"<h1>N-of-1 trial report: ", html)


def test_figures_are_embedded_pngs(html):
    uris = re.findall(r'<img[^>]*src="(data:image/png;base64,[^"]+)"', html)
    # Time series, posterior, prior forest plot, posterior predictive check.
    assert len(uris) == 4
    assert len(re.findall(r"<img\b", html)) == 4
    for uri in uris:
        png = base64.b64decode(uri.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(png) > 5_000


def test_self_contained_no_network_no_script(html):
    refs = _refs(html)
    assert refs, "the CENT table links to sections"
    assert not [r for r in refs if re.match(r"\s*(https?:)?//", r, flags=re.I)]
    assert all(r.startswith(("#", "data:image/png;base64,")) for r in refs)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html


def test_prints_on_a4(html):
    assert "@page { size: A4" in html
    assert "@media print" in html
    assert "break-inside: avoid" in html


def test_commitment_verified(html):
    assert '<p id="commitment" class="good">Commitment verified' in html


def test_headline_numbers_equal_the_analysis(demo, html):
    s = demo.result.summary
    got = re.search(r'id="p-benefit" data-value="([0-9.]+)">([^<]+)<', html)
    assert float(got.group(1)) == pytest.approx(s.p_benefit, abs=5e-5)
    assert got.group(2) == fmt_prob(s.p_benefit)
    got = re.search(r'id="p-mcid" data-value="([0-9.]+)">([^<]+)<', html)
    assert float(got.group(1)) == pytest.approx(s.p_mcid, abs=5e-5)
    assert got.group(2) == fmt_prob(s.p_mcid)
    assert f'<div class="v" id="effect">{fmt_num(s.mean, 1, True)}</div>' in html
    page = html.replace("&#39;", "'").replace("&gt;", ">")
    v = demo.result.verdict
    assert f'<p id="criterion"><strong>{v.criterion.line()}</strong></p>' in page
    assert f'<div class="verdict" id="verdict" data-tier="{v.tier}">' in page
    assert f"<p>{v.headline}" in page
    if v.bound_text:
        assert f'<p id="expectation-bound">{v.bound_text}' in page
    # The effect in words opens the effect's own section.
    assert f'<p id="effect-text">{v.lines[-1]}</p>' in page


def test_randomization_and_blinding_and_side_effects(demo, html):
    assert "1/2<sup>3</sup> = 0.125" in html
    assert "Bang index" in html
    # The demo patient had diarrhoea on magnesium only now and then: a per-arm table.
    row = re.search(r"<td>Diarrhoea \(yes/no\)</td><td class=\"n\">(\d+) / (\d+) days", html)
    assert row and int(row.group(2)) > 0
    assert 'id="open-label"' not in html


def test_secondary_outcomes_and_diagnostics(html):
    assert "Pain on light touch (0-10) (lower is better)" in html
    assert "Sleep quality (0-10) (higher is better)" in html
    assert "exact engine: no sampling" in html
    assert 'class="banner"' not in html


def test_cent_links_point_at_sections(html):
    cent = html[html.index('id="cent"') : html.index('id="limitations"')]
    targets = set(re.findall(r'href="#([^"]+)"', cent))
    assert targets <= set(SECTIONS)
    for item in ("1a", "2a.2", "3a", "5", "6a", "8a", "8b", "9", "11a", "12a", "16", "17a", "19"):
        assert f"<td>{item}</td>" in cent
    assert "doi 10.1136/bmj.h1738" in cent


def test_failed_diagnostics_show_a_banner_and_no_verdict(demo):
    bad = Diagnostics(ok=False, rhat_max=1.2, messages=("R-hat 1.200 > 1.01 for effect",))
    result = demo.result
    summary = dataclasses.replace(result.summary, diagnostics=bad, engine="mcmc")
    fit = dataclasses.replace(result.fit, diagnostics=bad)
    page = build_report(dataclasses.replace(result, summary=summary, fit=fit))
    assert 'id="diagnostics-banner"' in page
    assert "R-hat 1.200 &gt; 1.01 for effect" in page
    assert 'id="verdict"' not in page
    assert result.summary.verdict.split(".")[0] not in page
    assert '<span class="bad">failed</span>' in page


def test_tampered_commitment_is_reported(demo, tmp_path):
    copy = tmp_path / "trial"
    shutil.copytree(demo.trial_dir, copy)
    toml = copy / "protocol.toml"
    text = toml.read_text()
    old = re.search(r'commitment = "([0-9a-f]{64})"', text).group(1)
    toml.write_text(text.replace(old, "0" * 64))
    page = trial_report(copy, seed=1)
    assert '<div id="commitment" class="banner">Commitment NOT verified' in page
    assert "commitment NOT verified" in page


def test_blinded_trial_refused(tmp_path):
    trial = tmp_path / "t"
    create_trial(
        trial, "magnesium-crps", passphrase=DEMO_PASSPHRASE, start=date(2026, 1, 5), seed=3
    )
    with pytest.raises(BlindingError, match="still blinded: run `nof1 unblind` first"):
        trial_report(trial)
    assert not (trial / "diary.sqlite").exists()


def _open_label_page(tmp_path, scheme: str = "block") -> str:
    """The report of a small open-label trial with a simulated diary."""
    trial = tmp_path / "open"
    p = create_trial(
        trial, "magnesium-open", passphrase=None, start=date(2026, 1, 5), seed=2,
        blocks=2, period_days=10, washout_days=2, run_in_days=0, scheme=scheme,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    rows = []
    for i in range(p.n_days):
        d = p.start + timedelta(days=i)
        arm = p.open_allocation[p.day_info(d).period.index - 1]
        rows.append(
            {"date": d.isoformat(), "pain": round(6 - 1.5 * (arm == "A") + rng.normal(), 1)}
        )
    with (tmp_path / "d.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["date", "pain"])
        w.writeheader()
        w.writerows(rows)
    from nof1.trial.writes import import_diary

    import_diary(trial, tmp_path / "d.csv")
    return trial_report(trial, seed=0)


def test_open_label_report_says_placebo_cannot_be_separated(tmp_path):
    page = _open_label_page(tmp_path)
    assert _ids(page) == [x for x in SECTIONS if x != "decision"]  # no trade-off registered
    assert 'id="open-label"' in page
    assert "Placebo and expectation cannot be separated from the effect" in page
    assert "Open label: the allocation is written in the public protocol" in page
    assert "open label: no placebo, the patient knew the treatment" in page


@pytest.mark.parametrize(
    ("scheme", "design", "balance"),
    [
        ("alternating", "A and B alternate (ABAB... or BABA...)", "favours the arm that comes second"),
        ("random-pairs", "a block may hold two periods of the same arm", "a block can hold AA or BB"),
    ],
)  # fmt: skip
def test_report_wording_follows_the_randomization_scheme(tmp_path, scheme, design, balance):
    page = _open_label_page(tmp_path, scheme)
    assert design in page and balance in page
    assert "each block has one A and one B period" not in page
    assert "each one period of A and one of B in random order" not in page


def test_summary_box_shows_decision_tier_and_blinding(demo, html):
    box = html[html.index('id="summary"') : html.index('id="protocol"')]
    v = demo.result.verdict
    assert "Pre-registered criterion P(benefit &gt;= 1 point) &gt; 0.80: " in box
    assert f'data-tier="{v.tier}"' in box
    assert f'id="summary-blinding" data-status="{v.blinding}"' in box
    got = re.search(r'id="summary-blinding" [^>]*data-p-tell="([0-9.]+)"', box)
    assert float(got.group(1)) == pytest.approx(demo.result.blinding.p_tell, abs=5e-5)
    assert html_escape(demo.result.blinding.headline) in box
    assert re.search(r"Right guesses on A \d+% \(\d+–\d+%\)", box)
    assert re.search(r"Diarrhoea \(yes/no\): A \d+% \(\d+–\d+%\), B \d+%", box)


def test_csv_report_of_the_peer_example():
    page = csv_report(PEER, "Y", "Treat", time="Day", block="Block", seed=0)
    ids = _ids(page)
    assert ids == [s for s in SECTIONS if s not in ("protocol", "decision")]
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4
    assert "<title>N-of-1 trial report: Y by Treat, from a CSV file</title>" in page


def test_replicated_series_look_like_the_data(demo):
    series, fit = demo.result.series, demo.result.fit
    rep = replicate_series(series, fit, n=300, seed=1)
    assert rep.shape == (300, len(series.y))
    obs = series.y[series.observed]
    assert np.nanmean(rep) == pytest.approx(obs.mean(), abs=0.4)
    assert np.nanstd(rep) == pytest.approx(obs.std(), rel=0.35)


def test_write_report_is_private(tmp_path):
    path = write_report(tmp_path / "r.html", "<html></html>")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(OutputError, match="folder .*nowhere does not exist"):
        write_report(tmp_path / "nowhere" / "r.html", "x")


def test_probability_format_never_claims_certainty():
    assert fmt_prob(0.9996) == ">99%"
    assert fmt_prob(0.0004) == "<1%"
    assert fmt_prob(0.604) == "60%"
    # 3,980 or 20 of 4,000 draws: half-way cases must not round to a false certainty
    assert fmt_prob(0.995) == ">99%"
    assert fmt_prob(0.005) == "<1%"
    assert fmt_prob(0.985) == "98%"
    assert fmt_prob(float("nan")) == "n/a"
    assert fmt_num(-0.04, 1, True) == "0.0"
    assert fmt_num(-1.26, 1, True) == "-1.3"


# --------------------------------------------------------------------------- CLI


def test_cli_report_writes_the_file(demo, tmp_path):
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(demo.trial_dir), "--out", str(out), "--seed", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"Report written to {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _ids(out.read_text()) == list(SECTIONS)


def test_cli_report_on_a_csv(tmp_path):
    out = tmp_path / "peer.html"
    args = ["report", "--csv", str(PEER), "--outcome", "Y", "--treatment", "Treat", "--time", "Day", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--treatment", "Treat"], "Error: --treatment applies only with --csv FILE"),
        (["--csv", str(PEER), "--outcome", "Y"], "Error: --csv needs --treatment COLUMN"),
        (
            ["--csv", str(PEER), "--outcome", "Nope", "--treatment", "Treat"],
            "Error: outcome column 'Nope' is not in nof1ins_readme_example.csv; its columns are: 'Y', 'Treat', 'Day', 'Block'",
        ),
    ],
)
def test_cli_bad_input_one_error_line_nothing_written(tmp_path, args, error):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", "--out", str(out), *args])
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert lines == [error]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_blinded_trial_refused(tmp_path):
    trial = tmp_path / "t"
    create_trial(
        trial, "magnesium-crps", passphrase=DEMO_PASSPHRASE, start=date(2026, 1, 5), seed=3
    )
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(trial), "--out", str(out)])
    assert res.exit_code == 1
    assert res.stderr.strip() == "Error: the trial is still blinded: run `nof1 unblind` first"
    assert not out.exists()
    assert sorted(p.name for p in trial.iterdir()) == ["allocation.sealed", "protocol.toml"]


def test_cli_missing_output_folder(demo, tmp_path):
    out = tmp_path / "nowhere" / "r.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(demo.trial_dir), "--out", str(out)])
    assert res.exit_code == 1
    assert res.stderr.strip() == (
        f"Error: cannot write the report to {out}: folder {out.parent} does not exist"
    )


def test_the_missing_days_sentence_and_the_table_count_the_same_days(demo, html):
    # The demo models onset: its 18 washout days are rows without a score, not missing days.
    assert demo.result.options["washout_rows"] == 18
    summary = re.search(r"(\d+) of (\d+) analysed days with a score", html)
    missing = re.search(r"Missing days \((\d+) of (\d+) analysed days\)", html)
    table = html[html.index("<h3>Completeness and adherence") :]
    table = table[: table.index("</table>")]
    cells = [
        [int(x) for x in re.findall(r'<td class="n">(?:<span class="bad">)?(\d+)', row)]
        for row in re.findall(r"<tr><td><span class=\"chip [AB]\">.*?</tr>", table)
    ]
    planned = sum(row[0] for row in cells)
    scored = sum(row[1] for row in cells)
    assert int(summary.group(2)) == int(missing.group(2)) == planned == 66
    assert int(summary.group(1)) == scored == demo.result.summary.n_observed
    assert int(missing.group(1)) == sum(row[4] for row in cells) == planned - scored == 7


def test_the_demo_report_states_the_patients_trade_off_as_the_readme_shows(demo, html):
    """Issue 24: the demo patient registered diarrhoea=2; its report has the Decision
    section and the README quotes the demo's two lines as `nof1 analyze` prints them."""
    nb = demo.result.decision
    assert nb is not None and nb.trade_off.days_per_point == {"diarrhoea": 2.0}
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "1 point less pain is worth diarrhoea on up to 2 more days a week." in text
    assert f'data-decision="{nb.decision}"' in html
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    said = " ".join(nb.trade_off.sentences())
    line = stated(nb, demo.result.verdict.blinding)
    assert line.endswith(EXPECTATION_CAVEAT)  # the demo's patient could tell the kits apart
    assert f"Pre-registered trade-off: {said} {line}" in readme
