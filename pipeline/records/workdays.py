"""The Chinese working-day calendar (weekends, statutory holidays and 调休 make-up days) from chinesecalendar.

chinesecalendar ships the State Council's holiday notices year by year; for a year it has no data for, every
function here refuses with CalendarUnavailable instead of guessing that a weekday is a working day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar

from pipeline.core.errors import GongkaiError

# a period ends at the latest this many calendar days after its start (40 working days plus the longest
# Spring Festival and National Day breaks fit comfortably); beyond it something is wrong, not slow
MAX_SPAN_DAYS = 3 * 366


class CalendarUnavailable(GongkaiError):
    """The working-day calendar has no data for the year asked about."""


def known_years() -> tuple[int, int]:
    """First and last year chinesecalendar has holiday data for."""
    years = [day.year for day in chinese_calendar.holidays]
    return min(years), max(years)


def is_workday(day: date) -> bool:
    """A working day: a weekday that is no statutory holiday, or a 调休 Saturday or Sunday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        first, last = known_years()
        raise CalendarUnavailable(
            f"no Chinese working-day calendar for {day.year}: chinesecalendar {_version()} knows {first}-{last}; "
            "upgrade it (pip install -U chinesecalendar) once the State Council has published that year's "
            "holiday notice") from None


def add_workdays(start: date, count: int, *, paused: Iterable[tuple[date, date]] = ()) -> date:
    """The `count`-th working day after `start` (start itself not counted), skipping paused spans.

    A pause (first, last) stops the clock on the days after `first` up to and including `last`: the day a
    consultation letter goes out still counts, the day the answer arrives does not.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    spans = list(paused)
    day, counted = start, 0
    while counted < count:
        day += timedelta(days=1)
        if (day - start).days > MAX_SPAN_DAYS:
            raise ValueError(f"{count} working days after {start} run past {MAX_SPAN_DAYS} days")
        if is_workday(day) and not any(first < day <= last for first, last in spans):
            counted += 1
    return day


def workdays_between(first: date, last: date) -> int:
    """Working days after `first` up to and including `last` (negative when `last` is earlier)."""
    if last < first:
        return -workdays_between(last, first)
    return sum(is_workday(first + timedelta(days=n)) for n in range(1, (last - first).days + 1))


def _version() -> str:
    return getattr(chinese_calendar, "__version__", "?")
