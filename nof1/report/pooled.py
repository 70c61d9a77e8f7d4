"""The pooled analysis as one self-contained HTML page, with a forest plot.

This renders a ``nof1.research.pool.PoolResult``; the pool stage below it knows nothing of HTML.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nof1.plan.files import write_output

if TYPE_CHECKING:
    from nof1.analysis.models.fastpool import Estimate
    from nof1.research.pool import PoolResult

#: Series shown in the forest plot (the table lists all of them).
FOREST_MAX = 60


def forest_png(result: PoolResult) -> str:
    """A forest plot: each series' unpooled and shrunken effect, mu and the new patient.

    At most ``FOREST_MAX`` series are drawn (the first ones, in file order); the report's
    table lists all of them. Returns a PNG data URI.
    """
    # The personal report's figure helpers: a bare Agg figure, no global pyplot backend.
    from nof1.report.plots import _figure, to_data_uri

    t = result.series.head(FOREST_MAX)
    n = len(t)
    fig = _figure(7, 1.6 + 0.28 * (n + 3))
    ax = fig.add_subplot()
    ypos = np.arange(n)[::-1] + 3
    z = 1.959963984540054
    ax.errorbar(
        t["unpooled_mean"],
        ypos + 0.15,
        xerr=z * t["unpooled_sd"],
        fmt="o",
        color="0.6",
        ms=3,
        lw=1,
        label="unpooled (95% interval)",
    )
    ax.errorbar(
        t["pooled_mean"],
        ypos - 0.15,
        xerr=[t["pooled_mean"] - t["pooled_lower"], t["pooled_upper"] - t["pooled_mean"]],
        fmt="s",
        color="C0",
        ms=3,
        lw=1,
        label="pooled (95% interval)",
    )
    for yv, est, label, colour in (
        (1.5, result.mu, "average (mu)", "C3"),
        (0.5, result.new_patient, "new patient", "C2"),
    ):
        ax.errorbar(
            [est.mean],
            [yv],
            xerr=[[est.mean - est.lower], [est.upper - est.mean]],
            fmt="D",
            color=colour,
            ms=5,
            lw=2,
            label=label,
        )
    ax.axvline(0.0, color="k", lw=0.8)
    sign = -1.0 if result.outcome.lower_is_better else 1.0
    ax.axvline(
        sign * result.mcid, color="k", lw=0.8, ls=":", label=f"MCID ({sign * result.mcid:+g})"
    )
    ax.set_yticks([*ypos, 1.5, 0.5], [*[s[:8] for s in t["series_id"]], "mu", "new"], fontsize=7)
    ax.set_xlabel(f"effect of A over B on {result.outcome.name}")
    ax.legend(fontsize=7, loc="upper right")
    return to_data_uri(fig)


def render_html(result: PoolResult) -> str:
    """The pooled report as one self-contained HTML page (figure embedded, no links out)."""
    e = html.escape
    d = result.diagnostics
    forest = forest_png(result)
    better = "lower" if result.outcome.lower_is_better else "higher"

    def row(label: str, est: Estimate) -> str:
        return (
            f"<tr><td>{e(label)}</td><td>{est.mean:+.2f}</td><td>{est.sd:.2f}</td>"
            f"<td>{est.lower:+.2f} to {est.upper:+.2f}</td></tr>"
        )

    if result.conclusion is None:
        verdict = (
            "<p class='warn'><strong>No conclusion:</strong> the fit failed its convergence "
            "checks ("
            + e("; ".join(d.messages))
            + "): no number below may be used. "
            + e(result.advice)
            + "</p>"
        )
    else:
        verdict = f"<p><strong>{e(result.conclusion)}</strong></p>"
    diag = (
        "none to check (analytic)"
        if d.rhat_max is None
        else f"max R-hat {d.rhat_max:.3f}, min bulk ESS {d.ess_bulk_min:.0f}, "
        f"min tail ESS {d.ess_tail_min:.0f}, {d.divergences} divergences"
    )
    rows = "".join(
        f"<tr><td>{e(r.series_id)}</td><td>{e(r.file)}</td><td>{r.n_days}</td>"
        f"<td>{r.unpooled_mean:+.2f} ({r.unpooled_sd:.2f})</td><td>{r.pooled_mean:+.2f}</td>"
        f"<td>{r.pooled_lower:+.2f} to {r.pooled_upper:+.2f}</td></tr>"
        for r in result.series.itertuples()
    )
    shown = min(len(result.series), FOREST_MAX)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>nof1 pooled analysis: {e(result.outcome.name)}</title>
<style>
body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.warn{{background:#fee;padding:.6em;border:1px solid #c66}}
img{{max-width:100%}}
</style></head><body>
<h1>Pooled analysis of {len(result.series)} n-of-1 series: {e(result.outcome.name)}</h1>
<p>Effect = active (A) minus control (B) on a {result.outcome.low:g}-{result.outcome.high:g} scale;
{better} is better. Engine: {e(result.engine)} ({e(result.likelihood)} likelihood).
MCID: {result.mcid:g}.</p>
{verdict}
<table><tr><th>quantity</th><th>mean</th><th>sd</th><th>95% HDI</th></tr>
{row("average effect (mu)", result.mu)}
{row("between-patient sd (tau)", result.tau)}
{row("effect for a new patient", result.new_patient)}
</table>
<table><tr><th>probability</th><th>value</th></tr>
<tr><td>P(average effect is a benefit)</td><td>{result.p_mu_benefit:.3f}</td></tr>
<tr><td>P(a new patient benefits)</td><td>{result.p_new_benefit:.3f}</td></tr>
<tr><td>P(a new patient benefits by at least the MCID)</td><td>{result.p_new_mcid:.3f}</td></tr>
</table>
<p>Diagnostics: {e(diag)}.</p>
<p>Priors: mu ~ {e(result.priors["mu"])}, tau ~ {e(result.priors["tau"])};
unpooled estimates: {e(result.priors["unpooled"])}.</p>
<h2>Forest plot</h2>
<p>Grey: each series alone; blue: shrunken towards the average by the pooled model
({shown} of {len(result.series)} series shown).</p>
<img alt="forest plot" src="{forest}">
<h2>Series</h2>
<table><tr><th>series id</th><th>file</th><th>days</th><th>unpooled mean (sd)</th>
<th>pooled mean</th><th>pooled 95% interval</th></tr>
{rows}
</table>
</body></html>
"""


def write_pool_report(result: PoolResult, path: str | Path, *, force: bool = False) -> Path:
    """Write the pooled report (``render_html``) to ``path``, readable by its owner only.

    Check the path with ``nof1.plan.files.check_output`` before a long fit, so that a bad
    ``--out`` fails at once; it is checked again here.

    Returns
    -------
    Path : the file written.

    Raises
    ------
    OutputError : ``path`` is a trial's file, a folder, in a missing folder, or an existing
        file and ``force`` is False; or it cannot be written.

    Example
    -------
    >>> write_pool_report(pool_files(["a.csv", "b.csv"]), "pool.html")  # doctest: +SKIP
    """
    return write_output(
        path, render_html(result).encode("utf-8"), force=force, what="pooled report"
    )
