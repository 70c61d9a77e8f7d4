"""The Gaussian AR(1)-through-gaps log-likelihood as one PyTensor Op, with its gradient.

The PyMC models (``nof1.analysis.models.personal``, ``nof1.analysis.models.pooled``) need

    log p(y | beta, sigma^2, rho) = sum over series of
        log N(y_first | x beta, sigma^2 / (1 - rho^2))
      + sum over consecutive observed days i < j, d = day_j - day_i apart, of
        log N(y_j | x_j beta + rho^d (y_i - x_i beta), sigma^2 (1 - rho^2d) / (1 - rho^2))

and its gradient at every NUTS leapfrog step. Written as a PyTensor graph this is some
sixty small nodes whose per-node overhead (about a microsecond each) dominates a 112-day
series; here it is one node whose ``perform`` works on the exact engine's lag sufficient
statistics (``nof1.analysis.models.exact_grid._lag_stats``): with v = (-beta, 1) and
Z = [X, y], every squared residual sum is a quadratic form v' S v in a (p+1) x (p+1)
cross-product matrix S, so one evaluation costs O(series x distinct gaps), not O(days).
The arithmetic is a numba kernel (numba is a PyTensor dependency), compiled once and
cached on disk.
``tests/test_ar1lik.py`` checks the value against the joint Gaussian density of the observed
days and the gradient against finite differences.

Derivation, per series (K distinct gaps d_k; A_k, B_k, C_k the cross-products of the pairs
d_k apart, current-current, current-previous plus its transpose, previous-previous; F the
first observed day's; n observed days, m_k pairs per gap):

    r_k = rho^d_k,   s = 1 - rho^2,   c_k = s / (1 - r_k^2)
    M   = sum_k c_k (A_k - r_k B_k + r_k^2 C_k) + s F,     Q = v' M v
    log L = 0.5 [(n - sum_k m_k) log s + sum_k m_k log c_k] - 0.5 n log(2 pi sigma^2)
            - 0.5 Q / sigma^2

    d log L / d beta    = (M v)[:p] / sigma^2
    d log L / d sigma^2 = -0.5 n / sigma^2 + 0.5 Q / sigma^4
    d log L / d rho     = 0.5 [-(n - sum m) 2 rho / s + sum_k m_k c_k' / c_k] - 0.5 Q' / sigma^2,
    with r_k' = d_k rho^(d_k - 1), c_k' = (-2 rho (1 - r_k^2) + 2 s r_k r_k') / (1 - r_k^2)^2,
    Q' = sum_k [c_k' (qa_k - r_k qb_k + r_k^2 qc_k) + c_k (-r_k' qb_k + 2 r_k r_k' qc_k)]
         - 2 rho qf   (qa_k = v' A_k v and so on).

Without AR(1) the days are independent: log L = -0.5 n log(2 pi sigma^2) - 0.5 v'(F + sum A_k)v
/ sigma^2 (rho is then not an input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from nof1.analysis.models.exact_grid import _lag_stats
from nof1.analysis.series import Series

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class LagStats:
    """Lag sufficient statistics of S series on one set of gaps (see the module docstring)."""

    gaps: np.ndarray  # (K,) distinct gaps between consecutive observed days
    first: np.ndarray  # (S, q, q)
    a: np.ndarray  # (S, K, q, q)
    b: np.ndarray  # (S, K, q, q), current-previous plus its transpose
    c: np.ndarray  # (S, K, q, q)
    count: np.ndarray  # (S, K)
    n_obs: np.ndarray  # (S,)


def lag_stats(series_list: list[Series], designs: list[np.ndarray]) -> LagStats:
    """Lag statistics of each series with its design matrix, aligned on the union of gaps.

    Parameters
    ----------
    series_list : the series (``y`` with NaN for missing days, ``day`` their calendar days).
    designs : one design matrix per series (rows = the series' rows), all with p columns.

    Returns
    -------
    LagStats over S = len(series_list) series; a gap a series lacks has zero statistics.
    """
    per = [_lag_stats(s.y[None, :], X, s.day) for s, X in zip(series_list, designs, strict=True)]
    gaps = np.unique(np.concatenate([st.gaps for st in per]))
    S, K, q = len(per), len(gaps), designs[0].shape[1] + 1
    a, b, c = (np.zeros((S, K, q, q)) for _ in range(3))
    count = np.zeros((S, K))
    for i, st in enumerate(per):
        k = np.searchsorted(gaps, st.gaps)
        a[i, k], c[i, k], count[i, k] = st.a[0], st.c[0], st.count[0]
        b[i, k] = st.b[0] + np.swapaxes(st.b[0], -1, -2)
    return LagStats(
        gaps=gaps.astype(float),
        first=np.stack([st.first[0] for st in per]),
        a=a,
        b=b,
        c=c,
        count=count,
        n_obs=np.array([st.n_obs[0] for st in per], dtype=float),
    )


def gaussian_ar1_loglik(stats: LagStats, beta, sigma2, rho=None):
    """Summed log-likelihood of the series as a PyTensor scalar.

    Parameters
    ----------
    stats : from ``lag_stats``.
    beta : (S, p) coefficients, one row per series.
    sigma2 : (S,) innovation variances.
    rho : (S,) AR(1) coefficients in (-1, 1), or None for independent days.
    """
    op = _AR1LogLik(stats, ar1=rho is not None)
    inputs = [beta, sigma2] + ([rho] if rho is not None else [])
    return op(*inputs)[0]


def loglik_and_grad(
    stats: LagStats, beta: np.ndarray, sigma2: np.ndarray, rho: np.ndarray | None
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray | None]:
    """Value and gradient (what the Op computes); see the module docstring for the formulas.

    Parameters
    ----------
    stats : from ``lag_stats``.
    beta : (S, p); sigma2 : (S,); rho : (S,) or None for independent days.

    Returns
    -------
    (log-likelihood summed over series, d/d beta (S, p), d/d sigma2 (S,), d/d rho (S,) or None)
    """
    ar1 = rho is not None
    g_beta = np.empty_like(beta)
    g_sigma2 = np.empty_like(sigma2)
    g_rho = np.empty_like(sigma2)
    value = _kernel(
        stats.gaps, stats.first, stats.a, stats.b, stats.c, stats.count, stats.n_obs,
        beta, sigma2, rho if ar1 else np.zeros_like(sigma2), ar1, g_beta, g_sigma2, g_rho,
    )  # fmt: skip
    return value, g_beta, g_sigma2, g_rho if ar1 else None


@numba.njit(cache=True, error_model="numpy")
def _kernel(gaps, first, a, b, c, count, n_obs, beta, sigma2, rho, ar1, g_beta, g_sigma2, g_rho):
    # Loops over a few series, gaps and (p+1)^2 entries: compiled once (numba's cache), then
    # a call costs microseconds where numpy's per-call overhead on such tiny arrays would
    # cost a few hundred. error_model="numpy": at |rho| = 1 (where the sampler's transform
    # can round to) a division by zero gives inf or nan, which NUTS rejects as a divergence,
    # instead of raising.
    S, K, q = a.shape[0], a.shape[1], a.shape[2]
    p = q - 1
    v = np.empty(q)
    m = np.empty((q, q))
    total = 0.0
    for s in range(S):
        for i in range(p):
            v[i] = -beta[s, i]
        v[p] = 1.0
        n = n_obs[s]
        r_s = rho[s]
        one_m = 1.0 - r_s * r_s
        n_first = n
        log_det = 0.0
        dlog_det = 0.0
        dquad = 0.0
        for i in range(q):
            for j in range(q):
                m[i, j] = one_m * first[s, i, j] if ar1 else first[s, i, j]
        if ar1:
            qf = _quad(v, first[s])
            dquad -= 2.0 * r_s * qf
        for k in range(K):
            cnt = count[s, k]
            if cnt == 0.0:
                continue
            n_first -= cnt
            if not ar1:
                for i in range(q):
                    for j in range(q):
                        m[i, j] += a[s, k, i, j]
                continue
            d = gaps[k]
            r = r_s**d
            dr = d * r_s ** (d - 1.0)
            one_r2 = 1.0 - r * r
            ck = one_m / one_r2
            dck = (-2.0 * r_s * one_r2 + 2.0 * one_m * r * dr) / (one_r2 * one_r2)
            qa, qb, qc = _quad(v, a[s, k]), _quad(v, b[s, k]), _quad(v, c[s, k])
            log_det += 0.5 * cnt * np.log(ck)
            dlog_det += 0.5 * cnt * dck / ck
            dquad += dck * (qa - r * qb + r * r * qc) + ck * (-dr * qb + 2.0 * r * dr * qc)
            for i in range(q):
                for j in range(q):
                    m[i, j] += ck * (a[s, k, i, j] - r * b[s, k, i, j] + r * r * c[s, k, i, j])
        if ar1:
            log_det += 0.5 * n_first * np.log(one_m)
            dlog_det -= r_s * n_first / one_m
        quad = 0.0
        for i in range(q):
            mv = 0.0
            for j in range(q):
                mv += m[i, j] * v[j]
            quad += v[i] * mv
            if i < p:
                g_beta[s, i] = mv / sigma2[s]
        total += log_det - 0.5 * n * (_LOG_2PI + np.log(sigma2[s])) - 0.5 * quad / sigma2[s]
        g_sigma2[s] = -0.5 * n / sigma2[s] + 0.5 * quad / (sigma2[s] * sigma2[s])
        g_rho[s] = dlog_det - 0.5 * dquad / sigma2[s]
    return total


@numba.njit(cache=True, error_model="numpy")
def _quad(v, mat):
    out = 0.0
    for i in range(v.shape[0]):
        for j in range(v.shape[0]):
            out += v[i] * mat[i, j] * v[j]
    return out


class _AR1LogLik(Op):
    """Outputs the log-likelihood and its gradient with respect to every input.

    ``grad`` reuses the gradient outputs of the very same node, so PyTensor's merge
    rewrite leaves one node that computes value and gradient together. Equality is by
    identity (no ``__props__``): the statistics are data, not parameters of the Op.
    """

    def __init__(self, stats: LagStats, ar1: bool):
        self.stats = stats
        self.ar1 = ar1

    def make_node(self, beta, sigma2, *rho):
        inputs = [pt.as_tensor_variable(x).astype("float64") for x in (beta, sigma2, *rho)]
        outputs = [pt.dscalar()] + [x.type() for x in inputs]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        beta, sigma2 = inputs[0], inputs[1]
        rho = inputs[2] if self.ar1 else None
        value, g_beta, g_sigma2, g_rho = loglik_and_grad(self.stats, beta, sigma2, rho)
        grads = [g_beta, g_sigma2] + ([g_rho] if self.ar1 else [])
        output_storage[0][0] = np.asarray(value)
        for store, g in zip(output_storage[1:], grads, strict=True):
            store[0] = np.asarray(g, dtype="float64")

    def grad(self, inputs, output_grads):
        outputs = self(*inputs)
        g_value = output_grads[0]
        return [g_value * g for g in outputs[1:]]
