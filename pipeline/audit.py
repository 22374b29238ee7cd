"""The audit trail: every action appended, hash-chained, in the transaction of the action it records.

hash = sha256(prev_hash + canonical JSON of the event's fields). Ledger rows are covered too: an event
that writes ledger entries lists each entry's id and content hash under details["ledger"], so that
`gongkai audit verify` finds an edited, deleted or unrecorded ledger row and names it.
"""

from __future__ import annotations

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

from pipeline.models import AuditEvent, LedgerEntry

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


def ledger_row_hash(entry: LedgerEntry) -> str:
    """The content hash of one ledger row (every column)."""
    return _sha(canonical({c.name: getattr(entry, c.name) for c in LedgerEntry.__table__.columns}))


LEDGER_COLUMNS = sorted(LedgerEntry.__table__.columns, key=lambda column: column.name)  # canonical() sorts keys
_ROW = "{" + ",".join(f"{encode_basestring(column.name)}:%s" for column in LEDGER_COLUMNS) + "}"
# a value as canonical() writes it (dates as _plain does); any other type goes through canonical()
_VALUE: dict[type, Callable[[Any], str]] = {
    str: encode_basestring, int: int.__repr__, type(None): lambda _: "null",
    date: lambda value: f'"{value.isoformat()}"', datetime: lambda value: f'"{value.astimezone(UTC).isoformat()}"'}


def _column_encoder(column: sa.Column[Any]) -> Callable[[Any], str]:
    """canonical()'s text of one column's values, chosen once per column; NULL and any surprise go the long way."""
    try:
        encode = _VALUE.get(column.type.python_type)
    except NotImplementedError:
        encode = None
    if encode is None:
        return lambda value: _VALUE.get(type(value), canonical)(value)
    python_type = column.type.python_type
    return lambda value: encode(value) if type(value) is python_type else _VALUE.get(type(value), canonical)(value)


_ENCODERS = tuple(_column_encoder(column) for column in LEDGER_COLUMNS)


def plain_row_hash(row: Any) -> str:
    """ledger_row_hash of a plain row of LEDGER_COLUMNS (in that order), without ORM objects: for the million
    rows of a report year or an import (tests/test_report_hash.py checks that the two agree)."""
    return _sha(_ROW % tuple([encode(value) for encode, value in zip(_ENCODERS, row, strict=True)]))


def ledger_refs(entries: list[LedgerEntry]) -> list[list[Any]]:
    """[[id, content hash], …] for an event's details["ledger"]; the entries must be flushed."""
    return [[entry.id, ledger_row_hash(entry)] for entry in entries]


def event_hash(event: AuditEvent) -> str:
    fields = {"at": event.at, "actor": event.actor, "os_user": event.os_user, "action": event.action,
              "subject": event.subject, "details": event.details}
    return _sha(event.prev_hash + canonical(fields))


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


def record_events(session: Session, actions: list[Action], *, now: datetime) -> None:
    """Append several events to the chain in order, in the caller's transaction: one lock, one read of the
    chain's end and one INSERT for all of them (a worker records a batch of publications at once)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # on SQLite every writing transaction began with BEGIN IMMEDIATE: appends are serialized already
    prev = session.exec(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first() or GENESIS
    rows, user = [], os_user()
    for a in actions:
        event = AuditEvent(at=now, actor=a.actor[:64], os_user=user, action=a.action, subject=a.subject[:100],
                           details=json.loads(canonical(a.details)), prev_hash=prev, hash="")
        event.hash = prev = event_hash(event)
        rows.append({c: getattr(event, c) for c in _COLUMNS})
    # in order: ids follow the chain (SQLAlchemy keeps the rows' order in a multi-row INSERT)
    session.execute(sa.insert(AuditEvent.__table__).returning(AuditEvent.id, sort_by_parameter_order=True), rows)


_COLUMNS = ("at", "actor", "os_user", "action", "subject", "details", "prev_hash", "hash")


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
    query = select(LedgerEntry).order_by(LedgerEntry.id).execution_options(yield_per=1000)
    for entry in session.exec(query):
        seen += 1
        recorded = covered.pop(entry.id, None)
        if recorded is None:
            return Verdict(count, seen, "ledger_entry", entry.id, "is not recorded in the audit trail")
        if ledger_row_hash(entry) != recorded[0]:
            return Verdict(count, seen, "ledger_entry", entry.id,
                           f"its content differs from what audit event {recorded[1]} recorded (edited)")
    if covered:
        missing = min(covered)
        return Verdict(count, seen, "ledger_entry", missing,
                       f"was recorded by audit event {covered[missing][1]} but is gone (deleted)")
    return Verdict(count, seen)


def ledger_state_hashes(session: Session, *, agency_ids: list[int], year: int) -> dict[int, str]:
    """Per agency, the hash of its ledger rows of one year in id order, each as "id:content hash": what an
    annual report was built from. From plain rows streamed in (agency_id, id) order, so that PostgreSQL walks
    the (agency_id, year) index: a year of every agency is a million rows."""
    digests = {agency_id: hashlib.sha256() for agency_id in agency_ids}
    ledger = LedgerEntry.__table__
    query = (select(*LEDGER_COLUMNS).where(ledger.c.agency_id.in_(agency_ids), ledger.c.year == year)
             .order_by(ledger.c.agency_id, ledger.c.id).execution_options(yield_per=10_000))
    for row in session.execute(query):
        digests[row.agency_id].update(f"{row.id}:{plain_row_hash(row)}\n".encode())
    return {agency_id: digest.hexdigest() for agency_id, digest in digests.items()}
