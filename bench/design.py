"""Benchmark of ``nof1 design``: whole-process wall time and peak memory.

Runs ``nof1 design`` for 4 designs x 2,000 simulated trials per scenario in a fresh
process (as a user would), next to a baseline process that only imports nof1, and prints a
table with ratios to the baseline. Target: under 20 s on 2 cores.

    python bench/design.py [--repeats 3] [--sims 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def run(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (MB) of a child.

    CPU time is reported too because wall time on a shared machine depends on its load.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0  # Linux: kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sims", type=int, default=2000)
    args = parser.parse_args()
    py = sys.executable
    cases = [
        ("baseline: python -c 'import nof1'", [py, "-c", "import nof1"]),
        ("CLI start-up: nof1 --help", [py, "-m", "nof1", "--help"]),
        (
            f"nof1 design: 4 designs x {args.sims} sims",
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
    rows = []
    for name, cmd in cases:
        runs = [run(cmd) for _ in range(args.repeats)]
        rows.append(
            (
                name,
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                max(r[2] for r in runs),
            )
        )
    base_t, base_c, base_m = rows[0][1:]
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}, repeats: {args.repeats}")
    print("(median wall and CPU seconds, max peak RSS)")
    print(
        f"{'case':<42} {'wall s':>7} {'x base':>7} {'cpu s':>7} {'x base':>7} "
        f"{'peak MB':>8} {'x base':>7}"
    )
    for name, t, c, m in rows:
        print(
            f"{name:<42} {t:>7.2f} {t / base_t:>7.1f} {c:>7.2f} {c / base_c:>7.1f} "
            f"{m:>8.0f} {m / base_m:>7.1f}"
        )


if __name__ == "__main__":
    main()
