"""A verdict nobody can bend: what only the helper may record is signed, and no seed gives
the allocation away.

Issue 21's attacks, by a patient who owns the computer and knows sqlite3 and Python (and
nof1's own code) but not the helper's passphrase:

1. the unblinding record replayed after the diary was rewritten: cut out of the diary
   itself, or saved and appended to a copy taken before unblinding;
2. a forged STOP ending a sequential trial, and a real look cut out and appended again;
3. the interim look as an oracle (does it fail only under some allocations?);
4. the seed recomputing the kits.

Each ends refused, or shown in red in the report and by ``status``; a refusal changes no
file. Trials made before records were signed are labelled so, never "verified" for what
cannot be checked.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_tamper import banner, refused, report_page

import nof1.cli.diary_cmds
import nof1.cli.interim_cmds
from nof1.cli import cli
from nof1.diary import chain
from nof1.diary.schema import DIARY_FILE
from nof1.plan import signing
from nof1.plan.sealing import open_allocation
from nof1.plan.stopping import STOP_EFFICACY, SequentialRule
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.integrity import check_trial
from nof1.trial.writes import import_diary, record_day

PASS = "correct horse battery"
START = date(2026, 1, 5)
DESIGN = {"blocks": 3, "period_days": 7, "washout_days": 0}
RULE = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))
#: The day after block 2 of a 7-day-period design: when look 1 opens.
LOOK_DAY = date(2026, 2, 2)
LEGACY = Path(__file__).parent / "data" / "legacy"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def today(monkeypatch):
    """Fix the day the diary and interim commands take as today."""
    current = [date.today()]

    class FixedDate(date):
        @classmethod
        def today(cls) -> date:
            return current[0]

    for module in (nof1.cli.diary_cmds, nof1.cli.interim_cmds):
        monkeypatch.setattr(module, "date", FixedDate)
    return lambda day: current.__setitem__(0, day)


def _scores(folder: Path, effect: float, periods=None, through_block=None, seed=0) -> None:
    """Import a pain score for the chosen days: 5.5 + effect on A + noise (sd 1)."""
    p = open_trial(folder).protocol
    arms = open_allocation(folder, PASS).arms
    rng = np.random.default_rng(seed)
    lines = ["date,pain"]
    for q in p.periods:
        if (periods is not None and q.index not in periods) or (
            through_block is not None and q.block > through_block
        ):
            continue
        for i in range((q.end - q.start).days + 1):
            pain = np.clip(
                np.round(5.5 + effect * (arms[q.index - 1] == "A") + rng.normal()), 0, 10
            )
            lines.append(f"{q.start + timedelta(days=i)},{pain:g}")
    csv = folder.parent / f"{folder.name}-diary.csv"
    csv.write_text("\n".join(lines) + "\n")
    import_diary(folder, csv)


def _raw(folder: Path) -> sqlite3.Connection:
    """The diary opened as an attacker opens it: plain sqlite3, autocommit."""
    return sqlite3.connect(folder / DIARY_FILE, isolation_level=None)


def _cut(con: sqlite3.Connection, kind: str) -> dict:
    """Cut the last chain record of ``kind`` out (and its row, for an unblinding), hide the
    gap in the sequence, and return what was cut, to be appended again later."""
    seq, text = con.execute(
        "SELECT seq, content FROM chain WHERE kind = ? ORDER BY seq DESC LIMIT 1", (kind,)
    ).fetchone()
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        if "delete" in name:
            con.execute(f"DROP TRIGGER {name}")  # the append-only triggers are no obstacle
    con.execute("DELETE FROM chain WHERE seq = ?", (seq,))
    con.execute(
        "UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM chain) WHERE name = 'chain'"
    )
    if kind == "unblinding":
        con.execute("DELETE FROM unblinding")
    return json.loads(text)


def _append(con: sqlite3.Connection, kind: str, content: dict) -> None:
    """Append a record hashed onto the chain's head, as nof1 itself would."""
    if kind == "unblinding":
        columns = ", ".join(content)
        con.execute(
            f"INSERT INTO unblinding ({columns}) VALUES ({', '.join('?' * len(content))})",
            tuple(content.values()),
        )
        content = chain.row(con, "unblinding", 1)
    chain.append(con, kind, content, chain.head(con))


def _correct_arm(folder: Path, arm: str, pain: int) -> None:
    """With the diary open again, rewrite every day of one arm (``record --correct``)."""
    p = open_trial(folder).protocol
    arms = open_allocation(folder, PASS).arms
    for q in p.periods:
        if arms[q.index - 1] == arm:
            for i in range((q.end - q.start).days + 1):
                record_day(folder, q.start + timedelta(days=i), {"pain": pain}, correct=True)


@pytest.fixture
def blinded(tmp_path) -> Path:
    """A blinded generic-ab trial, its diary complete, a small benefit on A, not unblinded."""
    folder = tmp_path / "trial"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, **DESIGN)
    _scores(folder, effect=-0.5)
    return folder


def _unblind(folder: Path, today) -> str:
    """Unblind with the CLI, as the helper does; the code it prints for the clinician."""
    today(open_trial(folder).protocol.end + timedelta(days=1))
    (folder.parent / "pass.txt").write_text(PASS + "\n")
    res = run("unblind", "--trial", folder, "--passphrase-file", folder.parent / "pass.txt")
    assert res.exit_code == 0, res.output
    return re.search(r"Unblinding code: (\S+)\.", res.stdout).group(1)


def _shown_code(page: str) -> str:
    return re.search(r'id="unblinding-code">Unblinding code <strong>([^<]+)<', page).group(1)


# ================================================================== (1) unblinding


def test_a_signed_unblinding_is_verified_and_its_code_is_in_the_report(blinded, today):
    code = _unblind(blinded, today)
    check = check_trial(blinded)
    assert check.ok and check.caveats == ()
    assert check.signed.unblinding.status == "verified"
    assert check.unblinding_code == code
    page = report_page(blinded)
    assert banner(page) == ""
    assert _shown_code(page) == code
    assert "the unblinding and every interim look signed by the helper" in page


def test_an_unblinding_cut_out_and_replayed_after_rewriting_the_diary_is_refused(blinded, today):
    """Attack 1, first variant: copy the unblinding row, delete it and its chain record,
    correct the days of one arm (the diary is open again), append the saved row as one
    correctly hashed record. The chain holds, but the signature's chain head does not."""
    _unblind(blinded, today)
    con = _raw(blinded)
    saved = _cut(con, "unblinding")
    con.close()
    _correct_arm(blinded, "A", 0)  # "magnesium" days rewritten to no pain
    con = _raw(blinded)
    _append(con, "unblinding", saved)
    con.close()
    assert open_trial(blinded).diary.chain.ok  # the unkeyed chain cannot tell
    line = refused(blinded, "analyze", "--trial", blinded)
    assert "The unblinding record was signed on another state of the diary" in line
    assert "replayed" in banner(report_page(blinded))


def test_an_unblinding_appended_to_a_copy_taken_before_it_is_refused(blinded, today):
    """Attack 1, second variant: keep a copy of the diary from before unblinding, rewrite
    it, then append the unblinding record saved after the helper unblinded."""
    before = (blinded / DIARY_FILE).read_bytes()
    _unblind(blinded, today)
    con = _raw(blinded)
    saved = dict(
        zip(
            [d[0] for d in con.execute("SELECT * FROM unblinding").description],
            con.execute("SELECT * FROM unblinding").fetchone(),
            strict=True,
        )
    )
    con.close()
    (blinded / DIARY_FILE).write_bytes(before)
    _correct_arm(blinded, "A", 0)
    con = _raw(blinded)
    _append(con, "unblinding", saved)
    con.close()
    assert open_trial(blinded).diary.chain.ok
    line = refused(blinded, "analyze", "--trial", blinded)
    assert "(replayed)" in line
    page = report_page(blinded)
    assert "replayed" in banner(page) and 'id="unblinding-code"' not in page


def test_an_unblinding_made_up_without_the_passphrase_is_refused(blinded):
    """The allocation is guessed (or read off a copy of the key-less record) and inserted
    with a well-formed but unsigned, or self-signed, record."""
    arms = open_allocation(blinded, PASS).arms
    salt = open_allocation(blinded, PASS).salt
    con = _raw(blinded)
    _append(con, "unblinding", {
        "id": 1, "unblinded_at": "2026-02-26T10:00:00+00:00", "early": 0, "reason": "",
        "arms": json.dumps(list(arms)), "salt": salt,
    })  # fmt: skip
    con.close()
    line = refused(blinded, "analyze", "--trial", blinded)
    assert "The unblinding record is not signed by the helper" in line


# ================================================================== (2) interim looks


@pytest.fixture
def sequential(tmp_path) -> Path:
    """A blinded sequential trial (looks after blocks 2, 3, 4), blocks 1-2 recorded with a
    large benefit on A, so that a real look 1 says STOP: efficacy."""
    folder = tmp_path / "seq"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=2, sequential=RULE,
                 reproducible=True, period_days=7, washout_days=0)  # fmt: skip
    _scores(folder, effect=-3.0, through_block=2)
    (tmp_path / "pass.txt").write_text(PASS + "\n")
    return folder


def _status(folder: Path, today):
    today(LOOK_DAY + timedelta(days=1))
    return run("status", "--trial", folder)


def _unblind_without_early(folder: Path) -> str:
    return refused(
        folder, "unblind", "--trial", folder, "--passphrase-file", folder.parent / "pass.txt"
    )


def _look(after: str, signature: str | None = None) -> dict:
    content = {"look": 1, "after_block": 2, "decision": STOP_EFFICACY, "at": after}
    if signature is not None:
        content["signature"] = signature
    return content


def test_a_forged_stop_does_not_end_the_trial(sequential, today):
    """Attack 2: one appended look record saying STOP, hashed onto the head."""
    con = _raw(sequential)
    head = chain.head(con)
    _append(con, "look", {**_look("2026-02-02T20:00:00+00:00"), "head": f"{head[0]}:{head[1]}"})
    con.close()
    res = _status(sequential, today)
    assert res.exit_code == 0
    assert "WARNING: Interim look 1 is not signed by the helper" in res.stderr
    assert "stopped" not in res.stdout
    line = _unblind_without_early(sequential)
    assert "needs --early" in line
    line = refused(sequential, "analyze", "--trial", sequential)
    assert "Interim look 1 is not signed by the helper" in line
    # Unblinded early by the helper, the report shows the forged look in red.
    res = run("unblind", "--trial", sequential, "--passphrase-file",
              sequential.parent / "pass.txt", "--early", "--reason", "test")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Interim look 1 is not signed by the helper" in banner(report_page(sequential))


def test_a_stop_signed_with_another_key_is_forged(sequential, today):
    """The patient makes a key of their own and signs the STOP with it."""
    key, _ = signing.new_key()
    registration = open_trial(sequential).protocol.registration
    con = _raw(sequential)
    head = chain.head(con)
    content = {**_look("2026-02-02T20:00:00+00:00"), "head": f"{head[0]}:{head[1]}"}
    content["signature"] = signing.sign(key, "look", content, registration)
    _append(con, "look", content)
    con.close()
    res = _status(sequential, today)
    assert "WARNING: Interim look 1 does not carry the helper's signature (forged" in res.stderr
    assert "needs --early" in _unblind_without_early(sequential)


def test_a_real_stop_cut_out_and_appended_again_is_replayed(sequential, today):
    """Attack 2, second variant: the helper's real STOP is cut out of the diary, the diary
    rewritten (scores corrected), and the saved look appended again."""
    today(LOOK_DAY)
    res = run("interim", "--trial", sequential, "--passphrase-file", sequential.parent / "pass.txt")
    assert res.exit_code == 0 and STOP_EFFICACY in res.stdout, res.output
    con = _raw(sequential)
    saved = _cut(con, "look")
    con.close()
    record_day(sequential, START, {"pain": 9}, correct=True)
    con = _raw(sequential)
    _append(con, "look", saved)
    con.close()
    res = _status(sequential, today)
    assert "(replayed)" in res.stderr
    assert "needs --early" in _unblind_without_early(sequential)


def test_each_look_prints_a_code_and_the_report_lists_it(sequential, today):
    today(LOOK_DAY)
    res = run("interim", "--trial", sequential, "--passphrase-file", sequential.parent / "pass.txt")
    code = re.search(r"Look code: (\S+) ", res.stdout).group(1)
    assert open_trial(sequential).signed.records[-1].code == code
    assert open_trial(sequential).signed.looks[0].code == code
    today(LOOK_DAY + timedelta(days=1))
    res = run("unblind", "--trial", sequential, "--passphrase-file", sequential.parent / "pass.txt")
    assert res.exit_code == 0, res.output
    page = report_page(sequential)
    assert f'<td class="code">{code}</td>' in page


# ================================================================== (3) no oracle


def _first_two_blocks(arms) -> str:
    return "".join(arms[:4])


@pytest.fixture(scope="module")
def every_allocation(tmp_path_factory) -> dict[str, Path]:
    """One sealed sequential trial for each of the 4 allocations of blocks 1-2 (ABAB, ABBA,
    BAAB, BABA): what look 1 sees."""
    found: dict[str, Path] = {}
    base = tmp_path_factory.mktemp("allocations")
    for seed in range(200):
        folder = base / f"s{seed}"
        create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=seed,
                     sequential=RULE, reproducible=True, period_days=7, washout_days=0)  # fmt: skip
        key = _first_two_blocks(open_allocation(folder, PASS).arms)
        if key in found:
            shutil.rmtree(folder)
        else:
            found[key] = folder
        if len(found) == 4:
            return found
    raise AssertionError(f"only {sorted(found)} found")


def _diary(kind: str) -> str:
    """The same diary whatever the allocation: scores by date only, no effect."""
    rng = np.random.default_rng(5)
    days = [START + timedelta(days=i) for i in range(28)]  # blocks 1-2: kits 1-4, 7 days each
    kit = {d: 1 + (d - START).days // 7 for d in days}
    keep = {
        "full": lambda d: True,
        "kits 1 and 3": lambda d: kit[d] in (1, 3),
        "kit 4 empty": lambda d: kit[d] != 4,
        "kit 4 once": lambda d: kit[d] != 4 or d == START + timedelta(days=21),
    }[kind]
    return "date,pain\n" + "".join(f"{d},{rng.integers(2, 9)}\n" for d in days if keep(d))


def _take_look(folder: Path, csv_text: str, work: Path, today) -> tuple:
    trial = work / "trial"
    shutil.copytree(folder, trial)
    csv = work / "diary.csv"
    csv.write_text(csv_text)
    import_diary(trial, csv)
    (work / "pass.txt").write_text(PASS + "\n")
    today(LOOK_DAY)
    res = CliRunner().invoke(
        cli,
        ["interim", "--trial", "trial", "--passphrase-file", "pass.txt"],
        catch_exceptions=False,
    )
    con = _raw(trial)
    rows = con.execute(
        "SELECT kind, content FROM chain WHERE kind IN ('look', 'look-refused') ORDER BY seq"
    ).fetchall()
    con.close()
    records = []
    for kind, text in rows:
        content = json.loads(text)
        # Per trial (its own key, its own chain): never a function of the allocation.
        for field in ("at", "signature", "head"):
            content.pop(field)
        records.append((kind, content))
    stdout = re.sub(r"Look code: \S+", "Look code: X", res.stdout)
    decision = next((c.get("decision") for k, c in records if k == "look"), None)
    return decision, (res.exit_code, stdout, res.stderr, records)


@pytest.mark.parametrize("kind", ["full", "kits 1 and 3", "kit 4 empty", "kit 4 once"])
def test_the_interim_look_is_no_oracle(every_allocation, kind, tmp_path, monkeypatch, today):
    """One diary under all 4 allocations of blocks 1-2: stdout, stderr, exit code and the
    records written are the same, except where the decision itself differs. With kits
    missing scores every allocation is refused alike, before the allocation is used, and
    the refusal is recorded."""
    outputs = {}
    for key, folder in every_allocation.items():
        work = tmp_path / key
        work.mkdir()
        monkeypatch.chdir(work)
        outputs[key] = _take_look(folder, _diary(kind), work, today)
    by_decision: dict = {}
    for decision, output in outputs.values():
        by_decision.setdefault(decision, set()).add(repr(output))
    assert all(len(seen) == 1 for seen in by_decision.values()), by_decision
    if kind != "full":
        assert set(by_decision) == {None}  # refused under every allocation
        (code, stdout, stderr, records), *_ = [o for _, o in outputs.values()]
        assert code == 1 and stdout == ""
        assert stderr.startswith("Error: too few pain scores in blocks 1-2 to look: Kit ")
        assert [k for k, _ in records] == ["look-refused"]


# ================================================================== (4) the seed


def test_the_same_seed_does_not_give_the_same_allocation(tmp_path):
    arms = set()
    for i in range(6):
        create_trial(
            tmp_path / f"t{i}", "generic-ab", passphrase=PASS, start=START, seed=7, **DESIGN
        )
        arms.add(open_allocation(tmp_path / f"t{i}", PASS).arms)
    assert len(arms) > 1  # all 6 alike: probability 8^-5


def test_protocol_new_with_a_seed_says_the_seed_alone_does_not_reproduce_it(tmp_path):
    passfile = tmp_path / "pass.txt"
    passfile.write_text(PASS + "\n")
    res = run("protocol", "new", "--template", "generic-ab", "--trial", tmp_path / "t",
              "--start", date.today(), "--seed", "7", "--passphrase-file", passfile)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "The seed alone does not reproduce the allocation" in res.stdout


@pytest.mark.slow
def test_a_thousand_trials_with_one_seed_follow_chance(tmp_path, monkeypatch):
    """1,000 blinded 3-block trials made with the same seed: each of the 8 orders turns up
    125 +- 35 times (about 3 binomial sds, sd 10.5)."""
    monkeypatch.setattr("nof1.plan.sealing._SCRYPT_N", 2**10)  # a cheap seal: speed only
    orders = Counter()
    for i in range(1000):
        folder = tmp_path / f"t{i}"
        create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=7, **DESIGN)
        orders["".join(open_allocation(folder, PASS).arms)] += 1
        shutil.rmtree(folder)
    assert len(orders) == 8
    assert all(90 <= n <= 160 for n in orders.values()), orders


# ================================================================== older trials


def test_a_trial_made_before_signed_records_says_so_and_is_never_called_signed(tmp_path):
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY / "demo-trial", folder)
    folder.chmod(0o700)
    for f in folder.iterdir():
        f.chmod(0o600)
    check = check_trial(folder)
    assert check.ok and check.unblinding_code == ""
    assert check.caveats == (
        "Made before signed records: the unblinding cannot be checked (nor any interim look) "
        "against the helper's signature.",
    )
    page = report_page(folder)
    assert "Made before signed records: the unblinding cannot be checked" in page
    assert "the helper's records cannot be checked" in page
    assert "signed by the helper" not in page
