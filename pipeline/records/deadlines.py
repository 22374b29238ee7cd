"""The reply clock of a disclosure request (第三十条、第三十二条、第三十三条; 国办函〔2020〕109号), computed from
its events and the working-day calendar; never stored.

20 working days from the day after receipt; a 补正 request stops the clock and the 20 days start again the
day after the corrected application arrives; an extension adds at most 20 working days; the days a
third-party or inter-agency consultation is open do not count, nor the days from a fee notice to the payment
(docs/calendar-and-requests.md says where that rule comes from). The applicant pays within 20 working days of
the day after the notice reached them, or the application lapses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pipeline.core.models import DisclosureRequest, RequestEvent
from pipeline.records.workdays import WorkCalendar

REPLY_DAYS = 20
MAX_EXTENSION_DAYS = 20
CORRECTION_NOTICE_DAYS = 7      # 第三十条: the 补正 notice goes out within 7 working days of receipt
CONSULTATION_DAYS = 15          # 第三十二条: a third party has 15 working days to give its view
PAYMENT_DAYS = 20               # 109号: the applicant pays within 20 working days of receiving the notice


class EventKind(StrEnum):
    CORRECTION_ASKED = "correction_asked"
    CORRECTION_RECEIVED = "correction_received"
    EXTENDED = "extended"
    CONSULTATION_STARTED = "consultation_started"
    CONSULTATION_ENDED = "consultation_ended"
    FEE_NOTIFIED = "fee_notified"
    FEE_PAID = "fee_paid"
    CLOSED = "closed"


class ClockState(StrEnum):
    RUNNING = "running"
    AWAITING_CORRECTION = "awaiting_correction"   # stopped until the applicant answers the 补正 notice
    AWAITING_PAYMENT = "awaiting_payment"         # stopped until the applicant pays the 信息处理费
    PAUSED = "paused"                             # a consultation is open
    CLOSED = "closed"


@dataclass(frozen=True)
class Fee:
    """A 信息处理费 notice: when it reached the applicant, how much, until when they may pay, and the payment."""

    notified_on: date
    amount: Decimal
    pay_by: date
    paid_on: date | None = None


@dataclass(frozen=True)
class Clock:
    state: ClockState
    starts_on: date                # receipt, or the day the corrected application arrived
    days: int                      # 20 plus any extension
    due_on: date | None            # None while the clock is stopped or paused
    correction_deadline: date | None = None
    fee: Fee | None = None
    late_days: int | None = None   # a closed request replied after its due date: working days late
    provisional_years: tuple[int, ...] = ()   # years its dates were counted in without 调休
    warnings: tuple[str, ...] = ()


@dataclass
class _Walk:
    starts_on: date
    days: int = REPLY_DAYS
    pauses: list[tuple[date, date]] = field(default_factory=list)
    open_pause: date | None = None
    asked: RequestEvent | None = None
    fee: RequestEvent | None = None
    paid: RequestEvent | None = None


def clock_of(request: DisclosureRequest, events: Sequence[RequestEvent], *, calendar: WorkCalendar,
             today: date | None = None) -> Clock:
    """Where the reply clock of `request` stands after `events` (in the order they happened); `today` adds the
    warning about a consultation open too long."""
    walk, warnings = _walk(request, events, calendar)
    state = _state(request, walk)
    pauses = [p for p in walk.pauses if p[0] >= walk.starts_on]
    for first in (walk.open_pause, walk.fee.event_on if walk.fee and not walk.paid else None):
        if first is not None and request.closed_on is not None and first >= walk.starts_on:
            pauses.append((first, request.closed_on))   # a pause still open when the request closed lasted until then
    due_on, late, checked = None, None, [walk.starts_on]
    if walk.asked is None and (state in (ClockState.RUNNING, ClockState.CLOSED)):
        due_on = calendar.add_workdays(walk.starts_on, walk.days, paused=pauses)
        checked.append(due_on)
        if request.closed_on is not None and request.closed_on > due_on:
            late = calendar.workdays_between(due_on, request.closed_on)
            warnings.append(f"replied {late} working day(s) late: due {due_on}, closed {request.closed_on} "
                            "(第三十三条)")
    fee = _fee(walk, calendar)
    if fee is not None:
        checked.append(fee.pay_by)
    if walk.open_pause is not None and today is not None and request.closed_on is None:
        warnings += _consultation_warning(calendar, walk.open_pause, today, still_open=True)
    years = tuple(sorted({y for day in checked for y in calendar.provisional_years(request.received_on, day)}))
    deadline = walk.asked.deadline if walk.asked else None
    return Clock(state, walk.starts_on, walk.days, due_on, deadline, fee, late, years, tuple(warnings))


def _walk(request: DisclosureRequest, events: Sequence[RequestEvent],
          calendar: WorkCalendar) -> tuple[_Walk, list[str]]:
    walk, warnings = _Walk(request.received_on), []
    for event in events:
        match event.kind:
            case EventKind.CORRECTION_ASKED:
                walk.asked = event
                if calendar.workdays_between(request.received_on, event.event_on) > CORRECTION_NOTICE_DAYS:
                    warnings.append(f"补正 notice on {event.event_on}: later than {CORRECTION_NOTICE_DAYS} "
                                    "working days after receipt (第三十条)")
            case EventKind.CORRECTION_RECEIVED:
                walk.asked, walk.starts_on, walk.pauses = None, event.event_on, []
            case EventKind.EXTENDED:
                walk.days += event.days or 0
            case EventKind.CONSULTATION_STARTED:
                walk.open_pause = event.event_on
            case EventKind.CONSULTATION_ENDED if walk.open_pause is not None:
                walk.pauses.append((walk.open_pause, event.event_on))
                warnings += _consultation_warning(calendar, walk.open_pause, event.event_on, still_open=False)
                walk.open_pause = None
            case EventKind.FEE_NOTIFIED:
                walk.fee = event
            case EventKind.FEE_PAID if walk.fee is not None:
                walk.paid = event
                walk.pauses.append((walk.fee.event_on, event.event_on))
    return walk, warnings


def _consultation_warning(calendar: WorkCalendar, first: date, last: date, *, still_open: bool) -> list[str]:
    days = calendar.workdays_between(first, last)
    if days <= CONSULTATION_DAYS:
        return []
    span = f"open since {first}" if still_open else f"from {first} to {last}"
    return [f"consultation {span}: {days} working days, longer than the {CONSULTATION_DAYS} 第三十二条 gives a "
            "third party to answer; decide without the answer or record why it is still open"]


def _fee(walk: _Walk, calendar: WorkCalendar) -> Fee | None:
    if walk.fee is None:
        return None
    notified = walk.fee.event_on
    return Fee(notified, Decimal(walk.fee.amount or "0"), calendar.add_workdays(notified, PAYMENT_DAYS),
               walk.paid.event_on if walk.paid else None)


def _state(request: DisclosureRequest, walk: _Walk) -> ClockState:
    if request.closed_on is not None:
        return ClockState.CLOSED
    if walk.asked is not None:
        return ClockState.AWAITING_CORRECTION
    if walk.fee is not None and walk.paid is None:
        return ClockState.AWAITING_PAYMENT
    return ClockState.PAUSED if walk.open_pause is not None else ClockState.RUNNING


def working_days_left(clock: Clock, today: date, calendar: WorkCalendar) -> int | None:
    """Working days from `today` to the due date: 0 on the due date, negative once overdue."""
    if clock.due_on is None:
        return None
    return calendar.workdays_between(today, clock.due_on)
