"""The nof1 library end to end, without the command line: protocol -> simulate -> diary
import -> unblind -> analyze -> report.

Run:  python examples/api.py [OUT_DIR]      (default: a new temporary folder)

Each step is the library call behind one ``nof1`` command; the comments name the command.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from nof1.analysis import analyze_trial
from nof1.blinding import open_allocation
from nof1.diary import import_diary, unblind_trial
from nof1.report import trial_report, write_report
from nof1.simulate import simulate_series
from nof1.trial import create_trial

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="nof1-api-"))
trial = out / "trial"
passphrase = "correct horse battery staple"  # the helper's; never the patient's

# 1. nof1 protocol new: a blinded magnesium-vs-placebo protocol, randomized and sealed.
protocol = create_trial(
    trial,
    "magnesium-crps",
    passphrase=passphrase,
    start=date(2026, 1, 5),
    seed=7,
    blocks=3,
    period_days=14,
    washout_days=3,
    run_in_days=7,
)
print(f"protocol: {protocol.blocks} blocks, {protocol.start} to {protocol.end}")

# 2. The helper knows the allocation (nof1 kits); here it drives the simulated patient.
arms = open_allocation(trial, passphrase).arms
sim = simulate_series(
    protocol, effect=-1.5, sd=1.2, rho=0.5, baseline=6.5, ordinal=True,
    missing_rate=0.05, guess_accuracy=0.5, unsure_rate=0.5, allocation=arms, rng=7,
)  # fmt: skip

# 3. nof1 import: the patient's diary as a CSV (one row per recorded day).
diary_csv = out / "diary.csv"
with diary_csv.open("w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["date", "pain", "guess", "adherence"])
    for row in sim.frame.itertuples():
        if row.pain == row.pain:  # NaN: the patient missed that day
            day = protocol.start + timedelta(days=int(row.day))
            guess = row.guess if isinstance(row.guess, str) and row.day % 7 == 6 else ""
            adherence = "" if row.run_in else ("yes" if row.adherence else "no")
            writer.writerow([day.isoformat(), f"{row.pain:g}", guess, adherence])
print(f"imported {import_diary(trial, diary_csv)} diary days")

# 4. nof1 unblind: after the last period, open and verify the sealed allocation.
unblind_trial(trial, passphrase, today=protocol.end + timedelta(days=1))

# 5. nof1 analyze: the pre-registered analysis, with all three priors.
result = analyze_trial(trial, seed=7, prior_sensitivity=True)
s = result.summary
print(f"effect {s.mean:+.2f} (95% interval {s.hdi_low:+.2f} to {s.hdi_high:+.2f}), "
      f"P(benefit) {s.p_benefit:.2f}, P(benefit >= {s.mcid:g}) {s.p_mcid:.2f}")  # fmt: skip
print(s.verdict)

# 6. nof1 report: one self-contained HTML file for the clinician.
report = write_report(out / "report.html", trial_report(trial, result=result, seed=7))
print(f"report: {report}")
