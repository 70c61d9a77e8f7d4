"""Shared by the benchmarks: run a command as its own process, report time and memory.

Each command runs under a small wrapper that reports the child's wall time, CPU time
(user + system, which a busy machine inflates far less than wall time) and peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)``), so the wrapper's own start-up is not counted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - t\n"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)\n"
)

#: The baseline row of every table: a process that only imports nof1.
BASELINE = ("baseline: import nof1", [sys.executable, "-c", "import nof1"])


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one whole process; exits if it fails.

    ``env`` adds to (or overrides) this process's environment for the command.
    """
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd],
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
    )
    rc, wall, cpu, rss = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
    return float(wall), float(cpu), float(rss)


def measure_median(
    cmd: list[str], repeats: int, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Median wall and CPU seconds and the largest peak MB over ``repeats`` runs."""
    runs = [measure(cmd, env) for _ in range(repeats)]
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        max(r[2] for r in runs),
    )


def measure_rows(rows: list[tuple[str, list[str]]]) -> list[tuple[str, float, float, float]]:
    """Measure each (name, command) once, in order, saying on stderr which is done."""
    results = []
    for name, cmd in rows:
        results.append((name, *measure(cmd)))
        print(f"done: {name}", file=sys.stderr)
    return results


def print_table(results: list[tuple[str, float, float, float]]) -> None:
    """Rows (name, wall, cpu, peak MB), the first being the baseline; ratios against it."""
    width = max(len(r[0]) for r in results) + 2
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print(f"{'command':<{width}}{'wall s':>9}{'x base':>9}{'cpu s':>9}{'peak MB':>10}{'x base':>9}")
    base_wall, _, base_rss = results[0][1:]
    for name, wall, cpu, rss in results:
        print(
            f"{name:<{width}}{wall:>9.2f}{wall / base_wall:>9.1f}{cpu:>9.2f}"
            f"{rss:>10.0f}{rss / base_rss:>9.1f}"
        )
    print(json.dumps({n: {"wall_s": w, "cpu_s": c, "peak_mb": r} for n, w, c, r in results}))
