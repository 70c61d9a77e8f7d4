"""The exact randomization test over the scheme a protocol registered.

The schemes themselves, and drawing an allocation, are ``nof1.plan.allocation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nof1.errors import DataError
from nof1.plan.allocation import all_allocations, n_allocations

if TYPE_CHECKING:
    from nof1.analysis.series import Series


#: Up to this many allocations the test enumerates every one of them (an exact p-value).
EXACT_LIMIT = 2**16
#: Beyond it, the p-value is estimated from this many allocations drawn from the scheme,
#: with a fixed seed so that the same data always give the same p-value.
MC_DRAWS, MC_SEED = 20_000, 20_240_101


@dataclass(frozen=True)
class RandomizationTest:
    """Result of the randomization test of a series.

    Parameters
    ----------
    statistic : name of the test statistic (``"mean difference"``: mean of the active days
        minus mean of the control days, observed days only).
    observed : the statistic under the allocation that was actually used.
    p_value : one-sided, in the benefit direction: the share of the scheme's allocations
        whose statistic is at least as favourable to the active arm as the observed one
        (the observed allocation included, so p >= min_p).
    n_allocations : how many allocations the scheme could have produced.
    min_p : the smallest p-value the test can give: 1 / n_allocations when exact (3 blocks:
        0.125), 1 / (n_draws + 1) for Monte Carlo.
    scheme : the randomization scheme the test draws from.
    method : ``"exact"`` (every allocation enumerated, while there are at most
        ``EXACT_LIMIT``) or ``"monte carlo"`` (``n_draws`` allocations drawn at random).
    n_draws : allocations drawn (Monte Carlo), None when exact.
    mc_se : the Monte Carlo standard error of ``p_value`` (sqrt(p (1 - p) / n_draws)),
        None when exact.
    """

    statistic: str
    observed: float
    p_value: float
    n_allocations: int
    min_p: float
    scheme: str
    method: str = "exact"
    n_draws: int | None = None
    mc_se: float | None = None

    @property
    def allocations_text(self) -> str:
        """``n_allocations`` as a reader takes it in: with thousands separators up to 15
        digits, then as a power of ten (a 40-block design has 1,099,511,627,776; a series
        of 36,525 single-day periods would print hundreds of digits).

        Example
        -------
        >>> RandomizationTest("mean difference", 0.0, 0.5, 2**40, 1e-5, "block").allocations_text
        '1,099,511,627,776'
        >>> RandomizationTest("mean difference", 0.0, 0.5, 3 * 10**300, 1e-5, "block").allocations_text
        'about 3.0 x 10^300'
        """
        n = self.n_allocations
        digits = len(str(n))
        if digits <= 15:
            return f"{n:,}"
        lead = int(str(n)[:3]) / 100
        return f"about {lead:.1f} x 10^{digits - 1}"

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {
            "statistic": self.statistic,
            "observed": self.observed,
            "p_value": self.p_value,
            "n_allocations": self.n_allocations,
            "min_p": self.min_p,
            "scheme": self.scheme,
            "method": self.method,
            "n_draws": self.n_draws,
            "mc_se": self.mc_se,
        }


STATISTICS = ("mean difference",)


def _possible(used: tuple[str, ...], scheme: str) -> bool:
    """Whether ``scheme`` could have produced the allocation ``used``."""
    pairs = [used[i : i + 2] for i in range(0, len(used), 2)]
    if scheme == "block":
        return all(set(pair) == {"A", "B"} for pair in pairs)
    if scheme == "alternating":
        return used in (("A", "B") * len(pairs), ("B", "A") * len(pairs))
    return used.count("A") == len(pairs)


def _drawn_labels(blocks: int, scheme: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` allocations drawn from the scheme, as an (n, 2 * blocks) array, 1 = active."""
    if scheme == "block":
        first_a = rng.integers(0, 2, size=(n, blocks)).astype(float)
        return np.stack([first_a, 1 - first_a], axis=2).reshape(n, 2 * blocks)
    ranks = np.argsort(rng.random((n, 2 * blocks)), axis=1)
    return (ranks < blocks).astype(float)


def randomization_test(series: Series, statistic: str = "mean difference") -> RandomizationTest:
    """Randomization test over the allocations the series' scheme could produce.

    Each allocation re-labels the periods (in calendar order) as A or B; the statistic is
    recomputed on the observed days. Under the null hypothesis of no effect on any day,
    every allocation was equally likely to give the observed data, so the p-value is
    exact however the days are correlated. While the scheme has at most ``EXACT_LIMIT``
    allocations (the block scheme up to 16 blocks) all are enumerated; beyond that the
    work would grow as 2^blocks, so ``MC_DRAWS`` allocations are drawn (seeded) and the
    p-value, (1 + drawn allocations at least as favourable) / (1 + draws), is valid and
    comes with its Monte Carlo standard error (Phipson & Smyth 2010, Stat Appl Genet Mol
    Biol 9:39).

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
    used = tuple("A" if a == 1 else "B" for a in arms)
    if not _possible(used, series.scheme):
        raise DataError(
            f"the allocation used ({''.join(used)}) could not have come from the "
            f"{series.scheme!r} scheme, so the randomization test does not apply"
        )
    total = n_allocations(n_blocks, series.scheme)
    exact = total <= EXACT_LIMIT
    if exact:
        allocations = all_allocations(n_blocks, series.scheme)
        labels = np.array([[arm == "A" for arm in alloc] for alloc in allocations], dtype=float)
    else:
        labels = _drawn_labels(n_blocks, series.scheme, MC_DRAWS, np.random.default_rng(MC_SEED))

    def mean_difference(lab: np.ndarray) -> np.ndarray:
        return lab @ sums / (lab @ counts) - (1 - lab) @ sums / ((1 - lab) @ counts)

    diff = mean_difference(labels)
    observed = float(mean_difference(np.array([a == "A" for a in used], dtype=float)))
    # A relative tolerance keeps allocations that tie with the observed one (same sums in a
    # different order) from being lost to rounding.
    tol = 1e-9 * max(1.0, abs(observed))
    extreme = diff <= observed + tol if series.lower_is_better else diff >= observed - tol
    if exact:
        return RandomizationTest(
            statistic=statistic,
            observed=observed,
            p_value=float(np.sum(extreme) / total),
            n_allocations=total,
            min_p=1.0 / total,
            scheme=series.scheme,
        )
    p = float((1 + np.sum(extreme)) / (1 + MC_DRAWS))
    return RandomizationTest(
        statistic=statistic,
        observed=observed,
        p_value=p,
        n_allocations=total,
        min_p=1.0 / (1 + MC_DRAWS),
        scheme=series.scheme,
        method="monte carlo",
        n_draws=MC_DRAWS,
        mc_se=float(np.sqrt(p * (1 - p) / MC_DRAWS)),
    )
