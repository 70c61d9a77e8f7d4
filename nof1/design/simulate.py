"""Synthetic n-of-1 trials with a known truth, for tests, design studies and validation.

The data-generating model is the one the engines fit, plus the things that threaten it:

    pain_t = baseline + trend_per_week * day_t / 7 + effect * E_t
             + expectation_effect * (belief_t - 0.5) + e_t,
    e_t    = rho * e_{t-1} + u_t,   u_t ~ Normal(0, sd^2 (1 - rho^2)),

so ``sd`` is the stationary day-to-day SD of the noise. ``E_t`` is the exposure to the
active arm (``nof1.analysis.models.exposure``): with ``tau > 0`` the effect builds up and carries over
across period switches. The noise runs through every calendar day (run-in, washout, missing
days) so gaps in the analysis view are gaps of the right length for the AR(1) likelihood.

Days are numbered from 0 at the start of the run-in. Run-in days have no kit (arm ``None``,
no exposure); period ``p`` (1-based) belongs to block ``(p + 1) // 2``, and its first
``washout_days`` days are washout days: the new kit is taken, the days are not analysed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nof1.analysis.models.exposure import exposure
from nof1.analysis.series import SCHEMES, Series, check_washout_mode
from nof1.errors import DataError, ProtocolError
from nof1.plan.allocation import draw_allocation


@dataclass(frozen=True)
class Layout:
    """The calendar of a trial design, one entry per day (run-in and washout included).

    Parameters
    ----------
    blocks, period_days, washout_days, run_in_days, scheme : the design.
    day : int array 0..n-1, days from the start of the run-in.
    period : int array, 1-based period of each day, 0 on run-in days.
    block : int array, 1-based block of each day, 0 on run-in days.
    washout : bool array, True on the washout days at the start of each period.
    run_in : bool array, True on run-in days.
    """

    blocks: int
    period_days: int
    washout_days: int = 0
    run_in_days: int = 0
    scheme: str = "block"
    day: np.ndarray = field(init=False, repr=False, compare=False)
    period: np.ndarray = field(init=False, repr=False, compare=False)
    block: np.ndarray = field(init=False, repr=False, compare=False)
    washout: np.ndarray = field(init=False, repr=False, compare=False)
    run_in: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("blocks", "period_days", "washout_days", "run_in_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ProtocolError(f"{name} must be a whole number, got {value!r}")
        if self.blocks < 1:
            raise ProtocolError(f"blocks must be at least 1, got {self.blocks}")
        if self.period_days < 1:
            raise ProtocolError(f"period_days must be at least 1, got {self.period_days}")
        if self.washout_days < 0 or self.run_in_days < 0:
            raise ProtocolError(
                f"washout_days and run_in_days must be 0 or more, got {self.washout_days} "
                f"and {self.run_in_days}"
            )
        if self.washout_days >= self.period_days:
            raise ProtocolError(
                f"washout_days {self.washout_days} must be shorter than period_days "
                f"{self.period_days}, or no day of a period is analysed"
            )
        if self.scheme not in SCHEMES:
            raise ProtocolError(f"unknown scheme {self.scheme!r}; use one of {', '.join(SCHEMES)}")
        n_periods = 2 * self.blocks
        within = np.tile(np.arange(self.period_days), n_periods)
        period = np.concatenate(
            [
                np.zeros(self.run_in_days, np.int64),
                np.repeat(np.arange(1, n_periods + 1), self.period_days),
            ]
        )
        arrays = {
            "day": np.arange(len(period), dtype=np.int64),
            "period": period,
            "block": (period + 1) // 2,
            "washout": np.concatenate(
                [np.zeros(self.run_in_days, bool), within < self.washout_days]
            ),
            "run_in": period == 0,
        }
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_protocol(cls, p: Any) -> Layout:
        """The layout of a protocol (any object with the design attributes, or a mapping).

        Reads ``blocks``, ``period_days``, ``washout_days``, ``run_in_days`` and ``scheme``;
        the last three default to 0, 0 and ``"block"`` when absent.
        """
        get = p.get if isinstance(p, Mapping) else lambda k, d=None: getattr(p, k, d)
        if get("blocks") is None or get("period_days") is None:
            raise ProtocolError("a design needs blocks and period_days")
        return cls(
            blocks=int(get("blocks")),
            period_days=int(get("period_days")),
            washout_days=int(get("washout_days", 0) or 0),
            run_in_days=int(get("run_in_days", 0) or 0),
            scheme=str(get("scheme", "block") or "block"),
        )

    @property
    def n_days(self) -> int:
        """Calendar days of the whole trial, run-in included."""
        return len(self.day)

    @property
    def n_periods(self) -> int:
        return 2 * self.blocks

    def analysis_mask(self, washout: str = "exclude") -> np.ndarray:
        """Days the analysis sees as rows: never run-in days; washout days unless excluded.

        ``washout`` is one of ``nof1.analysis.series.WASHOUT_MODES``; whether washout rows keep their
        scores is the caller's business (``unobserved_mask``).
        """
        check_washout_mode(washout)
        return ~self.run_in & ((washout != "exclude") | ~self.washout)

    def unobserved_mask(self, washout: str = "exclude") -> np.ndarray:
        """Of the ``analysis_mask`` rows, those whose scores the analysis must not see."""
        return self.washout[self.analysis_mask(washout)] & (washout == "unobserved")

    def arms(self, allocation: tuple[str, ...]) -> np.ndarray:
        """Daily 0/1 arm (1 = A) for an allocation; 0 on run-in days."""
        if len(allocation) != self.n_periods or not set(allocation) <= {"A", "B"}:
            raise ProtocolError(
                f"allocation {allocation!r} must hold {self.n_periods} arms 'A' or 'B'"
            )
        per_period = np.array([0] + [1 if a == "A" else 0 for a in allocation], dtype=np.int64)
        return per_period[self.period]


@dataclass(frozen=True)
class SimulatedTrial:
    """One simulated trial.

    Parameters
    ----------
    series : the analysis view (run-in dropped; washout days as ``washout`` says).
    truth : the parameters that generated the data.
    allocation : arm (``"A"``/``"B"``) of each period in calendar order.
    frame : one row per calendar day, columns ``day``, ``period``, ``block``, ``arm``
        (``"A"``, ``"B"``, None on run-in days), ``washout``, ``run_in``, ``pain`` (NaN when
        missed), ``guess`` (``"A"``, ``"B"``, ``"unsure"``, None on run-in days),
        ``adherence`` (bool).
    """

    series: Series
    truth: dict[str, Any]
    allocation: tuple[str, ...]
    frame: pd.DataFrame


def _as_layout(layout_or_params: Layout | Mapping | Any) -> Layout:
    if isinstance(layout_or_params, Layout):
        return layout_or_params
    return Layout.from_protocol(layout_or_params)


def _check_params(sd: float, rho: float, missing_rate: float, guess_accuracy: float) -> None:
    if not sd > 0:
        raise DataError(f"sd must be positive, got {sd}")
    if not -1 < rho < 1:
        raise DataError(f"rho must lie strictly between -1 and 1, got {rho}")
    if not 0 <= missing_rate < 1:
        raise DataError(f"missing_rate must be in [0, 1), got {missing_rate}")
    if not 0 <= guess_accuracy <= 1:
        raise DataError(f"guess_accuracy must be in [0, 1], got {guess_accuracy}")


def _ar1_noise(rng: np.random.Generator, n: int, n_days: int, sd: float, rho: float) -> np.ndarray:
    """(n, n_days) stationary AR(1) noise with marginal SD ``sd``."""
    u = rng.standard_normal((n, n_days))
    e = np.empty_like(u)
    e[:, 0] = sd * u[:, 0]
    scale = sd * np.sqrt(1.0 - rho**2)
    for t in range(1, n_days):
        e[:, t] = rho * e[:, t - 1] + scale * u[:, t]
    return e


def _exposure_matrix(taken: np.ndarray, tau: float) -> np.ndarray:
    """Row-wise ``exposure`` over contiguous days, vectorized over trials."""
    if tau <= 0:
        return taken.astype(float)
    k = np.exp(-1.0 / tau)
    out = np.empty(taken.shape, dtype=float)
    e = np.zeros(taken.shape[0])
    for t in range(taken.shape[1]):
        e = taken[:, t] + (e - taken[:, t]) * k
        out[:, t] = e
    return out


def _missing_mask(
    rng: np.random.Generator, n: int, n_days: int, rate: float, runs: int, run_days: int
) -> np.ndarray:
    """(n, n_days) True where a day's score is missed: scattered days plus whole runs."""
    miss = rng.random((n, n_days)) < rate
    if runs > 0:
        length = min(run_days, n_days)
        starts = rng.integers(0, n_days - length + 1, size=(n, runs))
        offsets = starts[:, :, None] + np.arange(length)
        rows = np.broadcast_to(np.arange(n)[:, None, None], offsets.shape)
        miss[rows, offsets] = True
    return miss


def simulate_series(
    layout_or_params: Layout | Mapping | Any,
    *,
    effect: float,
    sd: float,
    rho: float,
    trend_per_week: float = 0.0,
    tau: float = 0.0,
    missing_rate: float = 0.0,
    missing_runs: int = 0,
    missing_run_days: int = 7,
    expectation_effect: float = 0.0,
    guess_accuracy: float = 0.5,
    unsure_rate: float = 0.0,
    adherence_rate: float = 1.0,
    baseline: float = 6.0,
    ordinal: bool = False,
    scheme: str | None = None,
    allocation: tuple[str, ...] | None = None,
    washout: str = "exclude",
    rng: np.random.Generator | int | None = None,
) -> SimulatedTrial:
    """Simulate one trial with a known truth.

    Parameters
    ----------
    layout_or_params : a ``Layout``, a protocol, or a mapping with ``blocks``,
        ``period_days`` and optionally ``washout_days``, ``run_in_days``, ``scheme``.
    effect : true effect of the active arm at full exposure (NRS points; negative = less pain).
    sd : stationary SD of the day-to-day noise.
    rho : lag-1 autocorrelation of the noise.
    trend_per_week : linear drift of pain per week (natural course).
    tau : onset/carryover time constant in days (``nof1.analysis.models.exposure``); 0 = instant.
    missing_rate : chance that any single day's score is missed.
    missing_runs : number of runs of ``missing_run_days`` consecutive missed days
        (a holiday, a flare), placed at random and possibly overlapping.
    expectation_effect : change of pain from believing one is on the active arm (guess A vs
        guess B); it acts through ``belief - 0.5`` like the model's expectation column.
    guess_accuracy : chance that a (non-unsure) daily guess names the arm actually taken;
        0.5 means blinding held.
    unsure_rate : chance that a day's guess is ``"unsure"``.
    adherence_rate : chance that the day's kit is taken; a skipped day has no exposure.
    baseline : pain at day 0 on the control arm.
    ordinal : round pain to whole numbers and clip to 0-10, as a real NRS diary would.
    scheme : randomization scheme; default the layout's.
    allocation : a fixed allocation (one ``"A"``/``"B"`` per period); default drawn under
        the scheme with ``nof1.plan.allocation.draw_allocation``.
    washout : washout days in the analysis series: ``"exclude"`` (no rows), ``"unobserved"``
        (rows without a score or guess, for the onset model) or ``"include"`` (scored rows).
    rng : a numpy Generator or a seed.

    Returns
    -------
    SimulatedTrial

    Raises
    ------
    ProtocolError : bad design or allocation. DataError : bad noise or rate parameters.

    Example
    -------
    >>> trial = simulate_series({"blocks": 3, "period_days": 14}, effect=-1.5, sd=1.5,
    ...                         rho=0.5, rng=1)
    >>> len(trial.series.y), trial.allocation
    (84, ('B', 'A', 'B', 'A', 'A', 'B'))
    """
    layout = _as_layout(layout_or_params)
    if scheme is not None and scheme != layout.scheme:
        layout = Layout(
            layout.blocks, layout.period_days, layout.washout_days, layout.run_in_days, scheme
        )
    _check_params(sd, rho, missing_rate, guess_accuracy)
    for name, value in (("unsure_rate", unsure_rate), ("adherence_rate", adherence_rate)):
        if not 0 <= value <= 1:
            raise DataError(f"{name} must be in [0, 1], got {value}")
    rng = np.random.default_rng(rng)
    if allocation is None:
        allocation = draw_allocation(layout.blocks, layout.scheme, rng)
    allocation = tuple(allocation)
    arm = layout.arms(allocation)
    n_days = layout.n_days

    adherent = (rng.random(n_days) < adherence_rate) | layout.run_in
    expo = exposure(arm * adherent, layout.day, tau)
    # Guesses: unsure, else right with probability guess_accuracy.
    unsure = rng.random(n_days) < unsure_rate
    right = rng.random(n_days) < guess_accuracy
    guessed_a = np.where(right, arm == 1, arm == 0)
    belief = np.where(unsure, 0.5, guessed_a.astype(float))
    belief[layout.run_in] = np.nan
    noise = _ar1_noise(rng, 1, n_days, sd, rho)[0]
    pain = (
        baseline
        + trend_per_week * layout.day / 7.0
        + effect * expo
        + expectation_effect * np.nan_to_num(belief - 0.5)
        + noise
    )
    if ordinal:
        pain = np.clip(np.round(pain), 0.0, 10.0)
    pain[_missing_mask(rng, 1, n_days, missing_rate, missing_runs, missing_run_days)[0]] = np.nan

    guess = np.where(unsure, "unsure", np.where(guessed_a, "A", "B")).astype(object)
    guess[layout.run_in] = None
    arm_label = np.where(arm == 1, "A", "B").astype(object)
    arm_label[layout.run_in] = None
    frame = pd.DataFrame(
        {
            "day": layout.day,
            "period": layout.period,
            "block": layout.block,
            "arm": arm_label,
            "washout": layout.washout,
            "run_in": layout.run_in,
            "pain": pain,
            "guess": guess,
            "adherence": adherent,
        }
    )
    keep = layout.analysis_mask(washout)
    hidden = layout.unobserved_mask(washout)
    series = Series(
        y=np.where(hidden, np.nan, pain[keep]),
        active=arm[keep],
        day=layout.day[keep],
        block=layout.block[keep],
        period=layout.period[keep],
        belief=np.where(hidden, np.nan, belief[keep]),
        scheme=layout.scheme,
    )
    truth = {
        "effect": effect,
        "sd": sd,
        "rho": rho,
        "trend_per_week": trend_per_week,
        "tau": tau,
        "baseline": baseline,
        "expectation_effect": expectation_effect,
        "guess_accuracy": guess_accuracy,
        "missing_rate": missing_rate,
        "missing_runs": missing_runs,
        "ordinal": ordinal,
    }
    return SimulatedTrial(series=series, truth=truth, allocation=allocation, frame=frame)


@dataclass(frozen=True)
class SimulatedBatch:
    """Many simulated trials of one layout, in arrays (the analysis days only).

    Parameters
    ----------
    Y : (n, n_days) outcomes, NaN where missed.
    active : (n, n_days) 0/1 arms, or (1, n_days) when every trial shares one allocation.
    day, block, period : (n_days,) calendar of the analysis days.
    allocations : (n, n_periods) int array, 1 where a period is on arm A.
    """

    Y: np.ndarray
    active: np.ndarray
    day: np.ndarray
    block: np.ndarray
    period: np.ndarray
    allocations: np.ndarray


def simulate_batch(
    layout: Layout,
    allocation: tuple[str, ...] | None,
    n: int,
    *,
    effect: float,
    sd: float,
    rho: float,
    trend_per_week: float = 0.0,
    tau: float = 0.0,
    missing_rate: float = 0.0,
    missing_runs: int = 0,
    missing_run_days: int = 7,
    baseline: float = 6.0,
    washout: str = "exclude",
    rng: np.random.Generator | int | None = None,
) -> SimulatedBatch:
    """Simulate ``n`` trials of one layout at once (numpy, no Python loop over trials).

    With ``allocation=None`` each trial draws its own allocation under the layout's scheme
    (``nof1.plan.allocation.draw_allocation``), as a real design study must: operating
    characteristics average over the randomization. The model is that of
    ``simulate_series`` without guesses, adherence or ordinal rounding; ``washout`` as there.

    Returns
    -------
    SimulatedBatch

    Example
    -------
    >>> b = simulate_batch(Layout(2, 7), None, 5, effect=-1, sd=1, rho=0.5, rng=0)
    >>> b.Y.shape, b.active.shape
    ((5, 28), (5, 28))
    """
    _check_params(sd, rho, missing_rate, 0.5)
    if n < 1:
        raise DataError(f"the number of simulated trials must be at least 1, got {n}")
    rng = np.random.default_rng(rng)
    if allocation is None:
        allocs = [draw_allocation(layout.blocks, layout.scheme, rng) for _ in range(n)]
        alloc_mat = np.array([[a == "A" for a in al] for al in allocs], dtype=np.int64)
    else:
        layout.arms(tuple(allocation))  # validates
        alloc_mat = np.array([[a == "A" for a in allocation]], dtype=np.int64)
    per_period = np.concatenate([np.zeros((alloc_mat.shape[0], 1), np.int64), alloc_mat], axis=1)
    arm = per_period[:, layout.period]
    expo = _exposure_matrix(arm, tau)
    noise = _ar1_noise(rng, n, layout.n_days, sd, rho)
    Y = baseline + trend_per_week * layout.day / 7.0 + effect * expo + noise
    Y[_missing_mask(rng, n, layout.n_days, missing_rate, missing_runs, missing_run_days)] = np.nan
    keep = layout.analysis_mask(washout)
    return SimulatedBatch(
        Y=np.where(layout.unobserved_mask(washout), np.nan, Y[:, keep]),
        active=arm[:, keep],
        day=layout.day[keep],
        block=layout.block[keep],
        period=layout.period[keep],
        allocations=np.broadcast_to(alloc_mat, (n, layout.n_periods)).copy(),
    )


def simulate_pool(
    n_series: int,
    mu: float,
    tau_between: float,
    *,
    blocks: tuple[int, ...] = (2, 3, 4),
    period_days: tuple[int, ...] = (7, 14),
    washout_days: int = 0,
    sd: float = 1.5,
    rho: float = 0.5,
    missing_rate: tuple[float, float] = (0.0, 0.15),
    missing_runs: tuple[int, ...] = (0, 1),
    baseline: tuple[float, float] = (4.0, 8.0),
    ordinal: bool = False,
    rng: np.random.Generator | int | None = None,
) -> list[SimulatedTrial]:
    """Simulate series from many patients for the pooled (hierarchical) model.

    Each patient's true effect is drawn from Normal(``mu``, ``tau_between``); designs vary:
    the number of blocks and the period length are drawn from ``blocks`` and
    ``period_days``, the missing rate uniformly from the ``missing_rate`` interval, the
    number of 7-day missing runs from ``missing_runs``, the baseline uniformly from the
    ``baseline`` interval. Each trial's ``truth["effect"]`` holds the patient's effect.

    Example
    -------
    >>> pool = simulate_pool(3, mu=-1.0, tau_between=0.5, rng=0)
    >>> len(pool), all(t.series.y.size > 0 for t in pool)
    (3, True)
    """
    if n_series < 1:
        raise DataError(f"n_series must be at least 1, got {n_series}")
    if tau_between < 0:
        raise DataError(f"tau_between must be 0 or more, got {tau_between}")
    rng = np.random.default_rng(rng)
    out = []
    for _ in range(n_series):
        layout = Layout(
            blocks=int(rng.choice(blocks)),
            period_days=int(rng.choice(period_days)),
            washout_days=washout_days,
        )
        out.append(
            simulate_series(
                layout,
                effect=float(rng.normal(mu, tau_between)),
                sd=sd,
                rho=rho,
                missing_rate=float(rng.uniform(*missing_rate)),
                missing_runs=int(rng.choice(missing_runs)),
                baseline=float(rng.uniform(*baseline)),
                ordinal=ordinal,
                rng=rng,
            )
        )
    return out
