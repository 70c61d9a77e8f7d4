"""Interim looks of a sequential trial (``nof1 interim``): the decision, and nothing else.

A sequential protocol pre-registers looks after some blocks (``nof1.plan.stopping``). At a look
the helper or the clinician, never the patient alone, opens the sealed allocation with the
passphrase, *in memory only*; the pre-registered analysis is fitted to the blocks complete
so far, with the true arms, and the look's boundaries turn P(benefit >= MCID) into
CONTINUE, STOP: efficacy or STOP: futility. Only that decision leaves this module: it is
printed and recorded in the diary's hash chain (``Diary.record_look``); the probability,
the effect and the arms are dropped with the allocation. The trial stays blinded.

Every check that needs no passphrase comes first (the schedule, the folder's integrity),
and changes no file. A look the data cannot support is refused on facts the blinded diary
already shows, scores per kit (``kit_problem``), before the allocation is used, so a
refusal tells nothing about which kit held what; it is recorded, signed, so it cannot be
retried without a trace. Once the allocation is used the only outcomes are the decisions.
Each record is signed with the helper's key over the diary's chain head
(``nof1.plan.signing``), and its code goes to the clinician.

Why the exact engine whatever ``analysis.engine`` says: a look must be reproducible. The
exact engine integrates the posterior (a grid over rho, and tau under the onset model)
rather than sampling it, so the same diary gives the same P(benefit >= MCID) to the last
digit, and a repeated look the same decision. NUTS draws would move P by Monte Carlo
error, so that a repeated look near a boundary could flip, and would take minutes. Both
engines fit the same Gaussian AR(1) model and agree (``tests/test_personal.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from nof1.analysis.models.exact import fit_exact
from nof1.analysis.series import series_from_trial, trial_table, washout_mode
from nof1.analysis.summary import summarize
from nof1.diary.records import Look
from nof1.errors import BlindingError, DataError, IntegrityError, ProtocolError
from nof1.plan.calendar import block_end
from nof1.plan.protocol import PROTOCOL_FILE, Protocol
from nof1.plan.stopping import CONTINUE, SequentialRule
from nof1.trial.handle import Trial, as_trial
from nof1.trial.integrity import check_trial
from nof1.trial.status import blocks_complete, look_opens


@dataclass(frozen=True)
class LookPoint:
    """A look that is due: checked against the schedule, no passphrase needed yet.

    Parameters
    ----------
    protocol : the trial's protocol (its ``sequential`` rule is set).
    look : the look's number, from 1 (``rule.looks`` index + 1).
    after_block : the blocks complete, which the look analyses (1..after_block).
    """

    protocol: Protocol = field(repr=False)
    look: int
    after_block: int

    @property
    def rule(self) -> SequentialRule:
        rule = self.protocol.sequential
        if rule is None:  # a LookPoint is only made for a sequential protocol
            raise ProtocolError("this trial has no pre-registered interim looks")
        return rule

    @property
    def of(self) -> int:
        """How many looks the rule has."""
        return len(self.rule.looks)

    @property
    def next_block(self) -> int | None:
        """The block after which the following look falls; None at the last look."""
        return self.rule.looks[self.look] if self.look < self.of else None

    @property
    def next_on(self) -> date | None:
        """The first day of the following look; None at the last look."""
        nxt = self.next_block
        return None if nxt is None else look_opens(self.protocol, nxt)


@dataclass(frozen=True)
class LookResult:
    """What a look gives away: where it was and its decision. Never a probability or arm.

    Parameters
    ----------
    point : the look taken.
    record : the look as recorded in the diary (look, block, decision, time).
    """

    point: LookPoint
    record: Look

    @property
    def decision(self) -> str:
        return self.record.decision


def _blocks(ks: tuple[int, ...]) -> str:
    words = [str(k) for k in ks]
    if len(words) == 1:
        return f"block {words[0]}"
    return f"blocks {', '.join(words[:-1])} and {words[-1]}"


def _complete(n: int) -> str:
    if n == 0:
        return "no block is complete"
    return f"{n} block{'s are' if n > 1 else ' is'} complete"


def due_look(trial: Trial | str | Path, today: date | None = None) -> LookPoint:
    """The look due on ``today``, after every check that needs no passphrase.

    In this order: the trial folder exists; its protocol pre-registers interim looks; the
    folder matches its commitments (``nof1.trial.integrity``); the trial is still blinded; no
    earlier look said STOP; and a look is due: the blocks complete on ``today`` (a block
    is complete once the last day of its second period is over) are one of the rule's
    looks. A look may be taken from the day after its block until the next block is
    complete; a look whose time has passed is not taken any more.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    today : the day of the look; None for today.

    Returns
    -------
    LookPoint

    Raises
    ------
    ProtocolError : no trial folder, no ``[sequential]`` rule, or no look due today.
    IntegrityError : the folder does not match its commitments.
    BlindingError : the trial is already unblinded, or an earlier look said STOP.
    """
    trial = as_trial(trial)
    today = today or date.today()
    protocol = trial.protocol
    rule = protocol.sequential
    if rule is None:
        raise ProtocolError(
            f"this trial has no pre-registered interim looks (its {PROTOCOL_FILE} has no "
            "[sequential] section): it is analysed once, at the end"
        )
    check = check_trial(trial)
    if not check.ok:
        raise IntegrityError(f"nof1 will not look at this trial: {'; '.join(check.problems)}")
    if check.unblinding is not None:
        raise BlindingError(
            f"the trial was unblinded on {check.unblinding.unblinded_at:%Y-%m-%d}: interim "
            "looks are for a blinded trial; analyse it with `nof1 analyze`"
        )
    done = blocks_complete(protocol, today)
    if trial.diary is not None:
        stop = trial.signed.stopped  # a STOP nof1 may act on: signed by the helper
        if stop is not None and stop.after_block < done:
            raise BlindingError(
                f"the trial stopped at look {stop.look} ({stop.decision}, after block "
                f"{stop.after_block}): unblind it with `nof1 unblind`"
            )
    index = rule.look_index(done)
    if index is None:
        ahead = [k for k in rule.looks if k > done]  # never empty: the last look is the end
        message = (
            f"no look is due: {_complete(done)}; looks are after {_blocks(rule.looks)}, the "
            f"next on {look_opens(protocol, ahead[0])}"
        )
        missed = [k for k in rule.looks if k < done]
        if missed:
            message += (
                f" (the look after block {missed[-1]} could be taken until "
                f"{block_end(protocol, missed[-1] + 1)})"
            )
        raise ProtocolError(message)
    return LookPoint(protocol, index + 1, done)


def interim_look(
    trial: Trial | str | Path,
    passphrase: str,
    today: date | None = None,
    at: datetime | None = None,
) -> LookResult:
    """Take the interim look due today and record its decision in the diary.

    The sealed allocation is opened in memory (never written anywhere); the primary
    outcome's series of blocks 1..k (the current diary entries, with the true arms, washout
    days as the pre-registered analysis takes them) is fitted with the pre-registered
    prior, trend, AR(1) and onset terms by the exact engine, whatever ``analysis.engine``
    says (deterministic: see the module's notes), and the look's boundaries give the
    decision. A repeated look at the same point gives the same decision and is recorded
    again.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    passphrase : the helper's passphrase (ignored for an open-label trial).
    today : the day of the look; None for today.
    at : the time recorded with the look (UTC); None: now. A caller that runs the trial on
        a simulated clock (``nof1 demo --sequential``) gives a time on ``today``, so that
        the look is not recorded as run months after its block.

    Returns
    -------
    LookResult : the look and its decision, as recorded; nothing else.

    Raises
    ------
    ProtocolError, IntegrityError, BlindingError : as in ``due_look``.
    BlindingError : a wrong passphrase or an altered sealed file (nothing recorded).
    DataError : ``at`` is not on ``today``; too few scores per kit in the blocks so far (``kit_problem``: facts the
        blinded diary shows); the refused look is recorded, signed.

    Example
    -------
    >>> interim_look("mytrial", passphrase).decision  # doctest: +SKIP
    'CONTINUE'
    """
    trial = as_trial(trial)
    if at is not None and at.astimezone(UTC).date() != (today or date.today()):
        raise DataError(f"the look's time {at.isoformat()} is not on the day of the look")
    point = due_look(trial, today)
    protocol, pre = point.protocol, point.protocol.analysis
    problem = kit_problem(trial, point)
    # Opened before anything is written, so a wrong passphrase leaves no trace; a refused
    # look is then signed and recorded too, so it cannot be retried without a trace.
    secrets = trial.open_secrets(passphrase)
    if problem is not None:
        with trial.open_diary(create=False) as diary:
            diary.record_refused_look(
                point.look, point.after_block, problem, signing_key=secrets.signing_key, at=at
            )
        raise DataError(f"{problem}: the refused look was recorded")
    series = series_from_trial(
        trial, protocol.primary.name, washout=washout_mode(pre.exclude_washout, pre.carryover),
        allocation=secrets.allocation,
    )  # fmt: skip
    series = series.subset(series.block <= point.after_block)
    try:
        fit = fit_exact(
            series, pre.prior, ar1=pre.ar1, trend=pre.trend, carryover=pre.carryover, seed=0
        )
        p_mcid = summarize(fit, series, mcid=pre.mcid, threshold=pre.threshold).p_mcid
        decision = point.rule.decide(point.look - 1, p_mcid)
    except DataError:
        # Unreachable after the kit checks, but a failure now would depend on the arms (and
        # so tell them): the only outcomes after decryption are decisions, and data that
        # cannot be fitted give no reason to stop.
        decision = CONTINUE
    with trial.open_diary(create=False) as diary:
        record = diary.record_look(
            point.look, point.after_block, decision, signing_key=secrets.signing_key, at=at
        )
    return LookResult(point, record)


#: Scored days each kit of the blocks looked at needs, so that the pre-registered model can
#: be fitted whatever the allocation (both treatments scored in every block).
MIN_KIT_SCORES = 2


def kit_problem(trial: Trial, point: LookPoint) -> str | None:
    """Why the look cannot be taken, in facts the blinded diary shows (scores per kit), or
    None. Checked before the allocation is opened, so a refusal tells nothing about it.

    Each kit of blocks 1..k needs ``MIN_KIT_SCORES`` scores on the days the pre-registered
    analysis uses (washout days left out), and the scores must not all be equal. Then both
    treatments have scores in every block, whatever the allocation, and the fit cannot
    fail in a way that depends on it.
    """
    protocol, pre = point.protocol, point.protocol.analysis
    outcome = protocol.primary.name
    table = trial_table(trial)  # no allocation: the arms stay hidden
    used = table[~table["run_in"] & (table["block"] <= point.after_block)]
    if washout_mode(pre.exclude_washout, pre.carryover) != "include":
        used = used[~used["washout"]]
    scored = used[outcome].notna()
    short = [
        q.kit
        for q in protocol.periods
        if q.block <= point.after_block and scored[used["period"] == q.index].sum() < MIN_KIT_SCORES
    ]
    if short:
        kits = ", ".join(short)
        return (
            f"too few {outcome} scores in blocks 1-{point.after_block} to look: {kits} "
            f"{'has' if len(short) == 1 else 'have'} fewer than {MIN_KIT_SCORES} scored days "
            f"(each kit needs at least {MIN_KIT_SCORES}, washout days not counted)"
        )
    if used.loc[scored, outcome].nunique() < 2:
        return (
            f"{outcome} is the same on every scored day of blocks 1-{point.after_block}: the "
            "pre-registered model needs scores that vary"
        )
    return None
