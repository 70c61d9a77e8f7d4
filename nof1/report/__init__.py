"""The clinician's report and the patient's page: self-contained HTML files (figures
embedded, print on A4).

``trial_report`` / ``csv_report`` analyse and render; ``build_report`` renders an existing
analysis; ``patient_page`` / ``build_patient_page`` do the same for the patient's page
(``nof1.report.patient``); ``write_report`` writes either file readable by its owner only.
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
from nof1.report.patient import build_patient_page, patient_page

__all__ = [
    "CommitmentCheck",
    "Secondary",
    "Source",
    "build_patient_page",
    "build_report",
    "csv_report",
    "patient_page",
    "replicate_series",
    "trial_report",
    "write_report",
]
