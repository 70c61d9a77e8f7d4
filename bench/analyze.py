"""Whole-process wall time and peak memory of ``nof1 analyze`` on a 112-day series and a 175-day trial.

Run:  python bench/analyze.py [--repeats 3] [--no-mcmc]

Rows: a baseline ``python -c "import nof1"``; the exact engine on a 112-day CSV; the exact
engine's onset/carryover model on a 175-day trial folder (the magnesium design: 7 run-in
days, 3 blocks of 28-day periods with 7 washout days; its pre-registered analysis, the tau
grid times the rho grid) and, beside it, the same trial with ``--no-carryover``; a blinded
sequential trial whose unblinding and three interim looks are signed by the helper, with
what checking those signatures costs (in a fresh process: importing Ed25519, verifying
the records); and the
PyMC engine on the CSV (4 chains x 1000 draws; left out with ``--no-mcmc``) three ways:

- cold: PyTensor's compile cache is an empty folder of its own (``PYTENSOR_FLAGS``
  ``compiledir``), so everything the model needs is compiled by C++;
- warm: the same folder on the next runs, holding this model's modules and nothing else;
- warm, shared cache: the machine's default PyTensor cache, as it is. PyTensor reads the
  key of every module in it at start-up, so a cache that also holds many other models
  (test suites, other PyMC work) costs more; the number of modules is printed.

Targets: exact < 1.5 s (the onset model too), mcmc warm < 15 s. Warm rows and the exact row are medians over
``--repeats`` runs. Each command runs under a small wrapper that reports the child's wall
time and peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``), so wrapper start-up is not
counted, and its CPU time (user + system), which a busy machine inflates far less than wall
time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import timedelta
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


def simulated_trial(folder: Path, seed: int = 1) -> None:
    """A finished 175-day magnesium-open trial whose effect (-1.5) builds up with tau 10 days."""
    from datetime import date

    from nof1.design.simulate import simulate_series
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary

    protocol = create_trial(folder, "magnesium-open", passphrase=None, start=date(2026, 1, 5))
    sim = simulate_series(
        protocol, effect=-1.5, sd=1.5, rho=0.5, tau=10.0, missing_rate=0.05, ordinal=True,
        allocation=protocol.open_allocation, washout="include", rng=seed,
    )  # fmt: skip
    lines = ["date,pain"]
    for day, pain in zip(sim.frame["day"], sim.frame["pain"], strict=True):
        if not np.isnan(pain):
            lines.append(f"{protocol.start + timedelta(days=int(day))},{pain:g}")
    diary = folder.parent / "trial-diary.csv"
    diary.write_text("\n".join(lines) + "\n")
    import_diary(folder, diary)


PASSPHRASE = "correct horse battery staple"

#: In a fresh process: what the helper's signatures cost a reader. The Ed25519 module's own
#: import (the rest of ``cryptography`` is loaded anyway, for the sealed allocation), then
#: checking every signed record of the trial (``nof1.diary.signed.check_signed``).
_SIGNATURE_PROBE = """
import json, statistics, sys, time
import cryptography.hazmat.primitives.ciphers.aead, cryptography.hazmat.primitives.kdf.scrypt
t = time.perf_counter()
import cryptography.hazmat.primitives.asymmetric.ed25519
imported = time.perf_counter() - t
from nof1.diary.signed import check_signed
from nof1.trial.handle import open_trial
trial = open_trial(sys.argv[1])
times = []
for _ in range(200):
    t = time.perf_counter()
    check = check_signed(trial.diary, trial.protocol)
    times.append(time.perf_counter() - t)
assert all(r.status == "verified" for r in check.records), check.problems
print(json.dumps({"import_ms": imported * 1e3, "check_ms": statistics.median(times) * 1e3,
                  "records": len(check.records)}))
"""


def signed_trial(folder: Path, seed: int = 1) -> None:
    """A blinded sequential generic-ab trial (looks after blocks 2-5 of 7-day periods), its
    interim looks taken and recorded, then unblinded: every helper record signed."""
    from datetime import date

    from nof1.design.simulate import simulate_series
    from nof1.interim import interim_look
    from nof1.plan.calendar import block_end
    from nof1.plan.sealing import open_allocation
    from nof1.plan.stopping import SequentialRule
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary, unblind_trial

    rule = SequentialRule((2, 3, 4, 5), (0.999, 0.999, 0.999, 0.8), (0.0, 0.0, 0.0))
    protocol = create_trial(folder, "generic-ab", passphrase=PASSPHRASE, start=date(2026, 1, 5),
                            seed=seed, sequential=rule, period_days=7, washout_days=0)  # fmt: skip
    arms = open_allocation(folder, PASSPHRASE).arms
    sim = simulate_series(protocol, effect=-1.0, sd=1.2, rho=0.5, allocation=arms, rng=seed)
    lines = ["date,pain"] + [
        f"{protocol.start + timedelta(days=int(day))},{pain:g}"
        for day, pain in zip(sim.frame["day"], sim.frame["pain"], strict=True)
        if not np.isnan(pain)
    ]
    diary = folder.parent / "signed-diary.csv"
    diary.write_text("\n".join(lines) + "\n")
    import_diary(folder, diary)
    for k in rule.looks[:-1]:
        look = interim_look(folder, PASSPHRASE, today=block_end(protocol, k) + timedelta(days=1))
        if look.decision != "CONTINUE":
            break
    unblind_trial(folder, PASSPHRASE, today=protocol.end + timedelta(days=1))


def signature_cost(folder: Path) -> dict:
    """What verifying the helper's signatures costs ``nof1 analyze --trial`` (ms)."""
    out = subprocess.run(
        [sys.executable, "-c", _SIGNATURE_PROBE, str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def shared_cache_modules() -> int:
    """How many compiled modules the default PyTensor cache holds."""
    code = "import pytensor; print(pytensor.config.compiledir)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    folder = Path(out.stdout.strip())
    return sum(1 for p in folder.glob("*/key.pkl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-mcmc", action="store_true", help="measure the exact engine only")
    args = parser.parse_args()
    nof1 = [sys.executable, "-m", "nof1"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "diary.csv"
        simulated_csv(csv)
        trial = Path(tmp) / "trial"
        simulated_trial(trial)
        signed = Path(tmp) / "signed" / "trial"
        signed_trial(signed)
        base = ["analyze", "--csv", str(csv), "--outcome", "pain", "--treatment", "arm"]
        base += ["--active", "A", "--time", "day", "--seed", "1"]
        onset = [*nof1, "analyze", "--trial", str(trial), "--seed", "1"]
        mcmc = [*nof1, *base, "--engine", "mcmc", "--draws", "1000"]
        own = {"PYTENSOR_FLAGS": f"compiledir={Path(tmp) / 'pytensor'}"}
        results = [
            (BASELINE[0], *measure_median(BASELINE[1], args.repeats)),
            (
                "analyze --engine exact",
                *measure_median([*nof1, *base, "--engine", "exact"], args.repeats),
            ),
            ("analyze --trial (175 days, onset model)", *measure_median(onset, args.repeats)),
            (
                "  same, --no-carryover",
                *measure_median([*onset, "--no-carryover"], args.repeats),
            ),
            (
                "analyze --trial (blinded, 4 signed records)",
                *measure_median([*nof1, "analyze", "--trial", str(signed)], args.repeats),
            ),
        ]
        cost = signature_cost(signed)
        if not args.no_mcmc:
            results += [
                ("analyze --engine mcmc, cold", *measure(mcmc, own)),
                ("analyze --engine mcmc, warm", *measure_median(mcmc, args.repeats, own)),
            ]
            measure(mcmc)  # make sure the shared cache holds this model's modules too
            modules = shared_cache_modules()
            results.append(
                (
                    f"  same, warm shared cache ({modules} modules)",
                    *measure_median(mcmc, args.repeats),
                )
            )
    print(f"repeats: {args.repeats} (median wall and CPU seconds, max peak RSS; cold: one run)")
    print_table(results)
    print(
        f"signatures: importing Ed25519 {cost['import_ms']:.1f} ms, checking the "
        f"{cost['records']} signed records {cost['check_ms']:.2f} ms (median of 200); "
        f"together {cost['import_ms'] + cost['check_ms']:.1f} ms of the blinded row (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
