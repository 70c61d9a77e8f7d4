"""What the interim looks of a sequential trial did, for the final analysis and the report.

A sequential protocol (``nof1.plan.stopping``) looks at its data after some blocks; each
look is a record in the diary holding only its decision (``nof1.diary.records.Look``). Once
the trial is over, ``read_monitoring`` gathers the rule, every look, where the trial stopped
and the blocks the final analysis uses. A trial stopped early was never run past its stopping
point: the blocks after the last one with a score are not missing days, so the analysis
leaves them out (``Monitoring.blocks_analysed``).

Stopping early for benefit tends to overestimate the effect, and stopping for futility to
underestimate it: a trial stops when its data so far happen to look most extreme.
``Monitoring.simulated_bias`` gives the size of that bias at the stopping look as the
design's simulation found it (``SequentialRule.simulated``, filled by
``nof1 design --sequential``), when it is on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nof1.diary.records import Look, first_stop
from nof1.plan.calendar import block_end
from nof1.plan.stopping import STOP_EFFICACY, SequentialRule, rule_to_toml
from nof1.trial.handle import Trial, as_trial


@dataclass(frozen=True)
class SimulatedBias:
    """How far the design's simulated trials that stopped at one look were off, on average.

    ``overestimate`` is in outcome units in the direction of benefit: positive when those
    trials made the benefit look larger than the truth, negative when smaller. ``stopped``
    of ``sims`` simulated trials (under ``effect``, the design's assumed true effect)
    stopped at that look for ``reason`` ("efficacy" or "futility").
    """

    reason: str
    overestimate: float
    stopped: int
    sims: int
    effect: float | None

    def sentence(self, unit: str = "points") -> str:
        """The bias in one sentence, as the report and ``nof1 analyze`` say it."""
        if self.stopped == 0:
            return (
                f"In the design's simulation no trial stopped at this look for {self.reason} "
                f"(0 of {self.sims:,}), so the bias at this look is not known."
            )
        word = "overestimated" if self.overestimate >= 0 else "underestimated"
        truth = "" if self.effect is None else f", true effect {self.effect:+g} {unit}"
        return (
            f"In the design's simulation, trials that stopped here for {self.reason} {word} "
            f"the benefit by {abs(self.overestimate):.2f} {unit} on average "
            f"({self.stopped:,} of {self.sims:,} simulated trials{truth})."
        )


@dataclass(frozen=True)
class Monitoring:
    """The interim looks of a finished sequential trial.

    Parameters
    ----------
    rule : the pre-registered stopping rule.
    looks : every look recorded, oldest first; a repeated look appears each time.
    blocks_analysed : blocks 1 to this one are in the final analysis: all of them when the
        trial ran to its end, else the blocks up to the last one with a score (never
        fewer than the stopping look's).
    block_ends : the last day of each block (1-based block b at index b - 1).
    lower_is_better : the primary outcome's direction (to say "overestimated the benefit").
    """

    rule: SequentialRule
    looks: tuple[Look, ...]
    blocks_analysed: int
    block_ends: tuple[date, ...]
    lower_is_better: bool = True

    @property
    def stopped(self) -> Look | None:
        """The first look that said STOP, or None (no STOP recorded)."""
        return first_stop(self.looks)

    @property
    def stopped_early(self) -> bool:
        """A look before the last block said STOP: the trial ran fewer blocks than planned."""
        stop = self.stopped
        return stop is not None and stop.after_block < self.rule.max_blocks

    def analysed(self, blocks: Any) -> np.ndarray:
        """Mask of the rows the final analysis keeps, given each row's block (0 or missing
        on run-in days, which are kept): the blocks after ``blocks_analysed`` were not run."""
        b = pd.Series(blocks).fillna(0).to_numpy(dtype=int)
        return b <= self.blocks_analysed

    def repeats(self) -> tuple[bool, ...]:
        """Per recorded look: True when it repeats an earlier look at the same point."""
        seen: set[int] = set()
        out = []
        for look in self.looks:
            out.append(look.look in seen)
            seen.add(look.look)
        return tuple(out)

    def missed(self) -> tuple[int, ...]:
        """Scheduled look points (blocks) up to the stop, or to the end, with no look recorded."""
        stop = self.stopped
        last = stop.after_block if stop is not None else self.rule.max_blocks
        done = {look.after_block for look in self.looks}
        return tuple(b for b in self.rule.looks if b <= last and b not in done)

    def simulated_bias(self) -> SimulatedBias | None:
        """The design's simulated bias at the look where the trial stopped early.

        None when the trial did not stop early, or when the design's simulation is not on
        record in the protocol (a hand-made rule) or lacks this look.
        """
        stop = self.stopped
        if stop is None or not self.stopped_early:
            return None
        reason = "efficacy" if stop.decision == STOP_EFFICACY else "futility"
        sim = self.rule.simulated
        k = stop.look - 1
        counts, biases = sim.get(f"stops_{reason}"), sim.get(f"bias_{reason}")
        sims = sim.get("sims")
        if not (isinstance(counts, list) and isinstance(biases, list) and isinstance(sims, int)):
            return None
        if not (0 <= k < len(counts) and k < len(biases)):
            return None
        bias = float(biases[k])  # posterior mean minus the true effect
        effect = sim.get("effect")
        return SimulatedBias(
            reason=reason,
            overestimate=-bias if self.lower_is_better else bias,
            stopped=int(counts[k]),
            sims=sims,
            effect=None if effect is None else float(effect),
        )

    def summary_lines(self) -> list[str]:
        """One or two lines for ``nof1 analyze``: the looks and where the trial stopped."""
        looks = "; ".join(
            f"look {x.look} after block {x.after_block}{' (repeated)' if again else ''}: "
            f"{x.decision}"
            for x, again in zip(self.looks, self.repeats(), strict=True)
        )
        n = len(self.looks)
        first = f"Sequential trial: {n} interim look{'' if n == 1 else 's'} recorded" + (
            f" ({looks})." if looks else "."
        )
        stop = self.stopped
        if stop is None:
            second = (
                f"No look said STOP: the trial ran its {self.rule.max_blocks} blocks; this "
                "analysis uses all of them."
            )
        elif not self.stopped_early:
            second = f"It ran to its end ({self.rule.max_blocks} blocks); this analysis uses all of them."
        else:
            second = (
                f"Stopped early at look {stop.look} after block {stop.after_block} of "
                f"{self.rule.max_blocks} ({stop.decision}); this analysis uses blocks 1-"
                f"{self.blocks_analysed}. Stopping early tends to "
                f"{'overestimate' if stop.decision == STOP_EFFICACY else 'underestimate'} the "
                "effect: `nof1 report` shows by how much in the design's simulation."
            )
        return [first, second]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``rule`` (the ``[sequential]`` table and its description), ``looks``,
        ``stopped_at`` (the first STOP look, or None), ``stopped_early``,
        ``blocks_analysed``, ``max_blocks`` and ``simulated_bias`` (or None)."""

        def look(x: Look) -> dict[str, Any]:
            return {
                "look": x.look,
                "after_block": x.after_block,
                "decision": x.decision,
                "at": x.at.isoformat(),
            }

        bias = self.simulated_bias()
        stop = self.stopped
        return {
            "rule": rule_to_toml(self.rule),
            "looks": [look(x) for x in self.looks],
            "stopped_at": None if stop is None else look(stop),
            "stopped_early": self.stopped_early,
            "blocks_analysed": self.blocks_analysed,
            "max_blocks": self.rule.max_blocks,
            "simulated_bias": None
            if bias is None
            else {
                "reason": bias.reason,
                "overestimate": bias.overestimate,
                "stopped": bias.stopped,
                "sims": bias.sims,
                "effect": bias.effect,
            },
        }


def read_monitoring(trial: Trial | str | Path) -> Monitoring | None:
    """The interim looks of a trial (``open_trial``, or its folder), or None for a trial
    without ``[sequential]``.

    Reads the diary only (looks and scores); never the allocation, so it reveals nothing
    the looks themselves do not.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : the diary cannot be read.

    Example
    -------
    >>> read_monitoring("mytrial").stopped  # doctest: +SKIP
    Look(look=2, after_block=3, decision='STOP: efficacy', ...)
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    rule = protocol.sequential
    if rule is None:
        return None
    looks: tuple[Look, ...] = ()
    scored = 0
    if trial.diary is not None:
        looks = trial.signed.looks  # only looks nof1 may act on: signed by the helper
        for r in trial.diary.current_entries():
            info = protocol.day_info(r.entry.date)
            if info.period is not None and not info.washout and r.entry.values:
                scored = max(scored, info.period.block)
    block_ends = tuple(block_end(protocol, b) for b in range(1, protocol.blocks + 1))
    stop = first_stop(looks)
    blocks = rule.max_blocks
    if stop is not None and stop.after_block < rule.max_blocks:
        blocks = min(rule.max_blocks, max(stop.after_block, scored))
    return Monitoring(rule, looks, blocks, block_ends, protocol.primary.lower_is_better)
