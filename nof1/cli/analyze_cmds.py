"""``nof1 analyze``: the personal effect, from a trial folder or from any CSV."""

from __future__ import annotations

import json
import textwrap

import click

from nof1.analysis.decision import stated
from nof1.analysis.models.base import MAX_DRAWS
from nof1.analysis.summary import format_probability, signed
from nof1.cli import cli
from nof1.cli.common import (
    Count,
    Number,
    csv_options,
    csv_source,
    exit_without_conclusion,
    seed_option,
    trial_option,
)
from nof1.diary.entries import RECALL_DAYS


@cli.command()
@trial_option()
@csv_options
@click.option(
    "--ar1/--no-ar1",
    default=None,
    help="Lag-1 autocorrelated errors (default: on, or as pre-registered).",
)
@click.option(
    "--trend",
    type=click.Choice(["none", "linear", "block"]),
    default=None,
    help="Slow trend term (default: none, or as pre-registered).",
)
@click.option(
    "--engine",
    type=click.Choice(["exact", "mcmc"]),
    default=None,
    help="exact (conjugate, instant) or mcmc (PyMC NUTS, every option).",
)
@click.option(
    "--likelihood",
    type=click.Choice(["normal", "student", "ordinal", "binomial"]),
    default=None,
    help="Default: binomial for a yes/no outcome (rates per arm), else normal. "
    "student and ordinal need --engine mcmc.",
)
@click.option(
    "--carryover/--no-carryover",
    default=None,
    help="Model onset and carryover, integrating out their time constant (default: off, or "
    "as pre-registered).",
)
@click.option("--expectation", is_flag=True, hidden=True)
@click.option(
    "--expectation-max",
    type=Number(0),
    default=None,
    help="Largest change of the outcome that believing one is on A could cause, for the "
    "expectation bound (default: the MCID; 0 leaves the bound out).",
)
@click.option(
    "--prior",
    type=click.Choice(["vague", "neutral", "sceptical"]),
    default=None,
    help="Prior of the effect (default: neutral, or as pre-registered).",
)
@click.option("--prior-sensitivity", is_flag=True, help="Also show the result under every prior.")
@click.option(
    "--mcid",
    type=Number(0, 1e9, low_open=True),
    default=None,
    help="Minimal clinically important difference in outcome units, percentage points for a "
    "yes/no outcome (default: 1 point or 10 percentage points, or as pre-registered).",
)
@seed_option("Random seed of the posterior draws.")
@click.option(
    "--draws",
    type=Count(1, MAX_DRAWS),
    default=1000,
    show_default=True,
    help=f"Posterior draws per chain (mcmc; at most {MAX_DRAWS:,}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def analyze(trial, csv_path, outcome, treatment, active, time_col, date_format, block_col, higher_is_better, low, high, ar1, trend, engine, likelihood, carryover, expectation, expectation_max, prior, prior_sensitivity, mcid, seed, draws, as_json) -> None:  # fmt: skip
    """Estimate the personal effect of A versus B, with its uncertainty.

    \b
    On an unblinded trial folder:
      nof1 analyze --trial mytrial
    On any CSV (one row per day):
      nof1 analyze --csv diary.csv --outcome pain --treatment arm \\
        --active magnesium

    Exit status 3 when the MCMC fit fails its convergence checks: the numbers are
    printed, but no conclusion, with the engine that will answer instead.
    """
    from nof1.analysis.analyze import EXPECTATION_RETIRED, analyze_csv, analyze_trial

    if expectation:
        raise click.ClickException(EXPECTATION_RETIRED)
    options = dict(
        announce=lambda message: click.echo(message, err=True),
        engine=engine,
        prior=prior,
        ar1=ar1,
        trend=trend,
        likelihood=likelihood,
        carryover=carryover,
        expectation_max=expectation_max,
        mcid=mcid,
        prior_sensitivity=prior_sensitivity,
        seed=seed,
        draws=draws,
    )
    source = csv_source(csv_path, outcome, treatment, active, time_col, date_format, block_col, higher_is_better, low, high, outcome_with_trial=True)  # fmt: skip
    names = None
    if source is None:
        from nof1.trial.handle import open_trial

        handle = open_trial(trial)
        result = analyze_trial(handle, outcome=outcome, **options)
        names = {arm: t.name for arm, t in handle.protocol.treatments.items()}
    else:
        result = analyze_csv(**source, **options)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(_human(result, names))
    if result.advice is not None:
        exit_without_conclusion()


def _human(result, names: dict[str, str] | None = None) -> str:
    """The analysis as text; ``names``: the treatment of each arm (a trial, once unblinded)."""
    s = result.summary
    v = result.verdict
    better = "lower" if s.lower_is_better else "higher"
    binary = s.likelihood == "binomial"
    if binary and s.engine == "exact":
        model = "days independent"
    else:
        model = "AR(1) errors" if result.options["ar1"] else "independent days"
    unscored = result.options.get("washout_rows", 0)
    if result.options["carryover"]:
        model += ", onset/carryover modelled"
        if unscored:
            model += f" from each kit's first day ({unscored} washout days entered unscored)"
    unit = "pp" if binary else ""
    rows = [
        (
            "Effect, A minus B" + (" (full onset)" if result.options["carryover"] else ""),
            f"{signed(s.mean)}{unit}  (95% interval {signed(s.hdi_low)} to {signed(s.hdi_high)}"
            f"{' percentage points' if binary else ''})",
        ),
    ]
    if binary:
        r = s.rates
        for arm in ("A", "B"):
            rows.append(
                (
                    f"Rate on {arm}",
                    f"{r[arm]['yes']} of {r[arm]['n']} days: {_pct_interval(r[arm])}",
                )
            )
        rows.append(
            (
                "Rate ratio A/B",
                f"{r['ratio']['median']:.2f} (median; 95% interval {r['ratio']['low']:.2f} to "
                f"{r['ratio']['high']:.2f})",
            )
        )
        rows.append(("P(higher on A)", format_probability(r["p_higher_on_a"])))
    else:
        rows.append(
            ("Standardized effect", "n/a" if s.standardized is None else signed(s.standardized))
        )
    rows += [
        ("P(A helps at all)", format_probability(s.p_benefit)),
        (f"P(A helps by >= {s.mcid:g}{unit})", format_probability(s.p_mcid)),
        ("P(A helps 'much')", format_probability(s.p_large)),
        ("P(no practical difference)", format_probability(s.p_rope)),
    ]
    if s.rho_mean is not None:
        rows.append(("Day-to-day autocorrelation", f"{s.rho_mean:.2f} (sd {s.rho_sd:.2f})"))
    if s.tau_median is not None:
        rows.append(
            (
                "Onset time constant",
                f"{s.tau_median:.1f} days (95% interval {s.tau_low:.1f} to {s.tau_high:.1f})",
            )
        )
    rows += _blinding_rows(result)
    rt = result.randomization_test
    if rt is not None:
        rows.append(
            (
                "Randomization test",
                f"p = {rt.p_value:.3g} (one-sided; smallest possible {rt.min_p:.3g} "
                f"with {rt.n_allocations} allocations)"
                if rt.method == "exact"
                else f"p = {rt.p_value:.3g} +/- {rt.mc_se:.2g} (one-sided; Monte Carlo over "
                f"{rt.n_draws:,} of the {rt.allocations_text} allocations, seeded)",
            )
        )
    else:
        rows.append(("Randomization test", f"not done: {result.options['randomization_note']}"))
    d = s.diagnostics
    if d.rhat_max is not None:
        rows.append(
            (
                "Convergence",
                f"{'ok' if d.ok else 'FAILED'} (R-hat {d.rhat_max:.3f}, "
                f"ESS {d.ess_bulk_min:.0f}, divergences {d.divergences})",
            )
        )
    width = max(len(label) for label, _ in rows) + 2
    lines = [
        f"Outcome {s.outcome!r}: {s.n_observed} of {s.n_days - unscored} days with a score "
        f"({s.engine} engine, {s.prior} prior, {s.likelihood} likelihood, {model}, "
        f"trend {result.options['trend']}; {better} is better)",
        *([f"A is {names['A']}, B is {names['B']}."] if names else []),
        *(
            textwrap.fill(line, width=88)
            for line in (result.sequential.summary_lines() if result.sequential else [])
        ),
        "",
        v.criterion.line(),
        textwrap.fill(f"Verdict ({v.tier}): {v.headline}", width=88),
        *_decision_lines(result),
        "",
        *(_row(label, value, width) for label, value in rows),
    ]
    for paragraph in v.lines[2:]:
        lines += ["", textwrap.fill(paragraph, width=88)]
    if result.options.get("deviations"):
        n = result.options["deviations"]
        lines += [
            "",
            textwrap.fill(
                f"Deviations: this result includes {n} diary "
                f"entr{'y' if n == 1 else 'ies'} made after unblinding; `nof1 report` shows "
                "the result without them.",
                width=88,
            ),
        ]
    if result.options.get("late_entries"):
        n = result.options["late_entries"]
        lines += [
            "",
            textwrap.fill(
                f"Late entries: {n} diary entr{'y was' if n == 1 else 'ies were'} made more "
                f"than {RECALL_DAYS} days after {'its' if n == 1 else 'their'} day (imported "
                "or corrected later) and are included here; `nof1 report` shows the result "
                "without them.",
                width=88,
            ),
        ]
    if result.sensitivity is not None:
        lines += [
            "",
            "Prior sensitivity:",
            "  prior       mean    95% interval      P(helps)  P(>= MCID)",
        ]
        for name, t in result.sensitivity.items():
            lines.append(
                f"  {name:<10} {signed(t.mean):>6}   {signed(t.hdi_low):>6} to {signed(t.hdi_high):>6}   "
                f"{format_probability(t.p_benefit):>7}   {format_probability(t.p_mcid):>8}"
            )
    return "\n".join(lines)


def _decision_lines(result) -> list[str]:
    """The registered trade-off and the net benefit it gives (none without a trade-off)."""
    nb = result.decision
    if nb is None:
        return []
    said = " ".join(nb.trade_off.sentences(result.summary.outcome.replace("_", " ")))
    net = stated(nb, result.verdict.blinding)
    return [
        textwrap.fill(f"Pre-registered trade-off: {said}", width=88),
        textwrap.fill(net, width=88),
    ]


def _row(label: str, value: str, width: int) -> str:
    """One label/value row; a long value (the blinding's sentence) wraps under itself."""
    line = f"  {label.ljust(width)}{value}"
    if len(line) <= 88:
        return line
    return textwrap.fill(line, width=88, subsequent_indent=" " * (width + 2))


def _pct_interval(r) -> str:
    return f"{100 * r['mean']:.1f}% (95% interval {100 * r['low']:.1f}% to {100 * r['high']:.1f}%)"


def _blinding_rows(result) -> list[tuple[str, str]]:
    """The blinding assessment as label/value rows (none without an assessment)."""
    from nof1.analysis.blinding_assessment import (
        HELD,
        P_HELD_LABEL,
        P_TELL_LABEL,
        TELL,
        blinding_headline,
        probability_beside,
    )

    b = result.blinding
    v = result.verdict
    rows = [("Blinding", blinding_headline(v.blinding, None if b is None else b.guesses, v.how))]
    if b is None:
        return rows
    g = b.guesses
    if g is not None:
        rows.append((f"  {P_TELL_LABEL}", probability_beside(g.p_tell, TELL)))
        rows.append((f"  {P_HELD_LABEL}", probability_beside(g.p_held, HELD)))
        for arm in ("A", "B"):
            rows.append((f"  Right guesses on {arm}", _pct_interval(g.correct[arm])))
        if b.period is not None:
            rows.append(
                (
                    "  Period guesses",
                    f"{b.period.right} of {b.period.definite} right, {b.period.unsure} unsure",
                )
            )
        if b.daily is not None:
            rows.append(
                (
                    "  Daily guesses",
                    f"{b.daily.right} of {b.daily.definite} right, {b.daily.unsure} unsure "
                    f"(within-period correlation {b.daily.icc:.2f})",
                )
            )
    if b.bang is not None:
        bang = ", ".join(
            f"{arm} {'n/a' if x is None else f'{x:+.2f}'}" for arm, x in b.bang.index.items()
        )
        rows.append(("  Bang index (descriptive)", bang))
    for se in b.side_effects:
        rows.append(
            (
                f"  {se.name}",
                f"A {se.counts['A'][0]}/{se.counts['A'][1]} days, "
                f"{_pct_interval(se.rates['A'])}; B {se.counts['B'][0]}/{se.counts['B'][1]}, "
                f"{_pct_interval(se.rates['B'])}; P(higher on A) "
                f"{format_probability(se.p_higher_on_a)}",
            )
        )
    return rows
