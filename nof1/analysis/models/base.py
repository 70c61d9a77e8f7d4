"""What a fitted personal model hands to the summary stage, whichever engine made it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Thresholds a fit must pass before any verdict is given (Vehtari et al. 2021 for R-hat/ESS).
RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics. The exact engine has none to fail: ``ok`` is True, fields None."""

    ok: bool
    rhat_max: float | None = None
    ess_bulk_min: float | None = None
    ess_tail_min: float | None = None
    divergences: int | None = None
    messages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "divergences": self.divergences,
            "messages": list(self.messages),
        }


@dataclass(frozen=True)
class Fit:
    """A fitted personal model.

    Parameters
    ----------
    engine : ``"exact"`` or ``"mcmc"``.
    prior : name of the prior (``vague``, ``neutral``, ``sceptical``).
    likelihood : ``normal``, ``student`` or ``ordinal``.
    coef_names : regression column names (``nof1.analysis.models.regression.design_matrix``).
    draws : posterior draws, 1-D arrays of equal length (chains pooled): ``effect`` and every
        coefficient name, ``sigma``, and ``rho`` when the model has AR(1) errors.
    diagnostics : convergence diagnostics.
    exact : the exact engine's analytic posterior (None for MCMC); when present, the summary
        takes means, sds and probabilities from it rather than from the draws.
    idata : ArviZ InferenceData (MCMC only), for plots and posterior predictive checks.
    """

    engine: str
    prior: str
    likelihood: str
    coef_names: tuple[str, ...]
    draws: dict[str, np.ndarray]
    diagnostics: Diagnostics
    exact: Any = None
    idata: Any = None
    options: dict[str, Any] = field(default_factory=dict)
