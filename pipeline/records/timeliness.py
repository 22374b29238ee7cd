"""第二十六条 of the 政府信息公开条例: information disclosed proactively is published within 20 working days of being
formed or changed.

The formation date of an item revision is its 成文日期 (`created_on`) for the first revision; a later revision is
a change, formed on the day it was submitted (Beijing calendar). The deadline is the 20th working day after that
date on the office's calendar (pipeline.records.office_calendar.load_calendar), provisional where that calendar does not
cover a year. A publication on the deadline is on time; one after it is late by the working days after the
deadline up to and including the publication day, and by at least 1 (a Saturday after a Friday deadline is
late too).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from pipeline.core.clock import SHANGHAI
from pipeline.records.workdays import CalendarUnavailable, WorkCalendar

WORKING_DAYS = 20  # 第二十六条


class Formed(Protocol):
    """What the rule reads of a revision: an item_revision row, or a row of a query that selected these."""

    number: int
    created_on: date
    submitted_at: datetime


@dataclass(frozen=True)
class Deadline:
    """An item revision's 第二十六条 deadline, seen from `on` (today, or the day it was published)."""

    formed_on: date
    due_on: date
    days_left: int                              # working days from `on` to the deadline; negative: late
    provisional_years: tuple[int, ...] = field(default=())

    @property
    def late(self) -> bool:
        return self.days_left < 0

    def view(self) -> dict[str, Any]:
        return {"formed_on": self.formed_on.isoformat(), "due_on": self.due_on.isoformat(),
                "days_left": self.days_left, "late": self.late, "provisional": bool(self.provisional_years),
                "provisional_years": list(self.provisional_years)}


def formed_on(revision: Formed) -> date:
    """The day a revision's information was formed (成文日期) or changed (the day the change was submitted)."""
    if revision.number <= 1:
        return revision.created_on
    return revision.submitted_at.astimezone(SHANGHAI).date()


def deadline_of(formed: date, *, on: date, calendar: WorkCalendar) -> Deadline | None:
    """The deadline for information formed on `formed`, and the working days left on `on` (negative when `on` is
    past it); None when the calendar has no data for those years (before chinesecalendar's first)."""
    try:
        due = calendar.add_workdays(formed, WORKING_DAYS)
        left = -_workdays_after(calendar, due, on) if on > due else calendar.workdays_between(on, due)
    except (CalendarUnavailable, ValueError):
        return None
    if on > due:
        left = min(left, -1)
    return Deadline(formed, due, left, calendar.provisional_years(formed, max(due, on)))


_YEARS: weakref.WeakKeyDictionary[WorkCalendar, dict[int, int]] = weakref.WeakKeyDictionary()


def _workdays_after(calendar: WorkCalendar, first: date, last: date) -> int:
    """calendar.workdays_between(first, last) for first < last, whole years between them counted once per calendar
    (an item formed years ago would otherwise walk every day of them: 50 ms for six years)."""
    if last.year - first.year < 2:
        return calendar.workdays_between(first, last)
    years = _YEARS.setdefault(calendar, {})
    whole = range(first.year + 1, last.year)
    for year in whole:
        if year not in years:
            years[year] = calendar.workdays_between(date(year - 1, 12, 31), date(year, 12, 31))
    return (calendar.workdays_between(first, date(first.year, 12, 31)) + sum(years[y] for y in whole)
            + calendar.workdays_between(date(last.year - 1, 12, 31), last))


def revision_deadline(revision: Formed, *, on: date, calendar: WorkCalendar) -> Deadline | None:
    return deadline_of(formed_on(revision), on=on, calendar=calendar)
