"""The patient's page (issue 24): one A4 page in plain words, after unblinding only.

Content checks on the demo's page (each part, the treatment names, no jargon), the
decision with and without a net benefit, the 100 dots, the refusal before unblinding, a
readability score, and (marked ``browser``) that Chromium prints it on exactly one A4 page.
"""

from __future__ import annotations

import html
import re
import stat
from datetime import date

import pytest
from click.testing import CliRunner

from nof1.analysis.decision import DECISIONS, NetBenefit, TradeOff
from nof1.cli import cli
from nof1.cli.demo import run_demo, run_sequential_demo
from nof1.report.patient import BLINDED, build_patient_page, chances, dots
from nof1.trial.handle import open_trial

#: Words a reader of 12 does not know, or that only statisticians use.
JARGON = (
    "posterior", "hdi", "ar(1)", "credible", "mcid", "interval", "probability", "bayes",
    "autocorrelation", "p-value", "confidence", "prior", "arm", "effect size", "criterion",
    "allocation", "unblind", "randomi", "regression", "standard deviation", "model",
)  # fmt: skip


def visible_text(page: str) -> str:
    """The words a reader sees: no style, no picture, no tags, the title once (h1)."""
    page = re.sub(r"<(style|svg|title)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("patient") / "demo", seed=1)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    return run_sequential_demo(tmp_path_factory.mktemp("patient") / "seq")


@pytest.fixture(scope="module")
def page(demo) -> str:
    return demo.patient_page.read_text(encoding="utf-8")


def _section(page: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert found, f"no section {name}"
    return visible_text(found.group(1))


def test_the_demo_writes_the_page_beside_the_report(demo):
    assert demo.patient_page == demo.report.parent / "summary.html"
    assert demo.patient_page.exists()
    assert stat.S_IMODE(demo.patient_page.stat().st_mode) == 0o600  # health data


def test_the_page_is_self_contained(page):
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count("<circle") == 100


def test_what_was_compared_names_the_treatments(page):
    text = _section(page, "compared")
    assert "you took Magnesium and Placebo in turns, without knowing which was which" in text
    assert "5 January 2026 to 5 April 2026" in text
    assert "scored your pain from 0 to 10 (lower is better)" in text


def test_what_we_found_and_how_sure(page, demo):
    s = demo.result.summary
    text = _section(page, "found")
    assert f"your pain was about {abs(s.mean):.1f} points lower than on days with Placebo" in text
    assert f"could be anywhere from no difference to {abs(s.hdi_low):.1f} points lower" in text
    n = chances(s.p_mcid)
    assert n == 64
    assert (
        f"Like {n} chances in 100 that Magnesium lowers your pain by at least 1 point: the "
        "smallest change that matters to you." in text
    )
    d = dots(s.p_mcid, s.p_benefit)
    assert f"{d.clear} green dots" in text and f"{d.small} light green dots" in text
    assert f"{d.none} grey dots" in text
    # Honest about whose chances these are: this patient's, not other people's.
    assert "about you alone" in text and "people like you" not in text.lower()
    # The picture shows what the words say.
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg.count('fill="#1b7f4b"') == d.clear
    assert svg.count('fill="#9fd3b4"') == d.small


def test_side_effects_as_days_per_treatment(page, demo):
    (se,) = demo.result.blinding.side_effects
    (ya, na), (yb, nb) = se.counts["A"], se.counts["B"]
    text = _section(page, "side-effects")
    assert (ya, na, yb, nb) == (4, 35, 0, 42)
    assert (
        "You had diarrhoea on 4 of 35 days with Magnesium, and on 0 of 42 days with Placebo."
        in text
    )
    assert "it very likely comes with Magnesium" in text


def test_could_tell_the_kits_apart_and_what_it_means(page, demo):
    assert demo.result.blinding.status == "could-tell"
    text = _section(page, "kits")
    assert text.startswith("4. Could you tell the kits apart? Very likely yes")
    assert "you were right 7 times out of 7" in text
    assert "the diarrhoea could give the kit away" in text
    assert "may come from that hope, not from Magnesium" in text


@pytest.fixture(scope="module")
def pain_only(demo) -> str:
    """The demo's page as it would be had the patient registered no trade-off."""
    import dataclasses

    assert demo.result.decision is not None  # the demo registers diarrhoea=2
    result = dataclasses.replace(demo.result, decision=None)
    return build_patient_page(result, protocol=open_trial(demo.trial_dir).protocol)


def test_the_pain_only_rule_without_a_trade_off(pain_only):
    text = _section(pain_only, "decision")
    assert (
        "The rule you set before the trial: keep Magnesium if there are more than 80 chances "
        "in 100 that it lowers your pain by at least 1 point. The result is 64 chances in "
        "100, so the rule is not met." in text
    )


def test_next_steps_follow_from_the_results(page, pain_only):
    items = re.findall(r"<li>(.*?)</li>", pain_only.split('id="next"')[1], re.S)
    assert items[0].startswith("Whether a longer trial")  # the pain-only rule was not met
    items = re.findall(r"<li>(.*?)</li>", page.split('id="next"')[1], re.S)
    # The demo's registered trade-off says "worth continuing".
    assert items[0] == "Whether to keep taking Magnesium, and for how long."
    assert any("diarrhoea" in x and "lower dose" in x for x in items)
    assert any("knowing which kit you took" in x for x in items)
    assert any("costs" in x for x in items)


def test_no_jargon(page):
    text = visible_text(page).lower()
    found = [w for w in JARGON if re.search(rf"\b{re.escape(w)}", text)]
    assert not found, found


def test_reading_age_about_twelve(page):
    import textstat

    text = visible_text(page)
    assert len(text.split()) > 250  # the whole page, not a fragment
    assert textstat.flesch_kincaid_grade(text) <= 8


@pytest.mark.parametrize(
    ("p_clear", "p_any", "expected"),
    [(0.64, 0.97, (64, 33, 3)), (0.999, 0.9999, (99, 0, 1)), (0.0001, 0.2, (1, 19, 80)),
     (0.3, 0.2, (30, 0, 70)), (0.0, 0.0, (0, 0, 100))],
)  # fmt: skip
def test_dots_add_up_to_100_and_never_round_to_certainty(p_clear, p_any, expected):
    d = dots(p_clear, p_any)
    assert (d.clear, d.small, d.none) == expected
    assert d.clear + d.small + d.none == 100
    assert d.svg().count("<circle") == 100


def _net_benefit(decision: str, p: float) -> NetBenefit:
    trade = TradeOff(days_per_point={"diarrhoea": 2.0}, threshold=0.8)
    side = {"diarrhoea": {"extra_days": 0.8, "cost": 0.4}}
    return NetBenefit(trade, 0.8, -0.3, 1.9, p, decision, 1.2, side, False)


@pytest.mark.parametrize(
    ("decision", "p", "headline", "first_step"),
    [
        ("worth continuing", 0.91, "Worth continuing", "Whether to keep taking Magnesium"),
        ("not worth it", 0.12, "Not worth it", "Whether to stop Magnesium"),
        ("cannot tell", 0.55, "We cannot tell yet", "Whether a longer trial"),
    ],
)
def test_the_registered_trade_off_decides(demo, decision, p, headline, first_step):
    assert decision in DECISIONS
    result, protocol = demo.result, open_trial(demo.trial_dir).protocol
    # As the analysis will carry it (issue 24's other half): result.decision.
    object.__setattr__(result, "decision", _net_benefit(decision, p))
    try:
        page = build_patient_page(result, protocol=protocol)
    finally:
        object.__delattr__(result, "decision")
    text = _section(page, "decision")
    assert text.startswith(f"5. What the rule you chose says {headline}")
    assert (
        "Before the trial you said: 1 point less pain is worth diarrhoea on up to 2 days "
        "more a week." in text
    )
    assert (
        "Magnesium lowered your pain by about 1.2 points, with diarrhoea on about 0.8 days "
        f"more a week. Weighed the way you chose: {chances(p)} chances in 100 that the good "
        "outweighs the bad." in text
    )
    assert "On pain alone: the rule you set before the trial" in text
    items = re.findall(r"<li>(.*?)</li>", page.split('id="next"')[1], re.S)
    assert items[0].startswith(first_step)


def test_before_unblinding_nothing_is_written(trial, tmp_path):
    out = tmp_path / "summary.html"
    res = CliRunner().invoke(
        cli, ["report", "--trial", str(trial), "--for", "patient", "--out", str(out)]
    )
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: {BLINDED}"
    assert not out.exists()


def test_for_clinician_is_the_default(demo, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(demo.trial_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "<title>N-of-1 trial report:" in out.read_text()
    out2 = tmp_path / "s.html"
    args = ["report", "--trial", str(demo.trial_dir), "--for", "patient", "--out", str(out2)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"Patient's page written to {out2}"
    assert visible_text(out2.read_text()) == visible_text(demo.patient_page.read_text())


def test_a_trial_stopped_early_says_so(sequential):
    page = sequential.patient_page.read_text(encoding="utf-8")
    assert sequential.ended == date(2026, 6, 28)
    text = _section(page, "compared")
    assert "from 5 January 2026 to 28 June 2026" in text
    assert (
        "The trial stopped early, on 28 June 2026, because a check planned before it began "
        "said to stop. It was planned to end on 23 August 2026." in text
    )
    assert "so the rule is met." in _section(page, "decision")
    items = re.findall(r"<li>(.*?)</li>", page.split('id="next"')[1], re.S)
    assert items[0] == "Whether to keep taking Magnesium, and for how long."
    # Guesses alone near chance, the side effect gave the kit away: said in that order.
    kits = _section(page, "kits")
    assert "That alone is about what guessing would give. But the diarrhoea could" in kits


@pytest.mark.browser
@pytest.mark.parametrize("which", ["demo", "trade-off", "sequential"])
def test_prints_on_exactly_one_a4_page(demo, sequential, tmp_path, which):
    """The demo's page, the same page with the longer decision of a trade-off, and the
    page of a trial stopped early."""
    import pypdfium2 as pdfium
    from test_browser import _chromium, _run

    source = (sequential if which == "sequential" else demo).patient_page
    if which == "trade-off":
        source = tmp_path / "summary.html"
        decision = _net_benefit("cannot tell", 0.55)
        protocol = open_trial(demo.trial_dir).protocol
        source.write_text(build_patient_page(demo.result, protocol=protocol, decision=decision))
    pdf = tmp_path / "summary.pdf"
    done = _run(
        _chromium(), tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
        f"file://{source}",
    )  # fmt: skip
    assert pdf.exists(), done.stderr[-2000:]
    doc = pdfium.PdfDocument(str(pdf))
    try:
        assert len(doc) == 1
        width, height = doc[0].get_size()
        assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    finally:
        doc.close()


def test_a_failed_check_shows_no_result(demo):
    """A fit that failed its convergence checks is never presented as a result."""
    from dataclasses import replace

    result = demo.result
    failed = replace(result.summary.diagnostics, ok=False, messages=("r-hat 1.2",))
    bad = replace(result, summary=replace(result.summary, diagnostics=failed))
    page = build_patient_page(bad, protocol=open_trial(demo.trial_dir).protocol)
    assert 'id="warning"' in page and "Do not rely on this page" in page
    text = _section(page, "found")
    assert "We cannot say" in text and "chances in 100" not in text
    assert "<circle" not in page


def test_records_after_unblinding_are_mentioned(demo):
    from types import SimpleNamespace

    integrity = SimpleNamespace(deviations=("one", "two"))
    page = build_patient_page(
        demo.result, protocol=open_trial(demo.trial_dir).protocol, integrity=integrity
    )
    assert (
        "2 diary entries were added or changed after the kits were revealed. Your "
        "clinician's report shows the result without them." in _section(page, "decision")
    )


def test_an_open_label_trial_still_counts_side_effects(tmp_path):
    from datetime import date, timedelta

    from nof1.report import patient_page
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary

    folder = tmp_path / "open"
    create_trial(folder, "magnesium-open", passphrase="correct horse battery", start=date(2026, 1, 5), seed=1)  # fmt: skip
    protocol = open_trial(folder).protocol
    assert not protocol.blinded
    days = [protocol.start + timedelta(days=i) for i in range((protocol.end - protocol.start).days + 1)]  # fmt: skip
    src = tmp_path / "days.csv"
    rows = "".join(f"{d},{3 + i % 4},{'yes' if i % 9 == 0 else 'no'}\n" for i, d in enumerate(days))
    src.write_text("date,pain,diarrhoea\n" + rows)
    import_diary(folder, src)
    page = patient_page(folder)
    assert "you took Magnesium and No magnesium in turns. Each day" in _section(page, "compared")
    side = _section(page, "side-effects")
    assert re.search(r"You had diarrhoea on \d+ of \d+ days with Magnesium, and on \d+ of", side)
    assert "You knew which one you took" in _section(page, "kits")
