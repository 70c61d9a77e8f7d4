"""Stopping boundaries on simulated trials: apply a rule, calibrate a shape, list futility sets.

Everything here works on a (trials x looks) matrix of P(benefit >= MCID), such as
``nof1.design.looks.LookSimulation`` holds: a rule is thresholds on that matrix, so a
boundary set is calibrated and compared without fitting anything again.

Three shapes of the efficacy boundary on the posterior-probability scale, each with one
free level u (the boundary of the last look): ``constant`` (like Pocock's, u_k = u),
``obrien-fleming`` (u_k = Phi(Phi^-1(u) sqrt(K / k)), k and K the blocks done at the look
and at the last look: information grows with the analysed days, which grow with the blocks)
and ``haybittle-peto`` (0.999 before the last look, u at it). Sources in docs/sequential.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr, ndtri

from nof1.errors import ProtocolError
from nof1.plan.stopping import DEFAULT_FALSE_POSITIVE_TARGET, SequentialRule

#: The calibrated shapes, in the order they are shown.
CALIBRATED_SHAPES = ("constant", "obrien-fleming", "haybittle-peto")
#: Haybittle-Peto: the efficacy boundary of every look before the last.
HAYBITTLE_PETO_EARLY = 0.999
#: Efficacy levels are rounded up to this step (a number a protocol can state plainly;
#: rounding up only lowers the false-positive rate).
EFFICACY_STEP = 0.01
#: Early boundaries of the O'Brien-Fleming shape are rounded up to this step.
EARLY_STEP = 0.001
#: Highest efficacy boundary a look may have (SequentialRule needs u < 1).
MAX_EFFICACY = 0.999
#: Futility boundaries are non-decreasing steps of these levels, one per look but the last.
FUTILITY_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: Up to this many looks before the last, every non-decreasing set of futility boundaries
#: is tried; beyond, those with at most one step.
FULL_FUTILITY_SEARCH = 3


def apply_rule(rule: SequentialRule, p_benefit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a rule on simulated trials: where each stops and why.

    Parameters
    ----------
    rule : the stopping rule.
    p_benefit : P(benefit >= MCID) per trial (rows) at each of the rule's looks (columns).

    Returns
    -------
    (look, efficacy) : per trial, the index of the look where it stops and whether it
        stopped for efficacy (else for futility, at the latest at the last look), exactly as
        ``SequentialRule.decide`` decides look by look.

    Example
    -------
    >>> r = SequentialRule((2, 3, 4), (0.8, 0.8, 0.8), (0.3, 0.5))
    >>> look, eff = apply_rule(r, np.array([[0.9, 0, 0], [0.5, 0.4, 0.9], [0.5, 0.6, 0.7]]))
    >>> look.tolist(), eff.tolist()
    ([0, 1, 2], [True, False, False])
    """
    p = np.asarray(p_benefit, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(rule.looks):
        raise ProtocolError(
            f"need P(benefit) at the rule's {len(rule.looks)} looks per trial, got shape {p.shape}"
        )
    efficacy = p > np.asarray(rule.efficacy)
    stop = efficacy.copy()
    stop[:, :-1] |= p[:, :-1] < np.asarray(rule.futility)
    stop[:, -1] = True
    look = np.argmax(stop, axis=1)
    return look, efficacy[np.arange(len(p)), look]


def crosses_efficacy(rule: SequentialRule, p_benefit: np.ndarray) -> np.ndarray:
    """Per trial: does any look cross its efficacy boundary (futility ignored)?"""
    return np.any(np.asarray(p_benefit) > np.asarray(rule.efficacy), axis=1)


def shape_boundaries(shape: str, level: float, looks: Sequence[int]) -> tuple[float, ...]:
    """The efficacy boundaries of a shape whose last look has boundary ``level``.

    Example
    -------
    >>> shape_boundaries("obrien-fleming", 0.8, (2, 3, 4))
    (0.884, 0.835, 0.8)
    >>> shape_boundaries("haybittle-peto", 0.8, (2, 3, 4))
    (0.999, 0.999, 0.8)
    """
    looks = tuple(looks)
    if shape == "constant":
        early = [level] * (len(looks) - 1)
    elif shape == "obrien-fleming":
        z = ndtri(level)
        early = [
            min(MAX_EFFICACY, _ceil(float(ndtr(z * math.sqrt(looks[-1] / k))), EARLY_STEP))
            for k in looks[:-1]
        ]
    elif shape == "haybittle-peto":
        early = [HAYBITTLE_PETO_EARLY] * (len(looks) - 1)
    else:
        raise ProtocolError(f"unknown boundary shape {shape!r}; use one of {CALIBRATED_SHAPES}")
    return (*early, level)


def _ceil(x: float, step: float) -> float:
    # The small slack keeps 0.8 at 0.8 when floating point makes it 0.8000000000000001.
    return round(math.ceil(x / step - 1e-9) * step, 6)


def _critical_levels(shape: str, looks: Sequence[int], p: np.ndarray) -> np.ndarray:
    """Per trial: the level u (boundary of the last look) below which the trial crosses an
    efficacy boundary at some look; the shape's boundaries all increase with u."""
    looks = tuple(looks)
    last = p[:, -1]
    if shape == "constant":
        return p.max(axis=1)
    if shape == "haybittle-peto":
        early = np.any(p[:, :-1] > HAYBITTLE_PETO_EARLY, axis=1)
        return np.where(early, 1.0, last)
    if shape == "obrien-fleming":
        ratio = np.sqrt(looks[-1] / np.asarray(looks, dtype=float))
        clipped = np.clip(p, 1e-12, 1 - 1e-12)
        return np.max(ndtr(ndtri(clipped) / ratio), axis=1)
    raise ProtocolError(f"unknown boundary shape {shape!r}; use one of {CALIBRATED_SHAPES}")


def calibrate_efficacy(
    shape: str,
    looks: Sequence[int],
    null_p: Sequence[np.ndarray],
    *,
    floor: float = 0.8,
    target: float = DEFAULT_FALSE_POSITIVE_TARGET,
) -> tuple[float, ...]:
    """The efficacy boundaries of a shape at the smallest level that keeps the false-positive
    rate at or below ``target`` under every no-effect matrix, and never below ``floor``.

    Parameters
    ----------
    shape : one of ``CALIBRATED_SHAPES``.
    looks : the blocks of the looks.
    null_p : P(benefit >= MCID) of no-effect trials at the looks, one matrix per scenario.
    floor : the template's analysis threshold: no look asks for less evidence.
    target : the overall false-positive rate (any look, futility non-binding).

    Returns
    -------
    efficacy boundaries per look. A shape that cannot reach the target below
    ``MAX_EFFICACY`` gets it there (its OC then shows the rate it has).
    """
    level = floor
    for p in null_p:
        crit = np.sort(_critical_levels(shape, looks, np.asarray(p, dtype=float)))
        allowed = math.floor(target * len(crit) + 1e-9)  # trials that may cross
        # The level must be at least the (allowed+1)-th largest critical level.
        level = max(level, float(crit[len(crit) - allowed - 1]))
    level = min(_ceil(level, EFFICACY_STEP), MAX_EFFICACY)
    return shape_boundaries(shape, level, looks)


def futility_candidates(n_early: int) -> list[tuple[float, ...]]:
    """Non-decreasing futility boundaries from ``FUTILITY_LEVELS``, one per early look.

    Up to ``FULL_FUTILITY_SEARCH`` early looks every non-decreasing choice; beyond, those
    with at most one step (a level for the first looks, a higher one for the rest), so that
    a design with many looks is not a search over millions of sets.

    Example
    -------
    >>> len(futility_candidates(2)), futility_candidates(1)[:3]
    (21, [(0.0,), (0.1,), (0.2,)])
    """
    levels = FUTILITY_LEVELS
    if n_early <= FULL_FUTILITY_SEARCH:
        return [tuple(c) for c in itertools.combinations_with_replacement(levels, n_early)]
    steps = {
        (a,) * i + (b,) * (n_early - i)
        for a, b in itertools.combinations_with_replacement(levels, 2)
        for i in range(n_early + 1)
    }
    return sorted(steps)
