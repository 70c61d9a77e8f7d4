"""Randomization schemes of a protocol, and the exact randomization test over them.

An allocation is a tuple of arms, one per period in calendar order: ``"A"`` (active, e.g.
magnesium) or ``"B"`` (control: placebo or no treatment). Periods come in blocks of two.

Schemes:

- ``block`` (default): each block holds one A and one B period in random order, chosen
  independently per block (counterbalanced): 2**blocks equally likely allocations.
- ``alternating``: ABAB... or BABA..., the first arm drawn at random: 2 allocations.
  Weak against chance (the randomization test can never go below p = 0.5), offered
  because some clinicians prefer a fixed rhythm.
- ``random-pairs``: the 2*blocks periods shuffled with exactly ``blocks`` A and ``blocks``
  B periods (restricted randomization, comb(2*blocks, blocks) allocations). Block k is
  then simply periods 2k-1 and 2k, and may hold AA or BB.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nof1.errors import DataError, ProtocolError
from nof1.series import SCHEMES, Series


def _check(blocks: int, scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ProtocolError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if blocks < 1:
        raise ProtocolError(f"blocks must be at least 1, got {blocks}")


def draw_allocation(blocks: int, scheme: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Draw one allocation under a scheme.

    Example
    -------
    >>> draw_allocation(2, "block", np.random.default_rng(1))
    ('B', 'A', 'B', 'A')
    """
    _check(blocks, scheme)
    if scheme == "block":
        return tuple(
            arm for _ in range(blocks) for arm in (("A", "B") if rng.random() < 0.5 else ("B", "A"))
        )
    if scheme == "alternating":
        first, second = ("A", "B") if rng.random() < 0.5 else ("B", "A")
        return (first, second) * blocks
    arms = np.array(["A"] * blocks + ["B"] * blocks)
    return tuple(str(a) for a in rng.permutation(arms))


def all_allocations(blocks: int, scheme: str) -> list[tuple[str, ...]]:
    """Every allocation the scheme could have produced, each equally likely."""
    _check(blocks, scheme)
    if scheme == "block":
        return [
            tuple(arm for flip in flips for arm in (("B", "A") if flip else ("A", "B")))
            for flips in itertools.product((0, 1), repeat=blocks)
        ]
    if scheme == "alternating":
        return [("A", "B") * blocks, ("B", "A") * blocks]
    n = 2 * blocks
    return [
        tuple("A" if i in chosen else "B" for i in range(n))
        for chosen in map(set, itertools.combinations(range(n), blocks))
    ]


@dataclass(frozen=True)
class RandomizationTest:
    """Result of the exact randomization test of a series.

    Parameters
    ----------
    statistic : name of the test statistic (``"mean difference"``: mean of the active days
        minus mean of the control days, observed days only).
    observed : the statistic under the allocation that was actually used.
    p_value : one-sided, in the benefit direction: the share of the scheme's allocations
        whose statistic is at least as favourable to the active arm as the observed one
        (the observed allocation included, so p >= min_p).
    n_allocations : how many allocations the scheme could have produced.
    min_p : the smallest attainable p-value, 1 / n_allocations (3 blocks: 0.125).
    scheme : the randomization scheme the test enumerates.
    """

    statistic: str
    observed: float
    p_value: float
    n_allocations: int
    min_p: float
    scheme: str

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "statistic": self.statistic,
            "observed": self.observed,
            "p_value": self.p_value,
            "n_allocations": self.n_allocations,
            "min_p": self.min_p,
            "scheme": self.scheme,
        }


STATISTICS = ("mean difference",)


def randomization_test(series: Series, statistic: str = "mean difference") -> RandomizationTest:
    """Exact randomization test over every allocation the series' scheme could produce.

    Each allocation of ``all_allocations(n_blocks, series.scheme)`` re-labels the periods
    (in calendar order) as A or B; the statistic is recomputed on the observed days. Under
    the null hypothesis of no effect on any day, every allocation was equally likely to
    give the observed data, so the p-value is exact however the days are correlated.

    Parameters
    ----------
    series : the series; it needs 2 periods per block, each with at least one score.
    statistic : ``"mean difference"`` (active minus control).

    Returns
    -------
    RandomizationTest

    Raises
    ------
    DataError : periods do not match the blocks, a period has no scores, or the allocation
        actually used could not have come from the scheme.
    ProtocolError : unknown scheme.

    Example
    -------
    >>> randomization_test(series).p_value        # doctest: +SKIP
    0.25
    """
    if statistic not in STATISTICS:
        raise DataError(f"unknown statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    obs = series.observed
    periods, _, arms = series.period_arms()
    n_blocks = len(np.unique(series.block))
    if len(periods) != 2 * n_blocks:
        raise DataError(
            f"the randomization test needs two periods per block; the series has "
            f"{len(periods)} period(s) in {n_blocks} block(s)"
        )
    # Periods in calendar order (period_arms sorts by number; order by first day instead).
    first_day = np.array([series.day[series.period == p].min() for p in periods])
    order = np.argsort(first_day)
    periods, arms = periods[order], arms[order]
    sums = np.array([series.y[obs & (series.period == p)].sum() for p in periods])
    counts = np.array([np.sum(obs & (series.period == p)) for p in periods])
    if np.any(counts == 0):
        empty = int(periods[np.argmax(counts == 0)])
        raise DataError(f"period {empty} has no scores; the randomization test needs every period")
    allocations = all_allocations(n_blocks, series.scheme)
    labels = np.array([[arm == "A" for arm in alloc] for alloc in allocations], dtype=float)
    used = tuple("A" if a == 1 else "B" for a in arms)
    if used not in allocations:
        raise DataError(
            f"the allocation used ({''.join(used)}) could not have come from the "
            f"{series.scheme!r} scheme, so the randomization test does not apply"
        )
    diff = labels @ sums / (labels @ counts) - (1 - labels) @ sums / ((1 - labels) @ counts)
    observed = float(diff[allocations.index(used)])
    # A relative tolerance keeps allocations that tie with the observed one (same sums in a
    # different order) from being lost to rounding.
    tol = 1e-9 * max(1.0, abs(observed))
    extreme = diff <= observed + tol if series.lower_is_better else diff >= observed - tol
    n = len(allocations)
    return RandomizationTest(
        statistic=statistic,
        observed=observed,
        p_value=float(np.sum(extreme) / n),
        n_allocations=n,
        min_p=1.0 / n,
        scheme=series.scheme,
    )
