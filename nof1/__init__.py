"""nof1: randomized, blinded n-of-1 self-experiments with a trustworthy Bayesian analysis.

The main entry points, one per step of a trial (each is the library call behind a ``nof1``
command)::

    import nof1
    nof1.create_trial("mytrial", "magnesium-crps", passphrase=..., start=...)
    nof1.record_day("mytrial", "today", {"pain": 6})
    nof1.trial_status("mytrial")
    nof1.unblind_trial("mytrial", passphrase)
    trial = nof1.open_trial("mytrial")  # read once; each step takes the handle or a folder
    result = nof1.analyze_trial(trial)
    nof1.write_report("report.html", nof1.trial_report(trial, result=result))

and for data from elsewhere, ``nof1.analyze_frame(df, outcome="pain", treatment="arm")``
or ``nof1.analyze_csv(path_or_file, ...)``. See ``examples/api.py`` for a short tour.

The names are loaded on first use, so ``import nof1`` (and every ``nof1`` command) stays
fast: the statistics stack is imported only by what needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from nof1.errors import (
    BlindingError,
    DataError,
    DiaryError,
    ModelError,
    Nof1Error,
    ProtocolError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Protocol": "nof1.plan.protocol",
    "load_protocol": "nof1.plan.protocol",
    "create_trial": "nof1.trial.create",
    "packing_sheet": "nof1.trial.create",
    "Trial": "nof1.trial.handle",
    "open_trial": "nof1.trial.handle",
    "open_diary": "nof1.diary.store",
    "record_day": "nof1.trial.writes",
    "import_diary": "nof1.trial.writes",
    "unblind_trial": "nof1.trial.writes",
    "trial_status": "nof1.trial.status",
    "trial_calendar": "nof1.plan.reminders",
    "Series": "nof1.analysis.series",
    "trial_table": "nof1.analysis.series",
    "series_from_trial": "nof1.analysis.series",
    "series_from_csv": "nof1.analysis.csv_input",
    "series_from_frame": "nof1.analysis.csv_input",
    "AnalysisResult": "nof1.analysis.result",
    "analyze": "nof1.analysis.analyze",
    "analyze_trial": "nof1.analysis.analyze",
    "analyze_csv": "nof1.analysis.analyze",
    "analyze_frame": "nof1.analysis.analyze",
    "trial_report": "nof1.report",
    "csv_report": "nof1.report",
    "write_report": "nof1.report",
    "simulate_series": "nof1.design.simulate",
    "evaluate_designs": "nof1.design",
    "export_anonymised": "nof1.research.anonymise",
    "pool_files": "nof1.research.pool",
}

__all__ = [
    "BlindingError",
    "DataError",
    "DiaryError",
    "ModelError",
    "Nof1Error",
    "ProtocolError",
    "__version__",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nof1' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
