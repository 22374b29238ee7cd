"""The reply clock of a disclosure request (第三十条、第三十三条), computed from its events; never stored.

20 working days from the day after receipt; a 补正 request stops the clock and the 20 days start again the
day after the corrected application arrives; an extension adds at most 20 working days; the days a
third-party or inter-agency consultation is open do not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pipeline.core.models import DisclosureRequest, RequestEvent
from pipeline.records.workdays import CalendarUnavailable, add_workdays, workdays_between

REPLY_DAYS = 20
MAX_EXTENSION_DAYS = 20
CORRECTION_NOTICE_DAYS = 7


class EventKind(StrEnum):
    CORRECTION_ASKED = "correction_asked"
    CORRECTION_RECEIVED = "correction_received"
    EXTENDED = "extended"
    CONSULTATION_STARTED = "consultation_started"
    CONSULTATION_ENDED = "consultation_ended"
    CLOSED = "closed"


class ClockState(StrEnum):
    RUNNING = "running"
    AWAITING_CORRECTION = "awaiting_correction"   # stopped until the applicant answers the 补正 notice
    PAUSED = "paused"                             # a consultation is open
    CLOSED = "closed"


@dataclass(frozen=True)
class Clock:
    state: ClockState
    starts_on: date                # receipt, or the day the corrected application arrived
    days: int                      # 20 plus any extension
    due_on: date | None
    correction_deadline: date | None = None
    warnings: tuple[str, ...] = ()


def clock_of(request: DisclosureRequest, events: Sequence[RequestEvent]) -> Clock:
    """Where the reply clock of `request` stands after `events` (in the order they happened)."""
    starts_on, days, warnings = request.received_on, REPLY_DAYS, []
    pauses: list[tuple[date, date]] = []
    open_pause: date | None = None
    asked: RequestEvent | None = None
    for event in events:
        match event.kind:
            case EventKind.CORRECTION_ASKED:
                asked = event
                if _late_notice(request.received_on, event.event_on):
                    warnings.append(f"补正 notice on {event.event_on}: later than {CORRECTION_NOTICE_DAYS} working "
                                    "days after receipt (第三十条)")
            case EventKind.CORRECTION_RECEIVED:
                asked, starts_on, pauses = None, event.event_on, []
            case EventKind.EXTENDED:
                days += event.days or 0
            case EventKind.CONSULTATION_STARTED:
                open_pause = event.event_on
            case EventKind.CONSULTATION_ENDED if open_pause is not None:
                pauses.append((open_pause, event.event_on))
                open_pause = None
    state = _state(request, asked, open_pause)
    due_on = None
    if state in (ClockState.RUNNING, ClockState.CLOSED) and asked is None:
        try:
            due_on = add_workdays(starts_on, days, paused=[p for p in pauses if p[0] >= starts_on])
        except CalendarUnavailable as e:
            warnings.append(f"due date unknown: {e}")
    return Clock(state, starts_on, days, due_on, asked.deadline if asked else None, tuple(warnings))


def _state(request: DisclosureRequest, asked: RequestEvent | None, open_pause: date | None) -> ClockState:
    if request.closed_on is not None:
        return ClockState.CLOSED
    if asked is not None:
        return ClockState.AWAITING_CORRECTION
    return ClockState.PAUSED if open_pause is not None else ClockState.RUNNING


def _late_notice(received_on: date, asked_on: date) -> bool:
    try:
        return workdays_between(received_on, asked_on) > CORRECTION_NOTICE_DAYS
    except CalendarUnavailable:
        return False


def working_days_left(clock: Clock, today: date) -> int | None:
    """Working days from `today` to the due date: 0 on the due date, negative once overdue."""
    if clock.due_on is None:
        return None
    try:
        return workdays_between(today, clock.due_on)
    except CalendarUnavailable:
        return None
