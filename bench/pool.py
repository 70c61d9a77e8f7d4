"""Whole-process wall time and peak memory of ``nof1 pool`` on pools of 112-day series.

Run:  python bench/pool.py [--skip-mcmc-200]

Pools of 20, 200 and 2,000 simulated patients (4 blocks of 14-day periods: 112 days each,
effects Normal(-1, 0.5), AR(1) 0.5, some missing days, whole-number NRS scores), written
as one anonymised file each. Rows: a baseline ``python -c "import nof1"``, the fast engine
for all three sizes, the PyMC engine (4 chains x 1000 draws, 2 cores) for 20 and 200.
Targets: mcmc 200 series < 5 min, fast 2,000 series < 30 s. Each command runs under a small
wrapper reporting the child's wall time, its CPU time (user + system, which a busy machine
inflates far less than wall time) and peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from measure import BASELINE, measure_rows, print_table

from nof1.design.simulate import simulate_pool
from nof1.research.anonymise import anonymise_simulated, write_anonymised

SIZES = (20, 200, 2000)


def pool_file(path: Path, n: int, seed: int = 1) -> None:
    trials = simulate_pool(n, -1.0, 0.5, blocks=(4,), period_days=(14,), ordinal=True, rng=seed)
    write_anonymised(anonymise_simulated(trials), path)


def main() -> None:
    skip_mcmc_200 = "--skip-mcmc-200" in sys.argv[1:]
    nof1 = [sys.executable, "-m", "nof1", "pool"]
    with tempfile.TemporaryDirectory() as tmp:
        files = {n: Path(tmp) / f"pool{n}.csv" for n in SIZES}
        for n, path in files.items():
            pool_file(path, n)
        rows = [BASELINE]
        for n in SIZES:
            rows.append(
                (f"pool --engine fast, {n} series", [*nof1, str(files[n]), "--engine", "fast"])
            )
        for n in (20, 200):
            if n == 200 and skip_mcmc_200:
                continue
            rows.append((f"pool --engine mcmc, {n} series", [*nof1, str(files[n]), "--seed", "1"]))
        results = measure_rows(rows)
    print_table(results)


if __name__ == "__main__":
    main()
