"""Did blinding hold? The patient's guesses and the side effects, with their uncertainty.

Two sources can tell the patient which kit they are on:

- **Guesses.** The diary asks every day "which kit do you think this is?" (A, B or unsure).
  The guess model is a Beta-binomial over periods: in a period on arm ``a`` the patient names
  A on ``k`` of ``m`` days with a definite guess, ``k ~ BetaBinomial(m, mu_a, icc)``, where
  ``mu_a`` is P(guess A | on arm a) and ``icc`` the correlation of guesses within a period
  (guesses of one period are not independent: a patient who thinks "this is the magnesium"
  on Monday still thinks so on Tuesday). ``mu_A``, ``mu_B`` and ``icc`` are uniform a priori
  and the posterior is computed exactly on a grid. The share of right guesses is ``mu_A`` on
  A and ``1 - mu_B`` on B; the patient could tell the arms apart when ``mu_A > mu_B``
  (Youden's J = mu_A - mu_B > 0: they name A more often when it is A). The same model on the
  *period-level* guess (the majority guess of each period, one per period) gives the view
  of Bang et al.; with three periods per arm it is wide, and "cannot tell" is the honest
  answer.
- **Side effects.** A yes/no side effect (magnesium's diarrhoea) that comes with one kit
  reveals it. Its rate per arm comes from the binary model of ``nof1.analysis.models.binary``
  (Beta-binomial per arm, uniform prior), over every day of each period (washout included:
  the patient lives those days too).

Status (never from a point estimate): ``could-tell`` when P(J > 0) >= 0.95 or a side effect
is higher on one arm with P >= 0.975 (either direction, so 0.95 two-sided); ``held`` when
the guesses put P(|J| < 0.2) >= 0.80 (the band of Bang's |BI| <= 0.2) and no side effect
differs; ``cannot-tell`` otherwise; ``not-assessed`` without guesses or side effects. Bang's
index (Bang, Ni, Davis 2004) stays beside it as a descriptive number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import betaln, gammaln

from nof1.analysis.models.binary import p_higher_on_a, rate_interval
from nof1.analysis.summary import (
    BLINDING_OK,
    GUESSES,
    PROBABLY,
    VERY_PROBABLY,
    BlindingIndex,
    bang_index,
    format_probability,
)
from nof1.errors import DataError

#: P(J > 0) from which the guesses say the patient could tell the arms apart.
TELL = VERY_PROBABLY
#: P(rate higher on one arm) from which a side effect is said to reveal the kit; 0.975 on
#: either side is 0.95 two-sided, so a side effect equally frequent on both arms raises
#: the flag no more often than the guesses do.
SIDE_EFFECT_TELL = 0.975
#: P(|J| < BLINDING_OK) from which the guesses say blinding held.
HELD = PROBABLY
STATUSES = ("could-tell", "held", "cannot-tell", "not-assessed")

# Grid of the guess model: cell midpoints of mu in (0, 1) and of the within-period
# correlation icc in (0, 1).
_MU = (np.arange(100) + 0.5) / 100
_ICC = (np.arange(40) + 0.5) / 40


@dataclass(frozen=True)
class GuessModel:
    """What the guesses say, at one level (``"period"`` or ``"daily"``).

    Parameters
    ----------
    level : ``"period"`` (the majority guess of each period) or ``"daily"``.
    right, definite, unsure : right guesses, guesses naming A or B, unsure guesses.
    periods : periods with at least one guess.
    correct : arm -> share of right guesses: ``mean``, ``low``, ``high`` (95% interval).
    discrimination : Youden's J = P(guess A | A) - P(guess A | B): ``mean``, ``low``, ``high``.
    p_tell : P(J > 0), the probability that the patient could tell the arms apart.
    p_held : P(|J| < 0.2).
    icc : posterior mean of the within-period correlation of guesses (daily level only).
    counts : arm -> guess (``"A"``, ``"B"``, ``"unsure"``) -> number of guesses.
    j_values, j_probs : the exact posterior of J on its grid (for draws).
    """

    level: str
    right: int
    definite: int
    unsure: int
    periods: int
    correct: dict[str, dict[str, float]]
    discrimination: dict[str, float]
    p_tell: float
    p_held: float
    icc: float | None
    j_values: np.ndarray
    j_probs: np.ndarray
    counts: dict[str, dict[str, int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "right": self.right,
            "definite": self.definite,
            "unsure": self.unsure,
            "periods": self.periods,
            "share_correct": {arm: dict(v) for arm, v in self.correct.items()},
            "discrimination": dict(self.discrimination),
            "p_could_tell": self.p_tell,
            "p_held": self.p_held,
            "icc": self.icc,
            "counts": self.counts,
        }

    def sample_j(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of J from its exact posterior (uniform within a grid cell)."""
        idx = rng.choice(len(self.j_values), size=n, p=self.j_probs)
        return np.clip(self.j_values[idx] + rng.uniform(-0.005, 0.005, n), -1.0, 1.0)


@dataclass(frozen=True)
class SideEffect:
    """One yes/no side effect per arm, over every day of each period.

    ``counts``: arm -> (yes days, days answered); ``rates``: arm -> ``mean``, ``low``,
    ``high`` (95% interval, proportions); ``periods_with``: arm -> (periods with at least
    one yes day, periods); ``p_higher_on_a``: P(rate on A > rate on B).
    """

    name: str
    label: str
    counts: dict[str, tuple[int, int]]
    rates: dict[str, dict[str, float]]
    periods_with: dict[str, tuple[int, int]]
    p_higher_on_a: float

    @property
    def reveals(self) -> bool:
        """True when the side effect is more frequent on one arm with P >= 0.975."""
        return max(self.p_higher_on_a, 1.0 - self.p_higher_on_a) >= SIDE_EFFECT_TELL

    def describe(self) -> str:
        """'diarrhoea on A only: 12 of 84 days on A, 0 of 84 on B' style wording."""
        (ya, na), (yb, nb) = self.counts["A"], self.counts["B"]
        where = "on A only" if yb == 0 else "on B only" if ya == 0 else "on both arms"
        if yb and ya:
            more = "A" if self.p_higher_on_a >= 0.5 else "B"
            where = f"more often on {more}"
        return f"{self.name} {where}: {ya} of {na} days on A, {yb} of {nb} on B"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "counts": {arm: {"yes": c[0], "n": c[1]} for arm, c in self.counts.items()},
            "rates": {arm: dict(r) for arm, r in self.rates.items()},
            "periods_with": {
                arm: {"with": c[0], "of": c[1]} for arm, c in self.periods_with.items()
            },
            "p_higher_on_a": self.p_higher_on_a,
            "reveals": self.reveals,
        }


@dataclass(frozen=True)
class BlindingAssessment:
    """The blinding evidence of one trial.

    Parameters
    ----------
    status : one of ``STATUSES`` (see the module docstring).
    how : the evidence that the patient could tell, in words (empty unless ``could-tell``).
    period, daily : the guess model on the majority guess of each period and on the daily
        guesses (None without guesses).
    bang : Bang's index per arm on the period-level guesses (descriptive), or None.
    side_effects : the yes/no side effects, per arm.
    text : one paragraph for the report and the CLI.
    """

    status: str
    how: tuple[str, ...]
    period: GuessModel | None
    daily: GuessModel | None
    bang: BlindingIndex | None
    side_effects: tuple[SideEffect, ...]
    text: str

    @property
    def guesses(self) -> GuessModel | None:
        """The guess model the status rests on: daily when there are daily guesses."""
        return self.daily if self.daily is not None else self.period

    @property
    def p_tell(self) -> float | None:
        """P(the guesses were better than chance), J > 0, or None without guesses."""
        return None if self.guesses is None else self.guesses.p_tell

    @property
    def headline(self) -> str:
        """The status in words with the number it rests on (``blinding_headline``)."""
        return blinding_headline(self.status, self.guesses, self.how)

    def revealed_share(self) -> float:
        """The largest difference between the arms in the share of periods with a side
        effect (0 without side effects): how many more periods of one arm carried a cue."""
        out = 0.0
        for se in self.side_effects:
            (ka, na), (kb, nb) = se.periods_with["A"], se.periods_with["B"]
            if na and nb:
                out = max(out, abs(ka / na - kb / nb))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "how": list(self.how),
            "p_could_tell": self.p_tell,
            "period_guesses": None if self.period is None else self.period.to_dict(),
            "daily_guesses": None if self.daily is None else self.daily.to_dict(),
            "bang_index": None if self.bang is None else self.bang.to_dict(),
            "side_effects": [se.to_dict() for se in self.side_effects],
            "text": self.text,
        }


# --------------------------------------------------------------------------- guess model


def _bb_loglik(k: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Sum over periods of log BetaBinomial(k | m, mu, icc), shape (len(_ICC), len(_MU))."""
    out = np.zeros((len(_ICC), len(_MU)))
    scale = (1.0 - _ICC[:, None]) / _ICC[:, None]
    a, b = _MU[None, :] * scale, (1.0 - _MU[None, :]) * scale
    for ki, mi in zip(k, m, strict=True):
        if mi == 0:
            continue
        log_choose = gammaln(mi + 1) - gammaln(ki + 1) - gammaln(mi - ki + 1)
        out += log_choose + betaln(ki + a, mi - ki + b) - betaln(a, b)
    return out


def _quantiles(values: np.ndarray, probs: np.ndarray, qs: Sequence[float], half: float):
    """Quantiles of a distribution with mass ``probs`` spread evenly over cells of half-width
    ``half`` around ``values`` (sorted)."""
    cum = np.concatenate([[0.0], np.cumsum(probs)])
    edges = np.concatenate([values - half, [values[-1] + half]])
    return [float(np.interp(q, cum, edges)) for q in qs]


def guess_model(level: str, k: np.ndarray, m: np.ndarray, on_a: np.ndarray) -> GuessModel:
    """Fit the guess model to per-period counts.

    Parameters
    ----------
    level : ``"period"`` or ``"daily"`` (a label; the model is the same).
    k : per period, guesses naming A.
    m : per period, guesses naming A or B.
    on_a : per period, True when the period was on A.

    Returns
    -------
    GuessModel (right, definite and periods counted from ``k`` and ``m``; ``unsure`` 0,
    set by the caller).
    """
    k, m, on_a = np.asarray(k), np.asarray(m), np.asarray(on_a, dtype=bool)
    la, lb = _bb_loglik(k[on_a], m[on_a]), _bb_loglik(k[~on_a], m[~on_a])
    top = max(la.max(), lb.max())
    ea, eb = np.exp(la - la.max()), np.exp(lb - lb.max())
    za, zb = ea.sum(axis=1), eb.sum(axis=1)
    w = np.exp(np.log(za) + np.log(zb) + la.max() + lb.max() - 2 * top)
    w /= w.sum()
    pa, pb = ea / za[:, None], eb / zb[:, None]  # mu_A | icc, mu_B | icc
    mu_a, mu_b = w @ pa, w @ pb
    # J = mu_A - mu_B on the grid of cell differences: a convolution per icc.
    n = len(_MU)
    j_probs = np.zeros(2 * n - 1)
    for wi, ra, rb in zip(w, pa, pb, strict=True):
        j_probs += wi * np.convolve(ra, rb[::-1])
    j_values = (np.arange(2 * n - 1) - (n - 1)) / n
    j_probs /= j_probs.sum()
    lo, hi = _quantiles(j_values, j_probs, (0.025, 0.975), 0.5 / n)
    # A cell difference of 0 straddles J = 0: half its mass on each side.
    p_tell = float(j_probs[j_values > 0].sum() + 0.5 * j_probs[np.isclose(j_values, 0)].sum())
    p_held = float(j_probs[np.abs(j_values) < BLINDING_OK].sum())

    def share(mass: np.ndarray, right_is_a: bool) -> dict[str, float]:
        vals = _MU if right_is_a else 1.0 - _MU
        order = np.argsort(vals)
        lo_, hi_ = _quantiles(vals[order], mass[order], (0.025, 0.975), 0.005)
        return {"mean": float(mass @ vals), "low": lo_, "high": hi_}

    right = int(k[on_a].sum() + (m[~on_a] - k[~on_a]).sum())
    return GuessModel(
        level=level,
        right=right,
        definite=int(m.sum()),
        unsure=0,
        periods=int(np.sum(m > 0)),
        correct={"A": share(mu_a, True), "B": share(mu_b, False)},
        discrimination={"mean": float(j_probs @ j_values), "low": lo, "high": hi},
        p_tell=p_tell,
        p_held=p_held,
        icc=float(w @ _ICC) if level == "daily" else None,
        j_values=j_values,
        j_probs=j_probs,
    )


def majority_guess(guesses: Sequence[str]) -> str | None:
    """The most frequent guess of a period; a tie between A and B, or no guess, is
    ``"unsure"`` / None."""
    if not len(guesses):
        return None
    counts = {g: sum(1 for x in guesses if x == g) for g in GUESSES}
    top = max(counts.values())
    winners = [g for g, c in counts.items() if c == top]
    return winners[0] if len(winners) == 1 else "unsure"


# --------------------------------------------------------------------------- assessment


def assess_blinding(
    period: Sequence[int],
    arm: Sequence[str],
    guess: Sequence[str | None],
    side_effects: Mapping[str, tuple[str, Sequence[float]]] | None = None,
) -> BlindingAssessment:
    """Assess blinding from daily rows of the treatment periods.

    Parameters
    ----------
    period : period number of each row (rows with period <= 0 or missing are ignored:
        run-in).
    arm : ``"A"`` or ``"B"`` on each row.
    guess : ``"A"``, ``"B"``, ``"unsure"`` or None (no guess that day) on each row.
    side_effects : outcome name -> (label, 0/1 values with NaN for no answer, per row).

    Returns
    -------
    BlindingAssessment

    Raises
    ------
    DataError : rows of different lengths, or an arm or guess that is not allowed.

    Example
    -------
    >>> a = assess_blinding([1, 1, 2, 2], ["A", "A", "B", "B"], ["A", "A", "B", None])
    >>> a.status, round(a.daily.p_tell, 2)  # doctest: +SKIP
    """
    side_effects = dict(side_effects or {})
    n = len(period)
    if len(arm) != n or len(guess) != n:
        raise DataError(
            f"{n} periods, {len(arm)} arms and {len(guess)} guesses: give one of each per day"
        )
    rows: dict[int, dict[str, Any]] = {}
    for i in range(n):
        p = period[i]
        if p is None or (isinstance(p, float) and np.isnan(p)) or int(p) <= 0:
            continue
        a = arm[i]
        if a not in ("A", "B"):
            raise DataError(f"arm {a!r} of period {int(p)} is not 'A' or 'B'")
        g = guess[i]
        if g is not None and not (isinstance(g, float) and np.isnan(g)) and g not in GUESSES:
            raise DataError(f"guess {g!r} in period {int(p)} is not 'A', 'B' or 'unsure'")
        r = rows.setdefault(int(p), {"arm": a, "guesses": [], "rows": []})
        if isinstance(g, str):
            r["guesses"].append(g)
        r["rows"].append(i)
    periods = sorted(rows)
    on_a = np.array([rows[p]["arm"] == "A" for p in periods], dtype=bool)

    daily = period_model = bang = None
    if any(rows[p]["guesses"] for p in periods):
        k = np.array([sum(g == "A" for g in rows[p]["guesses"]) for p in periods])
        m = np.array([sum(g in ("A", "B") for g in rows[p]["guesses"]) for p in periods])
        unsure = sum(sum(g == "unsure" for g in rows[p]["guesses"]) for p in periods)
        daily_counts = {
            a: {
                g: sum(rows[p]["guesses"].count(g) for p in periods if rows[p]["arm"] == a)
                for g in GUESSES
            }
            for a in ("A", "B")
        }
        daily = replace(guess_model("daily", k, m, on_a), unsure=unsure, counts=daily_counts)
        majority = [majority_guess(rows[p]["guesses"]) for p in periods]
        pk = np.array([g == "A" for g in majority], dtype=int)
        pm = np.array([g in ("A", "B") for g in majority], dtype=int)
        bang = bang_index([rows[p]["arm"] for p in periods], majority)
        period_model = replace(
            guess_model("period", pk, pm, on_a),
            unsure=sum(g == "unsure" for g in majority),
            counts=bang.counts,
        )

    effects = []
    for name, (label, values) in side_effects.items():
        v = np.asarray(values, dtype=float)
        if len(v) != n:
            raise DataError(f"side effect {name!r} has {len(v)} rows, the guesses {n}")
        counts, with_ = {}, {}
        for arm_label, want in (("A", True), ("B", False)):
            ps = [p for p, a in zip(periods, on_a, strict=True) if a == want]
            vals = [v[rows[p]["rows"]] for p in ps]
            yes = int(sum(np.nansum(x == 1) for x in vals))
            answered = int(sum(np.sum(~np.isnan(x)) for x in vals))
            counts[arm_label] = (yes, answered)
            with_[arm_label] = (int(sum(np.nansum(x == 1) > 0 for x in vals)), len(ps))
        if counts["A"][1] == 0 or counts["B"][1] == 0:
            continue
        effects.append(
            SideEffect(
                name=name,
                label=label,
                counts=counts,
                rates={a: rate_interval(*counts[a]) for a in ("A", "B")},
                periods_with=with_,
                p_higher_on_a=p_higher_on_a(*counts["A"], *counts["B"]),
            )
        )
    return _classify(period_model, daily, bang, tuple(effects))


def _classify(
    period: GuessModel | None,
    daily: GuessModel | None,
    bang: BlindingIndex | None,
    effects: tuple[SideEffect, ...],
) -> BlindingAssessment:
    guesses = daily if daily is not None else period
    how: list[str] = []
    if guesses is not None and guesses.p_tell >= TELL:
        how.append(
            f"{_guess_words(period, daily)} ({P_TELL_LABEL} {format_probability(guesses.p_tell)})"
        )
    how += [se.describe() for se in effects if se.reveals]
    if how:
        status = "could-tell"
    elif guesses is None and not effects:
        status = "not-assessed"
    elif guesses is not None and guesses.p_held >= HELD:
        status = "held"
    else:
        status = "cannot-tell"
    return BlindingAssessment(
        status=status,
        how=tuple(how),
        period=period,
        daily=daily,
        bang=bang,
        side_effects=effects,
        text=_text(status, how, period, daily, effects),
    )


def _guess_words(period: GuessModel | None, daily: GuessModel | None) -> str:
    """'guesses right in 5 of 6 periods and on 40 of 52 days' style wording."""
    parts = []
    if period is not None:
        parts.append(f"{period.right} of {period.definite} periods")
    if daily is not None:
        parts.append(f"on {daily.right} of {daily.definite} days")
    return "guesses right in " + " and ".join(parts)


#: The words of each status, everywhere it is stated (report, ``nof1 analyze``, verdict).
STATUS_WORDS = {
    "could-tell": "The patient could tell the arms apart",
    "held": "Blinding held",
    "cannot-tell": "Whether blinding held cannot be told",
    "not-assessed": "Blinding was not assessed",
}
#: What ``GuessModel.p_tell`` is, in words: P(J > 0). It is about 50% when the guesses are
#: pure chance, so it is never called "P(could tell)" beside a status that says otherwise.
P_TELL_LABEL = "P(guesses better than chance)"
#: What ``GuessModel.p_held`` is, in words: P(|J| < BLINDING_OK).
P_HELD_LABEL = f"P(guesses within ±{BLINDING_OK:g} of chance)"


def probability_beside(p: float, bound: float) -> str:
    """``format_probability``, never rounded onto the other side of ``bound``: a status that
    needs 95% is never shown beside "95%" when the probability was 0.949 ("94%")."""
    text = format_probability(p)
    if p < bound and round(100 * p) >= round(100 * bound):
        text = f"{int(np.floor(100 * bound)) - 1}%"
    return text


def blinding_headline(status: str, guesses: GuessModel | None, how: Sequence[str]) -> str:
    """One rule for the words of a blinding status and the number beside them.

    The status is stated with the probability it rests on and the bar it had to clear, so
    the words and the number cannot contradict each other: "could tell" from the guesses
    stands beside P(guesses better than chance) of at least 95%; "could tell" from a side
    effect says that the guesses alone did not show it; "held" stands beside P(guesses
    within ±0.2 of chance) of at least 80%; "cannot tell" beside both numbers, each short
    of its bar.

    Parameters
    ----------
    status : one of ``STATUSES``.
    guesses : the guess model the status rests on (``BlindingAssessment.guesses``), or None.
    how : the evidence that the patient could tell (``BlindingAssessment.how``), or for an
        open-label trial why they knew.

    Returns
    -------
    str : one sentence, e.g. "Blinding held: the guesses were no better than chance, within
    a narrow margin (P(guesses within ±0.2 of chance) 86%, 80% needed)."
    """
    words = STATUS_WORDS[status]
    tell = None if guesses is None else probability_beside(guesses.p_tell, TELL)
    held = None if guesses is None else probability_beside(guesses.p_held, HELD)
    if status == "not-assessed":
        return f"{words}: no guesses and no side effects were recorded."
    if status == "could-tell":
        text = f"{words}: {'; '.join(how)}"
        if guesses is not None and guesses.p_tell < TELL:
            text += (
                f"; the guesses alone did not show it ({P_TELL_LABEL} {tell}, {TELL:.0%} needed)"
            )
        return text + "."
    if status == "held":
        return (
            f"{words}: the guesses were no better than chance, within a narrow margin "
            f"({P_HELD_LABEL} {held}, {HELD:.0%} needed)."
        )
    if guesses is None:
        return (
            f"{words}: no guesses were recorded, and no side effect differed clearly between "
            "the arms."
        )
    return (
        f"{words}: there is no clear sign that the patient could tell the arms apart "
        f"({P_TELL_LABEL} {tell}, {TELL:.0%} needed), but too few periods to show that they "
        f"could not ({P_HELD_LABEL} {held}, {HELD:.0%} needed)."
    )


def _text(
    status: str,
    how: list[str],
    period: GuessModel | None,
    daily: GuessModel | None,
    effects: tuple[SideEffect, ...],
) -> str:
    g = daily if daily is not None else period
    lead = blinding_headline(status, g, how)
    if status == "not-assessed":
        return lead
    parts = []
    if g is not None:
        c = g.correct
        parts.append(
            f"Guesses: {_guess_words(period, daily)[len('guesses ') :]}; share of right guesses on A "
            f"{_share(c['A'])}, on B {_share(c['B'])}; {P_TELL_LABEL} "
            f"{probability_beside(g.p_tell, TELL)}; {P_HELD_LABEL} "
            f"{probability_beside(g.p_held, HELD)}."
        )
    else:
        parts.append("No guesses were recorded.")
    for se in effects:
        ra, rb = se.rates["A"], se.rates["B"]
        parts.append(
            f"{se.label}: {se.counts['A'][0]} of {se.counts['A'][1]} days on A, "
            f"rate {_share(ra)}; {se.counts['B'][0]} of {se.counts['B'][1]} on B, rate "
            f"{_share(rb)}; P(higher on A) {format_probability(se.p_higher_on_a)}."
        )
    return lead + " " + " ".join(parts)


def _share(r: dict[str, float]) -> str:
    return f"{100 * r['mean']:.0f}% (95% interval {100 * r['low']:.0f}-{100 * r['high']:.0f}%)"


def assess_trial_table(table: Any, outcomes: Sequence[Any]) -> BlindingAssessment:
    """``assess_blinding`` on a trial table (``nof1.analysis.series.trial_table``, arms known).

    Parameters
    ----------
    table : pandas.DataFrame with ``period``, ``arm``, ``guess`` and one column per outcome.
    outcomes : the protocol's outcomes; the binary ones with role ``side-effect`` are
        assessed as side effects.

    Returns
    -------
    BlindingAssessment
    """
    on = table[table["period"].notna()]
    side = {
        o.name: (o.label, on[o.name].to_numpy(dtype=float))
        for o in outcomes
        if o.kind == "binary" and o.role == "side-effect"
    }
    import pandas as pd

    guesses = [None if pd.isna(g) else str(g) for g in on["guess"].astype(object)]
    return assess_blinding(
        on["period"].astype(int).to_numpy(),
        [str(a) for a in on["arm"].astype(object)],
        guesses,
        side,
    )
