"""``nof1 demo``: the whole flow on a simulated patient, ending in a clinician's report.

The demo plays every role of a real trial, through the same library calls the commands
use: it creates a blinded magnesium protocol (shorter than the template's, so it runs in
seconds), acts as the helper who knows the sealed allocation, simulates the patient's
diary, imports it, unblinds, analyses and writes the report. The simulated patient is
realistic rather than convenient: pain around 6.5 on placebo and about 1.5 points lower on
magnesium, autocorrelated day-to-day noise, whole-number scores, a missed week, occasional
guesses and some diarrhoea on magnesium (its main side effect; docs/sources.md).
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from nof1.errors import Nof1Error

#: The demo's design: 3 blocks of 14-day periods, 3 washout days each, 7-day run-in.
DEMO_DESIGN = {"blocks": 3, "period_days": 14, "washout_days": 3, "run_in_days": 7}
#: The simulated patient (NRS points; see the module docstring).
DEMO_PATIENT = {
    "effect": -1.5,
    "baseline": 6.5,
    "sd": 1.2,
    "rho": 0.5,
    "tau": 2.0,
    "guess_accuracy": 0.6,
    "unsure_rate": 0.4,
    "adherence_rate": 0.96,
    "diarrhoea_on_a": 0.12,
    "diarrhoea_on_b": 0.02,
}
#: A fixed start in the past makes the demo (and the committed example) reproducible.
DEMO_START = date(2026, 1, 5)
DEMO_PASSPHRASE = "demo helper passphrase (not secret)"
TEMPLATE = "magnesium-crps"
#: Files the demo writes in its folder (the trial itself goes in ``trial/``).
TRIAL_DIR, PASSPHRASE_FILE, DIARY_CSV, REPORT_FILE = (
    "trial",
    "helper-passphrase.txt",
    "diary.csv",
    "report.html",
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: paths, the analysis and the simulated truth."""

    out: Path
    trial_dir: Path
    report: Path
    result: Any
    truth: dict[str, Any]
    allocation: tuple[str, ...]


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise Nof1Error(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise Nof1Error(
            f"{out} is not empty: choose a new folder or use --force to replace the demo in it"
        )


def _clear_previous(out: Path) -> None:
    """Remove the files an earlier demo wrote (only those: --force must not wipe a folder)."""
    from nof1.blinding import SEALED_FILE
    from nof1.diary import DIARY_FILE
    from nof1.protocol import PROTOCOL_FILE

    trial = out / TRIAL_DIR
    for name in (PROTOCOL_FILE, SEALED_FILE, DIARY_FILE, f"{DIARY_FILE}-wal", f"{DIARY_FILE}-shm"):
        (trial / name).unlink(missing_ok=True)
    for name in (PASSPHRASE_FILE, DIARY_CSV, REPORT_FILE):
        (out / name).unlink(missing_ok=True)


def simulate_diary(
    protocol: Any, arms: tuple[str, ...], seed: int
) -> tuple[list[dict[str, str]], dict]:
    """Simulated diary rows of the demo patient, as ``nof1 import`` reads them.

    Parameters
    ----------
    protocol : the demo's ``Protocol`` (outcomes pain, allodynia, sleep, diarrhoea).
    arms : the true allocation (the demo knows it, as the helper does).
    seed : seed of the simulation.

    Returns
    -------
    (rows, truth) : one dict per recorded day with the columns ``date``, each outcome,
    ``guess``, ``adherence``; days the patient missed have no row. ``truth`` holds the
    simulation parameters.
    """
    from nof1.simulate import simulate_series

    p = DEMO_PATIENT
    rng = np.random.default_rng(seed)
    sim = simulate_series(
        protocol,
        effect=p["effect"],
        sd=p["sd"],
        rho=p["rho"],
        tau=p["tau"],
        baseline=p["baseline"],
        guess_accuracy=p["guess_accuracy"],
        unsure_rate=p["unsure_rate"],
        adherence_rate=p["adherence_rate"],
        missing_rate=0.03,
        ordinal=True,
        allocation=arms,
        rng=rng,
    )
    f = sim.frame
    n = len(f)
    on_a = (f["arm"] == "A").to_numpy() & f["adherence"].to_numpy(dtype=bool)
    # One missed week (a holiday) in the middle of the fourth period.
    fourth = protocol.periods[3]
    week_start = (fourth.start - protocol.start).days + 5
    missed = np.zeros(n, dtype=bool)
    missed[week_start : week_start + 7] = True
    pain = f["pain"].to_numpy(dtype=float)
    # Touch pain follows pain; sleep is worse on painful days. Whole numbers, clipped.
    allodynia = np.clip(np.round(0.8 * pain + rng.normal(0, 1.0, n)), 0, 10)
    sleep = np.clip(np.round(6.5 - 0.5 * (pain - p["baseline"]) + rng.normal(0, 1.1, n)), 0, 10)
    diarrhoea = rng.random(n) < np.where(on_a, p["diarrhoea_on_a"], p["diarrhoea_on_b"])
    # Patients do not guess every day: about once a week and on a period's last day.
    last_day = np.r_[f["period"].to_numpy()[1:] != f["period"].to_numpy()[:-1], True]
    guess_day = ((f["day"].to_numpy() % 7) == 6) | last_day
    rows = []
    for i in range(n):
        if missed[i] or np.isnan(pain[i]):
            continue
        in_period = not bool(f["run_in"].iloc[i])
        rows.append(
            {
                "date": (protocol.start + timedelta(days=int(f["day"].iloc[i]))).isoformat(),
                "pain": f"{pain[i]:g}",
                "allodynia": f"{allodynia[i]:g}",
                "sleep": f"{sleep[i]:g}",
                "diarrhoea": "yes" if diarrhoea[i] else "no",
                "guess": f["guess"].iloc[i] if in_period and guess_day[i] else "",
                "adherence": ("yes" if f["adherence"].iloc[i] else "no") if in_period else "",
            }
        )
    truth = {**sim.truth, **{k: p[k] for k in ("diarrhoea_on_a", "diarrhoea_on_b")}}
    return rows, truth


def run_demo(
    out: str | Path,
    *,
    seed: int = 1,
    engine: str = "exact",
    force: bool = False,
    step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole n-of-1 flow on a simulated patient and write the report.

    Parameters
    ----------
    out : the demo folder; it must be empty or new unless ``force``.
    seed : seed of the allocation and of the simulated patient.
    engine : ``"exact"`` (seconds) or ``"mcmc"`` (PyMC NUTS: five fits, a few minutes on
        two cores).
    force : replace an earlier demo in ``out`` (only the demo's own files are removed).
    step : called with a one-line description of each step as it is done (the CLI prints
        them); None for silence.

    Returns
    -------
    DemoResult

    Raises
    ------
    Nof1Error : ``out`` is a file, or a non-empty folder without ``force``.
    ModelError : an unknown engine.

    Example
    -------
    >>> run_demo("/tmp/nof1-demo", seed=1).report  # doctest: +SKIP
    PosixPath('/tmp/nof1-demo/report.html')
    """
    from nof1.analysis import analyze_trial
    from nof1.blinding import open_allocation
    from nof1.diary import import_diary, unblind_trial
    from nof1.errors import ModelError
    from nof1.files import write_output
    from nof1.report import trial_report, write_report
    from nof1.trial import create_trial

    if engine not in ("exact", "mcmc"):
        raise ModelError(f"engine {engine!r} must be 'exact' or 'mcmc'")
    say = step or (lambda _msg: None)
    out = Path(out)
    _check_out(out, force)
    if force:
        _clear_previous(out)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    trial_dir = out / TRIAL_DIR

    phrase_file = out / PASSPHRASE_FILE
    write_output(phrase_file, (DEMO_PASSPHRASE + "\n").encode(), what="passphrase file")
    protocol = create_trial(
        trial_dir, TEMPLATE, passphrase=DEMO_PASSPHRASE, start=DEMO_START, seed=seed, **DEMO_DESIGN
    )
    say(
        f"1. protocol new: {TEMPLATE}, {protocol.blocks} blocks of {protocol.period_days}-day "
        f"periods ({protocol.washout_days} washout days), {protocol.run_in_days}-day run-in, "
        f"{protocol.start} to {protocol.end} -> {trial_dir}"
    )

    # The helper's view: the demo needs the true arms to simulate the patient.
    arms = open_allocation(trial_dir, DEMO_PASSPHRASE).arms
    rows, truth = simulate_diary(protocol, arms, seed)
    diary_csv = out / DIARY_CSV
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_output(diary_csv, text.getvalue().encode("utf-8"), what="simulated diary")
    say(
        f"2. simulated the patient's diary: {len(rows)} of {protocol.n_days} days recorded "
        f"(true effect {truth['effect']:+.1f} points on magnesium) -> {diary_csv}"
    )
    n = import_diary(trial_dir, diary_csv)
    say(f"3. import: {n} diary entries into {trial_dir / 'diary.sqlite'}")

    # The trial is over the day after its last period, whenever the demo runs.
    unblind_trial(trial_dir, DEMO_PASSPHRASE, today=protocol.end + timedelta(days=1))
    say(f"4. unblind: allocation {' '.join(arms)} verified against the commitment")

    mcmc = {"chains": 2} if engine == "mcmc" else {}
    result = analyze_trial(trial_dir, engine=engine, seed=seed, prior_sensitivity=True, **mcmc)
    s = result.summary
    say(
        f"5. analyze ({engine}): effect {s.mean:+.2f} points (95% interval {s.hdi_low:+.2f} "
        f"to {s.hdi_high:+.2f}), P(benefit) {s.p_benefit:.2f}, P(benefit >= {s.mcid:g}) {s.p_mcid:.2f}"
    )
    verdict = result.verdict
    say(f"   {verdict.criterion.line()}")
    say(
        textwrap.fill(
            f"Verdict ({verdict.tier}): {verdict.headline}",
            88,
            initial_indent="   ",
            subsequent_indent="   ",
        )
    )
    html = trial_report(trial_dir, result=result, engine=engine, seed=seed, **mcmc)
    report = write_report(out / REPORT_FILE, html)
    say(f"6. report -> {report}")
    return DemoResult(out, trial_dir, report, result, truth, tuple(arms))
