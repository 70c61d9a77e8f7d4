"""One call from a series to everything ``nof1 analyze`` and the report show.

``analyze`` checks the series, fits the personal model with the chosen engine, summarizes
it, runs the exact randomization test and, when asked, refits under every named prior so
the reader sees how much the conclusion depends on the prior.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nof1.analysis.blinding_assessment import BlindingAssessment
from nof1.analysis.models.base import MAX_CHAINS, MAX_DRAWS, MAX_TUNE, Fit
from nof1.analysis.models.binary import BINARY_MCID, fit_binary_exact, is_binary
from nof1.analysis.models.exact import fit_exact
from nof1.analysis.models.priors import PRIOR_NAMES
from nof1.analysis.randomization import randomization_test
from nof1.analysis.result import AnalysisResult
from nof1.analysis.series import Series
from nof1.analysis.summary import DEFAULT_THRESHOLD, summarize
from nof1.analysis.verdict import expectation_bound, make_verdict
from nof1.errors import DataError, ModelError

if TYPE_CHECKING:
    import pandas as pd

    from nof1.trial.handle import Trial

ENGINES = ("exact", "mcmc")
LIKELIHOODS = ("normal", "student", "ordinal", "binomial")
#: Why ``nof1 analyze --expectation`` fails: it was retired (the CLI raises this message).
EXPECTATION_RETIRED = (
    "--expectation was retired: the guesses are recorded after randomization, so adjusting "
    "for them removes real effects (about 40% of a real effect when guesses follow felt pain; "
    "docs/validation.md, 'Blinding and expectation'). The verdict now states whether the "
    "patient could tell the arms apart, and the expectation bound (--expectation-max) shows "
    "how much of the effect expectation could explain"
)


def _check_options(
    series: Series,
    likelihood: str,
    mcid: Any,
    expectation_max: Any,
    draws: Any,
    tune: Any,
    chains: Any,
) -> None:
    """Refuse a non-finite, negative or absurd MCID or expectation bound, and sampler
    settings that could not finish, before anything is fitted (``DataError``/``ModelError``).

    An MCID or expectation bound larger than the whole scale (100 percentage points for a
    yes/no outcome) is a typo: no change of the outcome could reach it.
    """
    binomial = likelihood == "binomial"
    unit = "percentage points" if binomial else "outcome units"
    scale = None
    if binomial:
        scale = (0.0, 100.0)
    elif series.low is not None and series.high is not None:
        scale = (float(series.low), float(series.high))
    for name, value, least in (("mcid", mcid, None), ("expectation_max", expectation_max, 0.0)):
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataError(f"{name} {value!r} must be a finite number of {unit}")
        if least is None and not value > 0:
            raise DataError(f"{name} must be a positive number of {unit}, got {value:g}")
        if least is not None and value < least:
            raise DataError(f"{name} must be 0 or more, got {value:g}")
        if scale is not None and value > scale[1] - scale[0]:
            raise DataError(
                f"{name} {value:g} is more than the whole scale ({scale[0]:g}-{scale[1]:g}"
                f"{' percent' if binomial else ''}): no change of the outcome can reach it"
            )
    for name, value, least, most in (
        ("draws", draws, 1, MAX_DRAWS),
        ("tune", tune, 0, MAX_TUNE),
        ("chains", chains, 1, MAX_CHAINS),
    ):
        if value is None and name == "tune":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ModelError(f"{name} {value!r} must be a whole number")
        if not least <= value <= most:
            raise ModelError(f"{name} {value} must be from {least} to {most:,}")


def analyze(
    series: Series,
    *,
    engine: str = "exact",
    prior: str = "neutral",
    ar1: bool = True,
    trend: str = "none",
    likelihood: str | None = None,
    carryover: bool = False,
    mcid: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    prior_sensitivity: bool = False,
    blinding: BlindingAssessment | None = None,
    open_label: bool = False,
    preregistered: bool = False,
    registration_note: str = "",
    names: Mapping[str, str] | None = None,
    expectation_max: float | None = None,
    seed: int | None = None,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    progressbar: bool = False,
    announce: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """Analyse the personal effect of one series.

    Parameters
    ----------
    series : the series (from ``series_from_trial`` or ``series_from_csv``).
    engine : ``"exact"`` (conjugate, milliseconds; normal or binomial likelihood) or
        ``"mcmc"`` (PyMC NUTS, any option).
    prior : ``"vague"``, ``"neutral"`` or ``"sceptical"``.
    ar1, trend : model terms (``nof1.analysis.models.regression``); for a yes/no outcome ``ar1``
        asks the PyMC engine's logistic model for a latent AR(1) process
        (``nof1.analysis.models.logistic``; the exact engine treats days as independent).
    likelihood : ``"normal"``, ``"student"``, ``"ordinal"`` (the latter two: mcmc only) or
        ``"binomial"`` (yes/no outcomes: rates per arm, ``nof1.analysis.models.binary``). None: binomial
        for a yes/no outcome (``is_binary``), normal otherwise.
    carryover : model onset and carryover: the effect acts through the exposure of
        ``nof1.analysis.models.exposure`` with its time constant tau integrated out; ``effect`` is
        then the effect at full exposure. Washout days belong in the series as unobserved
        rows (``series_from_trial(washout="unobserved")``).
    mcid : minimal clinically important difference, outcome units; percentage points for
        a yes/no outcome. None: 1 point, or 10 percentage points for a yes/no outcome.
    threshold : P(benefit >= mcid) needed to call the benefit worthwhile.
    prior_sensitivity : also fit under every named prior.
    blinding : the blinding assessment (``nof1.analysis.blinding_assessment``) shown beside any
        benefit; None when nothing about blinding was recorded.
    open_label : the control arm was no treatment: the verdict says that placebo and
        expectation cannot be separated from the effect.
    preregistered : the criterion and the analysis settings are the trial's registered ones.
    registration_note : what the criterion line adds (``nof1.analysis.verdict.Criterion.note``):
        with ``preregistered`` what was run differently without changing the analysis (the
        engine), without it what differs from the registration.
    names : the treatment of each arm, once the allocation may be named (an unblinded or
        open-label trial): the verdict and the summary then say "Magnesium", not "A".
    expectation_max : the largest shift of the outcome that believing one is on A could
        cause, for the expectation bound (``nof1.analysis.verdict``); None: the MCID. 0 skips it.
    seed : seed of the posterior draws.
    draws, tune, chains : NUTS settings (``tune`` None: the model's default,
        ``nof1.analysis.models.personal.default_tune``); the exact engine returns ``draws * chains``
        independent draws.
    progressbar : show PyMC's progress bar.
    announce : called with a short message before each MCMC fit (the CLI prints it), so a
        user knows why the command takes a while; never called for the exact engine.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    DataError : the series cannot support an effect estimate (empty arm, constant
        outcome, fewer than 2 blocks), or mcid/threshold out of range.
    ModelError : an unknown engine, likelihood, prior or trend, or an option the chosen
        engine does not support.

    Example
    -------
    >>> result = analyze(series, prior="neutral", seed=1)   # doctest: +SKIP
    >>> result.verdict.tier, result.summary.p_mcid   # doctest: +SKIP
    """
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    binary = is_binary(series)
    if likelihood is None:
        likelihood = "binomial" if binary else "normal"
    if likelihood not in LIKELIHOODS:
        raise ModelError(f"unknown likelihood {likelihood!r}; use one of {', '.join(LIKELIHOODS)}")
    if prior not in PRIOR_NAMES:
        raise ModelError(f"unknown prior {prior!r}; use one of {', '.join(PRIOR_NAMES)}")
    if likelihood == "binomial":
        if not binary:
            raise ModelError(
                f"the binomial likelihood needs a yes/no outcome (0/1), and {series.outcome!r} "
                "has other values"
            )
        if carryover or trend != "none":
            raise ModelError("the binomial likelihood has no carryover or trend terms")
    if engine == "exact" and likelihood not in ("normal", "binomial"):
        raise ModelError(
            f"the exact engine fits only the normal and binomial likelihoods, not "
            f"{likelihood!r}; use --engine mcmc"
        )
    if mcid is None:
        mcid = BINARY_MCID if likelihood == "binomial" else 1.0
    _check_options(series, likelihood, mcid, expectation_max, draws, tune, chains)
    if likelihood != "binomial":
        # A yes/no outcome may be constant (no side effect on any day): the binary model
        # checks only that both arms have answers.
        series.check_analysable()

    def fit_with(prior_name: str) -> Fit:
        if engine == "exact":
            if likelihood == "binomial":
                return fit_binary_exact(series, prior_name, n_draws=draws * chains, seed=seed)
            return fit_exact(
                series,
                prior_name,
                ar1=ar1,
                trend=trend,
                carryover=carryover,
                n_draws=draws * chains,
                seed=seed,
            )
        if announce is not None:
            announce(
                f"Sampling with PyMC ({chains} chains x {draws} draws): "
                f"{series.outcome}, {prior_name} prior..."
            )
        # Imported here so that the exact path never loads PyMC.
        if likelihood == "binomial":
            from nof1.analysis.models.logistic import fit_logistic

            return fit_logistic(
                series,
                prior_name,
                ar1=ar1,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed,
                progressbar=progressbar,
            )
        from nof1.analysis.models.personal import fit_mcmc

        return fit_mcmc(
            series,
            prior_name,
            ar1=ar1,
            trend=trend,
            likelihood=likelihood,
            carryover=carryover,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progressbar=progressbar,
        )

    fit = fit_with(prior)
    summary = summarize(fit, series, mcid=mcid, threshold=threshold, names=names)
    sensitivity = None
    if prior_sensitivity:
        sensitivity = {
            name: summary
            if name == prior
            else summarize(fit_with(name), series, mcid=mcid, threshold=threshold, names=names)
            for name in PRIOR_NAMES
        }
    if expectation_max is None:
        expectation_max = mcid
    bound = None
    if blinding is not None and likelihood != "binomial" and expectation_max > 0:
        bound = expectation_bound(fit.draws["effect"], summary, blinding, expectation_max, seed)
    verdict = make_verdict(
        summary,
        threshold=threshold,
        preregistered=preregistered,
        blinding=blinding,
        open_label=open_label,
        bound=bound,
        registration_note=registration_note,
        names=names,
    )
    options: dict[str, Any] = {
        "engine": engine,
        "prior": prior,
        "ar1": ar1,
        "trend": trend,
        "likelihood": likelihood,
        "carryover": carryover,
        "mcid": mcid,
        "threshold": threshold,
        "expectation_max": expectation_max,
        "seed": seed,
    }
    if engine == "mcmc":
        options.update(draws=draws, tune=fit.options["tune"], chains=chains)
    try:
        rtest = randomization_test(series)
    except DataError as exc:
        # The Bayesian analysis stands on its own; the report says why the test is absent.
        rtest = None
        options["randomization_note"] = str(exc)
    return AnalysisResult(
        summary=summary,
        fit=fit,
        series=series,
        randomization_test=rtest,
        sensitivity=sensitivity,
        options=options,
        verdict=verdict,
        blinding=blinding,
    )


def _given(**options: Any) -> dict[str, Any]:
    """The options a caller gave: None means "not given" (pre-registered or default)."""
    return {k: v for k, v in options.items() if v is not None}


#: The settings of a registered analysis that the criterion line compares, in its words.
_REGISTERED = ("prior", "ar1", "trend", "carryover", "likelihood", "mcid", "threshold")


def _settings(pre: Any) -> dict[str, Any]:
    """The analysis settings of a protocol's ``[analysis]`` (``nof1.plan.protocol.Analysis``)."""
    return {
        "engine": pre.engine,
        "prior": pre.prior,
        "ar1": pre.ar1,
        "trend": pre.trend,
        "carryover": pre.carryover,
        "mcid": pre.mcid,
        "threshold": pre.threshold,
    }


def _value(key: str, value: Any) -> str:
    """A setting's value as the criterion line says it: on/off, 0.80, 1, neutral."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "threshold":
        return f"{value:.2f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _against_registration(
    chosen: dict[str, Any], registered: Any, primary: bool
) -> tuple[bool, str]:
    """Is the analysis run the registered one, and the criterion line's note saying so.

    Every setting that changes the result is compared with the registration (never with a
    protocol.toml edited since): prior, AR(1), trend, onset model, likelihood (normal, as
    registered), MCID and threshold. The engine is not among them: the exact and the MCMC
    engine fit the same model (``docs/validation.md``), so a run on the other engine is the
    pre-registered analysis, and the note names the engine.
    """
    if registered is None:
        return False, "protocol.toml no longer matches its registration"
    if not primary:
        return False, "a secondary outcome"
    plan = {**_settings(registered), "likelihood": "normal"}
    run = {**chosen, "likelihood": chosen.get("likelihood") or "normal"}
    differ = [
        f"{k} {_value(k, run[k])}, registered {_value(k, plan[k])}"
        for k in _REGISTERED
        if run[k] != plan[k]
    ]
    if differ:
        return False, "; ".join(differ)
    if run["engine"] != plan["engine"]:
        return True, f"{'MCMC' if run['engine'] == 'mcmc' else 'exact'} engine"
    return True, ""


def analyze_trial(
    trial: Trial | str | Path,
    *,
    outcome: str | None = None,
    verify: bool = True,
    engine: str | None = None,
    prior: str | None = None,
    ar1: bool | None = None,
    trend: str | None = None,
    likelihood: str | None = None,
    carryover: bool | None = None,
    expectation_max: float | None = None,
    mcid: float | None = None,
    threshold: float | None = None,
    prior_sensitivity: bool | None = None,
    seed: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    progressbar: bool | None = None,
    announce: Callable[[str], None] | None = None,
    without_deviations: bool = False,
    without_late: bool = False,
) -> AnalysisResult:
    """Analyse an unblinded trial under its pre-registered analysis.

    The trial is first checked against its commitments (``nof1.trial.integrity``): a protocol,
    sealed allocation or diary changed after the fact is refused. The check and the analysis
    read the same handle (``nof1.trial.handle.Trial``), so what was verified is what is
    analysed.

    The protocol's ``[analysis]`` section (prior, MCID, decision threshold, engine, AR(1),
    trend, onset/carryover model, washout exclusion) gives every option that is not passed
    or passed as None; ``options["preregistered"]`` keeps the protocol's values so a report
    can show any deviation from them. Excluded washout days stay out of the series, except
    under the onset model, where they enter as unobserved rows (``options["washout"]``,
    and their number in ``options["washout_rows"]``). For the primary outcome of a protocol
    that registered a trade-off (``[decision]``, as registered, never as edited since), the
    result's ``decision`` holds the net benefit (``nof1.analysis.decision``).

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    outcome : outcome name; the protocol's primary outcome when None.
    verify : check the trial first; False only for a caller that has checked it and
        shows what it found (the report, which names any mismatch in red).
    engine, prior, ar1, trend, likelihood, carryover, expectation_max, mcid, threshold,
    prior_sensitivity, seed, draws, tune, chains, progressbar, announce : as in
        ``analyze``; None means as pre-registered (engine, prior, ar1, trend, carryover,
        mcid, threshold) or ``analyze``'s default.
    without_deviations : leave out the diary records made after unblinding (the report
        shows the result both with and without them).
    without_late : leave out the late entries, made more than ``RECALL_DAYS`` after their
        day (the report shows the result both with and without them).

    Returns
    -------
    AnalysisResult

    Raises
    ------
    IntegrityError : the folder does not match its commitments (``verify``).
    ProtocolError : no trial in the folder, or an unknown outcome.
    BlindingError : the trial has not been unblinded yet.
    DataError, ModelError : as in ``analyze``.
    """
    from nof1.analysis.blinding_assessment import assess_trial_table
    from nof1.analysis.series import series_from_trial, trial_table, washout_mode
    from nof1.trial.handle import as_trial
    from nof1.trial.integrity import registered_analysis, registered_decision, verify_trial
    from nof1.trial.monitoring import read_monitoring

    trial = as_trial(trial)
    deviations = len(verify_trial(trial).deviations) if verify else 0
    protocol = trial.protocol
    pre = protocol.analysis
    chosen_outcome = protocol.primary if outcome is None else protocol.outcome(outcome)
    preregistered = _settings(pre)
    options = _given(
        engine=engine, prior=prior, ar1=ar1, trend=trend, likelihood=likelihood,
        carryover=carryover, expectation_max=expectation_max, mcid=mcid, threshold=threshold,
        prior_sensitivity=prior_sensitivity, seed=seed, draws=draws, tune=tune, chains=chains,
        progressbar=progressbar, announce=announce,
    )  # fmt: skip
    defaults = dict(preregistered)
    if chosen_outcome.kind == "binary":
        # The protocol's MCID is in points of the primary scale and its onset model is the
        # primary outcome's: a yes/no outcome takes the binary model's own defaults
        # (MCID in percentage points, no onset model) unless they are given.
        defaults.update(mcid=None, carryover=False)
    chosen = {**defaults, **options}
    washout = washout_mode(pre.exclude_washout, chosen["carryover"])
    series = series_from_trial(
        trial,
        outcome,
        washout=washout,
        without_deviations=without_deviations,
        without_late=without_late,
    )
    monitoring = read_monitoring(trial)
    if monitoring is not None:
        # A trial stopped at an interim look never ran its later blocks: no missing days.
        series = series.subset(monitoring.analysed(series.block))
    blinding = None
    if protocol.blinded:
        table = trial_table(trial, without_deviations=without_deviations, without_late=without_late)
        if monitoring is not None:
            table = table[monitoring.analysed(table["block"])]
        blinding = assess_trial_table(table, protocol.outcomes)
    registered = registered_analysis(trial)
    as_registered, note = _against_registration(chosen, registered, chosen_outcome.primary)
    # The series is the unblinded trial's (series_from_trial refuses a blinded one), so the
    # treatments may be named.
    names = {arm: t.name for arm, t in protocol.treatments.items()}
    result = analyze(
        series,
        **chosen,
        blinding=blinding,
        open_label=not protocol.blinded,
        preregistered=as_registered,
        registration_note=note,
        names=names,
    )
    # What the trial registered (None when it cannot be read), for a report to compare.
    result.options["preregistered"] = (
        None
        if registered is None
        else {**_settings(registered), "exclude_washout": registered.exclude_washout}
    )
    result.options["washout"] = washout
    if washout == "unobserved":
        # Rows of the series without a score by design, not missed days.
        blocks = protocol.blocks if monitoring is None else monitoring.blocks_analysed
        result.options["washout_rows"] = sum(
            q.washout_days for q in protocol.periods if q.block <= blocks
        )
    if deviations and not without_deviations:
        # Diary records made after unblinding that this result includes.
        result.options["deviations"] = deviations
    late = 0 if trial.diary is None or without_late else len(trial.diary.late_entries())
    if late:
        # Entries made more than RECALL_DAYS after their day that this result includes.
        result.options["late_entries"] = late
    if monitoring is not None:
        result = replace(result, sequential=monitoring)
    trade_off = registered_decision(trial) if chosen_outcome.primary else None
    if trade_off is not None:
        from nof1.analysis.decision import trial_net_benefit

        decision = trial_net_benefit(trial, trade_off, result, without_deviations=without_deviations,
                                     without_late=without_late)  # fmt: skip
        result = replace(result, decision=decision)
    return result


def analyze_csv(
    path: str | Path,
    outcome: str,
    treatment: str,
    *,
    active: str | None = None,
    time: str | None = None,
    block: str | None = None,
    lower_is_better: bool = True,
    low: float | None = None,
    high: float | None = None,
    date_format: str | None = None,
    engine: str | None = None,
    prior: str | None = None,
    ar1: bool | None = None,
    trend: str | None = None,
    likelihood: str | None = None,
    carryover: bool | None = None,
    expectation_max: float | None = None,
    mcid: float | None = None,
    threshold: float | None = None,
    prior_sensitivity: bool | None = None,
    seed: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    progressbar: bool | None = None,
    announce: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """Analyse one outcome of a CSV file (``series_from_csv`` then ``analyze``).

    Parameters
    ----------
    path, outcome, treatment, active, time, block, lower_is_better, low, high, date_format :
        as in ``nof1.analysis.csv_input.series_from_csv`` (``path`` may be an open text file).
    engine, prior, ar1, trend, likelihood, carryover, expectation_max, mcid, threshold,
    prior_sensitivity, seed, draws, tune, chains, progressbar, announce : as in
        ``analyze``; None means ``analyze``'s default.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    DataError : the CSV cannot be read as a series, or cannot support an effect estimate.
    ModelError : as in ``analyze``.
    """
    from nof1.analysis.csv_input import series_from_csv

    series = series_from_csv(
        path,
        outcome,
        treatment,
        active=active,
        time=time,
        block=block,
        lower_is_better=lower_is_better,
        low=low,
        high=high,
        date_format=date_format,
    )
    options = _given(
        engine=engine, prior=prior, ar1=ar1, trend=trend, likelihood=likelihood,
        carryover=carryover, expectation_max=expectation_max, mcid=mcid, threshold=threshold,
        prior_sensitivity=prior_sensitivity, seed=seed, draws=draws, tune=tune, chains=chains,
        progressbar=progressbar, announce=announce,
    )  # fmt: skip
    result = analyze(series, **options)
    result.options["source"] = str(getattr(path, "name", path))
    return result


def analyze_frame(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    *,
    active: str | None = None,
    time: str | None = None,
    block: str | None = None,
    lower_is_better: bool = True,
    low: float | None = None,
    high: float | None = None,
    engine: str | None = None,
    prior: str | None = None,
    ar1: bool | None = None,
    trend: str | None = None,
    likelihood: str | None = None,
    carryover: bool | None = None,
    expectation_max: float | None = None,
    mcid: float | None = None,
    threshold: float | None = None,
    prior_sensitivity: bool | None = None,
    seed: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    progressbar: bool | None = None,
    announce: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """Analyse one outcome of a pandas DataFrame, one row per day (for notebooks).

    Parameters
    ----------
    frame : one row per day; not changed.
    outcome, treatment, active, time, block, lower_is_better, low, high : column names and
        scale, as in ``nof1.analysis.csv_input.series_from_csv`` (a time column may hold datetimes).
    engine, prior, ar1, trend, likelihood, carryover, expectation_max, mcid, threshold,
    prior_sensitivity, seed, draws, tune, chains, progressbar, announce : as in
        ``analyze``; None means ``analyze``'s default.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    DataError : the frame cannot be read as a series, or cannot support an effect estimate.
    ModelError : as in ``analyze``.

    Example
    -------
    >>> result = analyze_frame(df, outcome="pain", treatment="arm", active="magnesium")  # doctest: +SKIP
    >>> result.summary.p_mcid  # doctest: +SKIP
    """
    from nof1.analysis.csv_input import series_from_frame

    series = series_from_frame(
        frame,
        outcome,
        treatment,
        active=active,
        time=time,
        block=block,
        lower_is_better=lower_is_better,
        low=low,
        high=high,
    )
    options = _given(
        engine=engine, prior=prior, ar1=ar1, trend=trend, likelihood=likelihood,
        carryover=carryover, expectation_max=expectation_max, mcid=mcid, threshold=threshold,
        prior_sensitivity=prior_sensitivity, seed=seed, draws=draws, tune=tune, chains=chains,
        progressbar=progressbar, announce=announce,
    )  # fmt: skip
    result = analyze(series, **options)
    result.options["source"] = "DataFrame"
    return result
