"""A trial folder opened once: the ``Trial`` handle every later stage takes.

``open_trial`` reads ``protocol.toml`` once and parses it once; the sealed allocation and
the diary are each read once, when first needed, and kept. The integrity check
(``nof1.trial.integrity``), the status, the looks, the analysis and the report all look at
these same bytes and rows, so what was verified is exactly what is analysed, and a command
opens each file once.

A write (``nof1.trial.writes``) goes to the files and never changes what a handle has
already read: open the trial again to see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from nof1.diary.schema import DIARY_FILE, has_diary
from nof1.diary.signed import SignedCheck, check_signed
from nof1.diary.store import Diary, open_diary
from nof1.diary.view import DiaryView
from nof1.errors import DiaryError
from nof1.plan.files import remove_trial_leftovers
from nof1.plan.protocol import PROTOCOL_FILE, Protocol, parse_protocol, read_document
from nof1.plan.sealing import Allocation, Secrets, read_sealed, unseal_trial


@dataclass(frozen=True)
class Trial:
    """One trial folder, read once.

    Parameters
    ----------
    folder : the trial folder.
    document : ``protocol.toml`` as parsed (what ``protocol`` was built from, and what its
        commitment is checked over).
    protocol : the registered plan.

    The sealed allocation (``sealed``) and the diary (``diary``) are read on first use and
    kept, so every stage of one command sees the same bytes.
    """

    folder: Path
    document: dict[str, Any]
    protocol: Protocol

    @cached_property
    def sealed(self) -> bytes | None:
        """``allocation.sealed`` as read, or None when it is missing or unreadable."""
        return read_sealed(self.folder)

    @cached_property
    def diary(self) -> DiaryView | None:
        """The whole diary as read once, its chain verified on those rows; None while the
        trial has no diary (never creates one).

        Raises
        ------
        DiaryError : the diary cannot be read, or something else is in its place.
        """
        if not has_diary(self.folder):
            return None
        with open_diary(self.folder, self.protocol, readonly=True) as diary:
            return diary.view()

    def existing_diary(self) -> DiaryView:
        """``diary``, for commands that only read one: no diary yet is an error.

        Raises
        ------
        DiaryError : no diary yet, or it cannot be read.
        """
        if self.diary is None:
            raise DiaryError(f"no diary in {self.folder} yet: record a day first")
        return self.diary

    @property
    def diary_path(self) -> Path:
        """Where the diary is (or will be)."""
        return self.folder / DIARY_FILE

    def revealed(self) -> Allocation | None:
        """The allocation as the diary's unblinding record revealed it; for an open-label
        trial the protocol's own; None while blinded."""
        if not self.protocol.blinded:
            return Allocation(self.protocol.open_allocation or (), "")
        return None if self.diary is None else self.diary.allocation()

    @cached_property
    def signed(self) -> SignedCheck:
        """The records only the helper may make (unblinding, looks), checked against the
        helper's public key (``nof1.diary.signed``); empty without a diary."""
        if self.diary is None:
            return SignedCheck((), (), ())
        return check_signed(self.diary, self.protocol)

    def unseal(self, passphrase: str) -> Allocation:
        """Open the sealed allocation with the helper's passphrase, after checking the
        protocol and the sealed bytes against the commitment.

        Raises
        ------
        BlindingError : no sealed file, wrong passphrase, altered file, commitment mismatch.
        """
        return self.open_secrets(passphrase).allocation

    def open_secrets(self, passphrase: str) -> Secrets:
        """The allocation and the helper's signing key, opened with the helper's passphrase
        (``nof1.plan.sealing.unseal_trial``).

        Raises
        ------
        BlindingError : as ``unseal``, or a signing key that is not the protocol's.
        """
        return unseal_trial(self.protocol, self.document, self.sealed, passphrase)

    def open_diary(self, create: bool = True) -> Diary:
        """The diary opened for writing, with this handle's protocol (never re-read); a new
        diary records this handle's ``protocol.toml`` in its chain.

        Raises
        ------
        DiaryError : see ``nof1.diary.store.open_diary``.
        """
        return open_diary(self.folder, self.protocol, create=create, document=self.document)


def open_trial(folder: str | Path) -> Trial:
    """Open a trial folder: ``protocol.toml`` is read and parsed once.

    What a killed nof1 left in or beside the folder (temporary files, a diary being
    created, a staging folder of ``protocol new``) is removed first, where its process is
    gone (``nof1.plan.files.remove_trial_leftovers``).

    Parameters
    ----------
    folder : the trial folder.

    Returns
    -------
    Trial

    Raises
    ------
    ProtocolError : no trial in the folder, or ``protocol.toml`` is not a valid protocol.

    Example
    -------
    >>> trial = open_trial("mytrial")  # doctest: +SKIP
    >>> trial.protocol.blocks, len(trial.diary.current_entries())  # doctest: +SKIP
    (3, 84)
    """
    folder = Path(folder)
    remove_trial_leftovers(folder)
    document = read_document(folder)
    return Trial(folder, document, parse_protocol(document, folder / PROTOCOL_FILE))


def as_trial(trial: Trial | str | Path) -> Trial:
    """The handle itself, or the folder opened (``open_trial``): for public functions that
    take either."""
    return trial if isinstance(trial, Trial) else open_trial(trial)
