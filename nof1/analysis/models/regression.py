"""The regression both personal engines fit: one design matrix, shared column names.

Mean model for day t: ``intercept + effect * (x_t - xbar) (+ trend terms)`` with AR(1)
errors (see ``nof1.analysis.models.exact``), where ``x_t`` is ``active_t`` or, with an onset/carryover
time constant ``tau > 0``, the exposure ``E_t(tau)`` of ``nof1.analysis.models.exposure``: given tau
the model is still linear in the effect. The treatment column is centred on its mean
``xbar`` over the series' rows (0.5 in a balanced design without onset), so the intercept is
the mean level over both arms, not the control arm's level: the intercept's prior (centred
on the scale's midpoint) then says nothing about the effect, which it would pull towards
``midpoint - control level`` otherwise. Column order is fixed: ``intercept``, ``effect``,
then trend columns. Both engines and the priors key on these names, so the exact and the
PyMC engine fit literally the same model.
"""

from __future__ import annotations

import numpy as np

from nof1.analysis.models.exposure import exposure
from nof1.analysis.series import Series
from nof1.errors import ModelError
from nof1.plan.protocol import TRENDS


def design_matrix(
    series: Series, trend: str = "none", tau: float = 0.0
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Build the design matrix of a series (all rows, missing days included).

    Parameters
    ----------
    series : the series to model; ``effect``'s column is ``active`` (or the exposure)
        minus its mean over all rows (missing days included, so that simulated trials
        sharing a calendar share it).
    trend : ``"none"``; ``"linear"`` adds ``trend`` = (day - mean day) / 7, so its
        coefficient is the change per week; ``"block"`` adds ``block2`` .. ``blockK``
        indicator columns (block 1 is the reference).
    tau : onset/carryover time constant in days; above 0 the ``effect`` column is the
        exposure ``E_t(tau)`` (``nof1.analysis.models.exposure``), which starts at 0 on the series'
        first row: keep washout days as unobserved rows (``y`` NaN) so it starts on the
        first kit's first day.

    Returns
    -------
    (X, names) : float array of shape (n_days, n_columns) and the column names.

    Raises
    ------
    ModelError : unknown trend.
    """
    if trend not in TRENDS:
        raise ModelError(f"unknown trend {trend!r}; use one of {', '.join(TRENDS)}")
    n = len(series.y)
    x = exposure(series.active, series.day, tau)
    cols = [np.ones(n), x - x.mean()]
    names = ["intercept", "effect"]
    if trend == "linear":
        cols.append((series.day - series.day.mean()) / 7.0)
        names.append("trend")
    elif trend == "block":
        for b in np.unique(series.block)[1:]:
            cols.append((series.block == b).astype(float))
            names.append(f"block{b}")
    return np.column_stack(cols), tuple(names)
