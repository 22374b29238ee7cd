"""Late publications (第二十六条): the first publications of a year that went out after their deadline, by agency,
处室 and date, for `gongkai assessment` and the supervision reports; the rule itself is pipeline.records.timeliness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.models import Agency, EntryType, Item, LedgerEntry, Revision
from pipeline.records.ledger import row_key
from pipeline.records.timeliness import deadline_of, formed_on
from pipeline.records.workdays import WorkCalendar


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
    provisional_years: tuple[int, ...]          # years counted without 调休 (workdays.provisional_note)

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
