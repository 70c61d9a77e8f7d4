"""``nof1 demo``: the whole flow on a simulated patient, ending in a clinician's report and
the patient's page.

The demo plays every role of a real trial, through the same library calls the commands
use: it creates a blinded magnesium protocol (shorter than the template's, so it runs in
seconds), acts as the helper who knows the sealed allocation, simulates the patient's
diary, imports it, unblinds, analyses and writes the report and, beside it, the patient's
page (``summary.html``). The simulated patient is
realistic rather than convenient: pain around 6.5 on placebo and about 1.5 points lower on
magnesium, autocorrelated day-to-day noise, whole-number scores, a missed week, occasional
guesses and some diarrhoea on magnesium (its main side effect; docs/sources.md).

``nof1 demo --sequential`` (``run_sequential_demo``) runs the same patient through a
sequential trial: the template's own design with its pre-registered interim looks, the
diary recorded block by block, a look (``nof1 interim``'s library call) at each look
point, and the report of the trial where the first STOP ended it.
"""

from __future__ import annotations

import csv
import io
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from nof1.analysis.decision import stated
from nof1.analysis.summary import signed
from nof1.errors import Nof1Error
from nof1.plan.stopping import STOP_EFFICACY

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
#: The demo patient's trade-off, registered before the trial (``[decision]``): 1 point less
#: pain is worth diarrhoea on up to 2 more days a week.
DEMO_TRADE_OFF = {"diarrhoea": 2.0}
#: Files the demo writes in its folder (the trial itself goes in ``trial/``).
TRIAL_DIR, PASSPHRASE_FILE, DIARY_CSV, REPORT_FILE, PATIENT_FILE = (
    "trial",
    "helper-passphrase.txt",
    "diary.csv",
    "report.html",
    "summary.html",
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

    @property
    def patient_page(self) -> Path:
        """The patient's page, written beside the report."""
        return self.report.with_name(PATIENT_FILE)


def _check_out(out: Path, force: bool) -> None:
    """Refuse a demo folder that is, or lies inside, a trial folder (a real trial's files
    must never meet the demo's), that is not empty (without ``force``), or whose ``trial``
    folder holds a trial that is not an earlier demo's."""
    from nof1.errors import BlindingError, OutputError, ProtocolError
    from nof1.plan.files import trial_file_in
    from nof1.plan.sealing import open_allocation

    if out.exists() and not out.is_dir():
        raise Nof1Error(f"{out} exists and is not a folder")
    real = Path(os.path.realpath(out))
    for folder in (real, *real.parents):
        held = trial_file_in(folder)
        if held is not None:
            where = "it holds" if folder == real else f"it lies inside {folder}, which holds"
            raise OutputError(
                f"refusing to put the demo in {out}: {where} a trial's {held}; choose a new "
                "folder outside any trial"
            )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise Nof1Error(
            f"{out} is not empty: choose a new folder or use --force to replace the demo in it"
        )
    trial = out / TRIAL_DIR
    if force and trial_file_in(trial) is not None:
        try:
            open_allocation(trial, DEMO_PASSPHRASE)
        except (BlindingError, ProtocolError):
            raise OutputError(
                f"refusing to replace {trial}: it holds a trial that is not an earlier demo's "
                "(its allocation does not open with the demo's passphrase); --force replaces "
                "only a demo"
            ) from None


def _clear_previous(out: Path) -> None:
    """Remove the files an earlier demo wrote (only those: --force must not wipe a folder)."""
    from nof1.diary.schema import DIARY_FILE
    from nof1.plan.protocol import PROTOCOL_FILE
    from nof1.plan.sealing import SEALED_FILE

    trial = out / TRIAL_DIR
    for name in (PROTOCOL_FILE, SEALED_FILE, DIARY_FILE, f"{DIARY_FILE}-wal", f"{DIARY_FILE}-shm"):
        (trial / name).unlink(missing_ok=True)
    for name in (PASSPHRASE_FILE, DIARY_CSV, REPORT_FILE, PATIENT_FILE):
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
    from nof1.design.simulate import simulate_series

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


def _start(
    out: str | Path, engine: str, force: bool, step: Callable[[str], None] | None
) -> tuple[Callable[[str], None], Path]:
    """Check the engine and the output folder, make the folder (0700) and write the
    helper's passphrase file into it: (say, out) for the demo's steps."""
    from nof1.errors import ModelError
    from nof1.plan.files import write_output

    if engine not in ("exact", "mcmc"):
        raise ModelError(f"engine {engine!r} must be 'exact' or 'mcmc'")
    say = step or (lambda _msg: None)
    out = Path(out)
    _check_out(out, force)
    if force:
        _clear_previous(out)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_output(out / PASSPHRASE_FILE, (DEMO_PASSPHRASE + "\n").encode(), what="passphrase file")
    return say, out


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
    from nof1.analysis.analyze import analyze_trial
    from nof1.plan.files import write_output
    from nof1.plan.sealing import open_allocation
    from nof1.report import trial_report, write_report
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary, unblind_trial

    say, out = _start(out, engine, force, step)
    trial_dir = out / TRIAL_DIR
    protocol = create_trial(
        trial_dir, TEMPLATE, passphrase=DEMO_PASSPHRASE, start=DEMO_START, seed=seed,
        reproducible=True, trade_off=DEMO_TRADE_OFF, **DEMO_DESIGN,
    )  # fmt: skip
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
    _, unblinding = unblind_trial(
        trial_dir, DEMO_PASSPHRASE, today=protocol.end + timedelta(days=1)
    )
    say(
        f"4. unblind: allocation {' '.join(arms)} verified against the commitment; "
        f"unblinding code {unblinding.code} (for the clinician)"
    )

    mcmc = {"chains": 2} if engine == "mcmc" else {}
    result = analyze_trial(trial_dir, engine=engine, seed=seed, prior_sensitivity=True, **mcmc)
    s = result.summary
    say(
        f"5. analyze ({engine}): effect {signed(s.mean)} points (95% interval {signed(s.hdi_low)} "
        f"to {signed(s.hdi_high)}), P(benefit) {s.p_benefit:.2f}, P(benefit >= {s.mcid:g}) {s.p_mcid:.2f}"
    )
    verdict = result.verdict
    say(f"   {verdict.criterion.line()}")
    say(_wrap(f"Verdict ({verdict.tier}): {verdict.headline}"))
    if result.decision is not None:
        said = " ".join(result.decision.trade_off.sentences())
        say(_wrap(f"Pre-registered trade-off: {said}"))
        say(_wrap(stated(result.decision, result.verdict.blinding)))
    html = trial_report(trial_dir, result=result, engine=engine, seed=seed, **mcmc)
    report = write_report(out / REPORT_FILE, html)
    say(f"6. report -> {report}")
    say(f"7. patient's page -> {_patient_page(trial_dir, result, out)}")
    return DemoResult(out, trial_dir, report, result, truth, tuple(arms))


# --------------------------------------------------------------------------- sequential


#: Simulated trials per scenario when the demo makes its design's rule: few, so the demo
#: runs in seconds (``nof1 design --sequential`` uses thousands).
SEQUENTIAL_SIMS = 200
#: The sequential demo's default patient: one whose trial continues at the first look and
#: stops for efficacy at the second (other seeds run to the end or stop for futility).
SEQUENTIAL_DEMO_SEED = 4


@dataclass(frozen=True)
class SequentialDemoResult(DemoResult):
    """What the sequential demo made: as ``DemoResult``, plus each look as recorded (number,
    block, decision, time) and the day the trial ended."""

    looks: tuple[Any, ...] = ()
    ended: date | None = None


def _sequential_rule(seed: int) -> Any:
    """The template's stopping rule with its simulated operating characteristics, as
    ``protocol new --sequential`` pre-registers it (with fewer simulated trials)."""
    from nof1.design.sequential import rule_for_protocol
    from nof1.plan.templates import read_template

    return rule_for_protocol(read_template(TEMPLATE), sims=SEQUENTIAL_SIMS, seed=seed)


#: The simulated hour (UTC) of the helper's interim looks: the demo's clock follows the
#: trial's calendar, so a look is recorded on its day, not on the day the demo runs.
LOOK_HOUR = time(9, 0, tzinfo=UTC)


def _take_look(trial_dir: Path, today: date) -> Any:
    """The helper's interim look on ``today``: the same library call as ``nof1 interim``,
    recorded at ``LOOK_HOUR`` of that day."""
    from nof1.interim import interim_look

    at = datetime.combine(today, LOOK_HOUR)
    return interim_look(trial_dir, DEMO_PASSPHRASE, today=today, at=at).record


def _record_days(trial_dir: Path, protocol: Any, rows: list[dict[str, str]], source: Path) -> int:
    """Record the simulated patient's days in the diary, as ``nof1 import`` would
    (``source``: the diary CSV the rows end up in, named in any error)."""
    from nof1.diary.entries import make_entry
    from nof1.diary.store import open_diary

    entries = []
    for line, row in enumerate(rows, start=2):
        values = {o.name: row[o.name] for o in protocol.outcomes if row.get(o.name, "")}
        entry = make_entry(protocol, row["date"], values, row["guess"], row["adherence"])
        entries.append((line, entry))
    with open_diary(trial_dir, protocol) as diary:
        return diary.import_entries(source, entries)


def run_sequential_demo(
    out: str | Path,
    *,
    seed: int = SEQUENTIAL_DEMO_SEED,
    engine: str = "exact",
    force: bool = False,
    step: Callable[[str], None] | None = None,
) -> SequentialDemoResult:
    """Run a sequential magnesium trial on a simulated patient: looks, a stop, the report.

    The protocol is the magnesium-crps template's own design with its pre-registered
    interim looks (at most 4 blocks of 28-day periods, looks after blocks 2, 3 and 4) and
    their simulated operating characteristics (``rule_for_protocol`` with
    ``SEQUENTIAL_SIMS`` trials per scenario, so that the demo takes seconds).
    The patient's diary is recorded block by block; at each look point the helper takes
    the interim look (``nof1.interim.interim_look``, as ``nof1 interim`` does) on the day
    after the block ends; at the first STOP the trial ends, is unblinded, analysed and
    reported. The patient is the one of ``run_demo`` (``DEMO_PATIENT``).

    Parameters
    ----------
    out, engine, force, step : as in ``run_demo``; ``engine`` is the final analysis's
        (the looks always use the exact engine).
    seed : seed of the allocation, the patient and the design's simulation.

    Returns
    -------
    SequentialDemoResult

    Raises
    ------
    Nof1Error : ``out`` is a file, or a non-empty folder without ``force``.
    ModelError : an unknown engine.

    Example
    -------
    >>> run_sequential_demo("/tmp/nof1-seq").looks[-1].decision  # doctest: +SKIP
    'STOP: efficacy'
    """
    from nof1.analysis.analyze import analyze_trial
    from nof1.plan.calendar import block_end
    from nof1.plan.files import write_output
    from nof1.plan.sealing import open_allocation
    from nof1.report import trial_report, write_report
    from nof1.report.build import design_characteristics
    from nof1.trial.create import create_trial
    from nof1.trial.writes import unblind_trial

    say, out = _start(out, engine, force, step)
    trial_dir = out / TRIAL_DIR

    rule = _sequential_rule(seed)
    protocol = create_trial(
        trial_dir, TEMPLATE, passphrase=DEMO_PASSPHRASE, start=DEMO_START, seed=seed,
        sequential=rule, reproducible=True, trade_off=DEMO_TRADE_OFF,
    )  # fmt: skip
    say(
        _wrap(
            f"1. protocol new --sequential: {TEMPLATE}, at most {protocol.blocks} blocks of "
            f"{protocol.period_days}-day periods ({protocol.washout_days} washout days), "
            f"{protocol.run_in_days}-day run-in, {protocol.start} to {protocol.end} at the "
            f"latest -> {trial_dir}",
            first="",
        )
    )
    say(_wrap(f"Stopping rule: {rule.describe(protocol.analysis.mcid)}"))
    design = design_characteristics(rule)
    if design is not None:
        say(_wrap(design))

    # The helper's view: the demo needs the true arms to simulate the patient.
    arms = open_allocation(trial_dir, DEMO_PASSPHRASE).arms
    rows, truth = simulate_diary(protocol, arms, seed)
    say(
        _wrap(
            f"2. the simulated patient (true effect {truth['effect']:+.1f} points on "
            "magnesium) records the diary; the helper takes each interim look the day after "
            "its block ends:",
            first="",
        )
    )
    diary_csv = out / DIARY_CSV
    recorded: list[dict[str, str]] = []
    looks = []
    done = 0
    for k in rule.looks:
        end = block_end(protocol, k)
        new = [r for r in rows[len(recorded) :] if r["date"] <= end.isoformat()]
        _record_days(trial_dir, protocol, new, diary_csv)
        recorded += new
        look = _take_look(trial_dir, end + timedelta(days=1))
        looks.append(look)
        blocks = f"block {k}" if k == done + 1 else f"blocks {done + 1}-{k}"
        say(
            f"   {blocks}: {len(new)} days recorded; look {look.look} on "
            f"{end + timedelta(days=1)} (blocks 1-{k}): {look.decision}"
        )
        done = k
        if look.stops:
            break
    stop = looks[-1]
    ended = block_end(protocol, stop.after_block)
    saved = (protocol.end - ended).days
    if stop.after_block < rule.max_blocks:
        say(
            _wrap(
                f"3. stopped at look {stop.look} after block {stop.after_block} "
                f"({stop.decision}): the trial ended on {ended} instead of {protocol.end}, "
                f"{saved} days (about {saved / 7:.0f} weeks) sooner than the fixed "
                f"{rule.max_blocks}-block design.",
                first="",
            )
        )
    else:
        say(
            _wrap(
                f"3. no look stopped the trial early: it ran its {rule.max_blocks} blocks to "
                f"{protocol.end}, as long as the fixed design ({stop.decision} at the last "
                "look).",
                first="",
            )
        )
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(recorded)
    write_output(diary_csv, text.getvalue().encode("utf-8"), what="simulated diary")
    say(f"   Diary: the {len(recorded)} days the patient recorded -> {diary_csv}")

    _, unblinding = unblind_trial(trial_dir, DEMO_PASSPHRASE, today=ended + timedelta(days=1))
    say(
        _wrap(
            f"4. unblind: allocation {' '.join(arms)} verified against the commitment "
            f"(reason: {unblinding.reason or 'the trial is over'}); unblinding code "
            f"{unblinding.code} (for the clinician)",
            first="",
        )
    )

    mcmc = {"chains": 2} if engine == "mcmc" else {}
    result = analyze_trial(trial_dir, engine=engine, seed=seed, prior_sensitivity=True, **mcmc)
    s = result.summary
    say(
        _wrap(
            f"5. analyze ({engine}, blocks 1-{result.sequential.blocks_analysed}): effect "
            f"{signed(s.mean)} points (95% interval {signed(s.hdi_low)} to {signed(s.hdi_high)}), "
            f"P(benefit) {s.p_benefit:.2f}, P(benefit >= {s.mcid:g}) {s.p_mcid:.2f}",
            first="",
        )
    )
    say(f"   {result.verdict.criterion.line()}")
    say(_wrap(f"Verdict ({result.verdict.tier}): {result.verdict.headline}"))
    if result.sequential.stopped_early:
        bias = result.sequential.simulated_bias()
        tends = "overestimate" if stop.decision == STOP_EFFICACY else "underestimate"
        say(
            _wrap(
                f"Stopping early tends to {tends} the effect. "
                + (
                    bias.sentence()
                    if bias is not None
                    else "The design's simulation is not on record, so by how much is not known."
                )
            )
        )
    html = trial_report(trial_dir, result=result, engine=engine, seed=seed, **mcmc)
    report = write_report(out / REPORT_FILE, html)
    say(f"6. report (with its 'Interim looks' section) -> {report}")
    say(f"7. patient's page -> {_patient_page(trial_dir, result, out)}")
    return SequentialDemoResult(
        out, trial_dir, report, result, truth, tuple(arms), tuple(looks), ended
    )


def _patient_page(trial_dir: Path, result: Any, out: Path) -> Path:
    """Write the patient's page of the demo's analysis beside the report."""
    from nof1.report import build_patient_page, write_report
    from nof1.trial.handle import open_trial
    from nof1.trial.integrity import verify_trial

    trial = open_trial(trial_dir)
    html = build_patient_page(result, protocol=trial.protocol, integrity=verify_trial(trial))
    return write_report(out / PATIENT_FILE, html)


def _wrap(text: str, first: str = "   ") -> str:
    """A step's text filled to 88 columns, its later lines indented under the first."""
    return textwrap.fill(text, 88, initial_indent=first, subsequent_indent="   ")
