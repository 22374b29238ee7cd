"""What a year's report reads from the registers beside the grouped counts: the replies that came late, the
信息处理费 collected, and stored values outside the vocabularies (named, never a crash or a silent drop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlmodel import Session, select

from pipeline.core.errors import GongkaiError
from pipeline.core.models import Appeal, DisclosureRequest, RequestEvent
from pipeline.records.appeals import APPEAL_KINDS
from pipeline.records.deadlines import EventKind, clock_of
from pipeline.records.office_calendar import load_calendar
from pipeline.records.register import with_events
from pipeline.records.vocabulary import APPEAL_RESULTS, APPLICANT_TYPES


class UnknownStoredValue(GongkaiError):
    """A register row holds a value no vocabulary knows (written by hand into the database, or by an old version)."""


@dataclass(frozen=True)
class LateReply:
    request_id: int
    ref: str | None
    due_on: date
    closed_on: date
    working_days_late: int
    provisional: bool             # counted without 调休 in a year no calendar knows


@dataclass
class YearReplies:
    late: list[LateReply] = field(default_factory=list)
    fees_collected: Decimal = Decimal("0.00")   # 元, by the day of payment
    fee_notices: int = 0                         # fee notices that reached applicants in the year


def replies_in_year(session: Session, *, agency_ids: list[int], year: int) -> dict[int, YearReplies]:
    """Per agency: the requests closed in `year` after their due date, and the fees notified and paid in it."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    result = {agency_id: YearReplies() for agency_id in agency_ids}
    r = DisclosureRequest
    closed = session.exec(select(r).where(r.agency_id.in_(agency_ids), r.closed_on >= start, r.closed_on <= end)
                          .order_by(r.closed_on, r.id)).all()
    calendar = load_calendar(session)
    for request, events in with_events(session, list(closed)):
        clock = clock_of(request, events, calendar=calendar)
        if clock.late_days is not None and clock.due_on is not None and request.closed_on is not None:
            result[request.agency_id].late.append(LateReply(
                request.id, request.ref, clock.due_on, request.closed_on, clock.late_days,
                bool(clock.provisional_years)))
    e = RequestEvent
    fees = session.exec(select(r.agency_id, e.kind, e.amount).join(r, r.id == e.request_id)
                        .where(r.agency_id.in_(agency_ids), e.kind.in_([EventKind.FEE_NOTIFIED, EventKind.FEE_PAID]),
                               e.event_on >= start, e.event_on <= end)).all()
    for agency_id, kind, amount in fees:
        if kind == EventKind.FEE_PAID:
            result[agency_id].fees_collected += Decimal(amount or "0")
        else:
            result[agency_id].fee_notices += 1
    return result


def check_stored_values(session: Session, *, agency_ids: list[int], first: date, last: date) -> None:
    """Refuse, naming every row, when a request or appeal that counts between `first` and `last` holds an
    applicant type, appeal kind or appeal result that table 三 or 四 has no place for."""
    r, a = DisclosureRequest, Appeal
    requests = session.exec(select(r).where(
        r.agency_id.in_(agency_ids), r.received_on <= last, r.closed_on.is_(None) | (r.closed_on >= first),
        r.applicant_type.not_in(list(APPLICANT_TYPES))).order_by(r.id)).all()
    appeals = session.exec(select(a).where(
        a.agency_id.in_(agency_ids), a.filed_on <= last, a.closed_on.is_(None) | (a.closed_on >= first),
        a.kind.not_in(list(APPEAL_KINDS)) | (a.result.is_not(None) & a.result.not_in(list(APPEAL_RESULTS))))
        .order_by(a.id)).all()
    problems = [f"disclosure_request {q.id}{_ref(q.ref)}: applicant_type '{q.applicant_type}' (known: "
                f"{', '.join(APPLICANT_TYPES)})" for q in requests]
    for appeal in appeals:
        if appeal.kind not in APPEAL_KINDS:
            problems.append(f"appeal {appeal.id}{_ref(appeal.ref)}: kind '{appeal.kind}' (known: "
                            f"{', '.join(APPEAL_KINDS)})")
        if appeal.result is not None and appeal.result not in APPEAL_RESULTS:
            problems.append(f"appeal {appeal.id}{_ref(appeal.ref)}: result '{appeal.result}' (known: "
                            f"{', '.join(APPEAL_RESULTS)})")
    if problems:
        raise UnknownStoredValue("the registers hold values the report format has no place for; correct these "
                                 "rows:\n  " + "\n  ".join(problems))


def _ref(ref: str | None) -> str:
    return f" ({ref})" if ref else ""

