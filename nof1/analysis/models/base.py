"""What a fitted personal model hands to the summary stage, whichever engine made it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Thresholds a fit must pass before any verdict is given (Vehtari et al. 2021 for R-hat/ESS).
RHAT_MAX = 1.01
ESS_MIN = 400
#: Chains the exact engines' independent draws are split into in ``inference_data``: as many
#: as the MCMC engine runs by default, so that ArviZ's R-hat (which needs two or more) works.
EXACT_CHAINS = 4
#: The most posterior draws per chain, tuning steps and chains an analysis takes: ten to
#: twenty times the defaults is already more than any summary needs; beyond, a typo would
#: run for hours or exhaust memory (the exact engine keeps draws x chains draws).
MAX_DRAWS = 20_000
MAX_TUNE = 20_000
MAX_CHAINS = 16


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
    idata : ArviZ InferenceData (MCMC only), for plots and posterior predictive checks;
        ``inference_data(fit)`` gives one for every engine.
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


def inference_data(fit: Fit) -> Any:
    """The fit's posterior as ArviZ InferenceData, whichever engine made it.

    Parameters
    ----------
    fit : a fit of either engine.

    Returns
    -------
    arviz.InferenceData
        For MCMC, the sampler's own (``fit.idata``). For the exact engines (the Gaussian
        AR(1) model and the yes/no model), a ``posterior`` group with one variable per entry
        of ``fit.draws`` (e.g. ``effect``, ``intercept``, ``sigma``, ``rho``, ``tau``; or
        ``rate_a``, ``rate_b``, ``effect``, ``ratio``), dims (chain, draw): the fit's own
        independent draws from the exact posterior, made with the analysis' seed, split in
        order into ``EXACT_CHAINS`` chains (fewer when their number does not divide evenly).

    Example
    -------
    >>> idata = inference_data(fit_exact(series, seed=1))     # doctest: +SKIP
    >>> idata.posterior["effect"].dims                        # doctest: +SKIP
    ('chain', 'draw')
    """
    if fit.idata is not None:
        return fit.idata
    # Imported here: an exact analysis never loads ArviZ unless its InferenceData is asked for.
    import arviz as az

    n = len(fit.draws["effect"])
    # Independent draws: any split into chains is as good as another.
    chains = math.gcd(n, EXACT_CHAINS)
    posterior = {k: np.asarray(v, dtype=float).reshape(chains, -1) for k, v in fit.draws.items()}
    attrs = {
        "inference_library": "nof1",
        "engine": fit.engine,
        "prior": fit.prior,
        "likelihood": fit.likelihood,
    }
    return az.from_dict(posterior=posterior, posterior_attrs=attrs)
