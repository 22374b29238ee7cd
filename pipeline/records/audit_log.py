"""`gongkai audit log`: the trail read back, newest last, with Beijing times and the actor as recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.clock import SHANGHAI
from pipeline.core.models import AuditEvent, Delivery
from pipeline.records.audit import ROWS


@dataclass(frozen=True)
class LogLine:
    id: int
    at: str        # Beijing time, to the second
    actor: str
    os_user: str
    action: str
    subject: str
    details: dict[str, Any]


def read_log(session: Session, *, item_id: int | None = None, actor: str | None = None,
             since: date | None = None, limit: int | None = None) -> list[LogLine]:
    """Events in chain order: of one item (and its deliveries), by one person (acting or acted for), from a
    Beijing date on; the newest `limit` of them."""
    query = select(AuditEvent)
    if item_id is not None:
        deliveries = select(Delivery.id).where(Delivery.item_id == item_id)
        subjects = [f"item:{item_id}", *(f"delivery:{d}" for d in session.exec(deliveries))]
        query = query.where(AuditEvent.subject.in_(subjects))
    if actor is not None:
        escaped = actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.or_(AuditEvent.actor == actor,  # or "admin X for Y" (acting for someone)
                                   AuditEvent.actor.like(f"admin {escaped} for %", escape="\\"),
                                   AuditEvent.actor.like(f"admin % for {escaped}", escape="\\")))
    if since is not None:
        query = query.where(AuditEvent.at >= datetime.combine(since, time(), SHANGHAI))
    query = query.order_by(AuditEvent.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_line(event) for event in reversed(session.exec(query).all())]


def _line(event: AuditEvent) -> LogLine:
    details = dict(event.details or {})
    if "ledger" in details:  # [id, hash] lists, a million long for an import: their count says enough
        details["ledger"] = len(details["ledger"])
    if ROWS in details:
        details[ROWS] = {table: len(rows) for table, rows in details[ROWS].items()}
    return LogLine(event.id or 0, event.at.astimezone(SHANGHAI).replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S"),
                   event.actor, event.os_user, event.action, event.subject, details)
