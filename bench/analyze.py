"""Whole-process wall time and peak memory of ``nof1 analyze --csv`` on a 112-day series.

Run:  python bench/analyze.py

Rows: a baseline ``python -c "import nof1"``, the exact engine, and (when
``nof1.models.personal`` exists) the PyMC engine with 4 chains x 1000 draws, run twice so
the second run has a warm compile cache. Targets: exact < 1.5 s, mcmc warm < 15 s.
Each command runs under a small wrapper that reports the child's wall time and peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)``), so wrapper start-up is not counted, and its
CPU time (user + system), which a busy machine inflates far less than wall time.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import BASELINE, measure, print_table


def simulated_csv(path: Path, seed: int = 1) -> None:
    """A 112-day pain diary: 2 blocks of 28-day periods, AR(1) 0.5, effect -1, 5% missing."""
    rng = np.random.default_rng(seed)
    arms = np.repeat(["A", "B", "B", "A"], 28)
    e = np.zeros(len(arms))
    e[0] = rng.normal(0, 1.2 / np.sqrt(0.75))
    for t in range(1, len(arms)):
        e[t] = 0.5 * e[t - 1] + rng.normal(0, 1.2)
    y = np.clip(np.round(6.5 - 1.0 * (arms == "A") + e), 0, 10)
    lines = ["day,pain,arm"]
    for t, (v, a) in enumerate(zip(y, arms, strict=True)):
        lines.append(f"{t + 1},{'' if rng.random() < 0.05 else int(v)},{a}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    nof1 = [sys.executable, "-m", "nof1"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "diary.csv"
        simulated_csv(csv)
        base = ["analyze", "--csv", str(csv), "--outcome", "pain", "--treatment", "arm"]
        base += ["--active", "A", "--time", "day", "--seed", "1"]
        rows = [BASELINE]
        rows.append(("analyze --engine exact", [*nof1, *base, "--engine", "exact"]))
        if importlib.util.find_spec("nof1.models.personal") is not None:
            mcmc = [*nof1, *base, "--engine", "mcmc", "--draws", "1000"]
            rows.append(("analyze --engine mcmc (cold)", mcmc))
            rows.append(("analyze --engine mcmc (warm)", mcmc))
        results = [(name, *measure(cmd)) for name, cmd in rows]
    print_table(results)


if __name__ == "__main__":
    main()
