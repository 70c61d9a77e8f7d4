"""Tolerances from Monte Carlo error, for the engine-agreement and calibration tests.

``SEED_SHIFT`` (environment variable ``NOF1_TEST_SEED_SHIFT``, default 0) is added to every
seed of those tests, so that they can be re-run on other seeds to show that they do not
pass by luck, e.g. ``NOF1_TEST_SEED_SHIFT=3 pytest -m slow -k "agree or cover"``. With
``NOF1_TEST_RECORD=FILE`` they also append their key numbers to FILE (JSON lines), so the
spread over seeds can be read off.
"""

from __future__ import annotations

import json
import os

import arviz as az
import numpy as np

SEED_SHIFT = int(os.environ.get("NOF1_TEST_SEED_SHIFT", "0"))
#: Tolerance in combined Monte Carlo standard errors. The mcse comes from an estimated ESS,
#: itself uncertain by 10-20%, so 4.5 estimated mcse are at least about 3.9 true ones: one
#: comparison fails by chance with probability 1e-4, the 24 of a test with at most 2e-3.
Z = 4.5
#: Quantiles compared: stable statistics, unlike the sd of a heavy-tailed marginal.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def record(**values: float) -> None:
    """Append the running test's key numbers to ``$NOF1_TEST_RECORD``, if set."""
    path = os.environ.get("NOF1_TEST_RECORD")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        line = {"test": test, "seed_shift": SEED_SHIFT, **{k: float(v) for k, v in values.items()}}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def _chains(draws: np.ndarray, chains: int) -> np.ndarray:
    return np.asarray(draws, dtype=float).reshape(chains, -1)


def assert_same_posterior(a, b, names, chains_a: int, chains_b: int = 4) -> None:
    """Two sets of posterior draws describe the same posterior, within Monte Carlo error.

    Parameters
    ----------
    a, b : dicts of 1-D draws with their chains concatenated in order (``Fit.draws``);
        independent draws (the exact engine) may be split into any number of chains.
    names : the parameters to compare.
    chains_a, chains_b : the number of chains of each.

    For every name, the quantiles ``QUANTILES`` and the mean must agree within ``Z``
    combined Monte Carlo standard errors, each from ArviZ's ESS-based ``mcse`` (Vehtari
    et al. 2021), so autocorrelated MCMC draws get the wider tolerance they need. Sds are
    not compared: as rho nears 1 the intercept is barely identified, its marginal is
    heavy-tailed, and the sd of a few thousand draws then hangs on a handful of them.
    """
    worst, failed = 0.0, []
    for name in names:
        x, y = _chains(a[name], chains_a), _chains(b[name], chains_b)
        checks = [(f"q{q:g}", np.quantile(x, q) - np.quantile(y, q), q) for q in QUANTILES]
        checks.append(("mean", x.mean() - y.mean(), None))
        for label, diff, q in checks:
            kw = {"method": "mean"} if q is None else {"method": "quantile", "prob": q}
            se = float(np.hypot(np.ravel(az.mcse(x, **kw))[0], np.ravel(az.mcse(y, **kw))[0]))
            worst = max(worst, abs(diff) / se)
            if abs(diff) > Z * se:
                failed.append(f"{name} {label}: off by {diff:+.4f}, {Z} mcse {Z * se:.4f}")
    record(worst_mcse_ratio=worst)
    assert not failed, "; ".join(failed)
