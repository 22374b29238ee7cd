"""`gongkai report YEAR --explain CELL`: the ledger, register or figure rows behind one number."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError
from pipeline.core.models import AnnualFigure, Appeal, DisclosureRequest, LedgerEntry
from pipeline.records.appeals import appeal_view
from pipeline.records.figures import figure_view
from pipeline.records.ledger import channel_kind, ledger_rows
from pipeline.records.vocabulary import OUTCOMES
from pipeline.report.data import NEWS_CATEGORY, ReportData
from pipeline.report.format import all_cells, cell_label

NARRATIVE = ("news", "wechat_posts", "press_conferences")


def explain(session: Session, *, settings: Settings, report: ReportData, cell: str) -> dict[str, Any]:
    """{cell, label, value, source, rows}: rows are ledger entries, requests, appeals or figures."""
    if cell.startswith("n."):
        return _narrative(session, settings, report, cell)
    if cell not in all_cells(report.version):
        raise GongkaiError(f"no cell '{cell}' in the {report.version} format; cells look like t2.normative.made, "
                           "t3.disclosed.natural_person, t4.reconsideration.total or n.news (see --format json)")
    table, row, column = cell.split(".")
    rows = {"t2": _t2, "t3": _t3, "t4": _t4}[table](session, report, row, column)
    value = report.cells[cell]
    return {"cell": cell, "label": cell_label(report.version, cell), "value": str(value),
            "source": report.sources.get(cell, ""), "rows": rows}


def _bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def _t2(session: Session, report: ReportData, row: str, column: str) -> list[dict[str, Any]]:
    year = report.year
    if column in ("prev_items", "change") or report.sources.get(f"t2.{row}.{column}") == "figure":
        keys = [f"{row}.items"] if column in ("prev_items", "change") else [f"{row}.{column}"]
        query = select(AnnualFigure).where(AnnualFigure.agency_id == report.agency_id, AnnualFigure.key.in_(keys),
                                           AnnualFigure.year <= year).order_by(AnnualFigure.year)
        return [figure_view(f) for f in session.exec(query).all()]
    upto = column in ("total", "in_force")
    where = LedgerEntry.kind == row
    if not upto:
        return ledger_rows(session, agency_id=report.agency_id, year=year, where=where)
    return [entry for y in _ledger_years(session, report.agency_id, year)
            for entry in ledger_rows(session, agency_id=report.agency_id, year=y, where=where)]


def _ledger_years(session: Session, agency_id: int, upto: int) -> list[int]:
    query = select(LedgerEntry.year).where(LedgerEntry.agency_id == agency_id, LedgerEntry.year <= upto).distinct()
    return sorted(session.exec(query).all())


def _t3(session: Session, report: ReportData, row: str, column: str) -> list[dict[str, Any]]:
    start, end = _bounds(report.year)
    r = DisclosureRequest
    closed_now = r.closed_on.is_not(None) & (r.closed_on >= start) & (r.closed_on <= end)
    conditions = {
        "new": (r.received_on >= start) & (r.received_on <= end),
        "carried_in": (r.received_on < start) & (r.closed_on.is_(None) | (r.closed_on >= start)),
        "carried_out": (r.received_on <= end) & (r.closed_on.is_(None) | (r.closed_on > end)),
        "total": closed_now,
    }
    if row in conditions:
        where = conditions[row]
    else:
        outcomes = [key for key, (_, rows) in OUTCOMES.items() if rows[report.version] == row]
        where = closed_now & r.outcome.in_(outcomes)
    query = select(r).where(r.agency_id == report.agency_id, where)
    if column != "total":
        query = query.where(r.applicant_type == column)
    return [{"request": q.id, "ref": q.ref, "received_on": q.received_on.isoformat(),
             "applicant_type": q.applicant_type, "applicant": q.applicant, "subject": q.subject,
             "closed_on": q.closed_on.isoformat() if q.closed_on else None, "outcome": q.outcome}
            for q in session.exec(query.order_by(r.received_on, r.id)).all()]


def _t4(session: Session, report: ReportData, block: str, column: str) -> list[dict[str, Any]]:
    start, end = _bounds(report.year)
    a = Appeal
    query = select(a).where(a.agency_id == report.agency_id, a.kind == block, a.filed_on <= end,
                            a.closed_on.is_(None) | (a.closed_on >= start))
    if column == "pending":
        query = query.where(a.closed_on.is_(None) | (a.closed_on > end))
    elif column != "total":
        query = query.where(a.result == column, a.closed_on <= end)
    return [appeal_view(appeal) for appeal in session.exec(query.order_by(a.filed_on, a.id)).all()]


def _narrative(session: Session, settings: Settings, report: ReportData, cell: str) -> dict[str, Any]:
    key = cell.removeprefix("n.")
    names = [c.name for c in report.channels]
    if key.startswith("channel."):
        where, value = LedgerEntry.channel == key.removeprefix("channel."), report.numbers["channels"].get(
            key.removeprefix("channel."), 0)
    elif key == "press_conferences" and report.sources.get("n.press_conferences") == "figure":
        query = select(AnnualFigure).where(AnnualFigure.agency_id == report.agency_id,
                                           AnnualFigure.year == report.year, AnnualFigure.key == key)
        return {"cell": cell, "label": key, "value": str(report.numbers[key]), "source": "figure",
                "rows": [figure_view(f) for f in session.exec(query).all()]}
    elif key in NARRATIVE:
        value = report.numbers[key]
        where = {
            "news": sa.and_(LedgerEntry.channel.in_([n for n in names if channel_kind(settings, n) == "disclosure"]),
                            LedgerEntry.category == NEWS_CATEGORY),
            "wechat_posts": LedgerEntry.channel.in_([n for n in names if channel_kind(settings, n) == "wechat"]),
            "press_conferences": LedgerEntry.kind == "press_conference",
        }[key]
    else:
        raise GongkaiError(f"no narrative number '{cell}'; known: n.channel.NAME, "
                           + ", ".join(f"n.{k}" for k in NARRATIVE))
    return {"cell": cell, "label": key, "value": str(value), "source": "ledger",
            "rows": ledger_rows(session, agency_id=report.agency_id, year=report.year, where=where)}
