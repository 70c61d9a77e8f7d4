"""The series stage: one outcome of one patient, as a model consumes it.

``Series`` is the typed hand-off between data (a trial folder or any CSV) and the models
(exact engine, PyMC engine, randomization test, pooling). Every array has one entry per
analysis day, sorted by ``day``. Days without a score keep their row with ``y = NaN`` so
the models can see the gap; days excluded from the analysis (washout, run-in) are simply
not rows, which the AR(1) likelihood treats as a gap of the right length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nof1.errors import DataError

#: Randomization schemes a protocol can use (see ``nof1.protocol``).
SCHEMES = ("block", "alternating", "random-pairs")


@dataclass(frozen=True)
class Series:
    """One outcome of one patient, ready for a model.

    Parameters
    ----------
    y : float array; the outcome, NaN where the day has no score.
    active : int array of 0/1; 1 on the active arm (A, e.g. magnesium), 0 on control (B).
    day : int array, strictly increasing; day index from the trial start. Gaps are allowed.
    block : int array, 1-based block number of each day.
    period : int array, 1-based period number of each day (unique across blocks).
    outcome : name of the outcome (``"pain"``).
    lower_is_better : True for pain-like outcomes, where a negative effect is a benefit.
    low, high : bounds of the scale (0 and 10 for an NRS), None when unbounded.
    belief : float array or None; the patient's belief of being on the active arm that
        day: 1.0 guessed A, 0.0 guessed B, 0.5 unsure, NaN no guess.
    scheme : the randomization scheme that produced the allocation (for the exact
        randomization test); one of ``SCHEMES``.
    """

    y: np.ndarray
    active: np.ndarray
    day: np.ndarray
    block: np.ndarray
    period: np.ndarray
    outcome: str = "pain"
    lower_is_better: bool = True
    low: float | None = 0.0
    high: float | None = 10.0
    belief: np.ndarray | None = None
    scheme: str = "block"

    def __post_init__(self) -> None:
        n = len(self.y)
        arrays = {"active": self.active, "day": self.day, "block": self.block, "period": self.period}
        if self.belief is not None:
            arrays["belief"] = self.belief
        for name, arr in arrays.items():
            if len(arr) != n:
                raise DataError(f"series column {name!r} has {len(arr)} rows, y has {n}")
        for name in ("y", "active", "day", "block", "period", "belief"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, dtype=float if name in ("y", "belief") else np.int64)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)
        if n and np.any(np.diff(self.day) <= 0):
            raise DataError("series days must be strictly increasing (one row per day)")
        if not set(np.unique(self.active)) <= {0, 1}:
            raise DataError("series 'active' must be 0 (control) or 1 (active)")
        if self.scheme not in SCHEMES:
            raise DataError(f"unknown randomization scheme {self.scheme!r}; use one of {', '.join(SCHEMES)}")

    @property
    def observed(self) -> np.ndarray:
        """Boolean mask of days with a score."""
        return ~np.isnan(self.y)

    def subset(self, mask: np.ndarray) -> Series:
        """A new series holding only the rows where ``mask`` is True."""
        mask = np.asarray(mask, dtype=bool)
        return Series(
            y=self.y[mask],
            active=self.active[mask],
            day=self.day[mask],
            block=self.block[mask],
            period=self.period[mask],
            outcome=self.outcome,
            lower_is_better=self.lower_is_better,
            low=self.low,
            high=self.high,
            belief=None if self.belief is None else self.belief[mask],
            scheme=self.scheme,
        )

    def period_arms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-period structure: (period numbers, their blocks, their arms 0/1), by period."""
        periods, first = np.unique(self.period, return_index=True)
        return periods, self.block[first], self.active[first]

    def check_analysable(self, min_blocks: int = 2) -> None:
        """Raise ``DataError`` unless the series can support an effect estimate.

        Both arms need scores, the outcome must vary, and there must be at least
        ``min_blocks`` blocks (an A/B comparison repeated at least twice).
        """
        obs = self.observed
        if obs.sum() == 0:
            raise DataError(f"outcome {self.outcome!r} has no scores")
        for arm, name in ((1, "active (A)"), (0, "control (B)")):
            if not np.any(obs & (self.active == arm)):
                raise DataError(f"outcome {self.outcome!r} has no scores on the {name} arm")
        values = self.y[obs]
        if np.ptp(values) == 0:
            raise DataError(
                f"outcome {self.outcome!r} is constant ({values[0]:g} on every day): "
                "no effect can be estimated"
            )
        n_blocks = len(np.unique(self.block[obs]))
        if n_blocks < min_blocks:
            raise DataError(
                f"only {n_blocks} block(s) with scores; at least {min_blocks} are needed "
                "to separate the effect from chance"
            )
