"""What a diary holds, as read: records, the unblinding, interim looks.

Frozen values, so a diary read once (``nof1.diary.view.DiaryView``) can be handed from
stage to stage without anyone changing what was verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from nof1.diary.entries import Entry
from nof1.plan.stopping import STOP_EFFICACY, STOP_FUTILITY


@dataclass(frozen=True)
class Record:
    """A stored diary row: the entry plus its audit fields.

    ``current`` is False once a later correction supersedes the row. ``deviation`` is the
    reason given for a record made after unblinding (None before). ``recall`` is True
    when the row was recorded after its day, from memory (``nof1 record --date`` for a
    missed day): a recall entry. ``late`` is True when it was entered more than
    ``RECALL_DAYS`` after its day (only an import or a correction can): a late entry.
    """

    id: int
    entry: Entry
    recorded_at: datetime
    supersedes: int | None
    current: bool
    recall: bool = False
    deviation: str | None = None
    late: bool = False


@dataclass(frozen=True)
class Unblinding:
    """When and why the allocation was revealed, and what it was. ``code`` is the short
    code of the record as stored (``nof1.plan.signing.code``): the helper gives it to the
    clinician at unblinding."""

    unblinded_at: datetime
    early: bool
    reason: str
    arms: tuple[str, ...]
    salt: str
    code: str = field(default="", compare=False)


@dataclass(frozen=True)
class Look:
    """A pre-registered interim look as recorded: which look, after which block, the decision
    (one of ``nof1.plan.stopping.DECISIONS``) and when (UTC). Nothing else is kept, so a look
    record reveals nothing about the allocation or the effect. ``code``: the record's short
    code, for the clinician (``nof1.plan.signing.code``)."""

    look: int  # 1-based, as shown to people
    after_block: int
    decision: str
    at: datetime
    code: str = field(default="", compare=False)

    @property
    def stops(self) -> bool:
        return self.decision in (STOP_EFFICACY, STOP_FUTILITY)


def first_stop(looks: tuple[Look, ...]) -> Look | None:
    """The first look that said STOP, or None while the trial may go on."""
    return next((look for look in looks if look.stops), None)
