"""Pre-registered interim looks: the stopping rule of a sequential trial (``[sequential]``).

A sequential protocol looks at the data after some completed blocks. At look k the
pre-registered analysis, fitted to blocks 1..k, gives P(benefit >= MCID), and

    P > efficacy[k]               -> STOP: efficacy
    P < futility[k]  (not last)   -> STOP: futility
    otherwise                     -> CONTINUE   (at the last look: STOP: futility)

The last look is after the protocol's last block, so the trial never runs longer than its
schedule. The rule is chosen before any data exist (``nof1 design --sequential`` simulates
and calibrates it), written into ``protocol.toml`` and covered by the commitment and the
fingerprint like every other section, so it cannot be changed once the trial has begun.

This module holds only the rule, its checks and its TOML form: the lowest stage that uses
them (the protocol reads and writes it). Simulation lives in the design stage, the looks
themselves in ``nof1.interim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nof1.errors import ProtocolError

CONTINUE = "CONTINUE"
STOP_EFFICACY = "STOP: efficacy"
STOP_FUTILITY = "STOP: futility"
#: Every decision a look can give; the only thing a look ever reveals.
DECISIONS = (CONTINUE, STOP_EFFICACY, STOP_FUTILITY)
#: Boundary shapes on the posterior-probability scale (``nof1 design --sequential``).
SHAPES = ("constant", "obrien-fleming", "haybittle-peto", "custom")
#: The false-positive rate over all looks that calibration keeps to by default.
DEFAULT_FALSE_POSITIVE_TARGET = 0.05

_KEYS = {"looks", "efficacy", "futility", "shape", "false_positive_target", "simulated"}


@dataclass(frozen=True)
class SequentialRule:
    """Looks after the blocks in ``looks``, with their efficacy and futility boundaries.

    Parameters
    ----------
    looks : blocks after which the data are looked at, increasing; the last is the
        protocol's last block (the maximum number of blocks).
    efficacy : u_k per look: STOP: efficacy when P(benefit >= MCID) > u_k.
    futility : l_k per look but the last: STOP: futility when P(benefit >= MCID) < l_k
        (0 = never stop for futility at that look). At the last look everything short of
        efficacy is STOP: futility.
    shape : how the boundaries were made (``SHAPES``); ``custom`` when given by hand.
    false_positive_target : the overall false-positive rate the boundaries were calibrated
        to keep (futility counted as non-binding: a clinician may continue anyway).
    simulated : the design's operating characteristics at pre-registration (sims, seed,
        scenario, false-positive rate, power, expected days, bias at each stopping look),
        kept so the final report can show them; plain TOML values only.
    """

    looks: tuple[int, ...]
    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    shape: str = "custom"
    false_positive_target: float = DEFAULT_FALSE_POSITIVE_TARGET
    simulated: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_rule(self.looks, self.efficacy, self.futility, self.shape, self.false_positive_target)

    @property
    def max_blocks(self) -> int:
        return self.looks[-1]

    def look_index(self, blocks_done: int) -> int | None:
        """Index of the look after ``blocks_done`` completed blocks, None when none is due."""
        return self.looks.index(blocks_done) if blocks_done in self.looks else None

    def decide(self, look: int, p_benefit: float) -> str:
        """The decision at look index ``look`` given P(benefit >= MCID).

        Example
        -------
        >>> r = SequentialRule((2, 3, 4), (0.8, 0.8, 0.8), (0.3, 0.5))
        >>> r.decide(0, 0.9), r.decide(0, 0.5), r.decide(1, 0.2), r.decide(2, 0.7)
        ('STOP: efficacy', 'CONTINUE', 'STOP: futility', 'STOP: futility')
        """
        if not 0 <= look < len(self.looks):
            raise ProtocolError(f"look {look} is not one of this rule's {len(self.looks)} looks")
        if p_benefit > self.efficacy[look]:
            return STOP_EFFICACY
        if look == len(self.looks) - 1 or p_benefit < self.futility[look]:
            return STOP_FUTILITY
        return CONTINUE

    def describe(self, mcid: float) -> str:
        """The rule in one paragraph of words, for the report and ``protocol show``."""
        looks = ", ".join(map(str, self.looks[:-1]))
        lines = [
            f"Looks after blocks {looks} and at the end (block {self.max_blocks}). At each "
            f"look: STOP: efficacy when P(benefit >= {mcid:g}) is above "
            f"{_join(self.efficacy)} (look by look)"
        ]
        if any(f > 0 for f in self.futility):
            lines.append(
                f"; STOP: futility when it is below {_join(self.futility)} at the looks before "
                "the last"
            )
        lines.append("; otherwise CONTINUE.")
        return "".join(lines)


def _join(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _probability(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ProtocolError(f"{what} must be a probability, got {value!r}")
    return float(value)


def check_rule(
    looks: tuple[int, ...],
    efficacy: tuple[float, ...],
    futility: tuple[float, ...],
    shape: str = "custom",
    false_positive_target: float = DEFAULT_FALSE_POSITIVE_TARGET,
    blocks: int | None = None,
) -> None:
    """Refuse a rule that cannot be run, naming the value.

    Raises
    ------
    ProtocolError : looks not increasing whole numbers from 1, boundaries of the wrong
        length or outside (0, 1), a futility boundary not below its efficacy boundary, an
        unknown shape, or (with ``blocks``) a last look other than the last block.
    """
    if not looks:
        raise ProtocolError("a sequential rule needs at least one look")
    for k in looks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ProtocolError(f"looks must be block numbers from 1, got {k!r}")
    if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ProtocolError(f"looks must increase, got {list(looks)}")
    if blocks is not None and looks[-1] != blocks:
        raise ProtocolError(
            f"the last look must be after the last block ({blocks}), got looks {list(looks)}"
        )
    if len(efficacy) != len(looks):
        raise ProtocolError(
            f"{len(looks)} looks need {len(looks)} efficacy boundaries, got {len(efficacy)}"
        )
    if len(futility) != len(looks) - 1:
        raise ProtocolError(
            f"{len(looks)} looks need {len(looks) - 1} futility boundaries (none at the last "
            f"look), got {len(futility)}"
        )
    for u in efficacy:
        if not 0.5 <= _probability(u, "an efficacy boundary") < 1:
            raise ProtocolError(f"efficacy boundaries must be in 0.5-1, got {u:g}")
    for u, low in zip(efficacy, futility, strict=False):
        if not 0 <= _probability(low, "a futility boundary") < u:
            raise ProtocolError(
                f"futility boundary {low:g} must be 0 or more and below its efficacy boundary {u:g}"
            )
    if shape not in SHAPES:
        raise ProtocolError(f"unknown boundary shape {shape!r}; use one of {', '.join(SHAPES)}")
    if not 0 < _probability(false_positive_target, "false_positive_target") < 0.5:
        raise ProtocolError(
            f"false_positive_target must be in 0-0.5, got {false_positive_target:g}"
        )


def parse_rule(section: Any, where: str, blocks: int | None = None) -> SequentialRule:
    """The rule from a ``[sequential]`` table (template or protocol), every key checked."""
    if not isinstance(section, dict):
        raise ProtocolError(f"{where} [sequential] must be a table of keys, got {section!r}")
    extra = sorted(set(section) - _KEYS)
    if extra:
        raise ProtocolError(
            f"unknown key {extra[0]!r} in {where} [sequential]; known keys: {', '.join(sorted(_KEYS))}"
        )
    missing = [k for k in ("looks", "efficacy", "futility") if k not in section]
    if missing:
        raise ProtocolError(f"{where} [sequential] needs {', '.join(missing)}")
    for key in ("looks", "efficacy", "futility"):
        if not isinstance(section[key], list):
            raise ProtocolError(f"{where} [sequential] {key} must be a list, got {section[key]!r}")
    simulated = _simulated(section.get("simulated", {}), where)
    looks, efficacy, futility = (tuple(section[k]) for k in ("looks", "efficacy", "futility"))
    shape = section.get("shape", "custom")
    target = section.get("false_positive_target", DEFAULT_FALSE_POSITIVE_TARGET)
    try:
        check_rule(looks, efficacy, futility, shape, target, blocks)
    except ProtocolError as exc:
        raise ProtocolError(f"{where} [sequential]: {exc}") from None
    return SequentialRule(
        looks, tuple(map(float, efficacy)), tuple(map(float, futility)), shape,
        float(target), dict(simulated),
    )  # fmt: skip


#: What ``[sequential.simulated]`` holds (``nof1.design.sequential.simulated_summary``):
#: counts are whole numbers 0 or more, ``sims`` and ``fixed_days`` at least 1.
_SIMULATED_COUNTS = {"sims", "seed", "fixed_blocks", "fixed_days"}
_SIMULATED_NUMBERS = {
    "effect", "sd", "rho", "tau", "false_positive", "power", "fixed_power",
    "expected_days_no_effect", "expected_days_effect",
}  # fmt: skip
_SIMULATED_COUNT_LISTS = {"stops_efficacy", "stops_futility"}
_SIMULATED_NUMBER_LISTS = {"calibration_rhos", "bias_efficacy", "bias_futility"}


def _simulated(table: Any, where: str) -> dict[str, Any]:
    """The ``[sequential.simulated]`` table, each value checked: the report and
    ``protocol show`` print them as numbers."""
    what = f"{where} [sequential.simulated]"
    if not isinstance(table, dict):
        raise ProtocolError(f"{what} must be a table, got {table!r}")
    known = (
        _SIMULATED_COUNTS | _SIMULATED_NUMBERS | _SIMULATED_COUNT_LISTS | _SIMULATED_NUMBER_LISTS
    )
    extra = sorted(set(table) - known)
    if extra:
        raise ProtocolError(
            f"unknown key {extra[0]!r} in {what}; known keys: {', '.join(sorted(known))}"
        )
    for key, value in table.items():
        many = key in _SIMULATED_COUNT_LISTS | _SIMULATED_NUMBER_LISTS
        counts = key in _SIMULATED_COUNTS | _SIMULATED_COUNT_LISTS
        if many and not isinstance(value, list):
            raise ProtocolError(f"{what} {key} must be an array of numbers, got {value!r}")
        for v in value if many else [value]:
            if counts and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ProtocolError(f"{what} {key} must hold whole numbers, 0 or more, got {v!r}")
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ProtocolError(f"{what} {key} must hold finite numbers, got {v!r}")
        if key in ("sims", "fixed_days") and value < 1:
            raise ProtocolError(f"{what} {key} must be 1 or more, got {value!r}")
    return dict(table)


def rule_to_toml(rule: SequentialRule) -> dict[str, Any]:
    """The ``[sequential]`` table of ``protocol.toml``."""
    out: dict[str, Any] = {
        "looks": list(rule.looks),
        "efficacy": list(rule.efficacy),
        "futility": list(rule.futility),
        "shape": rule.shape,
        "false_positive_target": rule.false_positive_target,
    }
    if rule.simulated:
        out["simulated"] = dict(rule.simulated)
    return out
