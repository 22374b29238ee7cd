"""The appeals register: 行政复议 and 行政诉讼 (direct, or after reconsideration) about disclosure work."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from pipeline.core.errors import NotFound, WorkflowRefused
from pipeline.core.models import Appeal, DisclosureRequest, Role, utcnow
from pipeline.records import audit
from pipeline.records.authority import require_at
from pipeline.records.people import Actor
from pipeline.records.register import vocabulary_key
from pipeline.records.vocabulary import APPEAL_RESULTS

APPEAL_KINDS = {  # the keys are the blocks of table 四
    "reconsideration": "行政复议",
    "litigation": "行政诉讼（未经复议直接起诉）",
    "litigation_after": "行政诉讼（复议后起诉）",
}
RESULT_NAMES = {key: name.removeprefix("结果") for key, name in APPEAL_RESULTS.items()} | {"other": "其他"}


def add_appeal(session: Session, *, agency_id: int, kind: str, filed_on: date, actor: Actor, today: date,
               request_id: int | None = None, ref: str | None = None, note: str = "") -> Appeal:
    """Register a reconsideration or a lawsuit on the day the agency learned of it (disclosure_office)."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing="register an appeal")
    if filed_on > today:
        raise WorkflowRefused(f"filing date {filed_on} is in the future")
    if request_id is not None:
        request = session.get(DisclosureRequest, request_id)
        if request is None or request.agency_id != agency_id:
            raise NotFound(f"no request {request_id} in this agency")
        if filed_on < request.received_on:
            raise WorkflowRefused(f"filing date {filed_on} is before request {request_id} was received")
    if ref and session.exec(select(Appeal.id).where(Appeal.agency_id == agency_id, Appeal.ref == ref)).first():
        raise WorkflowRefused(f"an appeal with the number '{ref}' exists already")
    appeal = Appeal(agency_id=agency_id, kind=vocabulary_key(kind, APPEAL_KINDS, "appeal kind"), filed_on=filed_on,
                    request_id=request_id, ref=ref or None, note=note.strip(), recorded_by=actor.acting_as.login)
    session.add(appeal)
    session.flush()
    audit.record_event(session, actor=actor.label, action="appeal_add", subject=f"appeal:{appeal.id}",
                       details={"kind": appeal.kind, "filed_on": filed_on, "request": request_id}, now=utcnow())
    return appeal


def close_appeal(session: Session, *, agency_id: int, appeal_id: int, result: str, closed_on: date,
                 actor: Actor, today: date, note: str = "") -> Appeal:
    """Record the decision or judgment: 维持 (upheld), 纠正 (corrected) or 其他 (other) (disclosure_office)."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing="close an appeal")
    query = select(Appeal).where(Appeal.id == appeal_id).with_for_update().execution_options(populate_existing=True)
    appeal = session.exec(query).first()
    if appeal is None or appeal.agency_id != agency_id:
        raise NotFound(f"no appeal {appeal_id} in this agency")
    if appeal.result is not None:
        raise WorkflowRefused(f"appeal {appeal_id} was closed on {appeal.closed_on} ({appeal.result})")
    if closed_on > today or closed_on < appeal.filed_on:
        raise WorkflowRefused(f"closing date {closed_on} must lie between the filing date {appeal.filed_on} "
                              "and today")
    appeal.result = vocabulary_key(result, RESULT_NAMES, "result")
    appeal.closed_on = closed_on
    appeal.note = "\n".join(filter(None, [appeal.note, note.strip()]))
    appeal.updated_at = utcnow()
    session.add(appeal)
    session.flush()
    audit.record_event(session, actor=actor.label, action="appeal_close", subject=f"appeal:{appeal.id}",
                       details={"result": appeal.result, "closed_on": closed_on}, now=appeal.updated_at)
    return appeal


def list_appeals(session: Session, *, agency_id: int, year: int | None = None) -> list[Appeal]:
    """Appeals filed in `year` or still open during it (all without a year), oldest first."""
    query = select(Appeal).where(Appeal.agency_id == agency_id)
    if year is not None:
        query = query.where(Appeal.filed_on <= date(year, 12, 31),
                            (Appeal.closed_on.is_(None)) | (Appeal.closed_on >= date(year, 1, 1)))
    return list(session.exec(query.order_by(Appeal.filed_on, Appeal.id)).all())


def appeal_views(session: Session, *, agency_id: int, year: int | None = None) -> list[dict[str, Any]]:
    """list_appeals() as appeal_view shows each (gongkai appeal list, the console's appeals page)."""
    return [appeal_view(a) for a in list_appeals(session, agency_id=agency_id, year=year)]


def appeal_view(appeal: Appeal) -> dict[str, Any]:
    return {"id": appeal.id, "ref": appeal.ref, "kind": appeal.kind,
            "kind_name": APPEAL_KINDS.get(appeal.kind, f"unknown '{appeal.kind}'"),
            "filed_on": appeal.filed_on.isoformat(), "request_id": appeal.request_id,
            "result": appeal.result or "pending",
            "closed_on": appeal.closed_on.isoformat() if appeal.closed_on else None,
            "note": appeal.note}
