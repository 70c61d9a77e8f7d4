"""Figures of the clinician's report, returned as ``data:image/png;base64,...`` URIs.

The report must be one file a clinician can open offline or print, so every figure is a PNG
embedded as a data URI. Figures are drawn on bare ``matplotlib.figure.Figure`` objects with
the Agg canvas: no pyplot, no global backend switch, safe in a notebook or a server, and
matplotlib is only imported when a report is actually built.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Arm colours: colour-blind safe (Okabe-Ito blue and orange) and distinct in grey print.
ARM_COLOURS = {"A": "#0072B2", "B": "#E69F00"}
RUN_IN_COLOUR = "#bbbbbb"
_INK = "#222222"
_DPI = 130


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors=_INK)
    ax.xaxis.label.set_size(9)
    ax.yaxis.label.set_size(9)


def to_data_uri(fig: Any) -> str:
    """Render a figure as a PNG data URI (``data:image/png;base64,...``)."""
    buf = io.BytesIO()
    # Fixed metadata keeps the bytes of a report reproducible for a given input.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def timeseries_png(
    days: pd.DataFrame,
    *,
    outcome_label: str,
    arm_names: dict[str, str],
    low: float | None = None,
    high: float | None = None,
) -> str:
    """Daily scores over the trial, periods shaded by arm.

    Parameters
    ----------
    days : one row per calendar day, columns ``x`` (dates or day numbers), ``value`` (NaN
        when not recorded), ``arm`` (``"A"``, ``"B"``, ``"run-in"``), ``period`` (int, 0 on
        run-in days) and ``washout`` (bool).
    outcome_label : y-axis label.
    arm_names : ``{"A": "Magnesium", "B": "Placebo"}``, for the legend.
    low, high : bounds of the scale for the y-axis, None to fit the data.

    Returns
    -------
    str : a PNG data URI. Missing days show as gaps in the line and as red ticks under
    the axis; washout days are hatched; run-in days are grey.
    """
    from matplotlib.patches import Patch

    fig = _figure(7.2, 2.4)
    ax = fig.add_subplot()
    x = days["x"].to_numpy()
    is_date = np.issubdtype(np.asarray(x).dtype, np.datetime64)
    step = np.timedelta64(1, "D") if is_date else 1
    half = step / 2
    y = days["value"].to_numpy(dtype=float)
    arm = days["arm"].astype("string").fillna("").to_numpy()
    washout = days["washout"].to_numpy(dtype=bool)
    period = days["period"].fillna(0).to_numpy(dtype=int)

    # One shaded span per period (and the run-in), then hatched washout days on top.
    change = np.flatnonzero(np.r_[True, (period[1:] != period[:-1]) | (arm[1:] != arm[:-1])])
    ends = np.r_[change[1:], len(x)]
    for s, e in zip(change, ends, strict=True):
        colour = ARM_COLOURS.get(arm[s], RUN_IN_COLOUR)
        ax.axvspan(x[s] - half, x[e - 1] + half, color=colour, alpha=0.16, lw=0)
        if arm[s] in ARM_COLOURS:
            ax.text(
                x[s] + (x[e - 1] - x[s]) / 2,
                1.01,
                arm[s],
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
                fontweight="bold",
                color=ARM_COLOURS[arm[s]],
                clip_on=False,
            )
    # Washout runs hatched as one block each (a hatch needs an edge colour to show).
    w_start = np.flatnonzero(washout & ~np.r_[False, washout[:-1]])
    w_end = np.flatnonzero(washout & ~np.r_[washout[1:], False])
    for a, b in zip(w_start, w_end, strict=True):
        ax.axvspan(
            x[a] - half,
            x[b] + half,
            facecolor="white",
            alpha=0.55,
            edgecolor="#666666",
            hatch="////",
            lw=0.4,
        )
    ax.plot(x, y, color=_INK, lw=1.0, zorder=3)
    for code, colour in ARM_COLOURS.items():
        on = (arm == code) & ~washout
        ax.plot(x[on], y[on], "o", ms=2.6, color=colour, zorder=4)
    off = (arm == "run-in") | washout
    ax.plot(x[off], y[off], "o", ms=2.6, mfc="white", mec="#555555", mew=0.7, zorder=4)
    missing = np.isnan(y)
    if missing.any():
        ax.plot(
            x[missing],
            np.zeros(missing.sum()),
            "|",
            ms=7,
            color="#c0392b",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            zorder=5,
        )
    if low is not None and high is not None:
        ax.set_ylim(low - 0.3, high + 0.3)
    ax.set_xlim(x[0] - half, x[-1] + half)
    ax.set_ylabel(outcome_label)
    ax.set_xlabel("date" if is_date else "day")
    # Room above the axes for the A/B labels of the periods.
    ax.set_title(" ", pad=6, fontsize=8)
    if is_date:
        import matplotlib.dates as mdates

        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    _style(ax)
    handles = [
        Patch(color=ARM_COLOURS["A"], alpha=0.35, label=f"A: {arm_names['A']}"),
        Patch(color=ARM_COLOURS["B"], alpha=0.35, label=f"B: {arm_names['B']}"),
    ]
    if washout.any():
        handles.append(
            Patch(
                facecolor="white", edgecolor="#777777", hatch="////", label="washout (not analysed)"
            )
        )
    if (arm == "run-in").any():
        handles.append(Patch(color=RUN_IN_COLOUR, alpha=0.4, label="run-in (baseline)"))
    if missing.any():
        from matplotlib.lines import Line2D

        handles.append(
            Line2D([], [], ls="", marker="|", ms=7, color="#c0392b", label="missing day")
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7.5, frameon=False
    )
    return to_data_uri(fig)


def posterior_png(
    x: np.ndarray,
    density: np.ndarray,
    *,
    mcid: float,
    lower_is_better: bool,
    interval: tuple[float, float],
    unit: str = "points",
) -> str:
    """Posterior density of the effect with 0, the MCID and the ROPE (+-MCID/2) marked.

    Parameters
    ----------
    x, density : the density on a grid of effect values (active minus control).
    mcid : minimal clinically important difference, in outcome units.
    lower_is_better : True when a negative effect is a benefit (pain).
    interval : the 95% credible interval, shaded under the curve.
    unit : unit of the outcome for the axis label.

    Returns
    -------
    str : a PNG data URI.
    """
    fig = _figure(4.4, 2.3)
    ax = fig.add_subplot()
    benefit = -1.0 if lower_is_better else 1.0
    ax.axvspan(
        -mcid / 2,
        mcid / 2,
        color="#999999",
        alpha=0.18,
        lw=0,
        label=f"ROPE (±{mcid / 2:g}): no practical difference",
    )
    ax.plot(x, density, color=ARM_COLOURS["A"], lw=1.6)
    inside = (x >= interval[0]) & (x <= interval[1])
    ax.fill_between(
        x[inside],
        density[inside],
        color=ARM_COLOURS["A"],
        alpha=0.25,
        lw=0,
        label="95% credible interval",
    )
    ax.axvline(0, color=_INK, lw=1.0, label="0: no effect")
    ax.axvline(
        benefit * mcid,
        color="#009E73",
        lw=1.2,
        ls="--",
        label=f"MCID ({benefit * mcid:+g}): smallest worthwhile benefit",
    )
    ax.set_ylim(bottom=0)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(
        f"effect of A minus B ({unit});  "
        + ("← benefit: left of 0" if lower_is_better else "benefit: right of 0 →")
    )
    _style(ax)
    fig.legend(
        loc="outside lower center",
        ncol=2,
        fontsize=7,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
    )
    return to_data_uri(fig)


def forest_png(
    rows: Sequence[tuple[str, float, float, float]], *, mcid: float, lower_is_better: bool
) -> str:
    """A small forest plot: one row per prior, posterior mean and 95% interval.

    Parameters
    ----------
    rows : ``(label, mean, low, high)`` per prior, drawn top to bottom.
    mcid, lower_is_better : as in ``posterior_png``.

    Returns
    -------
    str : a PNG data URI.
    """
    fig = _figure(3.4, 0.5 + 0.36 * len(rows))
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    ax.axvspan(-mcid / 2, mcid / 2, color="#999999", alpha=0.18, lw=0)
    ax.axvline(0, color=_INK, lw=0.9)
    ax.axvline((-1 if lower_is_better else 1) * mcid, color="#009E73", lw=1.0, ls="--")
    for yv, (_label, mean, lo, hi) in zip(ys, rows, strict=True):
        ax.plot([lo, hi], [yv, yv], color=ARM_COLOURS["A"], lw=2)
        ax.plot([mean], [yv], "o", color=ARM_COLOURS["A"], ms=5)
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("effect, A minus B (95% interval)")
    _style(ax)
    return to_data_uri(fig)


def ppc_png(day: np.ndarray, observed: np.ndarray, replicated: np.ndarray) -> str:
    """Posterior predictive check: observed days against series replicated from the model.

    Parameters
    ----------
    day : day numbers of the analysed days.
    observed : the observed values (NaN on missing days).
    replicated : (draws, days) replicated series on the same days.

    Returns
    -------
    str : a PNG data URI with two panels: the observed series inside the 50% and 90%
    bands of the replicates, and the distribution of daily values (observed against a few
    replicates).
    """
    fig = _figure(5.4, 2.0)
    left, right = fig.subplots(1, 2, width_ratios=[1.9, 1])
    q05, q25, q75, q95 = np.nanpercentile(replicated, [5, 25, 75, 95], axis=0)
    left.fill_between(
        day, q05, q95, color=ARM_COLOURS["A"], alpha=0.15, lw=0, label="90% of replicates"
    )
    left.fill_between(
        day, q25, q75, color=ARM_COLOURS["A"], alpha=0.3, lw=0, label="50% of replicates"
    )
    left.plot(day, observed, ".", color=_INK, ms=3, label="observed")
    left.set_xlabel("day")
    left.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    _style(left)
    obs = observed[~np.isnan(observed)]
    lo = float(np.nanmin([obs.min(), np.nanpercentile(replicated, 0.5)]))
    hi = float(np.nanmax([obs.max(), np.nanpercentile(replicated, 99.5)]))
    if np.all(obs == np.round(obs)):
        # Whole-number scores (an NRS): one bin per score, else the histogram shows comb gaps.
        bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0)
    else:
        bins = np.linspace(lo, hi, 18)
    for rep in replicated[: min(20, len(replicated))]:
        right.hist(
            rep[~np.isnan(rep)],
            bins=bins,
            density=True,
            histtype="step",
            color=ARM_COLOURS["A"],
            alpha=0.3,
            lw=0.8,
        )
    right.hist(obs, bins=bins, density=True, histtype="step", color=_INK, lw=1.6)
    right.set_yticks([])
    right.spines["left"].set_visible(False)
    right.set_xlabel("daily value\n(black: observed)")
    _style(right)
    return to_data_uri(fig)
