"""Published reports, frozen: the cells and ledger hash of each annual report as it went out.

A report is published when it is finalised (`gongkai report YEAR --out` without --draft) or submitted
(`--submit`). Its cells are then kept, and next year's cross-year rules (R9 上年结转, R10 现行有效件数) compare
with them, not with last year recomputed from today's register, which always agrees with itself.

Invariants:
1. One frozen report per agency and year.
2. A frozen report does not change, except one whose submitted item was never approved (it never went out):
   a report that differs from the frozen one is refused, naming the cells that moved.
3. Freezing is an audited action; the event keeps the ledger hash and a hash of the cells.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from pipeline.core.clock import SHANGHAI
from pipeline.core.errors import GongkaiError
from pipeline.core.models import FrozenReport, Item, Role
from pipeline.records.audit import canonical, record_event
from pipeline.records.authority import require
from pipeline.records.people import Actor
from pipeline.report.data import ReportData
from pipeline.report.format import MONEY, cell_label
from pipeline.report.render import Document

SHOWN = 5  # differing cells named in a refusal


def freeze_report(session: Session, *, doc: Document, actor: Actor, how: str, now: datetime,
                  item_id: int | None = None) -> bool:
    """Keep `doc` as its year's published report; False if that very report was kept already. Needs the role
    disclosure_office."""
    report = doc.report
    require(session, actor, Role.DISCLOSURE_OFFICE, agency_code=report.agency_code,
            doing=f"publish the {report.year} report")
    cells = _stored(report.cells)
    row = session.exec(select(FrozenReport).where(FrozenReport.agency_id == report.agency_id,
                                                  FrozenReport.year == report.year)).first()
    if row is not None and (row.version, row.cells, row.ledger_hash) == (report.version, cells, doc.ledger_hash):
        if item_id is not None and row.item_id != item_id:
            row.item_id, row.how = item_id, how
            session.add(row)
        return False
    if row is not None and not _never_published(session, row):
        raise GongkaiError(_refusal(row, report, cells, doc.ledger_hash))
    row = row or FrozenReport(agency_id=report.agency_id, year=report.year, version=report.version, cells={},
                              ledger_hash="", how=how, frozen_by=actor.label[:64])
    row.version, row.cells, row.ledger_hash, row.how, row.item_id = (report.version, cells, doc.ledger_hash, how,
                                                                     item_id)
    row.frozen_by, row.frozen_at = actor.label[:64], now
    session.add(row)
    record_event(session, actor=actor.label, action="report_freeze",
                 subject=f"report:{report.agency_code}/{report.year}",
                 details={"version": report.version, "ledger_hash": doc.ledger_hash, "how": how, "item": item_id,
                          "cells_hash": hashlib.sha256(canonical(cells).encode()).hexdigest()}, now=now)
    return True


def frozen_reports(session: Session, *, reports: list[ReportData], year: int) -> dict[int, ReportData]:
    """Per agency of `reports`, its published report of `year` as ReportData (as_published), if there is one."""
    by_id = {r.agency_id: r for r in reports}
    rows = session.exec(select(FrozenReport).where(FrozenReport.agency_id.in_(list(by_id)),
                                                   FrozenReport.year == year)).all()
    return {row.agency_id: ReportData(row.agency_id, by_id[row.agency_id].agency_code,
                                      by_id[row.agency_id].agency_name, by_id[row.agency_id].publisher, row.year,
                                      row.version, cells=_thawed(row.cells), as_published=True)
            for row in rows}


def _stored(cells: dict[str, Any]) -> dict[str, Any]:
    """JSON keeps ints; amounts (Decimal) as text, exact on every database."""
    return {cell: str(value) if isinstance(value, Decimal) else value for cell, value in cells.items()}


def _thawed(cells: dict[str, Any]) -> dict[str, Any]:
    return {cell: Decimal(value) if cell.rsplit(".", 1)[1] in MONEY else value for cell, value in cells.items()}


def _never_published(session: Session, row: FrozenReport) -> bool:
    """A report submitted for review whose item was never approved did not go out (rejected, or revised)."""
    if row.item_id is None:
        return False
    item = session.get(Item, row.item_id)
    return item is not None and item.approved_revision is None


def _refusal(row: FrozenReport, report: ReportData, cells: dict[str, Any], ledger_hash: str) -> str:
    moved = [f"{cell} ({cell_label(row.version, cell)}) {row.cells[cell]} -> {cells.get(cell)}"
             for cell in row.cells if row.cells[cell] != cells.get(cell) and row.version == report.version]
    if row.version != report.version:
        moved = [f"the format was {row.version}, now {report.version}"]
    elif not moved:
        moved = [f"the ledger of {report.year} changed since (台账校验值 {row.ledger_hash[:12]}… -> "
                 f"{ledger_hash[:12]}…)"]
    shown = "; ".join(moved[:SHOWN]) + (f"; and {len(moved) - SHOWN} more" if len(moved) > SHOWN else "")
    day = row.frozen_at.astimezone(SHANGHAI).date()
    return (f"the {report.year} report of {report.agency_code} was published on {day} by {row.frozen_by} and is "
            f"frozen; this one differs: {shown}. Write a draft with --draft")
