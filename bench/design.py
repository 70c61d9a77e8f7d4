"""Benchmark of ``nof1 design``: whole-process wall time and peak memory.

Runs ``nof1 design`` for 4 designs x 2,000 simulated trials per scenario in a fresh
process (as a user would), next to a baseline process that only imports nof1, and prints a
table with ratios to the baseline. Target: under 20 s on 2 cores.

    python bench/design.py [--repeats 3] [--sims 2000]
"""

from __future__ import annotations

import argparse
import sys

from measure import BASELINE, measure_median, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sims", type=int, default=2000)
    args = parser.parse_args()
    py = sys.executable
    cases = [
        BASELINE,
        ("CLI start-up: nof1 --help", [py, "-m", "nof1", "--help"]),
        (
            f"nof1 design: the template's + 4 designs x {args.sims} sims",
            [
                py,
                "-m",
                "nof1",
                "design",
                "--blocks",
                "2,3,4,6",
                "--period-days",
                "14",
                "--sims",
                str(args.sims),
                "--json",
            ],
        ),  # fmt: skip
    ]
    rows = [(name, *measure_median(cmd, args.repeats)) for name, cmd in cases]
    print(f"repeats: {args.repeats} (median wall and CPU seconds, max peak RSS)")
    print_table(rows)


if __name__ == "__main__":
    main()
