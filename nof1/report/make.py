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


def trial_report(trial_dir: str | Path, *, result: Any = None, **options: Any) -> str:
    """The clinician's report of an unblinded (or open-label) trial folder, as HTML.

    Parameters
    ----------
    trial_dir : the trial folder.
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
    from nof1.diary.store import has_diary, open_diary
    from nof1.plan.protocol import load_protocol
    from nof1.plan.sealing import Allocation
    from nof1.trial.integrity import check_trial
    from nof1.trial.monitoring import read_monitoring

    trial_dir = Path(trial_dir)
    protocol = load_protocol(trial_dir)
    # Checked before any analysis, and without creating a diary that does not exist. A
    # mismatch does not stop the report: it is what the report must show, in red.
    integrity = check_trial(trial_dir)
    unblinding = integrity.unblinding
    allocation = None if unblinding is None else Allocation(unblinding.arms, unblinding.salt)
    recall: set = set()
    if has_diary(trial_dir):
        with open_diary(trial_dir, protocol, readonly=True) as diary:
            recall = diary.recall_days()
    if protocol.blinded and allocation is None:
        raise BlindingError("the trial is still blinded: run `nof1 unblind` first")
    options = {
        k: v for k, v in options.items() if k not in ("outcome", "prior_sensitivity", "verify")
    }
    if result is None:
        result = analyze_trial(trial_dir, prior_sensitivity=True, verify=False, **options)
    secondary = []
    for o in protocol.outcomes:
        if o.primary or o.kind != "scale" or o.role != "efficacy":
            continue
        try:
            r2 = analyze_trial(trial_dir, outcome=o.name, verify=False, **options)
        except (DataError, ModelError) as exc:
            note = f"not analysed: {exc}"
            secondary.append(Secondary(o.name, o.label, o.kind, o.role, note=note))
            continue
        secondary.append(Secondary(o.name, o.label, o.kind, o.role, result=r2))
    without: Any = None
    if integrity.deviations:
        # The same analysis on the diary as it stood at unblinding.
        try:
            without = analyze_trial(
                trial_dir, verify=False, without_deviations=True, **options
            ).summary
        except (DataError, ModelError) as exc:
            without = f"cannot be analysed: {exc}"
    table = trial_table(trial_dir)
    monitoring = read_monitoring(trial_dir, protocol)
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
    )


def csv_report(path: str | Path, outcome: str, treatment: str, **arguments: Any) -> str:
    """The report of one outcome read from any CSV file (no protocol: fewer sections).

    Parameters
    ----------
    path, outcome, treatment, **arguments : as in ``nof1.analysis.analyze.analyze_csv``: the CSV
        reading options of ``nof1.analysis.csv_input.series_from_csv`` (active, time, block,
        lower_is_better, low, high) and the options of ``nof1.analysis.analyze.analyze``; None
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
