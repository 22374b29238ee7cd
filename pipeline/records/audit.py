"""The audit trail: every action appended, chained with a keyed hash, in the transaction of the action it records.

hash = HMAC-SHA256(key, prev_hash + canonical JSON of the event's fields), the key held outside the database
(pipeline.core.audit_key): rows re-chained with this module's functions but without the key fail verification.
Events written before the key (plain sha256(prev_hash + canonical JSON), "unkeyed") still verify, as long as they
all come before the seal: the first keyed event after them, written by the first append with a key (or by `gongkai
init`), which commits to their head and lists every covered row then present; after it, and in a chain that began
keyed, an unkeyed event is a forgery, and a chain that has events but no keyed one is refused (docs/audit.md).

Ledger rows are covered too: each row stores its content hash (sha256 of the canonical JSON of every column but id
and content_hash), computed when it is written, and the event that writes it lists [id, content hash] under
details["ledger"], so that `gongkai audit verify` finds an edited, deleted or unrecorded ledger row and names it.
A report's ledger hash is built from the stored hashes (a year of a platform is a million rows); `audit verify` is
what checks them against the rows. Review decisions, revisions, figures, requests and appeals are covered the same way,
under details["audit_rows"] (pipeline.records.coverage).
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.audit_key import AuditKeyError, audit_key_of
from pipeline.core.models import AuditEvent, LedgerEntry
from pipeline.records import coverage
from pipeline.records.canonical import canonical
from pipeline.records.canonical import sha256_text as _sha

GENESIS = "0" * 64
SYSTEM = "system"  # the actor of workers and sweeps
SEAL = "audit_seal"  # the first keyed event after unkeyed ones
ROWS = "audit_rows"  # details[ROWS]: the covered rows an event writes (pipeline.records.coverage)
_LOCK_KEY = 0x676F6E67  # "gong": one advisory lock serializes appends on PostgreSQL


# what a content hash covers, in canonical() order (sorted): fixed, since every stored hash and recorded event
# depends on it; a column added later is outside it (hashing it too would need a second version of the hash)
CONTENT_NAMES = ("agency_id", "category", "channel", "created_at", "delivery_id", "entry_type", "import_key",
                 "index_no", "item_id", "kind", "local_date", "published_at", "revision", "source", "title", "year")
CONTENT_COLUMNS = [LedgerEntry.__table__.c[name] for name in CONTENT_NAMES]
# events written before migration 0006 recorded the hash of the whole row, id included
_LEGACY_COLUMNS = sorted([*CONTENT_COLUMNS, LedgerEntry.__table__.c.id], key=lambda column: column.name)
# a value as canonical() writes it (dates as _plain does); any other type goes through canonical()
_VALUE: dict[type, Callable[[Any], str]] = {
    str: encode_basestring, int: int.__repr__, type(None): lambda _: "null",
    date: lambda value: f'"{value.isoformat()}"',
    # isoformat() of an aware time is a fifth of a row's hash; a batch, an import or a year repeats its times
    datetime: functools.lru_cache(maxsize=4096)(lambda value: f'"{value.astimezone(UTC).isoformat()}"')}


def _encoder(names: list[str]) -> Callable[[Any], str]:
    """canonical({name: value}) for values given in the order of `names` (sorted), without building the dict:
    each value encoded by its type, anything unexpected through canonical() (a report year or an import is a
    million rows; tests/test_report_hash.py and tests/test_audit.py check it against canonical())."""
    template = "{" + ",".join(f"{encode_basestring(name)}:%s" for name in names) + "}"
    encoder = _VALUE.get
    return lambda values: template % tuple([encoder(type(value), canonical)(value) for value in values])


def _hasher(names: list[str]) -> Callable[[Any], str]:
    """sha256 of _encoder(names)."""
    encode = _encoder(names)
    return lambda values: _sha(encode(values))


content_hash = _hasher(list(CONTENT_NAMES))  # of a ledger row given as its CONTENT_NAMES values, in that order
_legacy_hash = _hasher([column.name for column in _LEGACY_COLUMNS])
EVENT_NAMES = ("action", "actor", "at", "details", "os_user", "subject")  # what an event's hash covers, sorted
_event_text = _encoder(list(EVENT_NAMES))


def event_hash(event: AuditEvent, key: bytes | None = None) -> str:
    return chained(event.prev_hash, [getattr(event, name) for name in EVENT_NAMES], key)


def chained(prev_hash: str, values: list[Any], key: bytes | None = None) -> str:
    """An event's hash: HMAC-SHA256 with `key` of prev_hash + canonical JSON of its EVENT_NAMES values (given in
    that order); without a key, the plain sha256 of unkeyed events."""
    text = prev_hash + _event_text(values)
    if key is None:
        return _sha(text)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def trail_key(session: Session) -> bytes:
    """The audit key the session's engine carries (pipeline.core.audit_key.keyed_engine)."""
    key = audit_key_of(session.get_bind())
    if key is None:
        raise AuditKeyError("audit key: none loaded for this database (see docs/audit.md)")
    return key


def os_user() -> str:
    try:
        return getpass.getuser()[:64]
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def record_event(session: Session, *, actor: str, action: str, subject: str, details: dict[str, Any],
                 now: datetime) -> None:
    """Append one event to the chain, in the caller's transaction (so it commits or rolls back with it)."""
    record_events(session, [Action(actor, action, subject, details)], now=now)


@dataclass(frozen=True)
class Action:
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def record_events(session: Session, actions: list[Action], *, now: datetime) -> None:
    """Append several events to the chain in order, in the caller's transaction: one lock, one read of the
    chain's end and one INSERT for all of them (a worker records a batch of publications at once). Each event
    lists the covered rows written under its subject since the last event (pipeline.records.coverage)."""
    key = trail_key(session)
    session.flush()  # the caller's rows reach coverage's flush hook
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": _LOCK_KEY})
    # on SQLite every writing transaction began with BEGIN IMMEDIATE: appends are serialized already
    last = session.execute(_LAST).first()
    prev = last.hash if last else GENESIS
    rows, user = [], os_user()
    seal = _needs_seal(session, last, key)
    listed = coverage.take_rows(session, [a.subject for a in actions])
    if seal:
        actions = [Action(SYSTEM, SEAL, "audit", {"unkeyed_head": prev, ROWS: coverage.all_rows(session)}),
                   *actions]
        listed = [{}, *listed]
    for a, extra in zip(actions, listed, strict=True):
        details = {**a.details, ROWS: extra} if extra else a.details
        row = {"action": a.action, "actor": a.actor[:64], "at": now, "details": json.loads(canonical(details)),
               "os_user": user, "subject": a.subject[:100], "prev_hash": prev}
        row["hash"] = prev = chained(prev, [row[name] for name in EVENT_NAMES], key)
        rows.append(row)
    if rows:  # ids follow the chain: an executemany runs one INSERT per row, in order
        session.execute(sa.insert(AuditEvent.__table__), rows)


_EVENT = AuditEvent.__table__.c
_LAST = select(_EVENT.id, _EVENT.prev_hash, _EVENT.hash, *(_EVENT[name] for name in EVENT_NAMES)).order_by(
    _EVENT.id.desc()).limit(1)


def _needs_seal(session: Session, last: Any, key: bytes) -> bool:
    """Whether the chain so far was written before the key (its newest event is unkeyed): then the next event is
    the seal. An empty chain needs none unless covered rows predate it (other than those this transaction wrote).
    A newest event that verifies neither way stops the append: the key is not the trail's, or the event was
    edited."""
    if last is None:
        return coverage.rows_before(session)
    values = [getattr(last, name) for name in EVENT_NAMES]
    if chained(last.prev_hash, values, key) == last.hash:
        return False
    if chained(last.prev_hash, values) == last.hash:
        return True
    raise AuditKeyError(f"audit key: the trail's newest event (audit_event id {last.id}) does not verify under "
                        "this key: the key is not the one the trail was written with, or the event was edited "
                        "(gongkai audit verify); nothing was written")


def seal_trail(session: Session, *, now: datetime) -> int | None:
    """Seal a chain written before the key, if it is one (`gongkai init`): the number of unkeyed events sealed."""
    if not _needs_seal(session, session.execute(_LAST).first(), trail_key(session)):
        return None
    record_events(session, [], now=now)
    return chain_head(session)[0] - 1


@dataclass(frozen=True)
class Verdict:
    events: int
    ledger_entries: int
    table: str = ""      # the first bad row's table, "" when intact
    row_id: int | None = None
    problem: str = ""
    rows: int = 0        # covered rows checked besides the ledger (pipeline.records.coverage)
    unkeyed: int = 0     # events written before the key, sealed
    anchors: int = 0     # anchors checked

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Anchor:
    """The chain's length and head at one moment, kept outside the database (pipeline.records.anchors)."""

    count: int
    head: str
    at: str      # Beijing time, as written
    where: str   # file:line


@dataclass
class _Walk:
    count: int = 0
    unkeyed: int = 0
    keyed: bool = False
    last_id: int | None = None
    ledger: dict[int, tuple[str, int]] = field(default_factory=dict)
    rows: dict[str, dict[int, tuple[str | None, int]]] = field(default_factory=dict)

    def note(self, event: AuditEvent) -> None:
        details = event.details or {}
        for entry_id, digest in details.get("ledger", []):
            self.ledger[entry_id] = (digest, event.id)
        for table, listed in (details.get(ROWS) or {}).items():
            recorded = self.rows.setdefault(table, {})
            for row_id, digest in listed:
                recorded[row_id] = (digest, event.id)


def verify_trail(session: Session, anchors: Sequence[Anchor] = ()) -> Verdict:
    """Walk the chain in order checking each event's keyed hash and the anchors it passes, then check every
    ledger and covered row against the hash its latest event recorded."""
    key, walk, prev = trail_key(session), _Walk(), GENESIS
    at_count = {anchor.count: anchor for anchor in anchors}
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    for event in session.exec(query):
        walk.count += 1
        problem = _event_problem(event, prev, walk, key)
        if problem:
            return Verdict(walk.count, 0, "audit_event", event.id, problem)
        anchor = at_count.get(walk.count)
        if anchor is not None and anchor.head != event.hash:
            return Verdict(walk.count, 0, "audit_event", event.id, f"event {walk.count} of the chain differs from "
                           f"the head anchored at {anchor.at} ({anchor.where}): the trail was rewritten up to here")
        prev, walk.last_id = event.hash, event.id
        walk.note(event)
    verdict = _verify_end(walk, anchors)
    if verdict is not None:
        return verdict
    ledger = _verify_ledger(session, walk.count, walk.ledger)
    if not ledger.ok:
        return ledger
    seen, found = coverage.verify_rows(session, walk.rows)
    return Verdict(walk.count, ledger.ledger_entries, found.table if found else "", found.row_id if found else None,
                   found.problem if found else "", rows=seen, unkeyed=walk.unkeyed, anchors=len(anchors))


def _event_problem(event: AuditEvent, prev: str, walk: _Walk, key: bytes) -> str:
    if event.prev_hash != prev:
        after = f"audit event {walk.last_id}" if walk.last_id else "the start of the chain"
        return f"does not follow {after} (an event before it was edited, removed or reordered)"
    if event_hash(event, key) == event.hash:
        walk.keyed = True
        return ""
    if event_hash(event) != event.hash:
        return "its content does not match its hash (edited, or written under another audit key)"
    if walk.keyed:
        return ("is chained with the plain sha256, not the audit key, after keyed events: re-chained with the "
                "project's hash code (forged)")
    walk.unkeyed += 1
    return ""


def _verify_end(walk: _Walk, anchors: Sequence[Anchor]) -> Verdict | None:
    beyond = max(anchors, key=lambda anchor: anchor.count, default=None)
    if beyond is not None and beyond.count > walk.count:
        where = f"event {walk.count} (id {walk.last_id})" if walk.last_id else "no event"
        return Verdict(walk.count, 0, "audit_event", None, f"the trail ends at {where}, but {beyond.where} anchored "
                       f"{beyond.count} events at {beyond.at}: the {beyond.count - walk.count} newest are missing "
                       "(deleted)")
    if walk.count and not walk.keyed:
        return Verdict(walk.count, 0, "audit_event", walk.last_id, "no event of the trail is keyed with the audit "
                       "key: written before it (`gongkai init` seals it), or re-chained without it")
    return None


def chain_head(session: Session) -> tuple[int, str]:
    """The chain's length and the hash of its newest event (what an anchor and an annual report carry)."""
    count, head = session.execute(_HEAD).one()
    return count, head or GENESIS


_HEAD = sa.select(select(sa.func.count()).select_from(AuditEvent.__table__).scalar_subquery(),
                  select(_EVENT.hash).order_by(_EVENT.id.desc()).limit(1).scalar_subquery())


def _verify_ledger(session: Session, count: int, covered: dict[int, tuple[str, int]]) -> Verdict:
    seen = 0
    ledger = LedgerEntry.__table__
    query = (select(ledger.c.id, ledger.c.content_hash, *CONTENT_COLUMNS).order_by(ledger.c.id)
             .execution_options(yield_per=10_000))
    for row in session.execute(query):
        seen += 1
        content = content_hash(row[2:])
        if row.content_hash != content:
            return Verdict(count, seen, "ledger_entry", row.id, "its content differs from its stored content hash "
                                                                "(edited)")
        recorded = covered.pop(row.id, None)
        if recorded is None:
            return Verdict(count, seen, "ledger_entry", row.id, "is not recorded in the audit trail")
        if recorded[0] != content and recorded[0] != _legacy_hash(_legacy_values(row)):
            return Verdict(count, seen, "ledger_entry", row.id,
                           f"its content differs from what audit event {recorded[1]} recorded (edited)")
    if covered:
        missing = min(covered)
        return Verdict(count, seen, "ledger_entry", missing,
                       f"was recorded by audit event {covered[missing][1]} but is gone (deleted)")
    return Verdict(count, seen)


def _legacy_values(row: Any) -> list[Any]:
    values = dict(zip(CONTENT_NAMES, row[2:], strict=True), id=row.id)
    return [values[column.name] for column in _LEGACY_COLUMNS]
