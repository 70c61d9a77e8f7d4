"""One error hierarchy for the whole library.

The library raises these; the CLI turns each into a single ``Error: ...`` line and a
non-zero exit. Messages name the bad value and what would be right, e.g.
``pain score 11 is outside 0-10``.
"""


class Nof1Error(Exception):
    """Base class of every error nof1 raises on purpose."""


class ProtocolError(Nof1Error):
    """A template or protocol is malformed, inconsistent or missing."""


class BlindingError(Nof1Error):
    """The sealed allocation cannot be opened, verified, or must not be opened yet."""


class DiaryError(Nof1Error):
    """A diary entry, import or the diary file itself is not acceptable."""


class DataError(Nof1Error):
    """Data handed to an analysis cannot support it (empty arm, constant outcome, bad CSV)."""


class ModelError(Nof1Error):
    """A model cannot be built or fitted as asked."""


class IntegrityError(Nof1Error):
    """A trial folder no longer matches its commitments: something was changed afterwards."""


class OutputError(Nof1Error):
    """An output file must not or cannot be written (a trial's own file, an existing file)."""


class DamagedDiaryError(DiaryError):
    """The diary file is damaged: a table, a column or a stored value is not what nof1 wrote."""
