"""The summary stage: what a fitted personal model says, in numbers and in plain words.

``summarize`` turns a ``Fit`` (either engine) into an ``EffectSummary``: the effect in
outcome units (active minus control) and standardized, the probabilities a decision needs
(benefit at all, benefit of at least the MCID, "much better", practical equivalence), the
autocorrelation, and one paragraph a patient and a clinician can both read. A fit that
failed its convergence checks gets no verdict, only the reason.

``bang_index`` is the Bang blinding index per arm (Bang, Ni, Davis, Control Clin Trials
2004): did the patient guess the arm better than chance?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nof1.analysis.models.base import Diagnostics, Fit
from nof1.analysis.models.priors import outcome_unit
from nof1.analysis.series import Series
from nof1.errors import DataError

#: "Much better" on a 0-10 pain NRS: 2 points (Salaffi et al. 2004; Farrar et al. 2001).
LARGE_POINTS = 2.0
#: Default decision threshold on P(benefit >= MCID) (``nof1.plan.protocol.Analysis.threshold``).
DEFAULT_THRESHOLD = 0.8
#: Probability of the effect's highest-density interval (``hdi_low``, ``hdi_high``).
HDI_PROB = 0.95
#: Words for a probability (calibrated language after the IPCC guidance note, Mastrandrea
#: et al. 2010, with "very" kept for the conventional 95%): at or above each bound, its word.
VERY_PROBABLY = 0.95
PROBABLY = 0.80
MORE_LIKELY_THAN_NOT = 0.50
#: The band of chance-like guessing: |BI| (Bang et al. 2004) or |J| (``nof1.analysis.blinding_assessment``)
#: at or below it.
BLINDING_OK = 0.2


def fallback_advice(fit: Fit) -> str | None:
    """What to run instead when a fit failed its convergence checks; None when it passed.

    The advice names an engine that always answers: the exact engine integrates rather than
    samples, so it has no convergence to fail. More draws are not offered: where NUTS
    diverged, more draws give more divergences (``docs/validation.md``, "MCMC robustness").

    Parameters
    ----------
    fit : a fit of either engine.

    Returns
    -------
    One sentence ending in the command-line option(s) to use, or None.
    """
    if fit.diagnostics.ok:
        return None
    if fit.likelihood == "normal":
        return (
            "The exact engine fits this same model without sampling and always gives an "
            "answer: run the analysis again with --engine exact."
        )
    if fit.likelihood == "binomial":
        model = "this model" if not fit.options.get("ar1") else "the model without latent AR(1)"
        return (
            f"The exact engine fits {model} (independent days) without sampling and always "
            "gives an answer: run the analysis again with --engine exact."
        )
    return (
        f"The exact engine gives an answer without sampling under the normal likelihood (a "
        f"simpler model than the {fit.likelihood} one): run the analysis again with "
        "--engine exact --likelihood normal."
    )


def large_benefit(series: Series, mcid: float, likelihood: str = "normal") -> float:
    """The "much better" threshold: 2 points of a 0-10 scale (Salaffi 2004), scaled to the
    outcome's range; on an unbounded outcome, where points have no common meaning, and on a
    yes/no outcome (``likelihood="binomial"``, percentage points), 2 x MCID."""
    if likelihood != "binomial" and series.low is not None and series.high is not None:
        return LARGE_POINTS * outcome_unit(series)
    return 2.0 * mcid


@dataclass(frozen=True)
class EffectSummary:
    """The personal effect of one outcome: numbers and a plain-language verdict.

    The effect is active (A) minus control (B) in outcome units. A *benefit* is a negative
    effect when ``lower_is_better`` (pain) and a positive one otherwise.

    Parameters
    ----------
    outcome, engine, prior, likelihood, lower_is_better : what was analysed and how.
    mcid : minimal clinically important difference, outcome units (percentage points for
        a yes/no outcome).
    mean, median, sd, hdi_low, hdi_high : posterior of the effect (its highest-density
        interval of probability ``HDI_PROB``, 95%); for a yes/no outcome the rate difference
        in percentage points.
    p_benefit : P(benefit > 0).
    p_mcid : P(benefit >= mcid).
    p_large : P(benefit >= 2 points of a 0-10 scale), the "much better" threshold.
    p_rope : P(|effect| < mcid / 2), the region of practical equivalence.
    p_harm_mcid : P(harm >= mcid): the effect at least the MCID in the wrong direction, the
        mirror of ``p_mcid`` (the verdict words harm by the same rule as benefit).
    standardized : posterior mean of effect / (sigma / sqrt(1 - rho^2)): the effect in
        units of the outcome's day-to-day standard deviation.
    rho_mean, rho_sd : posterior of the lag-1 autocorrelation (None without AR(1)).
    sigma_mean : posterior mean of the innovation sd (None when the model has none).
    n_days, n_observed : analysed days, and those with a score.
    diagnostics : convergence diagnostics of the fit.
    verdict : one paragraph; when diagnostics fail, says so and gives no conclusion.
    tau_median, tau_low, tau_high : posterior median and equal-tailed 95% interval of the
        onset/carryover time constant in days (None without the onset model).
    rates : yes/no outcomes only (else None): ``{"A": {...}, "B": {...}, "ratio": {...},
        "p_higher_on_a": p}``, each rate as ``mean``, ``low``, ``high`` (95% equal-tailed
        interval, proportions; ``median`` too, the ratio's summary since its mean is
        unstable when a rate is near 0) with ``yes`` and ``n`` days.
    """

    outcome: str
    engine: str
    prior: str
    likelihood: str
    lower_is_better: bool
    mcid: float
    mean: float
    median: float
    sd: float
    hdi_low: float
    hdi_high: float
    p_benefit: float
    p_mcid: float
    p_large: float
    p_rope: float
    p_harm_mcid: float
    standardized: float | None
    rho_mean: float | None
    rho_sd: float | None
    sigma_mean: float | None
    n_days: int
    n_observed: int
    diagnostics: Diagnostics
    verdict: str
    tau_median: float | None = None
    tau_low: float | None = None
    tau_high: float | None = None
    rates: dict[str, Any] | None = None

    @property
    def unit(self) -> str:
        """The unit of the effect: ``"percentage points"`` for a yes/no outcome, else
        ``"points"``."""
        return "percentage points" if self.likelihood == "binomial" else "points"

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON-ready): ``{"effect": {"mean": ...}, "p_benefit": ...}``."""
        return {
            "outcome": self.outcome,
            "engine": self.engine,
            "prior": self.prior,
            "likelihood": self.likelihood,
            "lower_is_better": self.lower_is_better,
            "effect": {
                "mean": self.mean,
                "median": self.median,
                "sd": self.sd,
                "hdi_low": self.hdi_low,
                "hdi_high": self.hdi_high,
                "standardized": self.standardized,
            },
            "p_benefit": self.p_benefit,
            "p_mcid": self.p_mcid,
            "p_large": self.p_large,
            "p_rope": self.p_rope,
            "p_harm_mcid": self.p_harm_mcid,
            "mcid": self.mcid,
            "rho": {"mean": self.rho_mean, "sd": self.rho_sd},
            "tau": (
                None
                if self.tau_median is None
                else {"median": self.tau_median, "low": self.tau_low, "high": self.tau_high}
            ),
            "sigma": {"mean": self.sigma_mean},
            "n_days": self.n_days,
            "n_observed": self.n_observed,
            "diagnostics": self.diagnostics.to_dict(),
            "verdict": self.verdict,
            "unit": self.unit,
            "rates": self.rates,
        }


def summarize(
    fit: Fit,
    series: Series,
    mcid: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    names: Mapping[str, str] | None = None,
) -> EffectSummary:
    """Summarize a fit of ``series`` for a patient and a clinician.

    Means, sds and probabilities are analytic when the fit carries the exact engine's
    posterior (``fit.exact``), otherwise they come from ``fit.draws``.

    Parameters
    ----------
    fit : a ``Fit`` from ``fit_exact`` or ``fit_mcmc``.
    series : the series that was fitted (direction, scale and day counts).
    mcid : minimal clinically important difference in outcome units (1 NRS point:
        Salaffi et al. 2004).
    threshold : P(benefit >= mcid) needed to call a benefit worthwhile (pre-registered in
        the protocol's analysis section; 0.8 by default).
    names : the treatment of each arm (``{"A": "Magnesium", "B": "Placebo"}``) once they may
        be named (an unblinded or open-label trial): the paragraph says "Magnesium" where it
        would say "A". None: "A" and "B" (a blinded look, a CSV file).

    Returns
    -------
    EffectSummary

    Raises
    ------
    DataError : mcid not positive, or threshold not between 0 and 1.

    Example
    -------
    >>> s = summarize(fit_exact(series), series, mcid=1.0)    # doctest: +SKIP
    >>> s.p_mcid, s.verdict                                   # doctest: +SKIP
    """
    if not mcid > 0:
        raise DataError(f"mcid must be a positive number of outcome units, got {mcid}")
    if not 0 < threshold < 1:
        raise DataError(f"decision threshold must lie between 0 and 1, got {threshold}")
    sign = -1.0 if series.lower_is_better else 1.0
    large = large_benefit(series, mcid, fit.likelihood)
    draws = fit.draws
    if fit.exact is not None:
        ex = fit.exact
        mean, sd, median = ex.mean, ex.sd, ex.quantile(0.5)
        hdi_low, hdi_high = ex.hdi(HDI_PROB)

        def prob_benefit_at_least(x: float, side: float = 1.0) -> float:
            # P(side * sign * effect >= x): benefit (side 1) is the lower tail for pain-like
            # outcomes, the upper otherwise; harm (side -1) the other tail.
            lower = sign * side < 0
            return float(ex.cdf(-x)) if lower else float(1.0 - ex.cdf(x))

        p_rope = float(ex.cdf(mcid / 2) - ex.cdf(-mcid / 2))
        standardized = ex.standardized_mean
        has_rho = "rho" in draws
        rho_mean = ex.rho_mean if has_rho else None
        rho_sd = ex.rho_sd if has_rho else None
        sigma_mean = ex.sigma_mean
    else:
        eff = np.asarray(draws["effect"], dtype=float)
        mean, sd, median = float(eff.mean()), float(eff.std(ddof=1)), float(np.median(eff))
        hdi_low, hdi_high = _hdi_from_draws(eff, HDI_PROB)

        def prob_benefit_at_least(x: float, side: float = 1.0) -> float:
            b = side * sign * eff
            return float(np.mean(b >= x)) if x > 0 else float(np.mean(b > 0))

        p_rope = float(np.mean(np.abs(eff) < mcid / 2))
        rho = draws.get("rho")
        sigma = draws.get("sigma")
        rho_mean = float(np.mean(rho)) if rho is not None else None
        rho_sd = float(np.std(rho, ddof=1)) if rho is not None else None
        sigma_mean = float(np.mean(sigma)) if sigma is not None else None
        standardized = None
        if sigma is not None:
            marginal = sigma / np.sqrt(1 - (rho**2 if rho is not None else 0.0))
            standardized = float(np.mean(eff / marginal))
    p_benefit = prob_benefit_at_least(0.0)
    p_mcid = prob_benefit_at_least(mcid)
    p_large = prob_benefit_at_least(large)
    p_harm_mcid = prob_benefit_at_least(mcid, side=-1.0)
    summary = dict(
        outcome=series.outcome,
        engine=fit.engine,
        prior=fit.prior,
        likelihood=fit.likelihood,
        lower_is_better=series.lower_is_better,
        mcid=float(mcid),
        mean=float(mean),
        median=float(median),
        sd=float(sd),
        hdi_low=float(hdi_low),
        hdi_high=float(hdi_high),
        p_benefit=p_benefit,
        p_mcid=p_mcid,
        p_large=p_large,
        p_rope=p_rope,
        p_harm_mcid=p_harm_mcid,
        standardized=standardized,
        rho_mean=rho_mean,
        rho_sd=rho_sd,
        sigma_mean=sigma_mean,
        n_days=len(series.y),
        n_observed=int(series.observed.sum()),
        diagnostics=fit.diagnostics,
        rates=_rates(fit) if fit.likelihood == "binomial" else None,
    )
    tau = {}
    if "tau" in draws:
        q = np.quantile(np.asarray(draws["tau"], dtype=float), [0.5, 0.025, 0.975])
        tau = {"tau_median": float(q[0]), "tau_low": float(q[1]), "tau_high": float(q[2])}
    return EffectSummary(
        **summary,
        verdict=_verdict(summary, threshold, large, fallback_advice(fit), names),
        **tau,
    )


def _rates(fit: Fit) -> dict[str, Any]:
    """Per-arm rates (proportions), their ratio and P(higher on A), from a binary fit."""

    def describe(x: np.ndarray) -> dict[str, float]:
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        return {
            "mean": float(np.mean(x)),
            "median": float(med),
            "low": float(lo),
            "high": float(hi),
        }

    counts = fit.options.get("counts", {})
    out: dict[str, Any] = {}
    for arm, key in (("A", "rate_a"), ("B", "rate_b")):
        yes, n = counts.get(arm, (None, None))
        out[arm] = {**describe(np.asarray(fit.draws[key])), "yes": yes, "n": n}
    ratio = np.asarray(fit.draws["ratio"])
    out["ratio"] = describe(ratio[np.isfinite(ratio)])
    out["p_higher_on_a"] = float(np.mean(fit.draws["rate_a"] > fit.draws["rate_b"]))
    return out


def probability_word(p: float) -> str:
    """The calibrated word for a probability: "very probably" (>= 0.95), "probably"
    (>= 0.80), "more likely than not" (>= 0.50), else "" (see ``VERY_PROBABLY``)."""
    if p >= VERY_PROBABLY:
        return "very probably"
    if p >= PROBABLY:
        return "probably"
    if p >= MORE_LIKELY_THAN_NOT:
        return "more likely than not"
    return ""


def _hdi_from_draws(x: np.ndarray, prob: float) -> tuple[float, float]:
    """Shortest interval holding ``prob`` of the draws."""
    s = np.sort(x)
    k = int(np.ceil(prob * len(s)))
    widths = s[k - 1 :] - s[: len(s) - k + 1]
    i = int(np.argmin(widths))
    return float(s[i]), float(s[i + k - 1])


def format_probability(p: float | None, prose: bool = False) -> str:
    """A probability as a whole percentage that never rounds to a false certainty.

    0.995 (3,980 of 4,000 draws) reads ">99%", not "100%"; 0.005 reads "<1%", not "0%".
    ``prose`` spells the bounds out ("over 99%", "under 1%") for sentences.
    """
    if p is None or np.isnan(p):
        return "n/a"
    k = round(100 * p)
    if k >= 100:
        return "over 99%" if prose else ">99%"
    if k <= 0:
        return "under 1%" if prose else "<1%"
    return f"{k}%"


def signed(x: float, digits: int = 2) -> str:
    """A signed number, '+1.20' or '-0.45', never '-0.00' or '+0.00': a value that rounds
    to zero is '0.00' (its sign is rounding, not a result).

    Example
    -------
    >>> signed(-0.001), signed(1.2), signed(-2.333, 1)
    ('0.00', '+1.20', '-2.3')
    """
    text = f"{x:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _pct(p: float) -> str:
    return format_probability(p, prose=True)


def points(x: float, unit: str = "points") -> str:
    """'1 point', '2.5 points', '10 percentage points'."""
    if f"{x:.3g}" == "1":
        return "1 " + unit.replace("points", "point")
    return f"{x:.3g} {unit}"


def _amount(x: float, better: str, worse: str, benefit_sign: float, unit: str) -> str:
    """'1.2 points lower' style wording of an effect value."""
    if abs(x) < 0.05:
        return "no different"
    word = better if benefit_sign * x > 0 else worse
    return f"{abs(x):.1f} {unit} {word}"


def arm_names(names: Mapping[str, str] | None) -> dict[str, str]:
    """How the text names each arm: the treatments once they may be named, else A and B
    (``"A"``, ``"B"``; ``"on A"``, ``"on B"`` for "on ... your pain was").

    Example
    -------
    >>> arm_names({"A": "Magnesium", "B": "Placebo"})["A"], arm_names(None)["A"]
    ('Magnesium', 'A')
    """
    if not names:
        return {"A": "A", "B": "B", "on A": "the active treatment (A)", "on B": "the control (B)"}
    return {
        "A": names["A"],
        "B": names["B"],
        "on A": f"{names['A']} (A)",
        "on B": f"{names['B']} (B)",
    }


def _verdict(
    s: dict[str, Any],
    threshold: float,
    large: float,
    advice: str | None,
    names: Mapping[str, str] | None = None,
) -> str:
    diag: Diagnostics = s["diagnostics"]
    if not diag.ok:
        why = "; ".join(diag.messages) if diag.messages else "convergence checks failed"
        return (
            "No conclusion: the model fit did not pass its convergence checks "
            f"({why}). The numbers must not be used for a decision. {advice}"
        )
    lower = s["lower_is_better"]
    better, worse = ("lower", "higher") if lower else ("higher", "lower")
    sign = -1.0 if lower else 1.0
    out = s["outcome"]
    mcid = s["mcid"]
    binary = s["likelihood"] == "binomial"
    unit = "percentage points" if binary else "points"
    arm = arm_names(names)
    lo, hi = sorted((s["hdi_low"], s["hdi_high"]), key=lambda v: sign * v)
    text = ""
    if binary:
        r = s["rates"]
        text = (
            f"{out} occurred on {r['A']['yes']} of {r['A']['n']} days on A "
            f"({_rate(r['A'])}) and on {r['B']['yes']} of {r['B']['n']} days on B "
            f"({_rate(r['B'])}). "
        )
        what = f"the rate of {out}"
    else:
        what = f"your {out}"
    harm = ""
    if s["p_benefit"] < MORE_LIKELY_THAN_NOT:
        # The mirror of the benefit's MCID line, when harm is the likelier direction.
        harm = (
            f"; that it makes {what} {worse} by at least {points(mcid, unit)}, "
            f"{_pct(s['p_harm_mcid'])}"
        )
    text += (
        f"On {arm['on A']} {what} was on average "
        f"{_amount(s['mean'], better, worse, sign, unit)} than on {arm['on B']} "
        f"(95% credible interval: from {_amount(lo, better, worse, sign, unit)} to "
        f"{_amount(hi, better, worse, sign, unit)}). "
        f"The chance that {arm['A']} helps at all is {_pct(s['p_benefit'])}; that it helps by "
        f"at least the minimal important difference of {points(mcid, unit)}, "
        f"{_pct(s['p_mcid'])}; by {points(large, unit)} or more ('much better'), "
        f"{_pct(s['p_large'])}{harm}; that it makes no practical difference (less than "
        f"{points(mcid / 2, unit)} either way), {_pct(s['p_rope'])}. "
    )
    return text + "Conclusion: " + effect_conclusion(s, threshold, out, names)


def _rate(r: dict[str, Any]) -> str:
    return f"{100 * r['mean']:.0f}%, 95% interval {100 * r['low']:.0f}% to {100 * r['high']:.0f}%"


#: What ``effect_kind`` can say: a direction (benefit or harm) and how sure, or neither.
EFFECT_KINDS = ("benefit", "harm", "no-practical-difference", "unclear")


def effect_kind(s: Any, threshold: float) -> tuple[str, bool]:
    """Which way the effect goes, by one rule for benefit and harm alike.

    The likelier direction (benefit when P(benefit) >= 0.5, else harm) is stated when it
    reaches the minimal important difference with a probability above ``threshold``
    (``matters`` True), or, unless the effect is practically nil (P(|effect| < MCID/2) above
    ``threshold``), when the direction alone is very probable (>= 0.95: ``matters`` False,
    "possibly by less than the minimal important difference").

    Parameters
    ----------
    s : an ``EffectSummary`` or its fields as a dict (``p_benefit``, ``p_mcid``,
        ``p_harm_mcid``, ``p_rope``).
    threshold : the decision threshold.

    Returns
    -------
    (kind, matters) : kind one of ``EFFECT_KINDS``; matters True when the effect in that
    direction is at least the MCID with a probability above the threshold.
    """
    get = s.get if isinstance(s, dict) else lambda k: getattr(s, k)
    p_benefit = get("p_benefit")
    side = "benefit" if p_benefit >= MORE_LIKELY_THAN_NOT else "harm"
    p_side = p_benefit if side == "benefit" else 1.0 - p_benefit
    p_matters = get("p_mcid") if side == "benefit" else get("p_harm_mcid")
    if p_matters > threshold:
        return side, True
    if get("p_rope") > threshold:
        return "no-practical-difference", False
    if p_side >= VERY_PROBABLY:
        return side, False
    return "unclear", False


def effect_conclusion(
    s: Any, threshold: float, outcome: str, names: Mapping[str, str] | None = None
) -> str:
    """The one-sentence conclusion about the effect (``effect_kind``), worded by
    ``probability_word``: benefit and harm by the same sentences.

    ``s`` is an ``EffectSummary`` or its fields as a dict (``p_mcid``, ``p_harm_mcid``,
    ``p_rope``, ``p_benefit``, ``mcid``, ``likelihood``); ``names`` as in ``summarize``.
    """
    get = s.get if isinstance(s, dict) else lambda k: getattr(s, k)
    a = arm_names(names)["A"]
    p_benefit = get("p_benefit")
    unit = "percentage points" if get("likelihood") == "binomial" else "points"
    kind, matters = effect_kind(s, threshold)
    if kind == "unclear":
        return (
            f"the trial cannot tell yet whether {a} helps; more blocks would narrow the "
            "uncertainty."
        )
    if kind == "no-practical-difference":
        p_rope = get("p_rope")
        text = f"{a} {probability_word(p_rope)} makes no practical difference."
        side = "benefit" if p_benefit >= MORE_LIKELY_THAN_NOT else "harm"
        if max(p_benefit, 1.0 - p_benefit) >= VERY_PROBABLY:
            text += f" A small {side} is very probable, but it is below what matters."
        return text
    verb = "helps" if kind == "benefit" else f"makes your {outcome} worse"
    if matters:
        p = get("p_mcid") if kind == "benefit" else get("p_harm_mcid")
        return (
            f"{a} {probability_word(p)} {verb}, by an amount that matters (at least "
            f"{points(get('mcid'), unit)}: {_pct(p)})."
        )
    weigh = (
        "weigh the small gain against cost and side effects"
        if kind == "benefit"
        else "a small harm, and no benefit to weigh it against"
    )
    return (
        f"{a} very probably {verb}, but possibly by less than the minimal important "
        f"difference: {weigh}."
    )


# --------------------------------------------------------------------------------------
# Blinding
# --------------------------------------------------------------------------------------

GUESSES = ("A", "B", "unsure")


@dataclass(frozen=True)
class BlindingIndex:
    """Bang's blinding index per arm.

    Parameters
    ----------
    index : arm -> BI = (correct - incorrect) / n_arm, "unsure" counted in n_arm; None for
        an arm without guesses. 1: everyone guessed right (unblinded), 0: like chance,
        -1: everyone guessed the other arm.
    counts : arm -> guess -> count (the arm x guess table, arms and guesses "A", "B",
        guesses also "unsure").
    n : arm -> number of guesses on that arm.
    interpretation : a plain-language description of the numbers (not a judgement of
        whether blinding held: see ``nof1.analysis.blinding_assessment``).
    """

    index: dict[str, float | None]
    counts: dict[str, dict[str, int]]
    n: dict[str, int]
    interpretation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": dict(self.index),
            "counts": {arm: dict(c) for arm, c in self.counts.items()},
            "n": dict(self.n),
            "interpretation": self.interpretation,
        }


def bang_index(arms: Sequence[str], guesses: Sequence[str | None]) -> BlindingIndex:
    """Bang blinding index (Bang, Ni, Davis 2004) per arm.

    Parameters
    ----------
    arms : the true arm of each period, ``"A"`` or ``"B"``.
    guesses : the patient's guess for the same periods, ``"A"``, ``"B"`` or ``"unsure"``
        (the caller takes the last guess of each period); None where there was no guess
        (left out, unlike "unsure", which counts toward n_arm).

    Returns
    -------
    BlindingIndex

    Raises
    ------
    DataError : lengths differ, or an arm or guess is not one of the allowed values.

    Example
    -------
    >>> bang_index(["A", "B", "A", "B"], ["A", "A", "unsure", "B"]).index
    {'A': 0.5, 'B': 0.0}
    """
    if len(arms) != len(guesses):
        raise DataError(f"{len(arms)} arms but {len(guesses)} guesses; give one guess per period")
    counts = {arm: dict.fromkeys(GUESSES, 0) for arm in ("A", "B")}
    for i, (arm, guess) in enumerate(zip(arms, guesses, strict=True)):
        if arm not in counts:
            raise DataError(f"arm {arm!r} of period {i + 1} is not 'A' or 'B'")
        if guess is None:
            continue
        if guess not in GUESSES:
            raise DataError(f"guess {guess!r} of period {i + 1} is not 'A', 'B' or 'unsure'")
        counts[arm][guess] += 1
    index: dict[str, float | None] = {}
    n: dict[str, int] = {}
    for arm, other in (("A", "B"), ("B", "A")):
        n[arm] = sum(counts[arm].values())
        index[arm] = (counts[arm][arm] - counts[arm][other]) / n[arm] if n[arm] else None
    return BlindingIndex(index=index, counts=counts, n=n, interpretation=_blinding_text(index))


def _blinding_text(index: dict[str, float | None]) -> str:
    """A description of the index per arm; never a call on whether blinding held (with a few
    periods per arm the index is too imprecise: ``nof1.analysis.blinding_assessment`` judges that)."""
    parts = []
    for arm, name in (("A", "active (A)"), ("B", "control (B)")):
        bi = index[arm]
        if bi is None:
            parts.append(f"no guesses on the {name} arm")
        elif bi == 0:
            parts.append(f"on the {name} arm as many right as wrong guesses (BI {bi:+.2f})")
        elif bi > 0:
            parts.append(f"on the {name} arm more right than wrong guesses (BI {bi:+.2f})")
        else:
            parts.append(
                f"on the {name} arm more wrong than right guesses (BI {bi:+.2f}), as in "
                "opposite guessing"
            )
    return "Bang index, a description only: " + "; ".join(parts) + "."
