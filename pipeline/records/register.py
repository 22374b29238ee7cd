"""The disclosure-request register (依申请公开登记台账): intake, 补正, extension, consultation, closing.

Every change is an event kept forever; the reply clock is derived from them (pipeline.records.deadlines). A
closed request takes no more events. Dates are Beijing calendar dates, never in the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel import Session, select

from pipeline.core.errors import GongkaiError, NotFound, WorkflowRefused
from pipeline.core.models import DisclosureRequest, RequestEvent, utcnow
from pipeline.records import audit
from pipeline.records.deadlines import MAX_EXTENSION_DAYS, ClockState, EventKind, clock_of, working_days_left
from pipeline.records.vocabulary import APPLICANT_TYPES, OUTCOMES
from pipeline.records.workdays import is_workday

CHANNELS = {"in_person": "当面提交", "post": "邮寄", "online": "互联网", "fax": "传真", "other": "其他"}


def vocabulary_key(value: str, vocabulary: dict[str, str], what: str) -> str:
    """A key of `vocabulary`, given as the key or as its Chinese name."""
    if value in vocabulary:
        return value
    for key, name in vocabulary.items():
        if value == name:
            return key
    known = ", ".join(f"{k} ({v})" for k, v in vocabulary.items())
    raise GongkaiError(f"unknown {what} '{value}'; known: {known}")


def _check_date(on: date, today: date, what: str) -> None:
    if on > today:
        raise WorkflowRefused(f"{what} {on} is in the future")
    is_workday(on)  # refuses a date the working-day calendar does not know


def add_request(session: Session, *, agency_id: int, received_on: date, channel: str, applicant_type: str,
                actor: str, today: date, applicant: str = "", subject: str = "",
                ref: str | None = None) -> DisclosureRequest:
    """Register an application on the day it counts as received (第三十一条)."""
    _check_date(received_on, today, "received date")
    if ref and session.exec(select(DisclosureRequest.id).where(DisclosureRequest.agency_id == agency_id,
                                                               DisclosureRequest.ref == ref)).first():
        raise WorkflowRefused(f"a request with the register number '{ref}' exists already")
    request = DisclosureRequest(
        agency_id=agency_id, ref=ref or None, received_on=received_on,
        channel=vocabulary_key(channel, CHANNELS, "channel"),
        applicant_type=vocabulary_key(applicant_type, APPLICANT_TYPES, "applicant type"),
        applicant=applicant.strip(), subject=subject.strip(), recorded_by=actor)
    session.add(request)
    session.flush()
    audit.record_event(session, actor=actor, action="request_add", subject=f"request:{request.id}",
                       details={"received_on": received_on, "ref": request.ref}, now=utcnow())
    return request


def record_event(session: Session, *, agency_id: int, request_id: int, kind: EventKind, on: date, actor: str,
                 today: date, days: int | None = None, deadline: date | None = None, note: str = "",
                 outcome: str | None = None) -> DisclosureRequest:
    """One step in the life of a request, refused when it does not fit what happened before."""
    request = lock_request(session, agency_id=agency_id, request_id=request_id)
    events = events_of(session, request.id)
    _check_date(on, today, "date")
    if request.closed_on is not None:
        raise WorkflowRefused(f"request {request.id} was closed on {request.closed_on}")
    last = max([request.received_on, *(e.event_on for e in events)])
    if on < last:
        raise WorkflowRefused(f"{on} is before the request's last recorded step ({last})")
    _refuse_out_of_order(request, events, kind, days=days, deadline=deadline, on=on, outcome=outcome)
    session.add(RequestEvent(request_id=request.id, kind=kind, event_on=on, days=days, deadline=deadline,
                             note=note.strip(), actor=actor))
    if kind == EventKind.CLOSED:
        request.closed_on, request.outcome = on, outcome
    request.updated_at = utcnow()
    session.add(request)
    session.flush()
    audit.record_event(session, actor=actor, action=f"request_{kind}", subject=f"request:{request.id}",
                       details={"on": on, "days": days, "deadline": deadline, "outcome": outcome,
                                "note": note.strip()}, now=request.updated_at)
    return request


def _refuse_out_of_order(request: DisclosureRequest, events: Sequence[RequestEvent], kind: EventKind, *,
                         days: int | None, deadline: date | None, on: date, outcome: str | None) -> None:
    kinds = [e.kind for e in events]
    clock = clock_of(request, events)
    asked = EventKind.CORRECTION_ASKED in kinds
    received = EventKind.CORRECTION_RECEIVED in kinds
    consulting = clock.state == ClockState.PAUSED
    refusal = {
        EventKind.CORRECTION_ASKED: "补正 was asked already (一次性告知: once only)" if asked else
        ("the 补正 deadline is before the notice" if deadline and deadline < on else ""),
        EventKind.CORRECTION_RECEIVED: "" if asked and not received else "no 补正 is outstanding",
        EventKind.EXTENDED: _extension_refusal(events, clock, days, on),
        EventKind.CONSULTATION_STARTED: "a consultation is open already" if consulting else "",
        EventKind.CONSULTATION_ENDED: "" if consulting else "no consultation is open",
        EventKind.CLOSED: _closing_refusal(outcome, asked=asked, received=received),
    }[kind]
    if refusal:
        raise WorkflowRefused(f"request {request.id}: {refusal}")


def _extension_refusal(events: Sequence[RequestEvent], clock: Any, days: int | None, on: date) -> str:
    granted = sum(e.days or 0 for e in events if e.kind == EventKind.EXTENDED)
    if days is None or days < 1 or granted + days > MAX_EXTENSION_DAYS:
        return f"an extension is 1 to {MAX_EXTENSION_DAYS - granted} more working days (at most " \
               f"{MAX_EXTENSION_DAYS} in all, 第三十三条)"
    if clock.state == ClockState.AWAITING_CORRECTION:
        return "the clock is stopped until the 补正 arrives"
    if clock.due_on is not None and on > clock.due_on:
        return f"the period ended on {clock.due_on}; an extension must be decided before it ends"
    return ""


def _closing_refusal(outcome: str | None, *, asked: bool, received: bool) -> str:
    if outcome not in OUTCOMES:
        return f"unknown outcome '{outcome}'; see gongkai request outcomes"
    if outcome == "lapsed_no_correction" and not (asked and not received):
        return "'lapsed_no_correction' needs a 补正 that was asked and never received"
    if outcome == "unable_unclear" and not received:
        return "'unable_unclear' (补正后申请内容仍不明确) needs a 补正 that was received"
    return ""


def lock_request(session: Session, *, agency_id: int, request_id: int) -> DisclosureRequest:
    query = (select(DisclosureRequest).where(DisclosureRequest.id == request_id).with_for_update()
             .execution_options(populate_existing=True))
    request = session.exec(query).first()
    if request is None or request.agency_id != agency_id:
        raise NotFound(f"no request {request_id} in this agency")
    return request


def events_of(session: Session, request_id: int) -> list[RequestEvent]:
    query = select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)
    return list(session.exec(query).all())


def list_requests(session: Session, *, agency_id: int, year: int | None = None,
                  open_only: bool = False) -> list[tuple[DisclosureRequest, list[RequestEvent]]]:
    """Requests (received in `year`, or all), oldest first, each with its events."""
    query = select(DisclosureRequest).where(DisclosureRequest.agency_id == agency_id)
    if year is not None:
        query = query.where(DisclosureRequest.received_on >= date(year, 1, 1),
                            DisclosureRequest.received_on <= date(year, 12, 31))
    if open_only:
        query = query.where(DisclosureRequest.closed_on.is_(None))
    requests = list(session.exec(query.order_by(DisclosureRequest.received_on, DisclosureRequest.id)).all())
    events: dict[int, list[RequestEvent]] = {r.id: [] for r in requests}
    if requests:
        found = session.exec(select(RequestEvent).where(RequestEvent.request_id.in_(list(events)))
                             .order_by(RequestEvent.id)).all()
        for event in found:
            events[event.request_id].append(event)
    return [(r, events[r.id]) for r in requests]


def request_view(request: DisclosureRequest, events: Sequence[RequestEvent], *, today: date) -> dict[str, Any]:
    """A request as plain data: its clock, due date, working days left, and every event."""
    clock = clock_of(request, events)
    late = clock.due_on is not None and request.closed_on is not None and request.closed_on > clock.due_on
    return {
        "id": request.id, "ref": request.ref, "received_on": request.received_on.isoformat(),
        "channel": request.channel, "applicant_type": request.applicant_type,
        "applicant_type_name": APPLICANT_TYPES[request.applicant_type], "applicant": request.applicant,
        "subject": request.subject, "state": str(clock.state), "clock_starts_on": clock.starts_on.isoformat(),
        "working_days": clock.days, "due_on": clock.due_on.isoformat() if clock.due_on else None,
        "working_days_left": None if request.closed_on else working_days_left(clock, today),
        "correction_deadline": clock.correction_deadline.isoformat() if clock.correction_deadline else None,
        "closed_on": request.closed_on.isoformat() if request.closed_on else None, "outcome": request.outcome,
        "replied_late": late, "warnings": list(clock.warnings),
        "events": [{"kind": e.kind, "on": e.event_on.isoformat(), "days": e.days,
                    "deadline": e.deadline.isoformat() if e.deadline else None, "note": e.note, "by": e.actor}
                   for e in events],
    }
