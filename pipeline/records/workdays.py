"""The Chinese working-day calendar: weekends, statutory holidays and 调休 make-up days.

Three sources, in this order of precedence:
1. the office's calendar: each year's 放假安排 entered from the State Council's notice (`gongkai calendar set`),
   stored in the database and loaded with pipeline.records.office_calendar.load_calendar(session);
2. chinesecalendar, the package shipped with gongkai, for the years it was released for;
3. for a later year neither knows, a *provisional* count: Monday to Friday are working days, except the statutory
   holidays (statutory_holidays). A result that counted such a day says so (WorkCalendar.provisional_years), so
   that nobody mistakes it for a final date: the notice's 调休 (the weekdays it frees around a holiday and the
   Saturdays and Sundays it makes working days) are known only once it is entered.

The statutory holidays are those of 《全国年节及纪念日放假办法》 第二条, as revised by the State Council's
decision of 10 November 2024 (国务院令第795号, in force 1 January 2025): 元旦 1 January; 春节 农历除夕 and
正月初一至初三; 清明节 the day of the 清明 solar term; 劳动节 1-2 May; 端午节 农历五月初五; 中秋节 农历八月十五;
国庆节 1-3 October. Text as republished by Sina Finance from 中国政府网/新华社:
https://cj.sina.com.cn/articles/view/1715196611/663bd2c301901axe4 . Lunar dates come from lunardate, the 清明
solar term from chinesecalendar's get_solar_terms; tests/test_workdays.py checks both against every year of
chinesecalendar's data.

A year before the package's first is refused (CalendarUnavailable): no request of gongkai's is that old.
The module-level functions are the package's calendar alone and refuse every year it does not know; code with
a session uses load_calendar(session). This module imports no database library: `gongkai list` counts deadlines with
it, reading the office's years with read_calendar() over a plain DB-API connection (pipeline.core.reader).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import chinese_calendar
from lunardate import LunarDate

from pipeline.core.errors import GongkaiError
from pipeline.core.reader import day as stored_day

if TYPE_CHECKING:
    from pipeline.core.reader import Reader

# a period ends at the latest this many calendar days after its start (40 working days plus the longest
# Spring Festival and National Day breaks fit comfortably); beyond it something is wrong, not slow
MAX_SPAN_DAYS = 3 * 366


class CalendarUnavailable(GongkaiError):
    """The working-day calendar has no data for the year asked about."""


@cache
def known_years() -> tuple[int, int]:
    """First and last year chinesecalendar has holiday data for."""
    years = [day.year for day in chinese_calendar.holidays]
    return min(years), max(years)


def fix_command(year: int) -> str:
    """What the office runs to make `year` final."""
    return f"gongkai calendar set {year} --file NOTICE.toml"


def _day_of_year(day: date) -> int:
    return day.timetuple().tm_yday - 1


def _package_workday(day: date) -> bool:
    """chinesecalendar's is_workday() read off its own tables (a 调休 day worked, else a weekday that is no holiday):
    is_workday() itself checks its argument against the tables' range on every call (0.02 ms), and a list of
    deadlines asks about thousands of days; the caller has checked the year is the package's."""
    return day in chinese_calendar.workdays or (day.weekday() < 5 and day not in chinese_calendar.holidays)


@cache
def statutory_holidays(year: int) -> Mapping[date, str]:
    """The days 《全国年节及纪念日放假办法》 第二条 (2024 revision) gives all off in `year`, with their festival."""
    try:
        new_year = LunarDate(year, 1, 1).to_solar_date()
        dragon_boat, mid_autumn = LunarDate(year, 5, 5).to_solar_date(), LunarDate(year, 8, 15).to_solar_date()
        qingming = [day for day, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
                    if name == "清明"]
    except (ValueError, NotImplementedError) as e:  # lunardate knows 1900-2099, the solar terms 1900-2100
        raise CalendarUnavailable(f"no lunar calendar for {year}: {e}; enter that year's notice: "
                                  f"{fix_command(year)}") from e
    days = {date(year, 1, 1): "元旦"}
    days |= {new_year + timedelta(days=n): "春节" for n in range(-1, 3)}   # 除夕 (the eve: 廿九 or 三十), 初一-初三
    days |= {qingming[0]: "清明节", date(year, 5, 1): "劳动节", date(year, 5, 2): "劳动节",
             dragon_boat: "端午节", mid_autumn: "中秋节"}
    days |= {date(year, 10, n): "国庆节" for n in (1, 2, 3)}   # 10-1 wins when 中秋 falls on it (as in 2020)
    return MappingProxyType(days)   # cached: read-only


class WorkCalendar:
    """Working days from the office's notices, then the package, then (if `provisional`) weekdays that are no
    statutory holiday."""

    def __init__(self, *, office_years: Iterable[int] = (), days: Mapping[date, bool] | None = None,
                 provisional: bool = True, package: tuple[int, int] | None = None) -> None:
        self.office_years = frozenset(office_years)
        self.days = dict(days or {})          # a day some notice names -> whether it is worked
        self.provisional = provisional
        self.package = package or known_years()
        self._counts: dict[int, list[int]] = {}  # year -> working days up to each day (workdays_between)

    def covers(self, year: int) -> bool:
        """Whether `year` is final: entered by the office, or in the package."""
        return year in self.office_years or self.package[0] <= year <= self.package[1]

    def is_workday(self, day: date) -> bool:
        """A working day: a weekday that is no holiday, or a 调休 Saturday or Sunday."""
        if day in self.days:
            return self.days[day]
        if day.year in self.office_years:
            return day.weekday() < 5
        if self.package[0] <= day.year <= self.package[1]:
            return _package_workday(day)
        if day.year < self.package[0] or not self.provisional:
            first, last = self.package
            raise CalendarUnavailable(
                f"no Chinese working-day calendar for {day.year}: chinesecalendar {_version()} knows "
                f"{first}-{last}" + (f", and the office has entered {_years(self.office_years)}"
                                     if self.office_years else "")
                + ("" if day.year < first else f"; enter that year's notice: {fix_command(day.year)}"))
        return day.weekday() < 5 and day not in statutory_holidays(day.year)

    def add_workdays(self, start: date, count: int, *, paused: Iterable[tuple[date, date]] = ()) -> date:
        """The `count`-th working day after `start` (start itself not counted), skipping paused spans.

        A pause (first, last) stops the clock on the days after `first` up to and including `last`: the day a
        consultation letter goes out still counts, the day the answer arrives does not.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        spans = list(paused)
        if not spans:
            return self._nth_workday_after(start, count)
        day, counted = start, 0
        while counted < count:
            day += timedelta(days=1)
            if (day - start).days > MAX_SPAN_DAYS:
                raise ValueError(f"{count} working days after {start} run past {MAX_SPAN_DAYS} days")
            if self.is_workday(day) and not any(first < day <= last for first, last in spans):
                counted += 1
        return day

    def _nth_workday_after(self, start: date, count: int) -> date:
        """add_workdays without pauses, read off the per-year running counts (a to-do page asks it for every row):
        the first day whose running count is `count` above start's."""
        year, target = start.year, self._year(start.year)[_day_of_year(start)] + count
        while target > self._year(year)[-1]:
            target -= self._year(year)[-1]
            year += 1
            if year - start.year > MAX_SPAN_DAYS // 365:
                raise ValueError(f"{count} working days after {start} run past {MAX_SPAN_DAYS} days")
        day = date(year, 1, 1) + timedelta(days=bisect.bisect_left(self._year(year), target))
        if (day - start).days > MAX_SPAN_DAYS:
            raise ValueError(f"{count} working days after {start} run past {MAX_SPAN_DAYS} days")
        return day

    def workdays_between(self, first: date, last: date) -> int:
        """Working days after `first` up to and including `last` (negative when `last` is earlier)."""
        if last < first:
            return -self.workdays_between(last, first)
        whole_years = sum(self._year(y)[-1] for y in range(first.year, last.year))
        return whole_years + self._year(last.year)[_day_of_year(last)] - self._year(first.year)[_day_of_year(first)]

    def _year(self, year: int) -> list[int]:
        """Working days of `year` counted up to each of its days (index 0: 1 January), counted once per calendar
        (a list of deadlines asks about the same year thousands of times)."""
        if year not in self._counts:
            day, counts, total = date(year, 1, 1), [], 0
            while day.year == year:
                total += self.is_workday(day)
                counts.append(total)
                day += timedelta(days=1)
            self._counts[year] = counts
        return self._counts[year]

    def provisional_years(self, first: date, last: date) -> tuple[int, ...]:
        """The years between two dates (either order) that are counted provisionally (no 调休 known)."""
        low, high = sorted((first, last))
        return tuple(y for y in range(low.year, high.year + 1) if not self.covers(y))


def read_calendar(db: Reader) -> WorkCalendar:
    """The office's entered years (tables calendar_year, calendar_day) over the package's, provisional beyond both;
    in a unit of work, pipeline.records.office_calendar.load_calendar(session) reads it once."""
    years = [row["year"] for row in db.all("SELECT year FROM calendar_year")]
    days = {stored_day(row["day"]): bool(row["working"])
            for row in db.all("SELECT day, working FROM calendar_day ORDER BY year")}
    return WorkCalendar(office_years=years, days=days)


def provisional_note(years: Iterable[int]) -> str:
    """The warning shown wherever a provisional date appears."""
    years = sorted(set(years))
    commands = "; ".join(fix_command(y) for y in years)
    return (f"provisional: no working-day calendar for {_years(years)}, so Saturdays, Sundays and the statutory "
            f"holidays were skipped there but not the 调休 of the State Council's holiday notice; once it is out, "
            f"enter it: {commands}")


def _years(years: Iterable[int]) -> str:
    return ", ".join(str(y) for y in sorted(years))


def _version() -> str:
    return getattr(chinese_calendar, "__version__", "?")


PACKAGE = WorkCalendar(provisional=False)
is_workday = PACKAGE.is_workday
add_workdays = PACKAGE.add_workdays
workdays_between = PACKAGE.workdays_between
