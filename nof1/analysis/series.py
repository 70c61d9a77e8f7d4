"""The series stage: one outcome of one patient, as a model consumes it.

``Series`` is the typed hand-off between data (a trial folder or any CSV) and the models
(exact engine, PyMC engine, randomization test, pooling). Every array has one entry per
analysis day, sorted by ``day``. Days without a score keep their row with ``y = NaN`` so
the models can see the gap; days excluded from the analysis (washout, run-in) are simply
not rows, which the AR(1) likelihood treats as a gap of the right length. For the onset
model, washout days on a kit are rows without a score instead (``washout="unobserved"``):
the likelihood is the same, and the exposure to the active arm starts on the day the kit
was started, not on its first analysed day.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nof1.errors import DataError
from nof1.plan.protocol import SCHEMES

if TYPE_CHECKING:
    import pandas as pd

    from nof1.plan.sealing import Allocation
    from nof1.trial.handle import Trial

#: How washout days enter a series: no rows (``exclude``), rows whose scores are withheld
#: (``unobserved``, for the onset model) or scored rows (``include``).
WASHOUT_MODES = ("exclude", "unobserved", "include")


def washout_mode(exclude_washout: bool, carryover: bool) -> str:
    """How a pre-registered analysis takes washout days (``Analysis.exclude_washout``):
    scored rows when they are not excluded; else no rows, or rows without a score under
    the onset model (``carryover``), whose exposure starts on each kit's first day."""
    if not exclude_washout:
        return "include"
    return "unobserved" if carryover else "exclude"


def check_washout_mode(washout: str) -> None:
    """Raise ``DataError`` unless ``washout`` is one of ``WASHOUT_MODES``."""
    if washout not in WASHOUT_MODES:
        raise DataError(
            f"unknown washout handling {washout!r}; use one of {', '.join(WASHOUT_MODES)}"
        )


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
        arrays = {
            "active": self.active,
            "day": self.day,
            "block": self.block,
            "period": self.period,
        }
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
            raise DataError(
                f"unknown randomization scheme {self.scheme!r}; use one of {', '.join(SCHEMES)}"
            )

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


# --------------------------------------------------------------------------- from a trial folder

#: Belief of being on the active arm, by the patient's guess.
_BELIEF = {"A": 1.0, "B": 0.0, "unsure": 0.5}


def trial_table(
    trial: Trial | str | Path,
    *,
    allocation: Allocation | None = None,
    without_deviations: bool = False,
    without_late: bool = False,
) -> pd.DataFrame:
    """One row per protocol day (run-in included) with its schedule and diary entry.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    allocation : ``nof1.plan.sealing.Allocation`` or None. When None, the arms come from the
        diary's unblinding record, or from the protocol itself for open-label protocols;
        while the trial is blinded they stay missing. A given allocation is checked
        against the protocol's commitment first.
    without_deviations : the diary as it stood at unblinding, ignoring every record made
        after it (``nof1 record --after-unblinding``).
    without_late : ignoring every late entry (made more than ``RECALL_DAYS`` after its
        day: ``nof1.diary.view.DiaryView.current_entries``).

    Returns
    -------
    pandas.DataFrame with columns

    - ``date`` (datetime64): the calendar day, ``day`` (int): days since the first day;
    - ``block``, ``period`` (Int64, <NA> on run-in days), ``kit`` (string, <NA> on run-in
      days);
    - ``arm`` (string): "A" or "B" once known, <NA> while blinded, "run-in" on run-in days;
    - ``washout``, ``run_in`` (bool);
    - one float column per protocol outcome (NaN when not recorded; binary outcomes 0/1);
    - ``guess`` (string: "A", "B", "unsure" or <NA>), ``adherence`` (Float64: the share
      of the day's doses taken, 0 to 1; <NA> if not said).

    Only the current record of each day is used (corrections replace what they supersede).

    Raises
    ------
    ProtocolError : no trial in the folder.
    BlindingError : a given allocation does not match the protocol's commitment.

    Examples
    --------
    >>> trial_table("mytrial").query("not washout")  # doctest: +SKIP
    """
    from datetime import timedelta

    import pandas as pd  # only the trial table needs it; `analyze --csv` starts faster

    from nof1.plan.sealing import verify_allocation
    from nof1.trial.handle import as_trial

    trial = as_trial(trial)
    protocol = trial.protocol
    entries = {}
    if allocation is not None:
        verify_allocation(protocol, allocation)
    if trial.diary is not None:
        entries = {
            r.entry.date: r.entry
            for r in trial.diary.current_entries(without_deviations, without_late)
        }
        allocation = allocation or trial.diary.allocation()
    if allocation is not None:
        arms = tuple(allocation.arms)
    elif not protocol.blinded and protocol.open_allocation is not None:
        arms = tuple(protocol.open_allocation)
    else:
        arms = None

    rows = []
    for i in range(protocol.n_days):
        d = protocol.start + timedelta(days=i)
        info = protocol.day_info(d)
        p = info.period
        entry = entries.get(d)
        row = {
            "date": pd.Timestamp(d),
            "day": info.day,
            "block": None if p is None else p.block,
            "period": None if p is None else p.index,
            "kit": None if p is None else p.kit,
            "arm": "run-in" if p is None else (None if arms is None else arms[p.index - 1]),
            "washout": info.washout,
            "run_in": p is None,
        }
        for o in protocol.outcomes:
            row[o.name] = np.nan if entry is None else entry.values.get(o.name, np.nan)
        row["guess"] = None if entry is None else entry.guess
        row["adherence"] = None if entry is None else entry.adherence
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.astype(
        {
            "day": "int64",
            "block": "Int64",
            "period": "Int64",
            "kit": "string",
            "arm": "string",
            "washout": "bool",
            "run_in": "bool",
            **{o.name: "float64" for o in protocol.outcomes},
            "guess": "string",
            "adherence": "Float64",
        }
    )


def series_from_trial(
    trial: Trial | str | Path,
    outcome: str | None = None,
    washout: str = "exclude",
    include_run_in: bool = False,
    without_deviations: bool = False,
    allocation: Allocation | None = None,
    without_late: bool = False,
) -> Series:
    """The ``Series`` of one outcome of an unblinded (or open-label) trial.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    outcome : outcome name; the protocol's primary outcome when None.
    washout : ``"exclude"`` (default: washout days are not rows, so carryover and onset
        spill less into the compared days), ``"unobserved"`` (rows without score or guess,
        so that an onset model's exposure starts on each kit's first day) or ``"include"``.
    include_run_in : keep run-in days, as untreated days (``active`` 0, block and period
        0). Only sensible when the control arm is no treatment.
    without_deviations : leave out the records made after unblinding (``trial_table``).
    without_late : leave out the late entries (``trial_table``).
    allocation : the opened allocation, held in memory only (``nof1 interim`` looks at a
        trial that stays blinded); checked against the protocol's commitment.

    Returns
    -------
    Series : one row per kept day (missing scores stay as NaN rows); ``belief`` from the
        guesses (1.0 for A, 0.0 for B, 0.5 unsure, NaN none); direction, bounds and scheme
        from the protocol.

    Raises
    ------
    ProtocolError : no trial in the folder, or an unknown outcome.
    BlindingError : the trial is blinded and not yet unblinded (and no ``allocation`` is
        given), or a given allocation does not match the commitment.
    DataError : an unknown ``washout`` handling.
    """
    from nof1.errors import BlindingError
    from nof1.trial.handle import as_trial

    check_washout_mode(washout)

    trial = as_trial(trial)
    protocol = trial.protocol
    chosen = protocol.primary if outcome is None else protocol.outcome(outcome)
    table = trial_table(
        trial,
        allocation=allocation,
        without_deviations=without_deviations,
        without_late=without_late,
    )
    if table.loc[~table["run_in"], "arm"].isna().any():
        raise BlindingError("the trial is still blinded: run `nof1 unblind` first")
    keep = ~table["run_in"] | include_run_in
    if washout == "exclude":
        keep &= ~table["washout"]
    t = table[keep]
    hidden = t["washout"].to_numpy(dtype=bool) & (washout == "unobserved")
    belief = t["guess"].map(_BELIEF).astype("float64").to_numpy()
    return Series(
        y=np.where(hidden, np.nan, t[chosen.name].to_numpy(dtype=float)),
        active=(t["arm"] == "A").to_numpy(dtype=int),
        day=t["day"].to_numpy(),
        block=t["block"].fillna(0).to_numpy(dtype=int),
        period=t["period"].fillna(0).to_numpy(dtype=int),
        outcome=chosen.name,
        lower_is_better=chosen.lower_is_better,
        low=chosen.low,
        high=chosen.high,
        belief=np.where(hidden, np.nan, belief),
        scheme=protocol.scheme,
    )
