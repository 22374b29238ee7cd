"""政策解读 in step with its document (同步组织、同步审签、同步部署): every approved 行政规范性文件 has an
interpretation submitted for it, published within `monitor.interpretation_days` working days of the document.

Both are judged on the office's working-day calendar (pipeline.records.workdays), as the 第二十六条 deadlines
are. A document is watched in the year it was first published (Beijing), so last year's flags close with the
year's report instead of repeating forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.config import AgencySettings
from pipeline.core.models import EntryType, Item, LedgerEntry, Revision
from pipeline.core.status import ItemStatus
from pipeline.records.freshness import BREACH, NEAR, Finding
from pipeline.records.office_calendar import load_calendar

DOCUMENT_KIND, INTERPRETATION_KIND = "normative", "interpretation"


@dataclass(frozen=True)
class Pairing:
    """A document of the year and its interpretation, if any."""

    document_id: int
    title: str
    published_on: date
    interpretation_id: int | None
    interpretation_on: date | None      # the interpretation's first publication, if it is out
    working_days: int | None            # from the document to its interpretation (or to today, while pending)


def _first_published(session: Session, agency_id: int) -> dict[int, date]:
    query = (select(LedgerEntry.item_id, sa.func.min(LedgerEntry.local_date))
             .where(LedgerEntry.agency_id == agency_id, LedgerEntry.item_id.is_not(None),
                    LedgerEntry.entry_type == EntryType.PUBLICATION)
             .group_by(LedgerEntry.item_id))
    return dict(session.exec(query).all())


def pairings(session: Session, *, agency_id: int, year: int, today: date) -> list[Pairing]:
    """Each live 规范性文件 first published in `year`, with the interpretation that names it (by ref or 索引号)."""
    published = _first_published(session, agency_id)
    rows = session.exec(select(Item, Revision).join(Revision, (Revision.item_id == Item.id)
                                                    & (Revision.number == Item.current_revision))
                        .where(Item.agency_id == agency_id, Item.status != ItemStatus.WITHDRAWN,
                               Revision.kind.in_([DOCUMENT_KIND, INTERPRETATION_KIND]))).all()
    interpreting: dict[str, Item] = {}
    for item, revision in sorted(rows, key=lambda row: row[0].id):
        if revision.kind == INTERPRETATION_KIND and revision.interprets and item.status != ItemStatus.REJECTED:
            interpreting.setdefault(revision.interprets, item)
    calendar = load_calendar(session)
    found = []
    for item, revision in rows:
        on = published.get(item.id or 0)
        if revision.kind != DOCUMENT_KIND or on is None or on.year != year:
            continue
        partner = interpreting.get(item.index_no or "") or (interpreting.get(item.ref) if item.ref else None)
        partner_on = published.get(partner.id or 0) if partner is not None else None
        days = calendar.workdays_between(on, partner_on or today)
        found.append(Pairing(item.id or 0, revision.title, on, partner.id if partner else None, partner_on, days))
    return sorted(found, key=lambda p: (p.published_on, p.document_id))


def interpretation_findings(session: Session, *, code: str, agency: AgencySettings, agency_id: int,
                            today: date) -> list[Finding]:
    """Documents of this year with no interpretation submitted, or one out (or still due) past the window."""
    window, warn = agency.monitor.interpretation_days, agency.monitor.warn_days
    found = []
    for pair in pairings(session, agency_id=agency_id, year=today.year, today=today):
        subject = f"item {pair.document_id} {pair.title}"
        if pair.interpretation_id is None:
            found.append(Finding(code, "interpretation", subject, BREACH, window, pair.published_on, None, None,
                                 "规范性文件 published without its 政策解读 submitted"))
            continue
        left = window - (pair.working_days or 0)
        if left < 0:
            when = "published" if pair.interpretation_on else "still unpublished"
            found.append(Finding(code, "interpretation", subject, BREACH, window, pair.published_on,
                                 pair.working_days, left, f"政策解读 (item {pair.interpretation_id}) {when} "
                                 f"{pair.working_days} working days after its document (at most {window})"))
        elif pair.interpretation_on is None and left <= warn:
            found.append(Finding(code, "interpretation", subject, NEAR, window, pair.published_on,
                                 pair.working_days, left, f"政策解读 (item {pair.interpretation_id}) due in {left} "
                                 "working day(s)"))
    return found
