"""第二十六条 of the 政府信息公开条例: information disclosed proactively is published within 20 working days of being
formed or changed.

The formation date of an item revision is its 成文日期 (`created_on`) for the first revision; a later revision is
a change, formed on the day it was submitted (Beijing calendar). The deadline is the 20th working day after that
date on the office's calendar (pipeline.records.workdays.load_calendar), provisional where that calendar does not
cover a year. A publication on the deadline is on time; one after it is late by the working days after the
deadline up to and including the publication day, and by at least 1 (a Saturday after a Friday deadline is
late too).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.clock import SHANGHAI
from pipeline.core.models import Agency, EntryType, Item, LedgerEntry, Revision
from pipeline.records.ledger import row_key
from pipeline.records.workdays import CalendarUnavailable, WorkCalendar

WORKING_DAYS = 20  # 第二十六条


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


def formed_on(revision: Revision) -> date:
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


def revision_deadline(revision: Revision, *, on: date, calendar: WorkCalendar) -> Deadline | None:
    return deadline_of(formed_on(revision), on=on, calendar=calendar)


@dataclass(frozen=True)
class LatePublication:
    agency: str
    department: str                             # 处室 of the author; "" when unknown (imported history)
    title: str
    index_no: str | None
    item_id: int | None
    formed_on: date
    due_on: date
    published_on: date
    days_late: int
    provisional_years: tuple[int, ...]          # years counted on weekends only (workdays.provisional_note)

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)

    def view(self) -> dict[str, Any]:
        return {"agency": self.agency, "department": self.department, "title": self.title,
                "index_no": self.index_no, "item_id": self.item_id, "formed_on": self.formed_on.isoformat(),
                "due_on": self.due_on.isoformat(), "published_on": self.published_on.isoformat(),
                "working_days_late": self.days_late, "provisional": self.provisional}


def late_publications(session: Session, *, agency_ids: list[int], year: int,
                      calendar: WorkCalendar) -> tuple[list[LatePublication], int]:
    """The first publications of `year` (an item's first ledger row on any channel) that went out after their
    第二十六条 deadline, by agency, 处室 and date; and how many first publications were checked. Imported rows are
    checked when the import gave their 成文日期."""
    first = (select(LedgerEntry.item_id, sa.func.min(LedgerEntry.id).label("entry_id"))
             .where(LedgerEntry.item_id.is_not(None), LedgerEntry.entry_type == EntryType.PUBLICATION,
                    LedgerEntry.agency_id.in_(agency_ids))
             .group_by(LedgerEntry.item_id).subquery())
    rows = session.exec(
        select(LedgerEntry, Revision, Item, Agency.code, Item.department)
        .join(first, first.c.entry_id == LedgerEntry.id)
        .join(Revision, (Revision.item_id == LedgerEntry.item_id) & (Revision.number == LedgerEntry.revision))
        .join(Item, Item.id == LedgerEntry.item_id)
        .join(Agency, Agency.id == LedgerEntry.agency_id)
        .where(LedgerEntry.year == year)).all()
    checked = [(entry, formed_on(revision), code, department or "")
               for entry, revision, _item, code, department in rows]
    imported = session.exec(
        select(LedgerEntry, Agency.code).join(Agency, Agency.id == LedgerEntry.agency_id)
        .where(LedgerEntry.item_id.is_(None), LedgerEntry.entry_type == EntryType.PUBLICATION,
               LedgerEntry.agency_id.in_(agency_ids), LedgerEntry.year == year,
               LedgerEntry.formed_on.is_not(None))).all()
    seen: set[str] = set()
    for entry, code in sorted(imported, key=lambda row: row[0].id):  # one publication, however many channels
        key = row_key(item_id=None, index_no=entry.index_no, import_key=entry.import_key, entry_id=entry.id)
        if key not in seen:
            seen.add(key)
            checked.append((entry, entry.formed_on, code, ""))
    late = []
    for entry, formed, code, department in checked:
        found = deadline_of(formed, on=entry.local_date, calendar=calendar)
        if found is not None and found.late:
            late.append(LatePublication(code, department, entry.title, entry.index_no, entry.item_id, formed,
                                        found.due_on, entry.local_date, -found.days_left,
                                        found.provisional_years))
    late.sort(key=lambda p: (p.agency, p.department, p.published_on, p.title))
    return late, len(checked)
