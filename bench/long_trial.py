"""Whole-process wall time and peak memory of ``nof1 analyze`` on a 40-block trial.

Run:  python bench/long_trial.py [--blocks N]

Issue 14 found the randomization test enumerating all 2^blocks allocations: 20 blocks
took 23 s and 1.2 GB, 24 blocks ran out of memory. The test is now exact up to 2^16
allocations and Monte Carlo (20,000 seeded draws) beyond. The target: ``analyze`` of a
40-block trial under 5 s and 500 MB.

The trial: generic-ab with 40 blocks of 14-day periods (3 washout days each), 1,120 days
from 2020-01-06, every day recorded (AR(1) pain around 6, 1 point lower on A), unblinded.
Rows: a baseline ``python -c "import nof1"``, then ``nof1 analyze`` as pre-registered
(exact engine) and with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from measure import BASELINE, measure_rows, print_table

from nof1.plan.sealing import open_allocation
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, unblind_trial

PASSPHRASE = "benchmark passphrase, not secret"
START = date(2020, 1, 6)


def make_trial(folder: Path, blocks: int) -> None:
    protocol = create_trial(
        folder, "generic-ab", passphrase=PASSPHRASE, start=START, seed=1, blocks=blocks
    )
    arms = open_allocation(folder, PASSPHRASE).arms
    rng = np.random.default_rng(1)
    lines, noise = ["date,pain"], 0.0
    for p, arm in zip(protocol.periods, arms, strict=True):
        for i in range((p.end - p.start).days + 1):
            noise = 0.5 * noise + rng.normal(0, 1)
            pain = np.clip(np.round(6 - (arm == "A") + noise), 0, 10)
            lines.append(f"{p.start + timedelta(days=i)},{pain:g}")
    diary = folder.parent / "diary.csv"
    diary.write_text("\n".join(lines) + "\n")
    import_diary(folder, diary)
    unblind_trial(folder, PASSPHRASE, today=protocol.end + timedelta(days=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=40)
    blocks = parser.parse_args().blocks
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        make_trial(trial, blocks)
        nof1 = [sys.executable, "-m", "nof1", "analyze", "--trial", str(trial)]
        rows = [
            BASELINE,
            (f"analyze, {blocks} blocks", nof1),
            (f"analyze --json, {blocks} blocks", [*nof1, "--json"]),
        ]
        results = measure_rows(rows)
    print_table(results)


if __name__ == "__main__":
    main()
