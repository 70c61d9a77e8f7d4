"""The clinician's report: one self-contained HTML file (figures embedded, prints on A4).

``trial_report`` / ``csv_report`` analyse and render; ``build_report`` renders an existing
analysis; ``write_report`` writes the file readable by its owner only.
"""

from nof1.report.build import (
    CommitmentCheck,
    Secondary,
    Source,
    build_report,
    replicate_series,
    write_report,
)
from nof1.report.make import csv_report, trial_report

__all__ = [
    "CommitmentCheck",
    "Secondary",
    "Source",
    "build_report",
    "csv_report",
    "replicate_series",
    "trial_report",
    "write_report",
]
