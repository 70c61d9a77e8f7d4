"""The pool stage: many patients' anonymised series in one hierarchical model.

``pool_files`` is what ``nof1 pool`` does: read and validate every file first (nothing is
fitted while any file is wrong), fit each series alone with the exact engine (the unpooled
estimates), then fit the hierarchical model with one of two engines:

- ``mcmc``: the PyMC model of ``nof1.analysis.models.pooled`` (the reference).
- ``fast``: a normal-normal random-effects model over the exact engine's per-series effect
  posteriors. Each series is fitted under the *vague* prior, so its posterior mean and sd
  summarise the likelihood alone (no prior counted twice); then, with
  ``effect_hat_i ~ Normal(effect_i, sd_i^2)``, ``effect_i ~ Normal(mu, tau^2)``, the priors
  of ``nof1.analysis.models.pooled`` (``mu ~ Normal(0, 2)``, ``tau ~ HalfNormal(1)``, in outcome
  units), mu is integrated analytically for each tau on a fine grid and tau is integrated
  over the grid: full Bayes, no sampling, thousands of series in seconds.

Both report the same quantities (``PoolResult``): mu with its 95% HDI, tau, the predictive
distribution of the effect for a new patient (mu + tau * z_new), P(new patient benefits),
P(new patient benefits by at least the MCID), each series' shrunken effect beside its
unpooled estimate, and the diagnostics (a fit that fails them gets no conclusion).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nof1.analysis.models.base import MAX_DRAWS, Diagnostics
from nof1.analysis.models.fastpool import Estimate, fast_pool
from nof1.analysis.models.priors import outcome_unit
from nof1.analysis.series import SCHEMES, Series
from nof1.diary.cells import duplicate_column
from nof1.errors import DataError
from nof1.plan.files import MAX_CSV_BYTES, read_input
from nof1.research.anonymise import FORMAT, FORMAT_VERSION, LEAD_COLUMNS, TAIL_COLUMNS, OutcomeMeta

ENGINES = ("mcmc", "fast")
LIKELIHOODS = ("normal", "student")
#: The prior descriptions reported with every pooled result (see ``nof1.analysis.models.pooled``).
PRIOR_TEXT = {
    "mu": "Normal(0, 2 points)",
    "tau": "HalfNormal(1 point)",
    "unpooled": "each series alone: exact engine, vague prior, AR(1) errors",
}
#: Default minimal clinically important difference: 1 point per 10 points of scale.
MCID_PER_10 = 1.0

_HEADER_PREFIX = "# "
_INT_COLUMNS = ("format_version", "day", "block", "period", "washout", "run_in")
_GUESSES = {"A": 1.0, "B": 0.0, "unsure": 0.5, "": np.nan}


# --------------------------------------------------------------------------------------
# Reading and validating anonymised files
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolMember:
    """One series of the pool: its random id, the file it came from, its analysis series."""

    series_id: str
    file: str
    series: Series


@dataclass(frozen=True)
class PoolData:
    """Validated input of a pooled analysis: one outcome, many series."""

    outcome: OutcomeMeta
    members: tuple[PoolMember, ...]

    @property
    def series(self) -> list[Series]:
        """The members' series, in file order."""
        return [m.series for m in self.members]


def read_anonymised(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one anonymised file and check it row by row.

    Parameters
    ----------
    path : a "nof1-anonymised" version 1 file (``docs/anonymised-format.md``).

    Returns
    -------
    (frame, meta) : the table (columns as in ``nof1.research.anonymise.anonymise_trial``, numbers
        parsed, plus ``line``: the row's line number in the file) and the header: ``scheme``
        and ``outcomes`` (name -> ``OutcomeMeta``).

    Raises
    ------
    DataError : naming the file and the line: missing or unreadable file, another format or
        format version, a missing column, a non-numeric or out-of-range value, an unknown
        arm or guess, days out of order.
    """
    path = Path(path)
    try:
        text = read_input(path, MAX_CSV_BYTES, "an anonymised series", DataError).decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it ({exc})") from None
    lines = text.splitlines()
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    meta = _parse_header(path, lines[:n_header])
    if n_header >= len(lines):
        raise DataError(f"{path}: no table after the header")
    # pandas would rename a second 'pain' to 'pain.1' and read the first one silently.
    twice = duplicate_column([c.strip() for c in next(csv.reader([lines[n_header]]), [])])
    if twice is not None:
        raise DataError(
            f"{path} line {n_header + 1}: column {twice!r} is in the header twice; which one "
            "is meant cannot be known"
        )
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines[n_header:])), dtype=str, keep_default_na=False
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV table ({exc})") from None
    names = list(meta["outcomes"])
    for col in (*LEAD_COLUMNS, *names, *TAIL_COLUMNS):
        if col not in frame.columns:
            raise DataError(f"{path} line {n_header + 1}: missing column {col!r}")
    if frame.empty:
        raise DataError(f"{path}: the table has no rows")
    # Line of each data row in the file (1-based), for messages.
    line = np.arange(len(frame)) + n_header + 2
    out = pd.DataFrame({"series_id": frame["series_id"].to_numpy(), "line": line})

    def bad(mask: np.ndarray, what: str, col: str) -> None:
        if np.any(mask):
            i = int(np.argmax(mask))
            raise DataError(f"{path} line {line[i]}: {col} {frame[col].iloc[i]!r} {what}")

    bad((out["series_id"] == "").to_numpy(), "is empty; every row needs a series id", "series_id")
    for col in _INT_COLUMNS:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad(
            # inf rounds to itself, and a cast of it (or of 1e300) to int64 is garbage
            (values.isna() | (values.abs() > 2**53) | (values != values.round())).to_numpy(),
            "is not a whole number",
            col,
        )
        out[col] = values.to_numpy(dtype=np.int64)
    version = out["format_version"].to_numpy()
    bad(version != FORMAT_VERSION, f"is not format version {FORMAT_VERSION}", "format_version")
    for col in ("washout", "run_in"):
        bad(~np.isin(out[col].to_numpy(), (0, 1)), "must be 0 or 1", col)
    run_in = out["run_in"].to_numpy() == 1
    arm = frame["arm"].to_numpy(dtype=object)
    bad(~run_in & ~np.isin(arm, ("A", "B")), "must be A or B", "arm")
    bad(run_in & ~np.isin(arm, ("A", "B", "")), "must be A, B or empty", "arm")
    out["arm"] = arm
    for name, o in meta["outcomes"].items():
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad(np.isnan(values) & (raw != "").to_numpy(), "is not a number", name)
        bad(
            ~np.isnan(values) & ((values < o.low) | (values > o.high)),
            f"is outside {o.low:g}-{o.high:g}",
            name,
        )
        out[name] = values
    bad(~frame["guess"].isin(list(_GUESSES)).to_numpy(), "must be A, B, unsure or empty", "guess")
    out["guess"] = frame["guess"].to_numpy(dtype=object)
    # The share of the day's doses taken: 0 to 1 (partial adherence), or empty.
    share = pd.to_numeric(frame["adherence"], errors="coerce").to_numpy(dtype=float)
    bad(
        (frame["adherence"] != "").to_numpy() & ~((share >= 0) & (share <= 1)),
        "must be a share from 0 to 1 (0, 1, 0.5, ...) or empty",
        "adherence",
    )
    out["adherence"] = share
    # Each series' rows in increasing day order (one row per day).
    same = out["series_id"].to_numpy()[1:] == out["series_id"].to_numpy()[:-1]
    day = out["day"].to_numpy()
    disorder = np.concatenate([[False], same & (day[1:] <= day[:-1])])
    bad(disorder, "is not after the series' previous day (one row per day, in order)", "day")
    return out, meta


def _parse_header(path: Path, header: list[str]) -> dict[str, Any]:
    fields: dict[str, str] = {}
    outcomes: dict[str, OutcomeMeta] = {}
    for number, text in enumerate(header, start=1):
        key, sep, value = text[len(_HEADER_PREFIX) :].partition(":")
        if not text.startswith(_HEADER_PREFIX) or not sep:
            raise DataError(f"{path} line {number}: header line {text!r} is not 'key: value'")
        key, value = key.strip(), value.strip()
        if key == "outcome":
            o = _parse_outcome(path, number, value)
            if o.name in outcomes:
                raise DataError(f"{path} line {number}: outcome {o.name!r} is described twice")
            outcomes[o.name] = o
        else:
            fields[key] = value
    if fields.get("format") != FORMAT:
        raise DataError(
            f"{path} line 1: not a {FORMAT} file (its first line must be '# format: {FORMAT}')"
        )
    if fields.get("format_version") != str(FORMAT_VERSION):
        raise DataError(
            f"{path} line 2: format version {fields.get('format_version')!r}; this nof1 reads "
            f"version {FORMAT_VERSION}"
        )
    scheme = fields.get("scheme", "block")
    if scheme not in SCHEMES:
        raise DataError(f"{path}: unknown randomization scheme {scheme!r}")
    if not outcomes:
        raise DataError(f"{path}: the header lists no outcome")
    return {"scheme": scheme, "outcomes": outcomes}


def _parse_outcome(path: Path, number: int, value: str) -> OutcomeMeta:
    name, *pairs = value.split()
    try:
        kv = dict(p.split("=", 1) for p in pairs)
        return OutcomeMeta(
            name=name,
            kind=kv["kind"],
            low=float(kv["low"]),
            high=float(kv["high"]),
            lower_is_better=kv["lower_is_better"] == "1",
            primary=kv["primary"] == "1",
            role=kv["role"],
        )
    except (KeyError, ValueError):
        raise DataError(
            f"{path} line {number}: outcome line {value!r} needs kind, low, high, "
            "lower_is_better, primary and role"
        ) from None


def load_pool(paths: Sequence[str | Path], outcome: str | None = None) -> PoolData:
    """Read, validate and turn into series every anonymised file of a pool.

    Parameters
    ----------
    paths : the files; each may hold one or many series.
    outcome : the outcome to pool; default the primary outcome of the first file.

    Returns
    -------
    PoolData : one ``PoolMember`` per series: analysis days only (run-in and washout days
        dropped, so the AR(1) likelihood sees them as gaps), both arms observed.

    Raises
    ------
    DataError : naming the file (and line): any problem of ``read_anonymised``; no files;
        an outcome missing from a file or on another scale; a binary outcome; a series with
        one arm only or otherwise unanalysable; a series id that appears in two files; a
        file given twice (by the same or another name, a link or a copy).
    """
    if not paths:
        raise DataError("no files to pool: give one or more anonymised CSV files")
    chosen: OutcomeMeta | None = None
    seen: dict[str, str] = {}
    members = []
    given: dict[tuple, str] = {}
    for path in paths:
        _refuse_twice(path, given)
        frame, meta = read_anonymised(path)
        if chosen is None:
            name = outcome or next(
                (o.name for o in meta["outcomes"].values() if o.primary),
                next(iter(meta["outcomes"])),
            )
            if name not in meta["outcomes"]:
                raise DataError(
                    f"{path}: no outcome {name!r}; it has {', '.join(meta['outcomes'])}"
                )
            chosen = meta["outcomes"][name]
            if chosen.kind != "scale":
                raise DataError(
                    f"outcome {name!r} is {chosen.kind}; the pooled model needs a scale outcome"
                )
        o = meta["outcomes"].get(chosen.name)
        if o is None:
            raise DataError(
                f"{path}: no outcome {chosen.name!r}; it has {', '.join(meta['outcomes'])}"
            )
        if (o.kind, o.low, o.high, o.lower_is_better) != (
            chosen.kind,
            chosen.low,
            chosen.high,
            chosen.lower_is_better,
        ):
            raise DataError(
                f"{path}: outcome {o.name!r} is on scale {o.low:g}-{o.high:g} (lower is better: "
                f"{o.lower_is_better}), other files have {chosen.low:g}-{chosen.high:g} "
                f"({chosen.lower_is_better})"
            )
        cols = {
            c: frame[c].to_numpy()
            for c in ("series_id", "line", "day", "block", "period", "arm", "washout", "run_in")
        }
        cols["y"] = frame[chosen.name].to_numpy(dtype=float)
        cols["belief"] = frame["guess"].map(_GUESSES).to_numpy(dtype=float)
        ids, first, inverse = np.unique(cols["series_id"], return_index=True, return_inverse=True)
        rows_of = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
        for k in np.argsort(first):  # series in file order
            sid, rows = str(ids[k]), rows_of[k]
            line = int(cols["line"][rows[0]])
            if sid in seen:
                where = "earlier in this file" if seen[sid] == str(path) else f"in {seen[sid]}"
                raise DataError(f"{path} line {line}: series id {sid!r} is already {where}")
            seen[sid] = str(path)
            sub = {c: v[rows] for c, v in cols.items()}
            members.append(PoolMember(sid, str(path), _series(path, line, sid, sub, chosen, meta)))
    return PoolData(outcome=chosen, members=tuple(members))


def _refuse_twice(path: str | Path, given: dict[tuple, str]) -> None:
    """Refuse a file given before, by another name too (``./a.csv``, a link to it, a copy):
    its series would count twice. ``given`` maps what identifies each file read so far
    (device and inode, and the SHA-256 of its bytes) to its name as given."""
    try:
        info = os.stat(path)
        data = read_input(path, MAX_CSV_BYTES, "an anonymised series", DataError)
        digest = hashlib.sha256(data).hexdigest()
    except OSError:
        return  # read_anonymised names the problem
    for key, what in (((info.st_dev, info.st_ino), "the same file as"), ((digest,), "a copy of")):
        if key in given and given[key] == str(path):
            raise DataError(f"{path} is given twice: each file is pooled once")
        if key in given:
            raise DataError(
                f"{path} is {what} {given[key]}, given before: each file is pooled once (its "
                "series would count twice)"
            )
    given[(info.st_dev, info.st_ino)] = given[(digest,)] = str(path)


def _series(path, line, sid, rows: dict[str, np.ndarray], o: OutcomeMeta, meta) -> Series:
    treated = rows["run_in"] == 0
    arms = set(rows["arm"][treated])
    if len(arms) < 2:
        only = ", ".join(sorted(arms)) or "none"
        raise DataError(
            f"{path} line {line}: series {sid!r} has one arm only ({only}); a crossover needs "
            "days on both A and B"
        )
    keep = treated & (rows["washout"] == 0)
    series = Series(
        y=rows["y"][keep],
        active=(rows["arm"][keep] == "A").astype(int),
        day=rows["day"][keep],
        block=rows["block"][keep],
        period=rows["period"][keep],
        outcome=o.name,
        lower_is_better=o.lower_is_better,
        low=o.low,
        high=o.high,
        belief=rows["belief"][keep],
        scheme=meta["scheme"],
    )
    try:
        series.check_analysable()
    except DataError as exc:
        raise DataError(f"{path} line {line}: series {sid!r}: {exc}") from None
    return series


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolResult:
    """What a pooled analysis reports, whichever engine made it.

    Parameters
    ----------
    engine, likelihood : how it was fitted.
    outcome : the pooled outcome and its scale.
    mcid : minimal clinically important difference in outcome units (positive).
    mu : the average effect (active minus control).
    tau : the between-patient sd of the effect.
    new_patient : the predictive effect for a new patient, mu + tau * z_new.
    p_mu_benefit : P(average effect is a benefit).
    p_new_benefit, p_new_mcid : P(a new patient benefits), P(... by at least the MCID).
    series : one row per series: ``series_id``, ``file``, ``n_days`` (observed analysis
        days), ``unpooled_mean``, ``unpooled_sd`` (exact engine, vague prior),
        ``pooled_mean``, ``pooled_lower``, ``pooled_upper`` (the shrunken effect and its 95%
        interval: HDI of the draws for mcmc, equal-tailed for the fast path; for these
        near-normal posteriors the two differ by far less than their width).
    diagnostics : convergence diagnostics (the fast path has none to fail).
    priors : the priors, in words.
    """

    engine: str
    likelihood: str
    outcome: OutcomeMeta
    mcid: float
    mu: Estimate
    tau: Estimate
    new_patient: Estimate
    p_mu_benefit: float
    p_new_benefit: float
    p_new_mcid: float
    series: pd.DataFrame
    diagnostics: Diagnostics
    priors: dict[str, str] = field(default_factory=lambda: dict(PRIOR_TEXT))

    @property
    def conclusion(self) -> str | None:
        """A one-sentence reading of the result, or None when the fit failed its checks."""
        if not self.diagnostics.ok:
            return None
        better = "lower" if self.outcome.lower_is_better else "higher"
        return (
            f"Across {len(self.series)} patients the average effect of A over B is "
            f"{self.mu.mean:+.2f} (95% HDI {self.mu.lower:+.2f} to {self.mu.upper:+.2f}; "
            f"{better} is better); a new patient would benefit by at least {self.mcid:g} with "
            f"probability {self.p_new_mcid:.2f}."
        )

    @property
    def advice(self) -> str | None:
        """What to run instead when the fit failed its checks, else None.

        The fast engine integrates over a grid instead of sampling, so it always answers;
        more draws are not offered: where NUTS diverged, more draws diverge more.
        """
        if self.diagnostics.ok:
            return None
        if self.likelihood == "normal":
            return (
                "The fast engine fits the normal-normal model exactly on a grid of tau, without "
                "sampling, and always gives an answer: run the pool again with --engine fast."
            )
        return (
            f"The fast engine gives an answer without sampling under the normal likelihood (a "
            f"simpler model than the {self.likelihood} one): run the pool again with "
            "--engine fast --likelihood normal."
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of everything reported."""
        return {
            "engine": self.engine,
            "likelihood": self.likelihood,
            "outcome": {
                "name": self.outcome.name,
                "low": self.outcome.low,
                "high": self.outcome.high,
                "lower_is_better": self.outcome.lower_is_better,
            },
            "n_series": len(self.series),
            "mcid": self.mcid,
            "mu": self.mu.to_dict(),
            "tau": self.tau.to_dict(),
            "new_patient": self.new_patient.to_dict(),
            "p_mu_benefit": self.p_mu_benefit,
            "p_new_benefit": self.p_new_benefit,
            "p_new_benefit_mcid": self.p_new_mcid,
            "diagnostics": self.diagnostics.to_dict(),
            "conclusion": self.conclusion,
            "advice": self.advice,
            "priors": dict(self.priors),
            "series": json.loads(self.series.to_json(orient="records")),
        }


# --------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------


def pool_files(
    paths: Sequence[str | Path],
    *,
    engine: str = "mcmc",
    outcome: str | None = None,
    likelihood: str = "normal",
    mcid: float | None = None,
    seed: int | None = None,
    draws: int = 1000,
    announce: Callable[[str], None] | None = None,
) -> PoolResult:
    """Validate anonymised files and fit the pooled model.

    The HTML report of the result is ``nof1.report.pooled`` (``write_pool_report``).

    Parameters
    ----------
    paths : anonymised files (``nof1 export --anonymise``).
    engine : ``"mcmc"`` (PyMC, the reference) or ``"fast"`` (normal-normal on a tau grid).
    outcome : the outcome to pool (default: the primary outcome).
    likelihood : ``"normal"`` or ``"student"`` (MCMC only).
    mcid : minimal clinically important difference in outcome units (default 1 point per
        10 points of scale).
    seed : random seed of the MCMC engine and of the new-patient draws.
    draws : MCMC draws per chain (4 chains, as many tuning steps).
    announce : called with a short message before the MCMC fit (the CLI prints it), after
        every file has been validated.

    Returns
    -------
    PoolResult

    Raises
    ------
    DataError : a bad file (see ``load_pool``), a bad option.
    ModelError : the model cannot be fitted as asked.

    Example
    -------
    >>> result = pool_files(["a.csv", "b.csv"], engine="fast")  # doctest: +SKIP
    >>> result.mu.mean, result.p_new_mcid  # doctest: +SKIP
    """
    if engine not in ENGINES:
        raise DataError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if likelihood not in LIKELIHOODS:
        raise DataError(f"unknown likelihood {likelihood!r}; use one of {', '.join(LIKELIHOODS)}")
    if engine == "fast" and likelihood != "normal":
        raise DataError("the fast engine fits the normal likelihood only; use --engine mcmc")
    if mcid is not None and not (np.isfinite(mcid) and mcid > 0):
        raise DataError(f"MCID {mcid:g} must be a positive number of outcome units")
    if draws < 100:
        raise DataError(f"draws {draws} is too few; use at least 100 per chain")
    if draws > MAX_DRAWS:
        raise DataError(f"draws {draws:,} is too many; use at most {MAX_DRAWS:,} per chain")
    data = load_pool(paths, outcome)
    o = data.outcome
    if mcid is not None and mcid > o.high - o.low:
        raise DataError(
            f"MCID {mcid:g} is more than the whole scale of {o.name!r} ({o.low:g}-{o.high:g}): "
            "no patient's change can reach it"
        )
    from nof1.analysis.models.exact_batch import effect_moments

    series = data.series
    unpooled = effect_moments(series, prior="vague")
    unit = outcome_unit(series[0])
    mcid = MCID_PER_10 * unit if mcid is None else float(mcid)
    if engine == "fast":
        result = _summarise_fast(data, unpooled, unit, mcid)
    else:
        if announce is not None:
            announce(
                f"Fitting the hierarchical model with PyMC ({len(series)} series; about a minute "
                "for tens of series, minutes for hundreds; --engine fast takes seconds)..."
            )
        result = _summarise_mcmc(data, unpooled, likelihood, mcid, seed, draws)
    return result


def _series_table(data: PoolData, unpooled, mean, lo, hi) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": [m.series_id for m in data.members],
            "file": [Path(m.file).name for m in data.members],
            "n_days": [int(m.series.observed.sum()) for m in data.members],
            "unpooled_mean": unpooled[:, 0],
            "unpooled_sd": unpooled[:, 1],
            "pooled_mean": mean,
            "pooled_lower": lo,
            "pooled_upper": hi,
        }
    )


def _benefit_threshold(o: OutcomeMeta, mcid: float) -> tuple[float, float]:
    """(sign, threshold): benefit >= mcid means sign * effect > mcid; sign -1 if lower is better."""
    return (-1.0 if o.lower_is_better else 1.0), mcid


def _summarise_fast(data: PoolData, unpooled, unit: float, mcid: float) -> PoolResult:
    post = fast_pool(unpooled[:, 0], unpooled[:, 1], unit=unit)
    sign, _ = _benefit_threshold(data.outcome, mcid)

    def p_benefit(below, t):  # P(sign * effect > t)
        return below(-t) if sign < 0 else 1.0 - below(t)

    mean, lo, hi = post.shrunken()
    return PoolResult(
        engine="fast",
        likelihood="normal",
        outcome=data.outcome,
        mcid=mcid,
        mu=post.mu(),
        tau=post.tau_estimate(),
        new_patient=post.new_patient(),
        p_mu_benefit=p_benefit(post.p_mu_below, 0.0),
        p_new_benefit=p_benefit(post.p_new_below, 0.0),
        p_new_mcid=p_benefit(post.p_new_below, mcid),
        series=_series_table(data, unpooled, mean, lo, hi),
        diagnostics=Diagnostics(ok=True),
    )


def _summarise_mcmc(data, unpooled, likelihood, mcid, seed, draws) -> PoolResult:
    from nof1.analysis.models.pooled import fit_pooled

    fit = fit_pooled(
        data.series,
        likelihood=likelihood,
        series_ids=[m.series_id for m in data.members],
        draws=draws,
        tune=draws,
        seed=seed,
    )
    mu, tau, effect = fit.draws["mu"], fit.draws["tau"], fit.draws["effect"]
    rng = np.random.default_rng(seed)
    new = mu + tau * rng.standard_normal(len(mu))
    sign, _ = _benefit_threshold(data.outcome, mcid)
    intervals = np.array([_draws_hdi(effect[:, i]) for i in range(effect.shape[1])])
    return PoolResult(
        engine="mcmc",
        likelihood=likelihood,
        outcome=data.outcome,
        mcid=mcid,
        mu=_draws_estimate(mu),
        tau=_draws_estimate(tau),
        new_patient=_draws_estimate(new),
        p_mu_benefit=float(np.mean(sign * mu > 0)),
        p_new_benefit=float(np.mean(sign * new > 0)),
        p_new_mcid=float(np.mean(sign * new >= mcid)),
        series=_series_table(data, unpooled, effect.mean(axis=0), intervals[:, 0], intervals[:, 1]),
        diagnostics=fit.diagnostics,
    )


def _draws_hdi(x: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """Shortest interval holding ``prob`` of the draws."""
    x = np.sort(x)
    k = int(np.ceil(prob * len(x)))
    widths = x[k - 1 :] - x[: len(x) - k + 1]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + k - 1])


def _draws_estimate(x: np.ndarray) -> Estimate:
    lo, hi = _draws_hdi(x)
    return Estimate(float(np.mean(x)), float(np.std(x, ddof=1)), lo, hi)
