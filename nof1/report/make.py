"""From a trial folder or a CSV file to the report: analyse every outcome, then render.

These are the functions ``nof1 report`` calls. The analysis follows the protocol's
pre-registered settings (prior, MCID, engine, AR(1), trend, washout) unless the caller
overrides them, and always adds the prior-sensitivity fits the report shows side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nof1.errors import BlindingError, DataError, ModelError
from nof1.report.build import CommitmentCheck, Secondary, Source, build_report


def _commitment(protocol: Any, allocation: Any) -> CommitmentCheck:
    from nof1.plan.sealing import verify_allocation

    if not protocol.blinded:
        return CommitmentCheck(
            "open-label",
            "Open label: the allocation is written in the public protocol, there is no "
            "sealed allocation to verify.",
        )
    try:
        verify_allocation(protocol, allocation)
    except BlindingError as exc:
        return CommitmentCheck("failed", str(exc))
    return CommitmentCheck("verified", "the revealed allocation matches the commitment")


def trial_report(trial: Any, *, result: Any = None, **options: Any) -> str:
    """The clinician's report of an unblinded (or open-label) trial, as HTML.

    The trial is read once (``nof1.trial.handle.Trial``): its check, every analysis and
    the daily table all come from that one reading.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    result : an ``AnalysisResult`` of the primary outcome already at hand (from
        ``nof1.analysis.analyze.analyze_trial``, ideally with ``prior_sensitivity=True``), so a slow
        MCMC fit is not repeated; None to analyse here.
    **options : keyword arguments of ``nof1.analysis.analyze.analyze`` (engine, prior, mcid, seed,
        draws, ...); None or absent means as pre-registered in the protocol. The report
        flags any deviation from the pre-registered analysis.

    Returns
    -------
    str : the HTML document (``write_report`` writes it).

    Raises
    ------
    ProtocolError : no trial in the folder.
    BlindingError : the trial is still blinded.
    DataError, ModelError : the primary outcome cannot be analysed as asked.

    Example
    -------
    >>> write_report("report.html", trial_report("mytrial"))  # doctest: +SKIP
    """
    from nof1.analysis.analyze import analyze_trial
    from nof1.analysis.series import trial_table
    from nof1.plan.sealing import Allocation
    from nof1.trial.handle import as_trial
    from nof1.trial.integrity import check_trial
    from nof1.trial.monitoring import read_monitoring

    trial = as_trial(trial)
    protocol = trial.protocol
    # Checked before any analysis. A mismatch does not stop the report: it is what the
    # report must show, in red.
    integrity = check_trial(trial)
    unblinding = integrity.unblinding
    allocation = None if unblinding is None else Allocation(unblinding.arms, unblinding.salt)
    recall = set() if trial.diary is None else trial.diary.recall_days()
    late = () if trial.diary is None else tuple(trial.diary.late_entries())
    if protocol.blinded and allocation is None:
        raise BlindingError("the trial is still blinded: run `nof1 unblind` first")
    options = {
        k: v for k, v in options.items() if k not in ("outcome", "prior_sensitivity", "verify")
    }
    if result is None:
        result = analyze_trial(trial, prior_sensitivity=True, verify=False, **options)
    secondary = []
    for o in protocol.outcomes:
        if o.primary or o.kind != "scale" or o.role != "efficacy":
            continue
        try:
            r2 = analyze_trial(trial, outcome=o.name, verify=False, **options)
        except (DataError, ModelError) as exc:
            note = f"not analysed: {exc}"
            secondary.append(Secondary(o.name, o.label, o.kind, o.role, note=note))
            continue
        secondary.append(Secondary(o.name, o.label, o.kind, o.role, result=r2))
    without: Any = None
    if integrity.deviations:
        # The same analysis on the diary as it stood at unblinding.
        try:
            without = analyze_trial(trial, verify=False, without_deviations=True, **options).summary
        except (DataError, ModelError) as exc:
            without = f"cannot be analysed: {exc}"
    without_late: Any = None
    if late:
        # The same analysis without the entries made more than RECALL_DAYS after their day.
        try:
            without_late = analyze_trial(trial, verify=False, without_late=True, **options).summary
        except (DataError, ModelError) as exc:
            without_late = f"cannot be analysed: {exc}"
    table = trial_table(trial)
    monitoring = read_monitoring(trial)
    if monitoring is not None:
        # A trial stopped at an interim look: its later blocks were never run.
        table = table[monitoring.analysed(table["block"])]
    return build_report(
        result,
        protocol=protocol,
        table=table,
        sequential=monitoring,
        commitment=_commitment(protocol, allocation),
        secondary=secondary,
        unblinding=unblinding,
        recall_days=frozenset(recall),
        integrity=integrity,
        without_deviations=without,
        late_entries=late,
        without_late=without_late,
    )


def csv_report(path: str | Path, outcome: str, treatment: str, **arguments: Any) -> str:
    """The report of one outcome read from any CSV file (no protocol: fewer sections).

    Parameters
    ----------
    path, outcome, treatment, **arguments : as in ``nof1.analysis.analyze.analyze_csv``: the CSV
        reading options of ``nof1.analysis.csv_input.series_from_csv`` (active, time, block,
        lower_is_better, low, high, date_format) and the options of ``nof1.analysis.analyze.analyze``; None
        means the default. The report always compares the three priors.

    Returns
    -------
    str : the HTML document.

    Raises
    ------
    DataError : unreadable file, missing columns, bad values, or data that cannot support
        an effect estimate. ModelError : bad model options.
    """
    from nof1.analysis.analyze import analyze_csv

    arguments = {k: v for k, v in arguments.items() if k != "prior_sensitivity"}
    result = analyze_csv(path, outcome, treatment, prior_sensitivity=True, **arguments)
    active = arguments.get("active")
    source = Source(
        description=f"{outcome} by {treatment}, from a CSV file",
        arm_names={
            "A": f"{treatment} = {active}" if active is not None else "active",
            "B": "control",
        },
        outcome_label=outcome,
    )
    return build_report(result, source=source)
