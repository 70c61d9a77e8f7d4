"""Rebuild this example: 12 simulated patients in two anonymised files, and their report.

Run from the repository root:  python examples/pool/make_example.py

Truth: average effect mu = -1.0 NRS points (magnesium lowers pain), between-patient sd
tau = 0.6; designs of 3 or 4 blocks of 14-day periods, AR(1) 0.5, some missing days.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nof1.design.simulate import simulate_pool
from nof1.research.anonymise import anonymise_simulated, write_anonymised

HERE = Path(__file__).parent


def main() -> None:
    trials = simulate_pool(12, -1.0, 0.6, blocks=(3, 4), period_days=(14,), ordinal=True, rng=2026)
    write_anonymised(anonymise_simulated(trials[:7]), HERE / "clinic-a.csv", force=True)
    write_anonymised(anonymise_simulated(trials[7:]), HERE / "clinic-b.csv", force=True)
    truth = ", ".join(f"{t.truth['effect']:+.2f}" for t in trials)
    (HERE / "truth.txt").write_text(f"true effects, in file order: {truth}\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nof1",
            "pool",
            str(HERE / "clinic-a.csv"),
            str(HERE / "clinic-b.csv"),
            "--engine",
            "mcmc",
            "--seed",
            "1",
            "--out",
            str(HERE / "report.html"),
            "--force",
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
