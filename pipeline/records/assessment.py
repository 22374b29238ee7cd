"""Counts per 处室 for the annual assessment (将政务公开工作纳入对各处室年度考核内容): each item counts for the
处室 its author belonged to when it was submitted (Item.department); imported history names no author and
counts under "" (未注明).

Per 处室 and year: items first published, items withdrawn, first publications later than 第二十六条 allows, and
规范性文件 with their 政策解读 published in step (pipeline.records.interpretations) out of those published.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.agencies import agency_row
from pipeline.core.config import AgencySettings, Settings
from pipeline.core.models import EntryType, Item, LedgerEntry
from pipeline.records.interpretations import pairings
from pipeline.records.late import late_publications
from pipeline.records.ledger import department_of, item_key
from pipeline.records.office_calendar import load_calendar
from pipeline.records.workdays import WorkCalendar


@dataclass(frozen=True)
class DepartmentRow:
    agency: str
    department: str
    published: int            # items (or imported publications) first published in the year
    withdrawn: int            # items withdrawn (a reversal) in the year
    late: int                 # of the published, later than 20 working days (第二十六条)
    documents: int            # 规范性文件 first published in the year
    interpreted_in_step: int  # of those, with their 政策解读 out within monitor.interpretation_days working days

    def view(self) -> dict[str, Any]:
        return asdict(self)


def _items_by_department(session: Session, *, agency_id: int, year: int, entry_type: EntryType,
                         first_only: bool) -> Counter[str]:
    key = item_key().label("key")
    firsts = (select(key, department_of().label("department"), sa.func.min(LedgerEntry.year).label("year"))
              .outerjoin(Item, Item.id == LedgerEntry.item_id)
              .where(LedgerEntry.agency_id == agency_id, LedgerEntry.entry_type == entry_type)
              .group_by(key, department_of()))
    if not first_only:  # a withdrawal counts in the year it happened
        firsts = firsts.where(LedgerEntry.year == year)
    rows = session.exec(firsts).all()
    return Counter(department for _key, department, first in rows if first == year)


def department_tables(session: Session, *, settings: Settings, codes: list[str], year: int,
                      today: date) -> list[DepartmentRow]:
    """department_table() of each agency in `codes`, in that order, on the office's working-day calendar."""
    calendar = load_calendar(session)
    return [row for code in codes
            for row in department_table(session, code=code, agency=settings.agencies[code],
                                        agency_id=agency_row(session, code).id, year=year, calendar=calendar,
                                        today=today)]


def department_table(session: Session, *, code: str, agency: AgencySettings, agency_id: int, year: int,
                     calendar: WorkCalendar, today: date) -> list[DepartmentRow]:
    """One row per 处室 that published, withdrew or was late in `year`, by 处室 name."""
    published = _items_by_department(session, agency_id=agency_id, year=year, entry_type=EntryType.PUBLICATION,
                                     first_only=True)
    withdrawn = _items_by_department(session, agency_id=agency_id, year=year, entry_type=EntryType.REVERSAL,
                                     first_only=False)
    late = Counter(p.department for p in late_publications(session, agency_ids=[agency_id], year=year,
                                                           calendar=calendar)[0])
    departments = dict(session.exec(select(Item.id, Item.department).where(Item.agency_id == agency_id)).all())
    window = agency.monitor.interpretation_days
    documents: Counter[str] = Counter()
    in_step: Counter[str] = Counter()
    for pair in pairings(session, agency_id=agency_id, year=year, today=today):
        department = departments.get(pair.document_id, "")
        documents[department] += 1
        in_step[department] += pair.interpretation_on is not None and (pair.working_days or 0) <= window
    names = sorted(set(published) | set(withdrawn) | set(late) | set(documents))
    return [DepartmentRow(code, name, published[name], withdrawn[name], late[name], documents[name], in_step[name])
            for name in names]

