"""Whole-process wall time and peak memory of ``nof1 analyze --csv`` on a 112-day series.

Run:  python bench/analyze.py [--repeats 3]

Rows: a baseline ``python -c "import nof1"``, the exact engine, and the PyMC engine
(4 chains x 1000 draws) three ways:

- cold: PyTensor's compile cache is an empty folder of its own (``PYTENSOR_FLAGS``
  ``compiledir``), so everything the model needs is compiled by C++;
- warm: the same folder on the next runs, holding this model's modules and nothing else;
- warm, shared cache: the machine's default PyTensor cache, as it is. PyTensor reads the
  key of every module in it at start-up, so a cache that also holds many other models
  (test suites, other PyMC work) costs more; the number of modules is printed.

Targets: exact < 1.5 s, mcmc warm < 15 s. Warm rows and the exact row are medians over
``--repeats`` runs. Each command runs under a small wrapper that reports the child's wall
time and peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``), so wrapper start-up is not
counted, and its CPU time (user + system), which a busy machine inflates far less than wall
time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import BASELINE, measure, measure_median, print_table


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


def shared_cache_modules() -> int:
    """How many compiled modules the default PyTensor cache holds."""
    code = "import pytensor; print(pytensor.config.compiledir)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    folder = Path(out.stdout.strip())
    return sum(1 for p in folder.glob("*/key.pkl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    nof1 = [sys.executable, "-m", "nof1"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "diary.csv"
        simulated_csv(csv)
        base = ["analyze", "--csv", str(csv), "--outcome", "pain", "--treatment", "arm"]
        base += ["--active", "A", "--time", "day", "--seed", "1"]
        mcmc = [*nof1, *base, "--engine", "mcmc", "--draws", "1000"]
        own = {"PYTENSOR_FLAGS": f"compiledir={Path(tmp) / 'pytensor'}"}
        results = [
            (BASELINE[0], *measure_median(BASELINE[1], args.repeats)),
            (
                "analyze --engine exact",
                *measure_median([*nof1, *base, "--engine", "exact"], args.repeats),
            ),
            ("analyze --engine mcmc, cold", *measure(mcmc, own)),
            ("analyze --engine mcmc, warm", *measure_median(mcmc, args.repeats, own)),
        ]
        measure(mcmc)  # make sure the shared cache holds this model's modules too
        modules = shared_cache_modules()
        results.append(
            (f"  same, warm shared cache ({modules} modules)", *measure_median(mcmc, args.repeats))
        )
    print(f"repeats: {args.repeats} (median wall and CPU seconds, max peak RSS; cold: one run)")
    print_table(results)


if __name__ == "__main__":
    main()
