"""A short tour of the nof1 library, for a notebook or a script.

Run:  python examples/api.py [OUT_DIR]      (default: a new temporary folder)

1. Analyse any table of daily scores (a pandas DataFrame or a CSV) in one call; hold the
   result as one tidy row (``to_frame()``) or as ArviZ InferenceData (``idata``).
2. Run a whole blinded trial through the library: each call is the one behind a command.
"""

from __future__ import annotations

import io
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

import nof1
from nof1.plan.sealing import open_allocation

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="nof1-api-"))

# 1. Data from anywhere: one row per day, a treatment column with two values.
rng = np.random.default_rng(7)
arms = np.repeat(["magnesium", "placebo", "placebo", "magnesium", "magnesium", "placebo"], 14)
pain = np.clip(np.round(6 - 1.5 * (arms == "magnesium") + rng.normal(0, 1.2, arms.size)), 0, 10)
df = pd.DataFrame({"day": np.arange(1, 85), "block": np.repeat([1, 2, 3], 28), "arm": arms,
                   "pain": pain})  # fmt: skip
result = nof1.analyze_frame(df, outcome="pain", treatment="arm", active="magnesium", time="day",
                            block="block", low=0, high=10, seed=7)  # fmt: skip
s = result.summary
print(f"DataFrame: effect {s.mean:+.2f} (95% interval {s.hdi_low:+.2f} to {s.hdi_high:+.2f}), "
      f"P(benefit) {s.p_benefit:.2f}")  # fmt: skip

# The same table as CSV text: readers take a path or any open text file.
csv_text = io.StringIO(df.to_csv(index=False))
series = nof1.series_from_csv(csv_text, "pain", "arm", active="magnesium", time="day",
                              block="block")  # fmt: skip
print(f"CSV: {int(series.observed.sum())} days, {len(set(series.period))} periods")

# For a data scientist: the result as one tidy row (the same columns for every engine and
# outcome, so results stack with pd.concat), and its posterior as ArviZ InferenceData, here
# independent draws from the exact posterior (ArviZ is loaded only when idata is asked for).
row = result.to_frame()
print(row[["effect", "hdi_low", "hdi_high", "p_benefit", "p_mcid", "rho", "tier"]].round(2)
      .to_string(index=False))  # fmt: skip
print(f"InferenceData: {', '.join(result.idata.posterior.data_vars)} "
      f"({result.idata.posterior.sizes['chain']} chains)")  # fmt: skip

# 2. A blinded trial. nof1 protocol new: randomize and seal the allocation.
trial = out / "trial"
passphrase = "correct horse battery staple"  # the helper's; never the patient's
start = date.today() - timedelta(days=3 * 28 + 7)  # a trial that just ended, for the tour
protocol = nof1.create_trial(trial, "magnesium-crps", passphrase=passphrase, start=start,
                             seed=7, blocks=3, period_days=14, washout_days=3, run_in_days=7)  # fmt: skip
print(f"Trial: {protocol.blocks} blocks, {protocol.start} to {protocol.end}")

# The helper knows the allocation (nof1 kits); here it drives a simulated patient, whose
# diary goes in as a CSV (nof1 import).
arms = open_allocation(trial, passphrase).arms
sim = nof1.simulate_series(protocol, effect=-1.5, sd=1.2, rho=0.5, baseline=6.5,
                           allocation=arms, rng=7)  # fmt: skip
diary = sim.frame.assign(
    date=[str(protocol.start + timedelta(days=int(d))) for d in sim.frame["day"]]
)
diary[["date", "pain"]].dropna().to_csv(out / "diary.csv", index=False)
print(f"Imported {nof1.import_diary(trial, out / 'diary.csv')} diary days")

# nof1 status, nof1 unblind, nof1 analyze, nof1 report.
print(f"Status: {nof1.trial_status(trial).phase}")
nof1.unblind_trial(trial, passphrase)
# Open the folder once: the handle holds protocol.toml as parsed and the diary as read, and
# every later step (check, analysis, report) works on exactly what was verified.
handle = nof1.open_trial(trial)
result = nof1.analyze_trial(handle, seed=7)
s = result.summary
print(f"Trial: effect {s.mean:+.2f}, P(benefit >= {s.mcid:g}) {s.p_mcid:.2f}")
report = nof1.write_report(out / "report.html", nof1.trial_report(handle, result=result, seed=7))
print(f"Report: {report}")
