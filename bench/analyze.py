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
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - t\n"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)\n"
)


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


def measure(cmd: list[str]) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, check=True
    )
    rc, wall, cpu, rss = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
    return float(wall), float(cpu), float(rss)


def main() -> None:
    nof1 = [sys.executable, "-m", "nof1"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "diary.csv"
        simulated_csv(csv)
        base = ["analyze", "--csv", str(csv), "--outcome", "pain", "--treatment", "arm"]
        base += ["--active", "A", "--time", "day", "--seed", "1"]
        rows = [("baseline: import nof1", [sys.executable, "-c", "import nof1"])]
        rows.append(("analyze --engine exact", [*nof1, *base, "--engine", "exact"]))
        if importlib.util.find_spec("nof1.models.personal") is not None:
            mcmc = [*nof1, *base, "--engine", "mcmc", "--draws", "1000"]
            rows.append(("analyze --engine mcmc (cold)", mcmc))
            rows.append(("analyze --engine mcmc (warm)", mcmc))
        results = [(name, *measure(cmd)) for name, cmd in rows]
    base_wall, _, base_rss = results[0][1:]
    print(f"{'command':<32}{'wall s':>9}{'x base':>9}{'cpu s':>9}{'peak MB':>10}{'x base':>9}")
    for name, wall, cpu, rss in results:
        print(
            f"{name:<32}{wall:>9.2f}{wall / base_wall:>9.1f}{cpu:>9.2f}"
            f"{rss:>10.0f}{rss / base_rss:>9.1f}"
        )
    # CPU time (user + system, all processes) is the number to trust on a busy machine.
    print(json.dumps({n: {"wall_s": w, "cpu_s": c, "peak_mb": r} for n, w, c, r in results}))


if __name__ == "__main__":
    main()
