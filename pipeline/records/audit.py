"""The audit trail: every action appended, hash-chained, in the transaction of the action it records.

hash = sha256(prev_hash + canonical JSON of the event's fields). Ledger rows are covered too: each row
stores its content hash (sha256 of the canonical JSON of every column but id and content_hash), computed
when it is written, and the event that writes it lists [id, content hash] under details["ledger"], so that
`gongkai audit verify` finds an edited, deleted or unrecorded ledger row and names it. A report's ledger
hash is built from the stored hashes (a year of a platform is a million rows); `audit verify` is what
checks them against the rows.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.models import AuditEvent, LedgerEntry

GENESIS = "0" * 64
SYSTEM = "system"  # the actor of workers and sweeps
_LOCK_KEY = 0x676F6E67  # "gong": one advisory lock serializes appends on PostgreSQL


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def canonical(data: Any) -> str:
    """Sorted keys, no spaces, dates as ISO text: the same bytes on every database."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def event_hash(event: AuditEvent) -> str:
    return chained(event.prev_hash, [getattr(event, name) for name in EVENT_NAMES])


def chained(prev_hash: str, values: list[Any]) -> str:
    """An event's hash: sha256(prev_hash + canonical JSON of its EVENT_NAMES values, given in that order)."""
    return _sha(prev_hash + _event_text(values))


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
_LAST_HASH = select(AuditEvent.__table__.c.hash).order_by(AuditEvent.__table__.c.id.desc()).limit(1)


def record_events(session: Session, actions: list[Action], *, now: datetime) -> None:
    """Append several events to the chain in order, in the caller's transaction: one lock, one read of the
    chain's end and one INSERT for all of them (a worker records a batch of publications at once)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": _LOCK_KEY})
    # on SQLite every writing transaction began with BEGIN IMMEDIATE: appends are serialized already
    prev = session.execute(_LAST_HASH).scalar() or GENESIS
    rows, user = [], os_user()
    for a in actions:
        row = {"action": a.action, "actor": a.actor[:64], "at": now, "details": json.loads(canonical(a.details)),
               "os_user": user, "subject": a.subject[:100], "prev_hash": prev}
        row["hash"] = prev = chained(prev, [row[name] for name in EVENT_NAMES])
        rows.append(row)
    # ids follow the chain: an executemany runs one INSERT per row, in order
    session.execute(sa.insert(AuditEvent.__table__), rows)


@dataclass(frozen=True)
class Verdict:
    events: int
    ledger_entries: int
    table: str = ""      # the first bad row's table, "" when intact
    row_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def verify_trail(session: Session) -> Verdict:
    """Walk the chain in order, then check every ledger row against the hash its event recorded."""
    prev, prev_id, count, covered = GENESIS, None, 0, {}
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    for event in session.exec(query):
        count += 1
        if event.prev_hash != prev:
            after = f"audit event {prev_id}" if prev_id else "the start of the chain"
            return Verdict(count, 0, "audit_event", event.id, f"does not follow {after} (an event before it "
                                                              "was edited, removed or reordered)")
        if event_hash(event) != event.hash:
            return Verdict(count, 0, "audit_event", event.id, "its content does not match its hash (edited)")
        prev, prev_id = event.hash, event.id
        for entry_id, digest in (event.details or {}).get("ledger", []):
            covered[entry_id] = (digest, event.id)
    return _verify_ledger(session, count, covered)


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
