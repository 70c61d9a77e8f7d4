"""Calibration of the personal engines by simulation; writes docs/validation.md.

1. Simulation-based calibration (SBC; Talts et al. 2018): draw the parameters
   from the prior, data from the model, fit; the rank of the true value among M posterior
   draws is uniform on 0..M when inference is right. Chi-square test over J bins.
   - exact engine: M = 999 independent draws, J = 20 bins, many replications (cheap);
   - PyMC engine: draws thinned to about their effective sample size (99 evenly spaced
     draws from 2 chains with ESS above 99 each fit), J = 10 bins, fewer replications.
2. Coverage of the 95% credible interval of the exact engine across rho in {0, 0.5, 0.8}
   and trend settings (data with or without a drift, analysed with or without a trend
   term), 2,000 simulated trials each.
3. False positives under no effect with rho = 0.8: nof1 against a daily t-test and a
   period-means t-test, the analyses that ignore or coarsen the autocorrelation.

    python bench/calibration.py [--study NAME ...] [--exact-reps 1000] [--mcmc-reps 100]
                                [--trials 2000] [--seed 2018]

Each study writes its own section of docs/validation.md, between the markers
``<!-- study:NAME -->`` and ``<!-- /study:NAME -->``, and leaves the other sections as they
are, so one study can be re-run without re-running the rest. ``--study`` may be given
several times; without it every study runs. Register a new study with ``@study("name")``.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from nof1.design import analyse_batch  # noqa: E402
from nof1.models.exact import fit_exact  # noqa: E402
from nof1.models.priors import resolve_prior  # noqa: E402
from nof1.models.regression import design_matrix  # noqa: E402
from nof1.simulate import Layout, simulate_batch, simulate_series  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIGS = DOCS / "figures"
#: The design every study uses: 4 blocks of 14-day periods, no washout (112 days).
LAYOUT = Layout(blocks=4, period_days=14)
PARAMS = ("effect", "intercept", "sigma", "rho")


# ------------------------------------------------------------------------------ SBC


def draw_from_prior(prior, rng: np.random.Generator) -> dict[str, float]:
    """One draw of (beta, sigma, rho) from the engines' shared prior (``priors.py``)."""
    sigma2 = prior.b0 / rng.gamma(prior.a0)
    beta = rng.normal(prior.m0, np.sqrt(sigma2 * prior.v0))
    theta = dict(zip(prior.coef_names, beta, strict=True))
    theta["sigma"] = float(np.sqrt(sigma2))
    theta["rho"] = float(rng.uniform(-1, 1))
    return theta


def simulate_from_prior(prior_name: str, rng: np.random.Generator):
    """A series drawn from the prior predictive of the neutral model, and its truth."""
    template = simulate_series(LAYOUT, effect=0.0, sd=1.0, rho=0.0, rng=rng).series
    X, names = design_matrix(template)
    prior = resolve_prior(prior_name, template, names)
    theta = draw_from_prior(prior, rng)
    # simulate_series takes the stationary (marginal) sd; the model's sigma is the
    # innovation sd: sd = sigma / sqrt(1 - rho^2).
    trial = simulate_series(
        LAYOUT,
        effect=theta["effect"],
        sd=theta["sigma"] / np.sqrt(1 - theta["rho"] ** 2),
        rho=theta["rho"],
        baseline=theta["intercept"],
        rng=rng,
    )
    return trial.series, theta


def chi_square_uniform(ranks: np.ndarray, n_values: int, bins: int) -> tuple[np.ndarray, float]:
    """Counts of ranks (0..n_values-1) in equal bins and the chi-square uniformity p-value."""
    counts = np.bincount((ranks * bins) // n_values, minlength=bins)
    return counts, float(stats.chisquare(counts).pvalue)


def sbc_exact(reps: int, seed: int, m: int = 999) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ranks = {p: np.empty(reps, dtype=int) for p in PARAMS}
    for r in range(reps):
        series, theta = simulate_from_prior("neutral", rng)
        fit = fit_exact(series, "neutral", ar1=True, n_draws=m, seed=int(rng.integers(2**31)))
        for p in PARAMS:
            ranks[p][r] = int(np.sum(fit.draws[p] < theta[p]))
    return ranks


def sbc_mcmc(reps: int, seed: int, keep: int = 99) -> tuple[dict[str, np.ndarray], dict]:
    from nof1.models.personal import fit_mcmc

    rng = np.random.default_rng(seed)
    ranks = {p: np.empty(reps, dtype=int) for p in PARAMS}
    info = {"ess_min": np.inf, "divergent_fits": 0, "not_ok": 0}
    for r in range(reps):
        series, theta = simulate_from_prior("neutral", rng)
        fit = fit_mcmc(
            series, "neutral", ar1=True, draws=500, tune=500, chains=2,
            seed=int(rng.integers(2**31)), progressbar=False,
        )  # fmt: skip
        d = fit.diagnostics
        info["ess_min"] = min(info["ess_min"], d.ess_bulk_min or np.inf)
        info["divergent_fits"] += int((d.divergences or 0) > 0)
        info["not_ok"] += int(not d.ok)
        for p in PARAMS:
            draws = fit.draws[p]
            # Thin to about the effective sample size: evenly spaced draws.
            thinned = draws[np.linspace(0, len(draws) - 1, keep).round().astype(int)]
            ranks[p][r] = int(np.sum(thinned < theta[p]))
    return ranks, info


def rank_figure(ranks: dict[str, np.ndarray], n_values: int, bins: int, title: str, path: Path):
    fig, axes = plt.subplots(1, len(ranks), figsize=(3.2 * len(ranks), 2.8), sharey=True)
    reps = len(next(iter(ranks.values())))
    expected = reps / bins
    band = stats.binom.ppf([0.005, 0.995], reps, 1 / bins)
    for ax, (name, r) in zip(axes, ranks.items(), strict=True):
        counts, p = chi_square_uniform(r, n_values, bins)
        ax.axhspan(band[0], band[1], color="0.88")
        ax.axhline(expected, color="0.5", lw=1)
        ax.bar(np.arange(bins), counts, width=0.9, color="#4477aa")
        ax.set_title(f"{name} (chi-square p={p:.2f})", fontsize=9)
        ax.set_xlabel("rank bin")
    axes[0].set_ylabel("replications")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------- coverage


TREND_SETTINGS = (
    # (label, true drift per week, analysis trend)
    ("no drift, model none", 0.0, "none"),
    ("no drift, model linear", 0.0, "linear"),
    ("drift -0.15/week, model none", -0.15, "none"),
    ("drift -0.15/week, model linear", -0.15, "linear"),
)


def coverage(trials: int, seed: int, effect: float = -1.0, sd: float = 1.5) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for rho in (0.0, 0.5, 0.8):
        for label, drift, trend in TREND_SETTINGS:
            batch = simulate_batch(
                LAYOUT, None, trials, effect=effect, sd=sd, rho=rho, trend_per_week=drift, rng=rng
            )
            res = analyse_batch(batch, trend=trend, thresholds=(effect,))
            covered = (res.lower <= effect) & (effect <= res.upper)
            rows.append(
                {
                    "rho": rho,
                    "setting": label,
                    "coverage": covered.mean(),
                    "se": np.sqrt(covered.mean() * (1 - covered.mean()) / trials),
                    "bias": float(np.mean(res.mean - effect)),
                    "width": float(np.mean(res.upper - res.lower)),
                    "rho_hat": float(np.mean(res.rho_mean)),
                    # P(effect < truth) is uniform when calibrated: its mean is 0.5.
                    "pit_mean": float(np.mean(res.p_below[:, 0])),
                }
            )
    return rows


# ------------------------------------------------------------------- false positives


def false_positives(trials: int, seed: int, rho: float = 0.8, sd: float = 1.5) -> list[dict]:
    rng = np.random.default_rng(seed)
    batch = simulate_batch(LAYOUT, None, trials, effect=0.0, sd=sd, rho=rho, rng=rng)
    res = analyse_batch(batch, thresholds=(0.0, -1.0))
    y, a = batch.Y, np.broadcast_to(batch.active, batch.Y.shape)
    daily_tests = [stats.ttest_ind(y[i][a[i] == 1], y[i][a[i] == 0]) for i in range(trials)]
    daily = np.array([t.pvalue for t in daily_tests])
    # One-sided in the benefit direction (active lower), as a patient reading "it helped" would.
    daily_benefit = np.array(
        [t.pvalue / 2 if t.statistic < 0 else 1 - t.pvalue / 2 for t in daily_tests]
    )
    periods = batch.period
    n_periods = periods.max()
    means = np.stack([y[:, periods == p].mean(axis=1) for p in range(1, n_periods + 1)], axis=1)
    arms = batch.allocations.astype(bool)
    period_t = np.array(
        [stats.ttest_ind(means[i][arms[i]], means[i][~arms[i]]).pvalue for i in range(trials)]
    )
    p_benefit = res.p_below[:, 0]
    rows = [
        ("nof1 exact: 95% interval excludes 0", (p_benefit > 0.975) | (p_benefit < 0.025)),
        ("nof1 exact: P(benefit) > 0.975 (one-sided)", p_benefit > 0.975),
        ("nof1 exact: P(benefit) > 0.95 (one-sided)", p_benefit > 0.95),
        ("nof1 decision: P(benefit >= 1) > 0.8", res.p_below[:, 1] > 0.8),
        ("daily t-test, two-sided p < 0.05", daily < 0.05),
        ("daily t-test, one-sided p < 0.05 towards benefit", daily_benefit < 0.05),
        ("period-means t-test, two-sided p < 0.05", period_t < 0.05),
    ]
    return [
        {
            "method": m,
            "rate": float(x.mean()),
            "se": float(np.sqrt(x.mean() * (1 - x.mean()) / trials)),
        }
        for m, x in rows
    ]


# --------------------------------------------------------------------------- report


def sbc_table(ranks: dict[str, np.ndarray], n_values: int, bins: int) -> list[str]:
    lines = ["| parameter | chi-square p | min bin | max bin | expected |", "|---|---|---|---|---|"]
    reps = len(next(iter(ranks.values())))
    for name, r in ranks.items():
        counts, p = chi_square_uniform(r, n_values, bins)
        lines.append(f"| {name} | {p:.3f} | {counts.min()} | {counts.max()} | {reps / bins:.1f} |")
    return lines


#: Registered studies, in the order their sections appear in docs/validation.md.
STUDIES: dict[str, Callable[[argparse.Namespace], list[str]]] = {}

HEADER = [
    "# Validation of the personal engines",
    "",
    "Generated by `python bench/calibration.py`; do not edit by hand. Each section says the "
    "command that produced it, with its own seed, and can be re-run alone with "
    "`--study NAME`. Unless a section says otherwise, the design is 4 blocks of 14-day "
    "periods (112 days), block randomization, each simulated trial with its own allocation.",
    "",
]


def study(name: str):
    """Register a study: a function of the parsed arguments returning its Markdown lines."""

    def register(fn: Callable[[argparse.Namespace], list[str]]):
        STUDIES[name] = fn
        return fn

    return register


def _command(name: str, args: argparse.Namespace, options: tuple[str, ...]) -> str:
    flags = " ".join(f"--{o.replace('_', '-')} {getattr(args, o)}" for o in options)
    return f"`python bench/calibration.py --study {name} {flags}`"


@study("sbc-exact")
def study_sbc_exact(args: argparse.Namespace) -> list[str]:
    ranks = sbc_exact(args.exact_reps, args.seed)
    title = f"Exact engine SBC: {args.exact_reps} reps, M=999, J=20"
    rank_figure(ranks, 1000, 20, title, FIGS / "sbc_exact.png")
    return [
        "## Simulation-based calibration",
        "",
        "Talts et al. 2018: parameters drawn from the neutral prior (`nof1/models/priors.py`: "
        "sigma^2 ~ InvGamma(3, 3 * 1.5^2), coefficients ~ N(m0, sigma^2 v0), rho ~ U(-1, 1)), "
        "a series drawn from the model (AR(1) errors, stationary start), the model fitted, "
        "and the rank of each true value among the posterior draws counted. Ranks are "
        "uniform when inference is right; the chi-square test checks it (a p-value far "
        "below 0.01 would flag miscalibration; with four parameters one p-value below 0.05 "
        "now and then is expected).",
        "",
        f"### Exact engine ({args.exact_reps} replications, M = 999 draws, J = 20 bins)",
        "",
        f"Generated by {_command('sbc-exact', args, ('exact_reps', 'seed'))}.",
        "",
        *sbc_table(ranks, 1000, 20),
        "",
        "![exact SBC](figures/sbc_exact.png)",
    ]


@study("sbc-mcmc")
def study_sbc_mcmc(args: argparse.Namespace) -> list[str]:
    # At least 5 expected per bin; bins must divide the 100 rank values.
    bins = next((j for j in (10, 5, 4, 2) if args.mcmc_reps / j >= 5), 2)
    ranks, info = sbc_mcmc(args.mcmc_reps, args.seed + 1)
    title = f"PyMC engine SBC: {args.mcmc_reps} reps, 99 thinned draws, J={bins}"
    rank_figure(ranks, 100, bins, title, FIGS / "sbc_mcmc.png")
    return [
        f"### PyMC engine ({args.mcmc_reps} replications, 2 chains x 500 draws after 500 "
        f"tuning, thinned to 99 evenly spaced draws, J = {bins} bins)",
        "",
        f"Generated by {_command('sbc-mcmc', args, ('mcmc_reps', 'seed'))}.",
        "",
        f"Smallest bulk ESS over all fits: {info['ess_min']:.0f} (above the 99 draws kept, "
        f"so the thinned draws are close to independent); fits with divergences: "
        f"{info['divergent_fits']}; fits failing the R-hat/ESS gate: {info['not_ok']}.",
        "",
        "Fits failing the gate stay in the ranks (dropping them would bias the SBC): "
        "2 chains x 500 draws is below the ESS gate of the report, whose analyses run "
        "4 chains x 1000 draws.",
        "",
        *sbc_table(ranks, 100, bins),
        "",
        "![PyMC SBC](figures/sbc_mcmc.png)",
    ]


@study("coverage")
def study_coverage(args: argparse.Namespace) -> list[str]:
    rows = coverage(args.trials, args.seed + 2)
    return [
        f"## Coverage of the 95% credible interval (exact engine, {args.trials} trials each)",
        "",
        f"Generated by {_command('coverage', args, ('trials', 'seed'))}.",
        "",
        "True effect -1.0 NRS points, day-to-day sd 1.5, neutral prior, AR(1) model. "
        "`PIT mean` is the mean of P(effect < true effect): 0.5 when the posterior is "
        "centred right. A drift of -0.15 points a week (natural course, regression to the "
        "mean) is left unmodelled (`model none`) or modelled (`model linear`). "
        f"Monte-Carlo standard error of a coverage near 0.95: "
        f"{np.sqrt(0.95 * 0.05 / args.trials):.3f}.",
        "",
        "The bias column is the frequentist bias at one fixed true effect: the neutral "
        "prior pulls estimates a little towards 0, more where the data say less "
        "(high rho). The SBC above, which draws the truth from the prior, is the check of "
        "calibration proper; coverage near 0.95 in every row says the intervals can be "
        "trusted at a fixed truth too.",
        "",
        "| rho | setting | coverage | bias | mean width | mean rho_hat | PIT mean |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['rho']:.1f} | {r['setting']} | {r['coverage']:.3f} | {r['bias']:+.3f} | "
            f"{r['width']:.2f} | {r['rho_hat']:.2f} | {r['pit_mean']:.3f} |"
            for r in rows
        ],
    ]


@study("false-positives")
def study_false_positives(args: argparse.Namespace) -> list[str]:
    rows = false_positives(args.trials, args.seed + 3)
    return [
        f"## False positives under no effect, rho = 0.8 ({args.trials} trials)",
        "",
        f"Generated by {_command('false-positives', args, ('trials', 'seed'))}.",
        "",
        "Daily pain with strong autocorrelation and no effect at all. The daily t-test treats "
        "112 correlated days as independent; the period-means t-test compares 4 vs 4 period "
        "means. Nominal rate of the two-sided tests: 0.05.",
        "",
        "| method | false-positive rate | MC se |",
        "|---|---|---|",
        *[f"| {r['method']} | {r['rate']:.3f} | {r['se']:.3f} |" for r in rows],
    ]


def _marker(name: str) -> tuple[str, str]:
    return f"<!-- study:{name} -->", f"<!-- /study:{name} -->"


def write_sections(path: Path, sections: dict[str, list[str]]) -> None:
    """Replace (or add, in registry order) the named sections of ``path``; keep the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if not text.strip():
        text = "\n".join(HEADER) + "\n"
    for name, lines in sections.items():
        begin, end = _marker(name)
        block = "\n".join([begin, *lines, end])
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if pattern.search(text):
            text = pattern.sub(lambda _m, b=block: b, text)
            continue
        # A new section goes before the first section of a study registered after it.
        later = list(STUDIES)[list(STUDIES).index(name) + 1 :]
        at = min((text.index(_marker(n)[0]) for n in later if _marker(n)[0] in text), default=None)
        if at is None:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        else:
            text = text[:at] + block + "\n\n" + text[at:]
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study", action="append", choices=list(STUDIES), help="run only these (repeatable)"
    )
    parser.add_argument("--exact-reps", type=int, default=1000)
    parser.add_argument("--mcmc-reps", type=int, default=100)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2018)
    args = parser.parse_args()
    FIGS.mkdir(parents=True, exist_ok=True)
    sections = {}
    for name in args.study or list(STUDIES):
        t = time.perf_counter()
        lines = STUDIES[name](args)
        seconds = time.perf_counter() - t
        sections[name] = [*lines, "", f"_Run time: {seconds:.0f} s._"]
        print("\n".join(sections[name]), "\n", flush=True)
    write_sections(DOCS / "validation.md", sections)


if __name__ == "__main__":
    main()
