"""Whole-process wall time and peak memory of ``nof1 import``: 100,000 rows in one diary.

Run:  python bench/import.py [--days N]

Issue 14 found ``import`` quadratic (80,000 rows took 493 s): finding a day's current entry
scanned the whole table for every row. The target is 100,000 rows under 10 s on 2 cores.

A trial holds one row per day, and no protocol may run past 2100, so the 100,000 rows are
a trial of 25,000 days (50 blocks of 250-day periods, from 2000-01-03) imported once and
then corrected three times (``import --correct``: a new row per day superseding the last,
hash-chained like every entry). Each import is its own process, one after the other on the
same diary, so the last one finds 75,000 rows already there. Rows: a baseline
``python -c "import nof1"``, then each import; the total is printed below the table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from measure import BASELINE, measure_rows, print_table

from nof1.trial.create import create_trial

PASSPHRASE = "benchmark passphrase, not secret"
START = date(2000, 1, 3)


def diary_csv(path: Path, days: int, shift: int) -> None:
    """One row per day: a pain score, a guess every 7th day, a short note every 10th."""
    lines = ["date,pain,guess,note"]
    for i in range(days):
        guess = "unsure" if i % 7 == 0 else ""
        note = f"day {i} note" if i % 10 == 0 else ""
        lines.append(f"{START + timedelta(days=i)},{(i + shift) % 11},{guess},{note}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=25_000, help="days of the trial (x4 rows)")
    days = parser.parse_args().days
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        blocks = 50
        create_trial(
            trial,
            "generic-ab",
            passphrase=PASSPHRASE,
            start=START,
            seed=1,
            blocks=blocks,
            period_days=days // (2 * blocks),
            washout_days=0,
            run_in_days=days % (2 * blocks),
        )
        nof1 = [sys.executable, "-m", "nof1", "import", "--trial", str(trial)]
        rows = [BASELINE]
        for k in range(4):
            csv = Path(tmp) / f"diary{k}.csv"
            diary_csv(csv, days, shift=k)
            if k == 0:
                rows.append((f"import {days:,} new days", [*nof1, str(csv)]))
            else:
                name = f"import --correct {days:,} days ({k * days:,} rows there)"
                rows.append((name, [*nof1, str(csv), "--correct"]))
        results = measure_rows(rows)
    print_table(results)
    imports = results[1:]
    print(
        f"total: {4 * days:,} rows in {sum(r[1] for r in imports):.1f} s wall, "
        f"{sum(r[2] for r in imports):.1f} s CPU, peak {max(r[3] for r in imports):.0f} MB"
    )


if __name__ == "__main__":
    main()
