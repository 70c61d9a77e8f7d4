"""Exposure to the active treatment under first-order onset and carryover kinetics.

No primary source gives the time course of oral magnesium (docs/sources.md, "Onset and
carryover"): the IV pilot reported relief lasting up to 12 weeks and the back-pain trial
separated from placebo only after weeks. So the effect may build up slowly after a switch to
the active arm and fade slowly after a switch away from it. A single time constant ``tau``
(days) models both: each day exposure moves a fraction ``1 - exp(-1/tau)`` of the way towards
the arm taken that day. The simulator and ``nof1 design`` use it to show what carryover does
to a design analysed as if the effect were instant.
"""

from __future__ import annotations

import numpy as np

from nof1.errors import DataError


def exposure(active: np.ndarray, day: np.ndarray, tau: float) -> np.ndarray:
    """Exposure to the active arm on each row, under first-order kinetics.

    Day by day, ``E_t = a_t + (E_{t-1} - a_t) * exp(-1/tau)`` with ``E = 0`` before the first
    day and ``a_t`` the arm (1 active, 0 control) on day ``t``. Days missing from ``day``
    (washout days at the start of a period, left out of the analysis) still pass and take
    the arm of the next present row, since the new period's kit is already being taken.

    Parameters
    ----------
    active : 0/1 array, the arm on each row.
    day : int array, strictly increasing, the day of each row.
    tau : onset/carryover time constant in days: after a switch, ``exp(-d/tau)`` of the old
        arm's exposure remains ``d`` days later (half-life ``tau * ln 2``). ``tau <= 0``
        means instant onset and no carryover (``E = a``).

    Returns
    -------
    float array of the same length as ``active``: exposure in [0, 1] on each row.

    Raises
    ------
    DataError : arrays of different length, days not strictly increasing, arms not 0/1.

    Example
    -------
    >>> exposure(np.array([1, 1, 0]), np.array([0, 1, 2]), tau=0).tolist()
    [1.0, 1.0, 0.0]
    >>> np.round(exposure(np.array([1, 1]), np.array([0, 1]), tau=1.0), 3).tolist()
    [0.632, 0.865]
    """
    a = np.asarray(active, dtype=float)
    d = np.asarray(day, dtype=np.int64)
    if a.shape != d.shape or a.ndim != 1:
        raise DataError(f"active has shape {a.shape} but day has shape {d.shape}; need equal 1-D")
    if a.size and not np.isin(a, (0.0, 1.0)).all():
        raise DataError("active must hold only 0 (control) and 1 (active)")
    if a.size > 1 and np.any(np.diff(d) <= 0):
        raise DataError("days must be strictly increasing")
    if tau <= 0 or a.size == 0:
        return a.copy()
    k = np.exp(-1.0 / tau)
    out = np.empty_like(a)
    e = 0.0
    prev = d[0] - 1
    for i in range(a.size):
        # The gap days before row i take row i's arm: closed form over (d_i - prev) steps.
        steps = d[i] - prev
        e = a[i] + (e - a[i]) * k**steps
        out[i] = e
        prev = d[i]
    return out
