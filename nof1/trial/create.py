"""Creating a trial folder, and the helper's kit-packing sheet.

Everything is validated and built in memory first. The files are then written into a fresh
temporary folder beside the trial folder, which is renamed into place only once both are
on disk: a full disk or a crash leaves no half-made trial (no lone ``allocation.sealed``).
Trial files hold personal data (dates of a person's treatment): the folder is 0700 and
every file 0600.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import tomli_w

from nof1.diary.schema import DIARY_FILE
from nof1.diary.store import open_diary
from nof1.errors import BlindingError, DiaryError, ProtocolError
from nof1.plan.allocation import draw_allocation
from nof1.plan.files import disk_problem, remove_trial_leftovers, replace_file, temp_prefix
from nof1.plan.protocol import (
    FORMAT_VERSION,
    PROTOCOL_FILE,
    RECALL_DAYS,
    Protocol,
    load_protocol,
    parse_protocol,
    protocol_to_toml,
    read_document,
)
from nof1.plan.registration import COMMITMENT_METHOD, COMMITMENT_SECTION, registration_digest
from nof1.plan.sealing import (
    SEALED_FILE,
    Allocation,
    commitment,
    new_allocation,
    read_sealed,
    seal,
)
from nof1.plan.signing import new_key
from nof1.plan.stopping import SequentialRule
from nof1.plan.templates import protocol_from_template, read_template, with_allocation
from nof1.trial.handle import Trial, as_trial


def check_start(start: date, today: date) -> None:
    """Refuse a first day so far back that its days can no longer be recorded.

    A day may be recorded at most ``RECALL_DAYS`` back (``nof1.diary.entries``), so a trial that
    started earlier would begin with days that must stay missing.

    Raises
    ------
    ProtocolError : ``start`` is more than ``RECALL_DAYS`` days before ``today``.

    Examples
    --------
    >>> check_start(date(2026, 11, 30), today=date(2026, 11, 30))
    """
    days = (today - start).days
    if days > RECALL_DAYS:
        raise ProtocolError(
            f"start date {start} is {days} days ago: a day can be recorded at most "
            f"{RECALL_DAYS} days back, so the trial would begin with days that stay missing; "
            "start today or later"
        )


def create_trial(
    trial_dir: Path | str,
    template: str | Path,
    *,
    passphrase: str | None,
    start: date,
    seed: int | None = None,
    blocks: int | None = None,
    period_days: int | None = None,
    washout_days: int | None = None,
    run_in_days: int | None = None,
    scheme: str | None = None,
    sequential: SequentialRule | None = None,
    trade_off: dict[str, float] | None = None,
    force: bool = False,
    reproducible: bool = False,
) -> Protocol:
    """Randomize a protocol from a template and write ``protocol.toml`` (+ ``allocation.sealed``).

    The allocation comes from the operating system's randomness (``trial_allocation``); a
    blinded trial also gets the helper's signing key (``nof1.plan.signing``), sealed with
    the allocation, its public half in ``protocol.toml``.

    Parameters
    ----------
    trial_dir : folder to create (an existing empty folder is fine).
    template : template file or built-in name (``magnesium-crps``, ``generic-ab``, ...).
    passphrase : the helper's passphrase that seals the allocation (blinded templates only).
    start : first day of the trial (the run-in, if any, starts here).
    seed : for demos and tests. For a blinded trial it is mixed with a random salt sealed
        with the allocation, so the seed alone does not reproduce the allocation (the
        helper shows it from the sealed file: ``nof1 kits``); an open-label trial's
        allocation is public anyway, and its seed alone reproduces it.
    blocks, period_days, washout_days, run_in_days, scheme : override the template's design.
    sequential : pre-registered interim looks (``nof1.plan.stopping``); the trial then has
        ``sequential.max_blocks`` blocks.
    trade_off : the patient's trade-off, side-effect outcome -> days a week one point less
        of the primary outcome is worth (``[decision]``); None: the template's, if any.
    force : replace an existing protocol (never an existing diary).
    reproducible : demos and tests only (no command offers it): a blinded trial's
        allocation then comes from ``seed`` alone, so whoever knows the seed knows it.

    Returns
    -------
    The new ``Protocol`` (whose ``open_allocation`` is None when blinded).

    Raises
    ------
    ProtocolError : bad template or design, or a trial already in the folder.
    BlindingError : a passphrase too short.
    """
    trial_dir = Path(trial_dir)
    spec = read_template(template)
    protocol = protocol_from_template(
        spec,
        start=start,
        blocks=blocks,
        period_days=period_days,
        washout_days=washout_days,
        run_in_days=run_in_days,
        scheme=scheme,
        sequential=sequential,
        trade_off=trade_off,
    )
    if trial_dir.exists() and not trial_dir.is_dir():
        raise ProtocolError(f"{trial_dir} exists and is not a folder")
    if os.path.lexists(trial_dir / DIARY_FILE):
        raise ProtocolError(
            f"{trial_dir} already holds a diary; a new protocol would orphan its entries: choose a new folder"
        )
    existing = [name for name in (PROTOCOL_FILE, SEALED_FILE) if (trial_dir / name).exists()]
    if existing and not force:
        raise ProtocolError(
            f"{trial_dir} already holds a trial ({existing[0]}); use --force to replace it"
        )
    if protocol.blinded and not passphrase:
        raise ProtocolError(
            "a blinded protocol needs the helper's passphrase to seal the allocation"
        )

    arms, seed_salt = trial_allocation(protocol, seed, reproducible=reproducible)
    allocation = new_allocation(arms) if protocol.blinded else Allocation(arms, "")
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    signing_key, helper_key = new_key() if protocol.blinded else (None, "")
    sealed = (
        seal(allocation, passphrase, seed, signing_key=signing_key, seed_salt=seed_salt)
        if protocol.blinded
        else None
    )  # may raise: before writing
    protocol = with_allocation(
        protocol,
        commitment(allocation),
        arms,
        created,
        sealed_sha256="" if sealed is None else hashlib.sha256(sealed).hexdigest(),
        helper_key=helper_key,
    )
    document = tomli_w.dumps(protocol_to_toml(protocol)).encode()

    files = {PROTOCOL_FILE: _HEADER.encode() + document}
    if sealed is not None:
        files[SEALED_FILE] = sealed
    try:
        _write_trial_files(trial_dir, files)
    except OSError as exc:
        raise ProtocolError(
            f"cannot write the trial to {trial_dir}: {disk_problem(exc, trial_dir.parent)}; "
            "nothing was written"
        ) from None
    return protocol


def trial_allocation(
    protocol: Protocol, seed: int | None, reproducible: bool = False
) -> tuple[tuple[str, ...], int | None]:
    """Draw a new trial's allocation: (arms, the random salt mixed with the seed, or None).

    Without a seed the generator is seeded from the operating system's randomness
    (``secrets``). With a seed, a blinded trial's generator is seeded from the seed *and*
    128 random bits kept only in the sealed file, so nobody who knows the seed (it may be
    in a shell history) can recompute the kits; ``reproducible`` (demos and tests) and an
    open-label trial use the seed alone.

    Raises
    ------
    ProtocolError : a seed outside 0 to 2^63 - 1.
    """
    if seed is not None and not 0 <= seed < 2**63:
        raise ProtocolError(f"seed {seed} must be a whole number from 0 to 2^63 - 1")
    salt = None
    if seed is None:
        entropy: int | list[int] = secrets.randbits(128)
    elif protocol.blinded and not reproducible:
        salt = secrets.randbits(128)
        entropy = [seed, salt]
    else:
        entropy = seed
    rng = np.random.default_rng(entropy)
    return draw_allocation(protocol.blocks, protocol.scheme, rng), salt


def upgrade_protocol(trial_dir: Path | str) -> Protocol:
    """Give a protocol made by an older nof1 (format 1) its commitment over the whole file.

    Nothing in the file changes but the format version, the time of the upgrade (both
    covered by the new commitment), ``allocation.sealed``'s SHA-256 and the commitment
    itself. The commitment then protects the protocol *from now on*: it cannot prove what
    the file said before the upgrade, and the report says when the upgrade was made.

    Returns
    -------
    Protocol : the upgraded protocol (its ``fingerprint`` goes to the clinician).

    Raises
    ------
    ProtocolError : no trial in the folder, or its protocol is already current.
    BlindingError : a blinded trial without its sealed allocation.
    DiaryError : the diary's chain does not hold (nothing is changed then).
    """
    trial_dir = Path(trial_dir)
    document = read_document(trial_dir)
    version = document["nof1"]["format_version"]
    if version >= FORMAT_VERSION:
        raise ProtocolError(
            f"{trial_dir / PROTOCOL_FILE} is already format {version}: nothing to upgrade"
        )
    if parse_protocol(document, trial_dir / PROTOCOL_FILE).blinded:
        sealed = read_sealed(trial_dir)
        if sealed is None:
            raise BlindingError(
                f"{trial_dir / SEALED_FILE} cannot be read: the commitment must cover it"
            )
        document["blinding"]["sealed_sha256"] = hashlib.sha256(sealed).hexdigest()
    document["nof1"]["format_version"] = FORMAT_VERSION
    document["nof1"]["upgraded"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    document.pop(COMMITMENT_SECTION, None)
    document[COMMITMENT_SECTION] = {
        "sha256": registration_digest(document),
        "method": COMMITMENT_METHOD,
    }
    has_diary = (trial_dir / DIARY_FILE).exists()
    if has_diary:
        with open_diary(trial_dir, create=False) as diary:
            if not diary.chain.ok:
                raise DiaryError(
                    f"{diary.path} was altered outside nof1 ({diary.chain.problems[0]}): "
                    "a commitment added now would seal the alteration; nothing was changed"
                )
    try:
        replace_file(trial_dir / PROTOCOL_FILE, _HEADER.encode() + tomli_w.dumps(document).encode())
    except OSError as exc:
        raise ProtocolError(
            f"cannot write {trial_dir / PROTOCOL_FILE}: {disk_problem(exc, trial_dir)}; "
            "nothing was changed"
        ) from None
    if has_diary:
        # The diary's chain now records that its protocol gained a commitment.
        with open_diary(trial_dir, create=False) as diary:
            diary.anchor_protocol()
    return load_protocol(trial_dir)


def _write_trial_files(trial_dir: Path, files: dict[str, bytes]) -> None:
    """Write all of ``files`` into ``trial_dir``, or none of them.

    A new (or empty) trial folder is built as a temporary folder beside it and renamed into
    place. Into an existing folder (``--force``, or one holding other files) the files are
    first all written to a temporary folder inside it, then moved in with ``os.replace``,
    which needs no disk space. Either way a failure removes what was made, and what a
    killed ``protocol new`` left (its staging folder) is removed first
    (``nof1.plan.files.remove_trial_leftovers``).
    """
    remove_trial_leftovers(trial_dir)
    made = [p for p in (trial_dir, *trial_dir.parents) if not p.exists()]
    fresh = not trial_dir.exists() or not any(trial_dir.iterdir())
    trial_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging_parent = trial_dir.parent if fresh else trial_dir
    staging = Path(
        tempfile.mkdtemp(dir=staging_parent, prefix=temp_prefix(trial_dir.name), suffix=".new")
    )
    try:
        for name, content in files.items():
            replace_file(staging / name, content)
        if fresh:
            # rename() replaces an empty folder atomically, and fails on a non-empty one.
            os.replace(staging, trial_dir)
        else:
            # The sealed allocation first: protocol.toml is what makes the folder a trial.
            for name in sorted(files, key=lambda n: n == PROTOCOL_FILE):
                os.replace(staging / name, trial_dir / name)
            staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # innermost first; only the folders this call created
            if folder.exists():
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise


_HEADER = """\
# nof1 protocol: the public, pre-registered plan of this n-of-1 trial.
# It names the treatments and the kit of each period, but not which kit holds which
# treatment: that is sealed in allocation.sealed, readable only with the helper's passphrase.
# The [commitment] below covers every other line of this file, allocation.sealed included;
# its short form, the fingerprint, goes to the clinician before the first dose.
# Do not edit this file once the trial has started: nof1 refuses to analyse it then.

"""


@dataclass(frozen=True)
class KitLine:
    """One kit on the helper's packing sheet."""

    kit: str
    period: int
    start: date
    end: date
    arm: str
    treatment: str
    description: str
    doses: int
    dose_unit: str


def packing_sheet(trial: Trial | Path | str, passphrase: str) -> tuple[Protocol, list[KitLine]]:
    """What the helper packs into each kit: opens the sealed allocation.

    Raises
    ------
    BlindingError : wrong passphrase or altered sealed file.
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    allocation = trial.unseal(passphrase)
    lines = []
    for period, arm in zip(protocol.periods, allocation.arms, strict=True):
        t = protocol.treatments[arm]
        days = (period.end - period.start).days + 1
        lines.append(
            KitLine(
                period.kit,
                period.index,
                period.start,
                period.end,
                arm,
                t.name,
                t.description,
                days * t.doses_per_day,
                t.dose_unit,
            )
        )
    return protocol, lines
