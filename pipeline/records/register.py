"""The disclosure-request register (依申请公开登记台账): intake, 补正, extension, consultation, fees, closing.

Every change is an event kept forever; the reply clock is derived from them and the working-day calendar
(pipeline.records.deadlines). A closed request takes no more events. Dates are Beijing calendar dates, never
in the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, select

from pipeline.core.errors import GongkaiError, NotFound, WorkflowRefused
from pipeline.core.models import DisclosureRequest, RequestEvent, Role, utcnow
from pipeline.core.text import hidden_problem
from pipeline.records import audit
from pipeline.records.authority import require_at
from pipeline.records.deadlines import Clock, EventKind, clock_of, working_days_left
from pipeline.records.office_calendar import load_calendar
from pipeline.records.people import Actor
from pipeline.records.refusals import refusal_of
from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.records.workdays import WorkCalendar, provisional_note

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


def _check_date(on: date, today: date, what: str, calendar: WorkCalendar) -> None:
    if on > today:
        raise WorkflowRefused(f"{what} {on} is in the future")
    calendar.is_workday(on)  # refuses a date older than any working-day calendar


def parse_amount(raw: str | Decimal, what: str = "amount") -> Decimal:
    """A fee in 元: more than zero, at most 2 decimals (分)."""
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise GongkaiError(f"{what}: '{raw}' is not an amount in 元") from None
    if not value.is_finite() or value <= 0 or value >= Decimal("1e9"):
        raise GongkaiError(f"{what}: '{raw}' must be more than 0 元 (and less than 10^9)")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise GongkaiError(f"{what}: '{raw}' has more than 2 decimals (分)")
    return value.quantize(Decimal("0.01"))


def add_request(session: Session, *, agency_id: int, received_on: date, channel: str, applicant_type: str,
                actor: Actor, today: date, applicant: str = "", subject: str = "",
                ref: str | None = None) -> DisclosureRequest:
    """Register an application on the day it counts as received (第三十一条). Needs disclosure_office."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing="register a request")
    _check_date(received_on, today, "received date", load_calendar(session))
    for field, text in (("applicant", applicant), ("subject", subject), ("ref", ref or "")):
        if message := hidden_problem(text.strip()):
            raise GongkaiError(f"{field}: {message}")
    if ref and session.exec(select(DisclosureRequest.id).where(DisclosureRequest.agency_id == agency_id,
                                                               DisclosureRequest.ref == ref)).first():
        raise WorkflowRefused(f"a request with the register number '{ref}' exists already")
    request = DisclosureRequest(
        agency_id=agency_id, ref=ref or None, received_on=received_on,
        channel=vocabulary_key(channel, CHANNELS, "channel"),
        applicant_type=vocabulary_key(applicant_type, APPLICANT_TYPES, "applicant type"),
        applicant=applicant.strip(), subject=subject.strip(), recorded_by=actor.acting_as.login)
    session.add(request)
    session.flush()
    audit.record_event(session, actor=actor.label, action="request_add", subject=f"request:{request.id}",
                       details={"received_on": received_on, "ref": request.ref}, now=utcnow())
    return request


def record_event(session: Session, *, agency_id: int, request_id: int, kind: EventKind, on: date, actor: Actor,
                 today: date, days: int | None = None, deadline: date | None = None, note: str = "",
                 outcome: str | None = None, amount: str | Decimal | None = None) -> DisclosureRequest:
    """One step in the life of a request, refused when it does not fit what happened before (disclosure_office)."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing=f"record {kind} of a request")
    request = lock_request(session, agency_id=agency_id, request_id=request_id)
    events = events_of(session, request.id)
    calendar = load_calendar(session)
    _check_date(on, today, "date", calendar)
    if request.closed_on is not None:
        raise WorkflowRefused(f"request {request.id} was closed on {request.closed_on}")
    last = max([request.received_on, *(e.event_on for e in events)])
    if on < last:
        raise WorkflowRefused(f"{on} is before the request's last recorded step ({last})")
    clock = clock_of(request, events, calendar=calendar)
    value = None if amount is None else parse_amount(amount)
    if kind == EventKind.FEE_PAID and value is None and clock.fee is not None:
        value = clock.fee.amount   # paid as notified
    refusal = refusal_of(kind, events, clock, days=days, deadline=deadline, on=on, outcome=outcome, amount=value)
    if refusal:
        raise WorkflowRefused(f"request {request.id}: {refusal}")
    session.add(RequestEvent(request_id=request.id, kind=kind, event_on=on, days=days, deadline=deadline,
                             amount=None if value is None else str(value), note=note.strip(),
                             actor=actor.acting_as.login))
    if kind == EventKind.CLOSED:
        request.closed_on, request.outcome = on, outcome
    request.updated_at = utcnow()
    session.add(request)
    session.flush()
    audit.record_event(session, actor=actor.label, action=f"request_{kind}", subject=f"request:{request.id}",
                       details={"on": on, "days": days, "deadline": deadline, "outcome": outcome,
                                "amount": None if value is None else str(value), "note": note.strip()},
                       now=request.updated_at)
    return request


def receive_request(session: Session, *, agency_id: int, received_on: date, channel: str, applicant_type: str,
                    actor: Actor, today: date, **details: Any) -> dict[str, Any]:
    """add_request, then the new request as request_view shows it (what `gongkai request add` prints)."""
    request = add_request(session, agency_id=agency_id, received_on=received_on, channel=channel,
                          applicant_type=applicant_type, actor=actor, today=today, **details)
    return request_view(request, [], today=today, calendar=load_calendar(session))


def record_step(session: Session, *, agency_id: int, request_id: int, kind: EventKind, on: date, actor: Actor,
                today: date, **details: Any) -> dict[str, Any]:
    """record_event, then the request as show_request shows it (what `gongkai request STEP` prints)."""
    request = record_event(session, agency_id=agency_id, request_id=request_id, kind=kind, on=on, actor=actor,
                           today=today, **details)
    return _shown(session, request, today=today)


def show_request(session: Session, *, agency_id: int, request_id: int, today: date) -> dict[str, Any]:
    """One request of the agency as request_view shows it on `today`, with every recorded step."""
    return _shown(session, lock_request(session, agency_id=agency_id, request_id=request_id), today=today)


def _shown(session: Session, request: DisclosureRequest, *, today: date) -> dict[str, Any]:
    return request_view(request, events_of(session, request.id), today=today, calendar=load_calendar(session))


def request_views(session: Session, *, agency_id: int, today: date, year: int | None = None,
                  open_only: bool = False, by_due: bool = False) -> list[dict[str, Any]]:
    """The agency's requests (list_requests) as request_view shows them on `today`: oldest first, or (`by_due`)
    by due date, those without one (their clock stopped) last."""
    calendar = load_calendar(session)
    views = [request_view(r, events, today=today, calendar=calendar)
             for r, events in list_requests(session, agency_id=agency_id, year=year, open_only=open_only)]
    if by_due:
        views.sort(key=lambda v: (v["due_on"] is None, v["due_on"] or "", v["id"]))
    return views


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


def list_requests(session: Session, *, agency_id: int | None, year: int | None = None,
                  open_only: bool = False) -> list[tuple[DisclosureRequest, list[RequestEvent]]]:
    """Requests of an agency (None: of every agency), received in `year` or all, oldest first, with events."""
    query = select(DisclosureRequest)
    if agency_id is not None:
        query = query.where(DisclosureRequest.agency_id == agency_id)
    if year is not None:
        query = query.where(DisclosureRequest.received_on >= date(year, 1, 1),
                            DisclosureRequest.received_on <= date(year, 12, 31))
    if open_only:
        query = query.where(DisclosureRequest.closed_on.is_(None))
    requests = list(session.exec(query.order_by(DisclosureRequest.received_on, DisclosureRequest.id)).all())
    return with_events(session, requests)


def with_events(session: Session, requests: list[DisclosureRequest]) -> list[tuple[DisclosureRequest,
                                                                                      list[RequestEvent]]]:
    """Each request with its events in the order they were recorded, in one query."""
    events: dict[int, list[RequestEvent]] = {r.id: [] for r in requests}
    if requests:
        found = session.exec(select(RequestEvent).where(RequestEvent.request_id.in_(list(events)))
                             .order_by(RequestEvent.id)).all()
        for event in found:
            events[event.request_id].append(event)
    return [(r, events[r.id]) for r in requests]


def request_view(request: DisclosureRequest, events: Sequence[RequestEvent], *, today: date,
                 calendar: WorkCalendar) -> dict[str, Any]:
    """A request as plain data: its clock, due date, working days left or late, fee, and every event."""
    clock = clock_of(request, events, calendar=calendar, today=today)
    left = None if request.closed_on else working_days_left(clock, today, calendar)
    years = set(clock.provisional_years)
    if left is not None and clock.due_on is not None:
        years |= set(calendar.provisional_years(today, clock.due_on))
    name = APPLICANT_TYPES.get(request.applicant_type)
    warnings = [*clock.warnings, *([provisional_note(years)] if years else []),
                *([] if name else [f"applicant type '{request.applicant_type}' stored in request {request.id} is "
                                   f"not one of {', '.join(APPLICANT_TYPES)}: table 三 cannot count it"])]
    return {
        "id": request.id, "ref": request.ref, "received_on": request.received_on.isoformat(),
        "channel": request.channel, "applicant_type": request.applicant_type,
        "applicant_type_name": name or f"unknown '{request.applicant_type}'", "applicant": request.applicant,
        "subject": request.subject, "state": str(clock.state), "clock_starts_on": clock.starts_on.isoformat(),
        "working_days": clock.days, "due_on": _iso(clock.due_on), "provisional": bool(years),
        "provisional_years": sorted(years), "working_days_left": left,
        "correction_deadline": _iso(clock.correction_deadline), "fee": _fee_view(clock, calendar),
        "closed_on": _iso(request.closed_on), "outcome": request.outcome,
        "replied_late": clock.late_days is not None, "working_days_late": clock.late_days, "warnings": warnings,
        "events": [{"kind": e.kind, "on": e.event_on.isoformat(), "days": e.days, "deadline": _iso(e.deadline),
                    "amount": e.amount, "note": e.note, "by": e.actor} for e in events],
    }


def _fee_view(clock: Clock, calendar: WorkCalendar) -> dict[str, Any] | None:
    fee = clock.fee
    if fee is None:
        return None
    return {"notified_on": fee.notified_on.isoformat(), "amount": str(fee.amount), "pay_by": fee.pay_by.isoformat(),
            "pay_by_provisional": bool(calendar.provisional_years(fee.notified_on, fee.pay_by)),
            "paid_on": _iso(fee.paid_on)}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
