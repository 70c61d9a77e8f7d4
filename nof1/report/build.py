"""Assemble the clinician's report: numbers, figures and text into one HTML file.

``build_report`` takes an analysis result (``nof1.analysis.result.AnalysisResult``) and, for a
trial folder, the protocol and the day table (``nof1.analysis.series.trial_table``), and renders the
jinja2 template ``templates/report.html``. Everything the page needs is inside it: CSS
inline, figures as PNG data URIs, no script and no link to the network, so the file can be
mailed to a clinician and printed on A4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nof1.analysis.blinding_assessment import P_TELL_LABEL, TELL, probability_beside
from nof1.analysis.models.binary import rate_interval
from nof1.analysis.summary import format_probability, large_benefit
from nof1.diary.entries import RECALL_DAYS
from nof1.errors import DataError
from nof1.plan.files import write_output
from nof1.plan.stopping import STOP_EFFICACY
from nof1.report import plots

#: Replicated series drawn for the posterior predictive check.
PPC_DRAWS = 200


@dataclass(frozen=True)
class CommitmentCheck:
    """Whether the revealed allocation matches the protocol's public commitment.

    ``status`` is ``"verified"``, ``"failed"``, ``"open-label"`` (no sealed allocation to
    check) or ``"not-applicable"`` (a report from a CSV file, no protocol); ``message``
    says it in a sentence.
    """

    status: str
    message: str


@dataclass(frozen=True)
class Secondary:
    """A secondary outcome for the report: its analysis (scale outcomes) or why there is none."""

    name: str
    label: str
    kind: str
    role: str = "efficacy"
    result: Any = None
    note: str = ""


@dataclass(frozen=True)
class Source:
    """Where the data came from, for the header of a report without a protocol."""

    description: str
    arm_names: dict[str, str] = field(default_factory=lambda: {"A": "active", "B": "control"})
    outcome_label: str = ""


# --------------------------------------------------------------------------- formatting


def fmt_prob(p: float) -> str:
    """A probability as a whole percentage, never rounding to a false certainty."""
    return format_probability(p)


def fmt_num(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A number rounded for a clinician; "n/a" for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    # "-0.0" reads as a result; it is rounding.
    return text.replace("-0.0", "0.0").replace("+0.0", "0.0") if float(text) == 0 else text


def fmt_rate(r: Mapping[str, float] | None) -> str:
    """A rate or share with its 95% interval: '14% (5-26%)'; "n/a" without one."""
    if not r or "mean" not in r:
        return "n/a"
    return f"{100 * r['mean']:.0f}% ({100 * r['low']:.0f}–{100 * r['high']:.0f}%)"


# --------------------------------------------------------------------------- pieces


def _posterior_curve(result: Any) -> tuple[np.ndarray, np.ndarray]:
    """The effect's posterior density on a grid: exact where the engine has it, else a KDE."""
    fit, s = result.fit, result.summary
    width = max(4.5 * s.sd, 1.2 * result.summary.mcid)
    x = np.linspace(min(s.mean - width, -s.mcid * 1.3), max(s.mean + width, s.mcid * 1.3), 400)
    if fit.exact is not None:
        return x, np.asarray(fit.exact.pdf(x), dtype=float)
    from scipy.stats import gaussian_kde

    return x, gaussian_kde(np.asarray(fit.draws["effect"], dtype=float))(x)


def replicate_series(series: Any, fit: Any, n: int = PPC_DRAWS, seed: int = 0) -> np.ndarray:
    """Series replicated from the posterior, for the posterior predictive check.

    For the Gaussian model (both engines) each replicate takes one posterior draw of the
    coefficients, sigma and rho (and tau under the onset model) and runs the AR(1) noise
    through every calendar day, so gaps and washout days have their true length. For other likelihoods the sampler's own
    posterior predictive draws of ``y`` are used (observed days only, NaN elsewhere).

    Parameters
    ----------
    series : ``nof1.analysis.series.Series`` that was fitted.
    fit : its ``nof1.analysis.models.base.Fit``.
    n : number of replicates.
    seed : seed of the choice of draws and of the noise.

    Returns
    -------
    numpy.ndarray of shape (n, len(series.y)).
    """
    from nof1.analysis.models.regression import design_matrix

    rng = np.random.default_rng(seed)
    opts = fit.options or {}
    gaussian = fit.likelihood == "normal"
    if not gaussian:
        if fit.idata is None or "posterior_predictive" not in fit.idata.groups():
            raise DataError(f"the {fit.engine} fit has no posterior predictive draws")
        y = fit.idata.posterior_predictive["y"].values
        y = y.reshape(-1, y.shape[-1])
        pick = rng.choice(len(y), size=min(n, len(y)), replace=False)
        out = np.full((len(pick), len(series.y)), np.nan)
        out[:, series.observed] = y[pick]
        return out
    terms = {"trend": opts.get("trend", "none")}
    X, names = design_matrix(series, **terms)
    total = len(fit.draws["effect"])
    pick = rng.choice(total, size=min(n, total), replace=False)
    beta = np.column_stack([np.asarray(fit.draws[c])[pick] for c in names])
    mean = beta @ X.T
    if opts.get("carryover", False):
        # The effect acts through the exposure at each draw's tau (few distinct values
        # for the exact engine, whose draws sit on its tau grid).
        e = names.index("effect")
        tau = np.asarray(fit.draws["tau"])[pick]
        column = {t: design_matrix(series, **terms, tau=t)[0][:, e] for t in np.unique(tau)}
        mean += beta[:, e, None] * (np.stack([column[t] for t in tau]) - X[None, :, e])
    sigma = np.asarray(fit.draws["sigma"])[pick]
    rho = np.asarray(fit.draws["rho"])[pick] if "rho" in fit.draws else np.zeros(len(pick))
    days = series.day - series.day[0]
    noise = np.empty((len(pick), days[-1] + 1))
    noise[:, 0] = sigma / np.sqrt(1 - rho**2) * rng.standard_normal(len(pick))
    for t in range(1, noise.shape[1]):
        noise[:, t] = rho * noise[:, t - 1] + sigma * rng.standard_normal(len(pick))
    return mean + noise[:, days]


def _ppc(result: Any) -> str | None:
    try:
        rep = replicate_series(result.series, result.fit)
    except DataError:
        return None
    return plots.ppc_png(result.series.day, result.series.y, rep)


def _days_frame(table: pd.DataFrame | None, series: Any, outcome: str) -> pd.DataFrame:
    """Columns the time-series figure wants, from a trial table or from a bare series."""
    if table is not None:
        return pd.DataFrame(
            {
                "x": table["date"].to_numpy(),
                "value": table[outcome].to_numpy(dtype=float),
                "arm": table["arm"].astype("string").fillna(""),
                "period": table["period"].fillna(0).astype(int),
                "washout": table["washout"].to_numpy(dtype=bool),
            }
        )
    # A CSV series may skip days (no row at all); give the figure one row per calendar day.
    full = np.arange(series.day[0], series.day[-1] + 1)
    pos = np.searchsorted(series.day, full)
    present = np.isin(full, series.day)
    idx = np.minimum(pos, len(series.day) - 1)
    return pd.DataFrame(
        {
            "x": full,
            "value": np.where(present, series.y[idx], np.nan),
            "arm": np.where(series.active[idx] == 1, "A", "B"),
            "period": series.period[idx],
            "washout": np.zeros(len(full), dtype=bool),
        }
    )


def day_counts(result: Any) -> dict[str, int]:
    """The analysed days, those with a score and those missing: one count for every
    sentence and table of the report.

    Washout days that the onset model enters as rows without a score
    (``options["washout_rows"]``) are not analysed days and not missing: they were never
    meant to have a score in the analysis.

    Returns
    -------
    dict with ``analysed``, ``scored`` and ``missing`` (``analysed - scored``).
    """
    s = result.summary
    analysed = s.n_days - int(result.options.get("washout_rows", 0))
    return {"analysed": analysed, "scored": s.n_observed, "missing": analysed - s.n_observed}


def _completeness(
    table: pd.DataFrame,
    outcome: str,
    arm_names: Mapping[str, str],
    recall_days: frozenset[date] = frozenset(),
    late_days: frozenset[date] = frozenset(),
    washout_analysed: bool = False,
) -> list[dict]:
    """Per arm: planned analysis days, days with a score (and how many of them were recall
    entries, how many late entries), missing days, days with a missed or partial dose.
    Washout days count only when the analysis takes them (``washout_analysed``: not
    excluded)."""
    rows = []
    for arm in ("A", "B"):
        t = table[(table["arm"] == arm) & (washout_analysed | ~table["washout"])]
        scored = t[outcome].notna()
        recorded = int(scored.sum())
        recalled = int(t.loc[scored, "date"].dt.date.isin(recall_days).sum())
        late = int(t.loc[scored, "date"].dt.date.isin(late_days).sum())
        adherence = t["adherence"]
        rows.append(
            {
                "arm": arm,
                "name": arm_names[arm],
                "planned": len(t),
                "recorded": recorded,
                "recall": recalled,
                "late": late,
                "missing": len(t) - recorded,
                # A day with part of its doses counts with the days without any.
                "missed_dose": int((adherence < 1).sum()),
                "dose_unknown": int(adherence.isna().sum()),
            }
        )
    return rows


#: How each randomization scheme orders the periods, for the protocol and methods text.
SCHEME_TEXT = {
    "block": (
        "each block one period of A and one of B, the order drawn at random per block",
        "Period effects are balanced by the block design (each block has one A and one B period).",
    ),
    "alternating": (
        "A and B alternate (ABAB... or BABA...), only the first arm drawn at random",
        "Period effects are balanced by the alternation, but a trend that rises or falls "
        "steadily favours the arm that comes second in every pair.",
    ),
    "random-pairs": (
        "the periods shuffled at random with as many A as B periods, so a block may hold "
        "two periods of the same arm",
        "Period effects are balanced only on average over the randomization: under random "
        "pairs a block can hold AA or BB, and a slow trend can favour one arm.",
    ),
}


def scheme_text(scheme: str) -> dict[str, str]:
    """The ``design`` and ``balance`` sentences of a randomization scheme."""
    design, balance = SCHEME_TEXT[scheme]
    return {"design": design, "balance": balance}


def _binary_rates(table: pd.DataFrame, outcome: str) -> dict[str, dict[str, Any]]:
    """Per arm: yes days, days answered and the rate with its 95% interval (binary model)."""
    out = {}
    for arm in ("A", "B"):
        values = table.loc[(table["arm"] == arm), outcome].dropna()
        yes, n = int((values == 1).sum()), len(values)
        out[arm] = {"yes": yes, "n": n, **(rate_interval(yes, n) if n else {})}
    return out


def _cent_items(has_protocol: bool, sequential: bool = False) -> list[dict[str, str]]:
    """The CENT 2015 items this report answers, each pointing at its section."""
    items = [
        ("1a", "Identification as an n-of-1 trial in the title", "header"),
        ("2a.2", "Rationale for using an n-of-1 approach", "protocol"),
        (
            "3a",
            "Design, planned number of periods, period length incl. run-in and washout",
            "protocol",
        ),
        ("5", "The interventions in each period, in enough detail to replicate them", "protocol"),
        ("6a", "Pre-specified primary and secondary outcomes, how and when measured", "protocol"),
        ("7b", "Interim analyses and stopping guidelines", "interim"),
        ("8a", "Method used to generate the random allocation sequence", "protocol"),
        ("8b", "Type of randomisation (the scheme) and its restriction", "sensitivity"),
        ("9", "Allocation concealment: sealed allocation and public commitment", "protocol"),
        ("11a", "Blinding: who was blinded, and how well it held", "blinding"),
        (
            "12a",
            "Statistical methods incl. carryover, period effects and within-person correlation",
            "diagnostics",
        ),
        ("16", "Numbers analysed: days analysed per treatment", "timeseries"),
        ("14b", "Why the trial ended or was stopped", "interim"),
        ("17a", "Outcomes and estimation: effect with 95% interval, per outcome", "posterior"),
        ("17b", "Secondary outcomes, binary ones as rates", "secondary"),
        ("19", "Harms: side effects per treatment", "blinding"),
        ("—", "Adherence to the allocated treatment", "timeseries"),
        ("—", "Missing data: days without a score, and how they were handled", "timeseries"),
        ("20", "Limitations: carryover, few blocks, applicability", "limitations"),
    ]
    out = []
    for item, text, section in items:
        if not has_protocol and section in ("protocol", "blinding"):
            continue
        if not sequential and section == "interim":
            continue
        out.append({"item": item, "text": text, "section": section})
    return out


#: What the design's simulation must hold for the report to state its operating
#: characteristics (``SequentialRule.simulated``, from ``nof1 design --sequential``).
_SIMULATED_KEYS = (
    "sims", "seed", "effect", "sd", "rho", "tau", "false_positive", "power",
    "expected_days_no_effect", "expected_days_effect", "fixed_days",
)  # fmt: skip


def design_characteristics(rule: Any) -> str | None:
    """The design's simulated operating characteristics in one paragraph, or None when
    they are not on record in the protocol (a rule made by hand)."""
    sim = rule.simulated
    if any(not isinstance(sim.get(k), int | float) for k in _SIMULATED_KEYS):
        return None
    fixed = sim["fixed_days"]
    shorter = [1 - sim[k] / fixed for k in ("expected_days_no_effect", "expected_days_effect")]
    rhos = sim.get("calibration_rhos")
    worst = (
        f", the largest over autocorrelations {', '.join(f'{r:g}' for r in rhos)}"
        if isinstance(rhos, list) and len(rhos) > 1
        else ""
    )
    fixed_power = ""
    if isinstance(sim.get("fixed_power"), int | float) and isinstance(sim.get("fixed_blocks"), int):
        fixed_power = (
            f" (the fixed design of {sim['fixed_blocks']} blocks: {sim['fixed_power']:.2f})"
        )
    return (
        f"In the design's simulation ({sim['sims']:,} simulated trials per scenario, seed "
        f"{sim['seed']}; day-to-day sd {sim['sd']:g}, autocorrelation {sim['rho']:g}, onset "
        f"time constant {sim['tau']:g} days): with no effect, the chance of stopping for "
        f"efficacy at any look (the false-positive rate over all looks) was "
        f"{sim['false_positive']:.3f}{worst} (target at most {rule.false_positive_target:g}); "
        f"with a true effect of {sim['effect']:+g} points, the power was "
        f"{sim['power']:.2f}{fixed_power}. Expected length: "
        f"{sim['expected_days_no_effect']:.0f} days with no effect and "
        f"{sim['expected_days_effect']:.0f} days with that effect, against {fixed:.0f} days "
        f"for the same design without looks ({shorter[0]:.0%} and {shorter[1]:.0%} shorter)."
    )


def _interim(monitoring: Any, protocol: Any, mcid: float, n_observed: int) -> dict | None:
    """What the report's "Interim looks" section shows, or None for a fixed-length trial."""
    if monitoring is None:
        return None
    rule = monitoring.rule
    rows = []
    for x, again in zip(monitoring.looks, monitoring.repeats(), strict=True):
        rows.append(
            {
                "look": x.look,
                "after_block": x.after_block,
                "block_end": monitoring.block_ends[x.after_block - 1].isoformat()
                if 0 < x.after_block <= len(monitoring.block_ends)
                else "",
                "at": x.at.strftime("%Y-%m-%d %H:%M"),
                "blocks": "1" if x.after_block == 1 else f"1–{x.after_block}",
                "decision": x.decision,
                "repeat": again,
                "stops": x.stops,
                "code": x.code if protocol.helper_key else "",
            }
        )
    stop = monitoring.stopped
    planned = rule.max_blocks
    if stop is None:
        where = (
            f"No look said STOP: the trial ran to its planned end ({planned} blocks, "
            f"{protocol.end})."
        )
    elif not monitoring.stopped_early:
        where = (
            f"The trial ran to its planned end: the last look, after block {planned}, is the "
            f"final analysis ({stop.decision})."
        )
    else:
        end = monitoring.block_ends[stop.after_block - 1]
        saved = (protocol.end - end).days
        where = (
            f"The trial stopped early at look {stop.look}, after block {stop.after_block} of "
            f"{planned} ({stop.decision}): its planned end was {protocol.end}, {saved} days "
            f"(about {saved / 7:.0f} weeks) after block {stop.after_block} ended on {end}."
        )
    b = monitoring.blocks_analysed
    if monitoring.stopped_early:
        used = (
            f"The analysis in this report uses every day recorded: blocks 1–{b} "
            f"({n_observed} analysed days with a score); "
            + (f"block {planned} was" if b + 1 == planned else f"blocks {b + 1}–{planned} were")
            + " not run."
        )
    else:
        used = f"The analysis in this report uses every day recorded, in all {planned} blocks."
    return {
        "rule": rule.describe(mcid),
        "shape": rule.shape,
        "design": design_characteristics(rule),
        "rows": rows,
        "missed": ", ".join(map(str, monitoring.missed())),
        "where": where,
        "used": used,
        "stop": stop,
        "early": monitoring.stopped_early,
        "stopped_on": monitoring.block_ends[b - 1].isoformat(),
        "efficacy": stop is not None and stop.decision == STOP_EFFICACY,
        "bias": monitoring.simulated_bias(),
    }


def _decision(result: Any, protocol: Any) -> dict | None:
    """The "Decision" section: the registered trade-off in the patient's words and the net
    benefit it gives (``nof1.analysis.decision``); None without a registered trade-off."""
    nb = getattr(result, "decision", None)
    if nb is None or protocol is None:
        return None
    primary = result.summary.outcome.replace("_", " ")
    labels = {o.name: o.label for o in protocol.outcomes}
    return {
        "nb": nb,
        "said": " ".join(nb.trade_off.sentences(primary)),
        "primary": primary,
        "side_effects": [
            {"label": labels.get(name, name), **values} for name, values in nb.side_effects.items()
        ],
    }


def _title(protocol: Any, source: Source | None) -> str:
    if protocol is not None:
        name = protocol.title
        for prefix in ("N-of-1 trial:", "N-of-1 trial", "n-of-1 trial:"):
            if name.startswith(prefix):
                name = name[len(prefix) :].strip()
                break
        return f"N-of-1 trial report: {name}"
    return f"N-of-1 trial report: {source.description if source else 'personal effect'}"


# --------------------------------------------------------------------------- the page


def build_report(
    result: Any,
    *,
    protocol: Any = None,
    table: pd.DataFrame | None = None,
    commitment: CommitmentCheck | None = None,
    secondary: Sequence[Secondary] = (),
    source: Source | None = None,
    unblinding: Any = None,
    integrity: Any = None,
    without_deviations: Any = None,
    generated: date | None = None,
    recall_days: frozenset[date] = frozenset(),
    sequential: Any = None,
    late_entries: Sequence[Any] = (),
    without_late: Any = None,
) -> str:
    """Render the clinician's report as one self-contained HTML page.

    Parameters
    ----------
    result : ``nof1.analysis.result.AnalysisResult`` of the primary outcome; its ``sensitivity``
        (prior -> EffectSummary) fills the prior-sensitivity section when present.
    protocol : ``nof1.plan.protocol.Protocol`` of a trial folder, or None for a CSV analysis.
    table : ``nof1.analysis.series.trial_table`` of the unblinded trial (arms known), or None.
    commitment : the result of checking the allocation against the commitment.
    secondary : further outcomes (``Secondary``), summarised in a compact table.
    source : for a report without a protocol: what was analysed, the arm names.
    unblinding : the diary's ``Unblinding`` record (to flag an early unblinding).
    integrity : ``nof1.trial.integrity.TrialCheck`` of the trial folder: its fingerprint is
        printed for comparison, and any problem shown in red; its chain, unblinding time
        and deviations (records made after unblinding) are stated.
    without_deviations : when there are deviations, the ``EffectSummary`` of the same
        analysis without them, or a sentence saying why there is none.
    generated : the date printed in the footer (default: today).
    recall_days : days whose entry was typed after the day (``Diary.recall_days``).
    late_entries : the current records made more than ``RECALL_DAYS`` after their day
        (``DiaryView.late_entries``): counted, listed, and shown in red.
    without_late : when there are late entries, the ``EffectSummary`` of the same analysis
        without them, or a sentence saying why there is none.
    sequential : the interim looks of a sequential trial (``nof1.trial.monitoring.Monitoring``)
        for the "Interim looks" section; None (the default: ``result.sequential``) for a
        fixed-length trial.

    Returns
    -------
    str : the HTML document.

    Raises
    ------
    DataError : the table has no arms (the trial is still blinded).

    Example
    -------
    >>> html = build_report(analyze(series, prior_sensitivity=True))  # doctest: +SKIP
    """
    s = result.summary
    if table is not None and not table.loc[~table["run_in"], "arm"].notna().all():
        raise DataError("the trial table has no arms yet: run `nof1 unblind` first")
    if protocol is not None:
        arm_names = {a: t.name for a, t in protocol.treatments.items()}
        outcome = protocol.outcome(s.outcome)
        outcome_label = outcome.label
    else:
        source = source or Source("personal effect")
        arm_names = dict(source.arm_names)
        outcome_label = source.outcome_label or s.outcome
    series = result.series
    benefit_word = "less" if s.lower_is_better else "more"
    direction = (
        f"left of 0 = {benefit_word} {s.outcome} on {arm_names['A']}"
        if s.lower_is_better
        else f"right of 0 = {benefit_word} {s.outcome} on {arm_names['A']}"
    )
    days = _days_frame(table, series, s.outcome)
    figures = {
        "timeseries": plots.timeseries_png(
            days,
            outcome_label=outcome_label,
            arm_names=arm_names,
            low=series.low,
            high=series.high,
        ),
    }
    x, dens = _posterior_curve(result)
    figures["posterior"] = plots.posterior_png(
        x,
        dens,
        mcid=s.mcid,
        lower_is_better=s.lower_is_better,
        interval=(s.hdi_low, s.hdi_high),
    )
    sensitivity = []
    if result.sensitivity:
        for name in ("vague", "neutral", "sceptical"):
            e = result.sensitivity.get(name)
            if e is not None:
                sensitivity.append(e)
        figures["forest"] = plots.forest_png(
            [(e.prior, e.mean, e.hdi_low, e.hdi_high) for e in sensitivity],
            mcid=s.mcid,
            lower_is_better=s.lower_is_better,
        )
    figures["ppc"] = _ppc(result)  # None (no check drawn) for a yes/no outcome's rates

    binary = []
    if protocol is not None and table is not None:
        for o in protocol.outcomes:
            if o.kind == "binary" and o.role != "side-effect":
                # Side effects are in the blinding section, with the blinding assessment.
                row = {"label": o.label, "role": o.role, "rates": _binary_rates(table, o.name)}
                binary.append(row)
    scale_secondary = [x for x in secondary if x.kind == "scale"]
    completeness = (
        _completeness(
            table,
            s.outcome,
            arm_names,
            recall_days,
            frozenset(r.entry.date for r in late_entries),
            washout_analysed=result.options.get("washout") == "include",
        )
        if table is not None
        else None
    )
    period_arms = {}
    if table is not None:
        on = table[table["period"].notna()]
        period_arms = dict(zip(on["period"].astype(int), on["arm"].astype(str), strict=True))
    large = large_benefit(series, s.mcid, s.likelihood)
    diag = s.diagnostics
    rt = result.randomization_test
    blocks = int(len(np.unique(series.block[series.block > 0])))
    sequential = sequential if sequential is not None else getattr(result, "sequential", None)
    interim = None
    if protocol is not None:
        interim = _interim(sequential, protocol, s.mcid, s.n_observed)
    context = {
        "interim": interim,
        "decision": _decision(result, protocol),
        "title": _title(protocol, source),
        "protocol": protocol,
        "source": source,
        "s": s,
        "result": result,
        "arm_names": arm_names,
        "outcome_label": outcome_label,
        "direction": direction,
        "figures": figures,
        "sensitivity": sensitivity,
        "rt": rt,
        "blocks": blocks,
        "blinding": result.blinding,
        "verdict": result.verdict,
        "scheme": scheme_text(protocol.scheme if protocol is not None else series.scheme),
        "binary": binary,
        "secondary": scale_secondary,
        "completeness": completeness,
        "period_arms": period_arms,
        "commitment": commitment,
        "unblinding": unblinding,
        "integrity": integrity,
        "without_deviations": without_deviations,
        "late_entries": list(late_entries),
        "without_late": without_late,
        "recall_limit": RECALL_DAYS,
        "diag": diag,
        "ok": bool(diag.ok),
        "cent": _cent_items(protocol is not None, interim is not None),
        "generated": (generated or date.today()).isoformat(),
        "large": large,
        "days": day_counts(result),
        "p_tell_label": P_TELL_LABEL,
        "p_tell_beside": lambda p: probability_beside(p, TELL),
        "p": fmt_prob,
        "num": fmt_num,
        "pct": fmt_rate,
    }
    return render_template("report.html", context)


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render one of the package's templates (``nof1/report/templates``): autoescaped HTML,
    and a name the template uses but ``context`` lacks is an error, never an empty string.
    The clinician's report and the patient's page are both rendered here."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nof1.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(**context)


def write_report(path: str | Path, html: str, force: bool = False) -> Path:
    """Write the report readable by its owner only (0600): it holds health data.

    ``path`` is never one of a trial's own files; an existing file is replaced only with
    ``force``. The write is atomic.

    Raises
    ------
    OutputError : ``path`` is a trial's file, exists without ``force``, its folder does
        not exist or is not writable.
    """
    return write_output(path, html.encode("utf-8"), force=force, what="report")
