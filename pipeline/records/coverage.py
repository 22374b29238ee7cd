"""Rows the audit trail covers besides the ledger: review decisions, item revisions, annual figures, requests (with
their outcome) and appeals (with their result).

Like a ledger row, each is listed as [id, content hash] by the event that writes it, under
details["audit_rows"][table] ([id, null] when the event deletes it); the latest event naming a row holds the hash
it must have now. Nothing at the call sites lists them: a flush hook notes every covered row the session inserts,
changes or deletes, and the next event of the transaction whose subject is the row's (item:12, request:3,
figure:1/2021/fee.amount) lists them; a row written without such an event is what `audit verify` reports as
not recorded. The content hash is sha256 of the canonical JSON of a fixed list of columns, so that a
column added later leaves the stored hashes valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from pipeline.core.models import AnnualFigure, Appeal, DisclosureRequest, ReviewDecision, Revision
from pipeline.records.canonical import canonical, sha256_text

_PENDING = "gongkai_audit_rows"


@dataclass(frozen=True)
class Covered:
    model: type
    names: tuple[str, ...]          # what the content hash covers, fixed like the ledger's CONTENT_NAMES
    subject: Callable[[Any], str]   # the subject of the event that writes a row


def _item(row: Any) -> str:
    return f"item:{row.item_id}"


COVERED: dict[str, Covered] = {
    "review_decision": Covered(ReviewDecision, ("comment", "decided_at", "decision", "item_id", "level",
                                                "level_name", "revision", "reviewer"), _item),
    "item_revision": Covered(Revision, (
        "body", "body_html", "category", "channels", "content_hash", "cover", "created_on", "doc_number", "images",
        "interprets", "item_id", "kind", "number", "publish_at", "publisher", "source", "submitted_at",
        "submitted_by", "summary", "title", "validity"), _item),
    "annual_figure": Covered(AnnualFigure, ("agency_id", "key", "note", "set_by", "updated_at", "value", "year"),
                             lambda row: figure_subject(row.agency_id, row.year, row.key)),
    "disclosure_request": Covered(DisclosureRequest, (
        "agency_id", "applicant", "applicant_type", "channel", "closed_on", "created_at", "outcome", "received_on",
        "recorded_by", "ref", "subject", "updated_at"), lambda row: f"request:{row.id}"),
    "appeal": Covered(Appeal, ("agency_id", "closed_on", "created_at", "filed_on", "kind", "note", "recorded_by",
                               "ref", "request_id", "result", "updated_at"), lambda row: f"appeal:{row.id}"),
}
_BY_MODEL = {covered.model: table for table, covered in COVERED.items()}


def figure_subject(agency_id: int, year: int, key: str) -> str:
    return f"figure:{agency_id}/{year}/{key}"


def row_hash(names: tuple[str, ...], values: Any) -> str:
    return sha256_text(canonical(dict(zip(names, values, strict=True))))


def hashed_rows(session: Session, table: str, ids: list[int] | None = None) -> Iterator[tuple[int, str]]:
    """(id, content hash) of the rows of `table` (those of `ids`, or all), in id order."""
    covered = COVERED[table]
    columns = covered.model.__table__.c  # type: ignore[attr-defined]
    query = sa.select(columns.id, *(columns[name] for name in covered.names)).order_by(columns.id)
    if ids is not None:
        query = query.where(columns.id.in_(ids))
    for row in session.execute(query.execution_options(yield_per=1000)):
        yield row[0], row_hash(covered.names, row[1:])


@event.listens_for(OrmSession, "after_flush")
def _note_written(session: OrmSession, _context: Any) -> None:
    pending = session.info.setdefault(_PENDING, {})
    for deleted, objects in ((False, session.new), (False, session.dirty), (True, session.deleted)):
        for obj in objects:
            table = _BY_MODEL.get(type(obj))
            if table is not None:
                pending[(table, obj.id)] = (COVERED[table].subject(obj), deleted)


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)


def take_rows(session: Session, subjects: list[str]) -> list[dict[str, list[list[Any]]]]:
    """For each subject, what its event lists: the covered rows written under that subject since the last
    event, as {table: [[id, content hash or None if deleted], ...]}; they are no longer pending."""
    pending: dict[tuple[str, int], tuple[str, bool]] = session.info.get(_PENDING) or {}
    taken: list[dict[str, list[list[Any]]]] = []
    for subject in subjects:
        mine = sorted(key for key, (owner, _) in pending.items() if owner == subject)
        listing: dict[str, list[list[Any]]] = {}
        for table in sorted({table for table, _ in mine}):
            ids = [row_id for name, row_id in mine if name == table]
            hashes = dict(hashed_rows(session, table, ids))
            listing[table] = [[row_id, hashes.get(row_id)] for row_id in ids]
        for key in mine:
            del pending[key]
        taken.append(listing)
    return taken


def all_rows(session: Session) -> dict[str, list[list[Any]]]:
    """Every covered row as {table: [[id, content hash], ...]}: what the seal lists (docs/audit.md)."""
    return {table: [[row_id, digest] for row_id, digest in hashed_rows(session, table)] for table in COVERED}


def rows_before(session: Session) -> bool:
    """Whether covered rows exist that this transaction has not written (rows from before the trail)."""
    pending = session.info.get(_PENDING) or {}
    for table, covered in COVERED.items():
        column = covered.model.__table__.c.id  # type: ignore[attr-defined]
        mine = [row_id for name, row_id in pending if name == table]
        if session.execute(sa.select(column).where(column.not_in(mine)).limit(1)).first() is not None:
            return True
    return False


@dataclass(frozen=True)
class RowProblem:
    table: str
    row_id: int
    problem: str


Recorded = dict[str, dict[int, tuple[str | None, int]]]  # table -> id -> (content hash or None, event id)


def verify_rows(session: Session, recorded: Recorded) -> tuple[int, RowProblem | None]:
    """Check every covered row against the hash its latest event recorded ({table: {id: (hash, event id)}});
    the number of rows checked and the first problem."""
    seen = 0
    for table in COVERED:
        expected = dict(recorded.get(table, {}))
        for row_id, digest in hashed_rows(session, table):
            seen += 1
            entry = expected.pop(row_id, None)
            if entry is None:
                return seen, RowProblem(table, row_id, "is not recorded in the audit trail")
            if entry[0] is None:
                return seen, RowProblem(table, row_id, f"was deleted by audit event {entry[1]} but is there again")
            if entry[0] != digest:
                return seen, RowProblem(table, row_id,
                                        f"its content differs from what audit event {entry[1]} recorded (edited)")
        gone = sorted(row_id for row_id, (digest, _) in expected.items() if digest is not None)
        if gone:
            return seen, RowProblem(table, gone[0], f"was recorded by audit event {expected[gone[0]][1]} but is "
                                                    "gone (deleted)")
    return seen, None
