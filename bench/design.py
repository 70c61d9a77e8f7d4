"""Benchmark of ``nof1 design``: whole-process wall time and peak memory.

Runs ``nof1 design`` for 4 designs x 2,000 simulated trials per scenario in a fresh
process (as a user would), next to a baseline process that only imports nof1, and prints a
table with ratios to the baseline. Target: under 20 s on 2 cores.

The sequential design (issue 16) is timed the same way: ``evaluate_sequential`` on the
magnesium-crps template (onset model, looks after blocks 2, 3, 4) calibrating its 3
boundary sets on 5,000 simulated trials per scenario (no effect at rho 0, 0.5, 0.8 and the
hoped-for effect: 20,000 trials, each fitted at 3 looks). Target: under 30 s on 2 cores.

    python bench/design.py [--repeats 3] [--sims 2000] [--sequential-sims 5000]
"""

from __future__ import annotations

import argparse
import sys

from measure import BASELINE, measure_median, print_table

#: The sequential design in a fresh process, as ``nof1 design --sequential`` runs it.
SEQUENTIAL = (
    "from nof1.design.sequential import evaluate_sequential\n"
    "from nof1.plan.templates import read_template\n"
    "d = evaluate_sequential(read_template('magnesium-crps'), sims={sims}, seed=0)\n"
    "assert len(d.candidates) == 3\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--sequential-sims", type=int, default=5000)
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
        (
            f"sequential design: 3 boundary sets x {args.sequential_sims} sims",
            [py, "-c", SEQUENTIAL.format(sims=args.sequential_sims)],
        ),
    ]
    rows = [(name, *measure_median(cmd, args.repeats)) for name, cmd in cases]
    print(f"repeats: {args.repeats} (median wall and CPU seconds, max peak RSS)")
    print_table(rows)


if __name__ == "__main__":
    main()
