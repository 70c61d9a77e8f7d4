"""Simulated trials in which blinding holds or breaks, and what the verdict makes of them.

``bench/calibration.py`` (studies ``blinding-*``) and the slow tests run these scenarios on
the template designs. Each simulated day follows the data-generating model of
``nof1.design.simulate`` (AR(1) noise around a baseline, the drug effect on A days) plus the two
things that break a blinding:

- **a side effect that reveals the kit**: each A period is, with probability
  ``reveal_share``, a revealing period with the side effect on each day with probability
  ``side_rate``; other periods have it with probability ``side_base``;
- **expectation**: from the first side-effect day of a period on, the patient believes they
  are on A, and believing so changes the outcome by ``expectation`` (negative: less pain).

The patient's recorded guesses follow one of four ``GUESSING`` behaviours:

- ``informed``: "A" while they believe A, "placebo" (B) otherwise;
- ``random``: a guess per period drawn A/B/unsure with probabilities 0.4/0.4/0.2, whatever
  they believe (a patient who does not say what they think);
- ``felt``: "A" on days with less pain than their average so far (by more than 0.5), "B"
  with more, "unsure" in between: guesses that follow how the patient feels;
- and, with ``reveal_share`` 0 and no expectation, ``random`` is perfect blinding.

On each recorded day a guess is written with probability ``guess_rate``; within a period,
a day repeats the period's guess with probability 0.85 and draws afresh otherwise, so the
daily guesses are correlated within a period, as real ones are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nof1.analysis.blinding_assessment import assess_blinding
from nof1.analysis.models.base import Diagnostics
from nof1.analysis.models.exact_batch import fit_exact_batch
from nof1.analysis.models.priors import resolve_prior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series
from nof1.analysis.summary import VERY_PROBABLY, EffectSummary, bang_index
from nof1.analysis.verdict import BOUND_DRAWS, TIERS, expectation_bound, make_verdict
from nof1.design.fixed import analyse_batch
from nof1.design.simulate import Layout, SimulatedBatch
from nof1.plan.allocation import draw_allocation

GUESSING = ("informed", "random", "felt")
#: P(a day repeats its period's guess) in the simulated guesses.
GUESS_STICKINESS = 0.85
#: Per-period guess probabilities (A, B, unsure) of the ``random`` behaviour.
RANDOM_GUESS = (0.4, 0.4, 0.2)


@dataclass(frozen=True)
class Scenario:
    """One simulated world (see the module docstring)."""

    name: str
    effect: float = 0.0
    expectation: float = 0.0
    reveal_share: float = 0.0
    side_rate: float = 0.25
    side_base: float = 0.0
    guessing: str = "random"
    guess_rate: float = 0.5
    sd: float = 1.5
    rho: float = 0.5
    baseline: float = 6.0


@dataclass(frozen=True)
class ScenarioResult:
    """Per simulated trial, what each analysis concluded (arrays of length ``trials``).

    ``tier``: the verdict tier; ``status``: the blinding status; ``mean``, ``lower``,
    ``upper``: the effect's posterior mean and 95% interval; ``bound_mean``,
    ``bound_lower``, ``bound_upper``, ``bound_p_benefit``: the expectation bound;
    ``old_benefit``: the verdict before the tiers ("helps" at P(benefit >= MCID) >= 0.8 or
    P(benefit) >= 0.95); ``old_doubtful``: the old flag (Bang |BI| > 0.2 on the last guess
    of each period); ``cov_mean``, ``cov_lower``, ``cov_upper``: the retired covariate
    analysis (the guesses as a regressor); ``cov_failed``: trials where it could not be
    fitted (collinear guesses and arm).
    """

    scenario: Scenario
    design: str
    truth: float
    arrays: dict[str, np.ndarray] = field(repr=False)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    @property
    def trials(self) -> int:
        return len(self.arrays["tier"])

    def rate(self, mask: np.ndarray) -> tuple[float, float]:
        """Share of trials where ``mask`` holds, and its Monte-Carlo standard error."""
        m = float(np.mean(mask))
        return m, float(np.sqrt(m * (1 - m) / len(mask)))

    def tier_rates(self) -> dict[str, float]:
        return {t: float(np.mean(self["tier"] == t)) for t in TIERS}

    def summary(self) -> dict[str, Any]:
        """The numbers a study table shows."""
        benefit = np.isin(self["tier"], ("benefit", "benefit-unblinded"))
        covered = (self["lower"] <= self.truth) & (self.truth <= self["upper"])
        bound_cov = (self["bound_lower"] <= self.truth) & (self.truth <= self["bound_upper"])
        ok = ~self["cov_failed"]
        cov_covered = (self["cov_lower"] <= self.truth) & (self.truth <= self["cov_upper"])
        return {
            "tiers": self.tier_rates(),
            "benefit": float(benefit.mean()),
            "benefit_no_caveat": float(np.mean(self["tier"] == "benefit")),
            "could_tell": float(np.mean(self["status"] == "could-tell")),
            "old_benefit": float(self["old_benefit"].mean()),
            "old_doubtful": float(self["old_doubtful"].mean()),
            "bias": float(np.mean(self["mean"] - self.truth)),
            "coverage": float(covered.mean()),
            "bound_bias": float(np.mean(self["bound_mean"] - self.truth)),
            "bound_coverage": float(bound_cov.mean()),
            "bound_benefit": float(np.mean(self["bound_p_benefit"] >= VERY_PROBABLY)),
            "cov_bias": float(np.mean(self["cov_mean"][ok] - self.truth)) if ok.any() else None,
            "cov_coverage": float(cov_covered[ok].mean()) if ok.any() else None,
            "cov_failed": float(self["cov_failed"].mean()),
        }


def simulate_trial(
    layout: Layout, scenario: Scenario, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One simulated trial: daily arrays over the calendar (run-in included).

    Returns
    -------
    dict with ``arm`` (0/1, 0 on run-in), ``period``, ``pain``, ``side`` (0/1),
    ``believes_a`` (bool), ``guess`` (object: "A", "B", "unsure" or None) and
    ``allocation`` (tuple of "A"/"B").
    """
    s = scenario
    allocation = draw_allocation(layout.blocks, layout.scheme, rng)
    arm = layout.arms(allocation)
    n = layout.n_days
    period = layout.period
    revealing = np.zeros(layout.n_periods + 1, dtype=bool)
    revealing[1:] = (np.array(allocation) == "A") & (rng.random(layout.n_periods) < s.reveal_share)
    rate = np.where(revealing[period], s.side_rate, s.side_base)
    side = (rng.random(n) < rate) & ~layout.run_in
    believes_a = np.zeros(n, dtype=bool)
    for p in range(1, layout.n_periods + 1):
        days = np.flatnonzero(period == p)
        first = days[side[days]]
        if first.size:
            believes_a[first[0] : days[-1] + 1] = True
    noise = np.empty(n)
    noise[0] = s.sd * rng.standard_normal()
    scale = s.sd * np.sqrt(1 - s.rho**2)
    for t in range(1, n):
        noise[t] = s.rho * noise[t - 1] + scale * rng.standard_normal()
    pain = s.baseline + s.effect * arm + s.expectation * believes_a + noise
    guess = _guesses(layout, s, pain, believes_a, rng)
    return {
        "arm": arm,
        "period": period,
        "pain": pain,
        "side": side.astype(float),
        "believes_a": believes_a,
        "guess": guess,
        "allocation": allocation,
    }


def _guesses(layout, s: Scenario, pain, believes_a, rng) -> np.ndarray:
    n = layout.n_days
    guess = np.full(n, None, dtype=object)
    options = np.array(["A", "B", "unsure"], dtype=object)
    running = np.cumsum(pain) / np.arange(1, n + 1)
    for p in range(1, layout.n_periods + 1):
        days = np.flatnonzero(layout.period == p)
        own = rng.choice(options, p=RANDOM_GUESS)
        for d in days:
            if s.guessing == "informed":
                g = "A" if believes_a[d] else "B"
            elif s.guessing == "felt":
                ref = running[d - 1] if d > 0 else pain[d]
                g = "A" if pain[d] < ref - 0.5 else "B" if pain[d] > ref + 0.5 else "unsure"
            else:
                g = own if rng.random() < GUESS_STICKINESS else rng.choice(options, p=RANDOM_GUESS)
            if rng.random() < s.guess_rate:
                guess[d] = g
    return guess


def run_scenario(
    layout: Layout,
    scenario: Scenario,
    trials: int,
    *,
    design: str = "",
    seed: int = 0,
    mcid: float = 1.0,
    threshold: float = 0.8,
) -> ScenarioResult:
    """Simulate ``trials`` trials and give each the verdict ``nof1 analyze`` would.

    The trials are fitted together by the exact engine's batch path
    (``nof1.design.fixed.analyse_batch``: the model and numbers of ``analyze``'s exact fit, neutral
    prior, AR(1), washout days left out), then each gets the blinding assessment of its
    guesses and side effect and the library's verdict (``nof1.analysis.verdict.make_verdict``), as
    in ``analyze``. The expectation bound draws the effect from a normal with the
    posterior's mean and sd. ``tests/test_blinding_scenarios.py`` checks that this gives
    ``analyze``'s tiers. The retired covariate analysis adds the guesses (1 A, 0 B, 0.5
    unsure, the last guess of the period carried forward) as a regressor.

    Returns
    -------
    ScenarioResult
    """
    if scenario.guessing not in GUESSING:
        raise ValueError(f"unknown guessing {scenario.guessing!r}; use one of {GUESSING}")
    rng = np.random.default_rng(seed)
    keep = layout.analysis_mask()
    on = ~layout.run_in
    sims = [simulate_trial(layout, scenario, rng) for _ in range(trials)]
    batch = SimulatedBatch(
        Y=np.array([t["pain"][keep] for t in sims]),
        active=np.array([t["arm"][keep] for t in sims]),
        day=layout.day[keep],
        block=layout.block[keep],
        period=layout.period[keep],
        allocations=np.array([[a == "A" for a in t["allocation"]] for t in sims], dtype=int),
    )
    # Pain: lower is better, so P(benefit >= x) = P(effect < -x).
    cuts = (0.0, -mcid, -2.0, -mcid / 2, mcid / 2, mcid)
    fits = analyse_batch(batch, thresholds=cuts)
    out: dict[str, list] = {k: [] for k in _FIELDS}
    for i, t in enumerate(sims):
        blinding = assess_blinding(
            layout.period[on],
            np.where(t["arm"][on] == 1, "A", "B"),
            list(t["guess"][on]),
            {"side": ("Side effect", t["side"][on])},
        )
        p = fits.p_below[i]
        summary = EffectSummary(
            outcome="pain", engine="exact", prior="neutral", likelihood="normal",
            lower_is_better=True, mcid=mcid, mean=float(fits.mean[i]),
            median=float(fits.mean[i]), sd=float(fits.sd[i]), hdi_low=float(fits.lower[i]),
            hdi_high=float(fits.upper[i]), p_benefit=float(p[0]), p_mcid=float(p[1]),
            p_large=float(p[2]), p_rope=float(p[4] - p[3]), p_harm_mcid=float(1.0 - p[5]),
            standardized=None,
            rho_mean=float(fits.rho_mean[i]), rho_sd=None, sigma_mean=None,
            n_days=int(keep.sum()), n_observed=int(fits.n_obs[i]),
            diagnostics=Diagnostics(ok=True), verdict="",
        )  # fmt: skip
        draws = rng.normal(summary.mean, summary.sd, BOUND_DRAWS)
        bound = expectation_bound(draws, summary, blinding, mcid, seed=int(rng.integers(2**31)))
        v = make_verdict(
            summary, threshold=threshold, preregistered=True, blinding=blinding, bound=bound
        )
        out["tier"].append(v.tier)
        out["status"].append(v.blinding)
        out["mean"].append(summary.mean)
        out["lower"].append(summary.hdi_low)
        out["upper"].append(summary.hdi_high)
        out["bound_mean"].append(bound.mean)
        out["bound_lower"].append(bound.hdi_low)
        out["bound_upper"].append(bound.hdi_high)
        out["bound_p_benefit"].append(bound.p_benefit)
        out["old_benefit"].append(summary.p_mcid >= 0.8 or summary.p_benefit >= VERY_PROBABLY)
        out["old_doubtful"].append(_old_doubtful(layout, t))
        series = Series(
            y=batch.Y[i], active=batch.active[i], day=batch.day, block=batch.block,
            period=batch.period, scheme=layout.scheme,
        )  # fmt: skip
        cov = _covariate_fit(series, t["guess"][keep])
        out["cov_failed"].append(cov is None)
        for k, x in zip(("cov_mean", "cov_lower", "cov_upper"), cov or (np.nan,) * 3, strict=True):
            out[k].append(x)
    arrays = {k: np.array(v) for k, v in out.items()}
    return ScenarioResult(scenario=scenario, design=design, truth=scenario.effect, arrays=arrays)


_FIELDS = (
    "tier",
    "status",
    "mean",
    "lower",
    "upper",
    "bound_mean",
    "bound_lower",
    "bound_upper",
    "bound_p_benefit",
    "old_benefit",
    "old_doubtful",
    "cov_mean",
    "cov_lower",
    "cov_upper",
    "cov_failed",
)


def _old_doubtful(layout: Layout, t: dict[str, np.ndarray]) -> bool:
    """The flag before this assessment: Bang |BI| > 0.2 on each period's last guess."""
    arms, guesses = [], []
    for p in range(1, layout.n_periods + 1):
        g = [x for x in t["guess"][layout.period == p] if x is not None]
        if g:
            arms.append(t["allocation"][p - 1])
            guesses.append(g[-1])
    bi = bang_index(arms, guesses).index
    return any(v is not None and abs(v) > 0.2 for v in bi.values())


def _covariate_fit(series: Series, guess: np.ndarray) -> tuple[float, float, float] | None:
    """The retired ``--expectation`` analysis: the guesses as a regressor (exact engine)."""
    belief = np.full(len(series.y), 0.5)
    last: dict[int, float] = {}
    value = {"A": 1.0, "B": 0.0, "unsure": 0.5}
    for i, (p, g) in enumerate(zip(series.period, guess, strict=True)):
        if g is not None:
            last[p] = value[g]
        belief[i] = last.get(p, 0.5)
    X, names = design_matrix(series)
    X = np.column_stack([X, belief - 0.5])
    names = (*names, "expectation")
    if np.linalg.matrix_rank(X[series.observed]) < X.shape[1]:
        return None
    fit = fit_exact_batch(series.y[None, :], X, series.day, resolve_prior("neutral", series, names))
    return float(fit.mean[0]), float(fit.lower[0]), float(fit.upper[0])
