"""The office's working-day calendar: entering a year's notice, showing a year, re-timing the open requests.

Setting a year replaces whatever the office entered for it before and takes precedence over chinesecalendar.
In the same transaction every open request of every agency is timed with the calendar before and after, and
what moved is returned and written to the audit trail with the notice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import chinese_calendar
import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.errors import GongkaiError
from pipeline.core.models import Agency, CalendarDay, CalendarYear, DisclosureRequest, RequestEvent, Role
from pipeline.records import audit
from pipeline.records.authority import require
from pipeline.records.deadlines import clock_of
from pipeline.records.notice import Notice
from pipeline.records.office_calendar import CALENDAR, load_calendar
from pipeline.records.people import Actor
from pipeline.records.register import list_requests
from pipeline.records.workdays import WorkCalendar, known_years, statutory_holidays

LAST_YEAR = 2100
PACKAGE_NAMES = {"new_years_day": "元旦", "spring_festival": "春节", "tomb_sweeping_day": "清明节",
                 "labour_day": "劳动节", "dragon_boat_festival": "端午节", "mid_autumn_festival": "中秋节",
                 "national_day": "国庆节", "anti_fascist_70th_day": "抗战胜利70周年纪念日"}


@dataclass(frozen=True)
class Moved:
    """A date of an open request that the new calendar moved (or made final)."""

    request_id: int
    agency: str
    ref: str | None
    what: str                      # "due" or "pay by" (the 信息处理费 payment period)
    old: date | None
    old_provisional: bool
    new: date | None
    new_provisional: bool


@dataclass(frozen=True)
class CalendarChange:
    year: int
    source: str
    replaced: str | None           # the source of the notice entered for the year before, if any
    holidays: int                  # days off the notice names
    workdays: int                  # 调休 days worked
    moved: list[Moved]
    warnings: tuple[str, ...]


def authorise_calendar_change(session: Session, actor: Actor) -> None:
    """Who may change the calendar: an admin (DESIGN.md: what the office keeps is changed only by the admin
    role). The calendar is the platform's, so the admin of the actor's own agency."""
    require(session, actor, Role.ADMIN, agency_code=actor.acting_as.agency_code,
            doing="change the working-day calendar")


def set_calendar(session: Session, *, actor: Actor, year: int, notice: Notice, now: datetime) -> CalendarChange:
    """Enter (or replace) `year`'s 放假安排 and re-time every open request; audited."""
    authorise_calendar_change(session, actor)
    first = known_years()[0]
    if notice.year != year or not first <= year <= LAST_YEAR:
        raise GongkaiError(f"the notice is for {notice.year}; a year from {first} to {LAST_YEAR} is entered, "
                           f"and the file's year must be the one given ({year})")
    before = load_calendar(session)
    requests = list_requests(session, agency_id=None, open_only=True)
    row = session.exec(select(CalendarYear).where(CalendarYear.year == year).with_for_update()).first()
    replaced = row.source if row else None
    session.execute(sa.delete(CalendarDay).where(CalendarDay.year == year))
    row = row or CalendarYear(year=year, source="", entered_by=actor.label[:64])
    row.source, row.notice, row.entered_by, row.entered_at = notice.source, notice.text, actor.label[:64], now
    session.add(row)
    session.flush()
    days = _days(notice)
    session.add_all([CalendarDay(year=year, day=day, working=working, name=name) for day, (working, name)
                     in sorted(days.items())])
    session.flush()
    session.info.pop(CALENDAR, None)  # load_calendar's copy for this unit of work is the one before
    after = load_calendar(session)
    moved = _moved(session, requests, before, after)
    holidays = sum(not working for working, _ in days.values())
    audit.record_event(session, actor=actor.label, action="calendar_set", subject=f"calendar:{year}", details={
        "year": year, "source": notice.source, "replaced": replaced,
        "holidays": [[p.name, p.first, p.last] for p in notice.periods],
        "workdays": sorted(day for day, (working, _) in days.items() if working),
        "moved": [[m.request_id, m.what, m.old, m.new] for m in moved]}, now=now)
    return CalendarChange(year, notice.source, replaced, holidays, len(days) - holidays, moved, notice.warnings)


def _days(notice: Notice) -> dict[date, tuple[bool, str]]:
    days = {day: (False, p.name) for p in notice.periods for day in p.days()}
    days |= {day: (True, p.name) for p in notice.periods for day in p.workdays}
    return days


def _deadlines(request: DisclosureRequest, events: list[RequestEvent],
               calendar: WorkCalendar) -> dict[str, tuple[date | None, bool]]:
    clock = clock_of(request, events, calendar=calendar)
    found = {"due": clock.due_on, "pay by": clock.fee.pay_by if clock.fee and not clock.fee.paid_on else None}
    return {what: (day, bool(day and calendar.provisional_years(request.received_on, day)))
            for what, day in found.items()}


def _moved(session: Session, requests: list[tuple[DisclosureRequest, list[RequestEvent]]],
           before: WorkCalendar, after: WorkCalendar) -> list[Moved]:
    codes = dict(session.exec(select(Agency.id, Agency.code)).all())
    moved = []
    for request, events in requests:
        old, new = _deadlines(request, events, before), _deadlines(request, events, after)
        moved += [Moved(request.id, codes[request.agency_id], request.ref, what, *old[what], *new[what])
                  for what in old if old[what] != new[what]]
    return moved


def calendar_view(session: Session, *, year: int) -> dict[str, Any]:
    """What gongkai counts as working days in `year`: the office's notice, the package's, or provisional."""
    row = session.get(CalendarYear, year)
    first, last = known_years()
    if row is not None:
        days = session.exec(select(CalendarDay).where(CalendarDay.year == year)).all()
        periods = _periods([(d.day, d.working, d.name) for d in days])
        return {"year": year, "source": "office", "notice": row.source, "entered_by": row.entered_by,
                "entered_at": row.entered_at.isoformat(), "provisional": False, "periods": periods}
    if first <= year <= last:
        days = [(day, False, _package_name(name)) for day, name in chinese_calendar.holidays.items()
                if day.year == year]
        days += [(day, True, _package_name(name)) for day, name in chinese_calendar.workdays.items()
                 if day.year == year and day.weekday() >= 5]
        version = getattr(chinese_calendar, "__version__", "?")
        return {"year": year, "source": "package", "notice": f"chinesecalendar {version}", "entered_by": None,
                "entered_at": None, "provisional": False, "periods": _periods(days)}
    if year < first:
        raise GongkaiError(f"no working-day calendar before {first}")
    # provisional: the statutory holidays alone, each festival's days as the law gives them (no 调休)
    days = [(day, False, name) for day, name in statutory_holidays(year).items()]
    return {"year": year, "source": "provisional", "notice": None, "entered_by": None, "entered_at": None,
            "provisional": True, "periods": _periods(days)}


def _package_name(english: str) -> str:
    by_value = {h.value: h.name for h in chinese_calendar.Holiday}
    return PACKAGE_NAMES.get(by_value.get(english, ""), english)


def _periods(days: list[tuple[date, bool, str]]) -> list[dict[str, Any]]:
    """Consecutive days off with one name are a period; the worked days go with the period of their name."""
    runs: list[dict[str, Any]] = []
    worked: dict[str, list[date]] = defaultdict(list)
    for day, working, name in sorted(days):
        if working:
            worked[name].append(day)
        elif runs and runs[-1]["name"] == name and runs[-1]["last"] + timedelta(days=1) == day:
            runs[-1]["last"] = day
        else:
            runs.append({"name": name, "first": day, "last": day})
    for run in runs:
        run["workdays"] = [d.isoformat() for d in worked.pop(run["name"], [])]
        run["days"] = (run["last"] - run["first"]).days + 1
        run["first"], run["last"] = run["first"].isoformat(), run["last"].isoformat()
    return runs
