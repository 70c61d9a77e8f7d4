"""Operating characteristics of candidate designs, by simulation (``nof1 design``).

For each candidate (blocks x period length) we simulate many trials under an assumed true
effect and under no effect, analyse each with the exact engine exactly as the pre-registered
analysis would (AR(1) errors, the named prior), and count how often benefit is concluded:
P(benefit >= MCID) above the decision threshold. Every simulated trial draws its own
allocation under the scheme, so the numbers average over the randomization. With ``tau > 0``
the effect builds up and carries over (``nof1.analysis.models.exposure``); the analysis is the
template's (``analysis``): with its onset model (``carryover``) it estimates the time
constant, without it it assumes an instant effect, and the table shows what carryover
costs each design. The onset model is integrated on the design's coarser grids
(``DESIGN_GRID_SIZE`` x ``DESIGN_TAU_POINTS``, see ``nof1.design.looks``).

The decision threshold defaults to the protocol's pre-registered default
(``nof1.plan.protocol.Analysis.threshold``, 0.8), the MCID to 1 NRS point (Salaffi et al. 2004,
docs/sources.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from nof1.analysis.models.exact_batch import BatchFit, fit_exact_batch
from nof1.analysis.models.exact_grid import BATCH_GRID_SIZE, TAU_GRID_SIZE, tau_grid
from nof1.analysis.models.priors import resolve_prior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series, washout_mode
from nof1.design.simulate import Layout, SimulatedBatch, simulate_batch
from nof1.errors import ProtocolError
from nof1.plan.allocation import n_allocations
from nof1.plan.protocol import Analysis
from nof1.plan.templates import check_design

#: Rho and tau grid points of the design's fits with the onset model (the analysis of a
#: real trial uses 100 and 29): P(benefit >= 1) within 0.003 of the fine grids on simulated
#: 4-block magnesium trials, no decision at 0.8 changed (docs/sequential.md, "Grids").
DESIGN_GRID_SIZE = 50
DESIGN_TAU_POINTS = 9
#: Library defaults, the same as a protocol's pre-registered analysis.
DEFAULT_MCID = Analysis.mcid
DEFAULT_THRESHOLD = Analysis.threshold
#: A design is recommended when it reaches this power with at most this false-positive rate.
TARGET_POWER = 0.8
MAX_FALSE_POSITIVE = 0.05
#: A stricter reading shown beside the pre-registered rule: P(any benefit) above this.
STRICT_THRESHOLD = 0.95
#: The most simulated trials per design and scenario: 20,000 give a power within +/-0.7
#: percentage points (95%) and take minutes; more would run for hours to no use.
MAX_SIMS = 20_000
#: Bounds of the assumed effect (points), day-to-day SD, onset time constant (days) and
#: MCID: they keep typos and non-numbers out, not unusual trials.
MAX_EFFECT = MAX_SD = MAX_MCID = 100.0
MAX_TAU_DAYS = 365.0


def check_number(value: Any, what: str) -> float:
    """``value`` as a float; ``ProtocolError`` unless it is a finite number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{what} must be a number, got {value!r}")
    return float(value)


def check_assumptions(effect: float, sd: float, rho: float, tau: float) -> None:
    """Refuse a simulated truth no trial has, naming the value (``ProtocolError``)."""
    if not -MAX_EFFECT <= check_number(effect, "effect") <= MAX_EFFECT:
        raise ProtocolError(
            f"effect must be between -{MAX_EFFECT:g} and {MAX_EFFECT:g} points, got {effect:g}"
        )
    if not 0 < check_number(sd, "sd") <= MAX_SD:
        raise ProtocolError(f"sd must be positive and at most {MAX_SD:g}, got {sd:g}")
    if not -1 < check_number(rho, "rho") < 1:
        raise ProtocolError(f"rho must lie strictly between -1 and 1, got {rho:g}")
    if not 0 <= check_number(tau, "tau") <= MAX_TAU_DAYS:
        raise ProtocolError(f"tau must be 0-{MAX_TAU_DAYS:g} days, got {tau:g}")


def check_sims(sims: Any, least: int) -> None:
    """Refuse a number of simulated trials that is not a whole number from ``least`` to
    ``MAX_SIMS``."""
    if isinstance(sims, bool) or not isinstance(sims, int | np.integer):
        raise ProtocolError(f"sims must be a whole number, got {sims!r}")
    if sims < least:
        raise ProtocolError(f"sims must be at least {least}, got {sims}")
    if sims > MAX_SIMS:
        raise ProtocolError(f"sims must be at most {MAX_SIMS:,}, got {sims:,}")


@dataclass(frozen=True)
class DesignResult:
    """Operating characteristics of one design.

    Parameters
    ----------
    blocks, period_days, washout_days : the design.
    trial_days : calendar days of the whole trial (2 * blocks * period_days).
    power : share of simulated trials under the assumed effect that conclude benefit
        (the decision rule: P(benefit >= MCID) > threshold).
    power_strict : share of simulated trials under the assumed effect with
        P(benefit) > ``STRICT_THRESHOLD`` (0.95): "almost sure it helps at all".
    false_positive : share of simulated trials under no effect that conclude benefit.
    interval_width : mean width of the 95% credible interval of the effect (assumed effect).
    mean_estimate : mean posterior mean of the effect under the assumed effect; with
        carryover (``tau > 0``) it shows how far the unmodelled kinetics shrink the estimate.
    min_p : smallest one-sided p-value the exact randomization test can reach (1 / number
        of allocations the scheme allows, 1/2^blocks for the block scheme).
    sims : simulated trials per scenario.
    scheme : randomization scheme.
    """

    blocks: int
    period_days: int
    washout_days: int
    trial_days: int
    power: float
    power_strict: float
    false_positive: float
    interval_width: float
    mean_estimate: float
    min_p: float
    sims: int
    scheme: str = "block"

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _min_p(blocks: int, scheme: str) -> float:
    # The observed allocation is one of the scheme's equally likely allocations.
    return 1.0 / n_allocations(blocks, scheme)


def analyse_batch(
    batch: SimulatedBatch,
    *,
    prior: str = "neutral",
    trend: str = "none",
    ar1: bool = True,
    carryover: bool = False,
    thresholds: Sequence[float] = (0.0,),
    grid_size: int = BATCH_GRID_SIZE,
    tau_points: int = TAU_GRID_SIZE,
    interval: float | None = 0.95,
) -> BatchFit:
    """Fit the exact engine to every trial of a simulated batch, whatever its allocation.

    ``fit_exact_batch`` fits many series that share one design matrix, so the trials are
    grouped by allocation (at most 2^blocks groups under the block scheme) and the results
    put back in the batch's order.

    Parameters
    ----------
    batch : from ``nof1.design.simulate.simulate_batch``; with ``carryover``, simulated with
        ``washout="unobserved"`` so that exposure starts on the first kit's first day.
    prior, trend, ar1, carryover : the analysis, as in ``nof1.analysis.models.exact.fit_exact``.
    thresholds : the t's of ``BatchFit.p_below`` (P(effect < t)).
    grid_size, tau_points : points of the rho grid and (with ``carryover``) of the tau grid;
        coarser grids for many fits at once (``nof1.design.looks``).
    interval : as in ``fit_exact_batch``; None skips the credible interval.

    Returns
    -------
    BatchFit with one entry per simulated trial, in the batch's order.
    """
    n = len(batch.Y)
    active = np.broadcast_to(batch.active, batch.Y.shape)
    groups: dict[bytes, list[int]] = {}
    for i, row in enumerate(np.broadcast_to(batch.allocations, (n, batch.allocations.shape[1]))):
        groups.setdefault(row.tobytes(), []).append(i)
    fields = ("mean", "sd", "p_below", "lower", "upper", "rho_mean", "n_obs")
    if carryover:
        fields += ("tau_mean",)
        taus, tau_weights = tau_grid(tau_points)
    out: dict[str, np.ndarray] = {}
    for idx in groups.values():
        template = Series(
            y=np.full(len(batch.day), np.nan),
            active=active[idx[0]],
            day=batch.day,
            block=batch.block,
            period=batch.period,
        )
        X, names = design_matrix(template, trend)
        grid = {}
        if carryover:
            X = np.stack([design_matrix(template, trend, tau=t)[0] for t in taus])
            grid = {"tau": taus, "tau_weights": tau_weights}
        res = fit_exact_batch(
            batch.Y[idx], X, batch.day, resolve_prior(prior, template, names),
            ar1=ar1, thresholds=thresholds, grid_size=grid_size, interval=interval, **grid,
        )  # fmt: skip
        for f in fields:
            value = getattr(res, f)
            if f not in out:
                out[f] = np.empty((n, *value.shape[1:]), dtype=value.dtype)
            out[f][idx] = value
    return BatchFit(thresholds=np.asarray(thresholds, dtype=float), **out)


def _conclusions(
    layout: Layout,
    effect: float,
    *,
    sd: float,
    rho: float,
    tau: float,
    mcid: float,
    threshold: float,
    sims: int,
    analysis: Analysis,
    rng: np.random.Generator,
    interval: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Per simulated trial: benefit concluded (bool), P(benefit) > STRICT_THRESHOLD (bool),
    95% interval width (None without ``interval``: its quantiles are half the work),
    posterior mean."""
    a = analysis
    washout = washout_mode(a.exclude_washout, a.carryover)
    batch = simulate_batch(
        layout, None, sims, effect=effect, sd=sd, rho=rho, tau=tau, washout=washout, rng=rng
    )
    grids = {"grid_size": DESIGN_GRID_SIZE, "tau_points": DESIGN_TAU_POINTS} if a.carryover else {}
    res = analyse_batch(
        batch, prior=a.prior, trend=a.trend, ar1=a.ar1, carryover=a.carryover,
        thresholds=(-mcid, 0.0), interval=0.95 if interval else None, **grids,
    )  # fmt: skip
    # Pain: lower is better, so benefit >= MCID means effect <= -MCID.
    return (
        res.p_below[:, 0] > threshold,
        res.p_below[:, 1] > STRICT_THRESHOLD,
        res.upper - res.lower if interval else None,
        res.mean,
    )


def evaluate_designs(
    blocks: Iterable[int] = (2, 3, 4, 6),
    period_days: Iterable[int] = (7, 14),
    washout_days: int = 0,
    *,
    effect: float = -1.5,
    sd: float = 1.5,
    rho: float = 0.5,
    tau: float = 0.0,
    mcid: float = DEFAULT_MCID,
    threshold: float = DEFAULT_THRESHOLD,
    sims: int = 2000,
    prior: str = "neutral",
    scheme: str = "block",
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    analysis: Analysis | None = None,
) -> list[DesignResult]:
    """Simulate every candidate design and report its operating characteristics.

    Parameters
    ----------
    blocks, period_days : candidate numbers of blocks and period lengths (days); every
        combination is evaluated.
    washout_days : washout days at the start of each period (not analysed).
    effect : assumed true effect of the active arm in NRS points (negative = less pain).
    sd, rho : day-to-day SD and lag-1 autocorrelation of pain.
    tau : onset/carryover time constant in days for the simulation.
    mcid : minimal clinically important difference (NRS points).
    threshold : benefit is concluded when P(benefit >= mcid) exceeds it.
    sims : simulated trials per design and scenario (assumed effect, no effect).
    prior : named prior of the analysis.
    scheme : randomization scheme.
    seed : seed of the simulation; results are reproducible from it.
    progress : called with 1 after each design (e.g. a click progress bar's ``update``).
    analysis : the pre-registered analysis each simulated trial gets (a template's
        ``Protocol.analysis``: trend, AR(1), onset model, washout days); its ``prior`` is
        replaced by ``prior``. None: the default analysis (instant effect, AR(1), no trend).

    Returns
    -------
    list of DesignResult, ordered by trial length then blocks.

    Raises
    ------
    ProtocolError : an impossible design or a bad option value.

    Example
    -------
    >>> r = evaluate_designs(blocks=(4,), period_days=(14,), sims=200, seed=1)
    >>> r[0].trial_days, r[0].min_p
    (112, 0.0625)
    """
    blocks, period_days = tuple(blocks), tuple(period_days)
    if not blocks or not period_days:
        raise ProtocolError("give at least one number of blocks and one period length")
    check_sims(sims, least=10)
    if not 0.5 <= check_number(threshold, "threshold") < 1:
        raise ProtocolError(f"threshold must be in 0.5-1, got {threshold:g}")
    if not 0 < check_number(mcid, "mcid") <= MAX_MCID:
        raise ProtocolError(f"mcid must be positive and at most {MAX_MCID:g}, got {mcid:g}")
    check_assumptions(effect, sd, rho, tau)
    layouts = []
    for b in blocks:
        for p in period_days:
            check_design(b, p, washout_days, 0, scheme)
            layouts.append(Layout(b, p, washout_days, 0, scheme))
    layouts.sort(key=lambda lay: (lay.n_days, lay.blocks))
    rng = np.random.default_rng(seed)
    out = []
    for layout in layouts:
        kw = {
            "sd": sd,
            "rho": rho,
            "tau": tau,
            "mcid": mcid,
            "threshold": threshold,
            "sims": sims,
            "analysis": replace(analysis or Analysis(), prior=prior),
            "rng": rng,
        }
        hit, strict, width, estimate = _conclusions(layout, effect, **kw)
        false_hit, _, _, _ = _conclusions(layout, 0.0, interval=False, **kw)
        out.append(
            DesignResult(
                blocks=layout.blocks,
                period_days=layout.period_days,
                washout_days=layout.washout_days,
                trial_days=layout.n_days,
                power=float(hit.mean()),
                power_strict=float(strict.mean()),
                false_positive=float(false_hit.mean()),
                interval_width=float(width.mean()),
                mean_estimate=float(estimate.mean()),
                min_p=_min_p(layout.blocks, scheme),
                sims=sims,
                scheme=scheme,
            )
        )
        if progress is not None:
            progress(1)
    return out


def recommend(
    results: Iterable[DesignResult],
    power: float = TARGET_POWER,
    max_false_positive: float = MAX_FALSE_POSITIVE,
) -> DesignResult | None:
    """The shortest design with enough power and few enough false positives, or None.

    Ties in length go to the design with more blocks (a finer randomization test).
    """
    ok = [r for r in results if r.power >= power and r.false_positive <= max_false_positive]
    if not ok:
        return None
    return min(ok, key=lambda r: (r.trial_days, -r.blocks))


def protocol_command(result: DesignResult, template: str = "generic-ab") -> str:
    """The ``nof1 protocol new`` command that turns a design into a protocol.

    Example
    -------
    >>> r = DesignResult(4, 14, 0, 112, 0.85, 0.9, 0.03, 2.1, -1.5, 0.0625, 2000)
    >>> protocol_command(r, "magnesium-crps")
    'nof1 protocol new --template magnesium-crps --blocks 4 --period-days 14 --washout-days 0'
    """
    command = (
        f"nof1 protocol new --template {template} --blocks {result.blocks} "
        f"--period-days {result.period_days} --washout-days {result.washout_days}"
    )
    return command if result.scheme == "block" else f"{command} --scheme {result.scheme}"
