"""Figures that are no publications, entered per agency and year: 事项 counts, amounts, and overrides.

Table 二 takes decision counts from the ledger (items of kind license, penalty, enforcement, procurement,
regulation, normative); a figure set here for that year replaces the ledger's number. 事项 counts
(`*.items`) carry forward from the last year that set them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, select

from pipeline.core.errors import GongkaiError, NotFound
from pipeline.core.models import AnnualFigure, Role, utcnow
from pipeline.records.audit import record_event
from pipeline.records.authority import require_at
from pipeline.records.coverage import figure_subject
from pipeline.records.people import Actor
from pipeline.records.website_form import DECIMAL, FLAG, figure_keys

COUNT, MONEY = "count", "money"
_DOC = {"made": "本年新制作数量 / 本年制发件数", "published": "本年新公开数量 (2019)", "total": "对外公开总数量 (2019)",
        "abolished": "本年废止件数 (2021)", "in_force": "现行有效件数 (2021)"}
_ITEMS = {"license": "行政许可", "service": "其他对外管理服务事项", "penalty": "行政处罚", "enforcement": "行政强制",
          "fee": "行政事业性收费"}

FIGURES: dict[str, tuple[str, str]] = {
    **{f"{row}.{column}": (COUNT, f"{name}: {doc} (default: from the ledger)")
       for row, name in (("regulation", "规章"), ("normative", "行政规范性文件")) for column, doc in _DOC.items()},
    **{f"{row}.items": (COUNT, f"{name}: 项目数量 (事项) at the end of the year; carries forward")
       for row, name in _ITEMS.items()},
    **{f"{row}.decisions": (COUNT, f"{name}: 处理决定数量 (default: from the ledger)")
       for row, name in _ITEMS.items() if row != "fee"},
    "fee.amount": (MONEY, "行政事业性收费: 本年收费金额, in 万元 (2021)"),
    "procurement.projects": (COUNT, "政府集中采购: 采购项目数量 (2019; default: from the ledger)"),
    "procurement.amount": (MONEY, "政府集中采购: 采购总金额, in 万元 (2019)"),
    "press_conferences": (COUNT, "新闻发布会 held (default: ledger items of kind press_conference)"),
    **figure_keys(),  # the 政府网站工作年度报表's numbers (pipeline.records.website_form)
}
YEARS = range(2000, 2101)


def parse_value(key: str, raw: str) -> Decimal:
    """The value of figure `key`: a non-negative integer count, or an amount in 万元 with at most 4 decimals."""
    if key not in FIGURES:
        raise GongkaiError(f"unknown figure '{key}'; see gongkai figures keys")
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        raise GongkaiError(f"{key}: '{raw}' is not a number") from None
    if not value.is_finite() or value < 0:
        raise GongkaiError(f"{key}: must be zero or more")
    kind = FIGURES[key][0]
    if kind in (COUNT, FLAG) and value != value.to_integral_value():
        raise GongkaiError(f"{key}: a count is a whole number")
    if kind == FLAG and value not in (0, 1):
        raise GongkaiError(f"{key}: 1 (是) or 0 (否)")
    if kind in (MONEY, DECIMAL) and value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise GongkaiError(f"{key}: at most 4 decimals" + (" (万元)" if kind == MONEY else ""))
    if value >= Decimal("1e15"):
        raise GongkaiError(f"{key}: {raw} is too large")
    return value if kind in (MONEY, DECIMAL) else value.to_integral_value()


def set_figure(session: Session, *, agency_id: int, year: int, key: str, raw: str, actor: Actor,
               note: str = "") -> AnnualFigure:
    """Set (or replace) one figure of one year; the row keeps who set it and when. Needs disclosure_office."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing=f"set the figure {key}")
    if year not in YEARS:
        raise GongkaiError(f"year {year} is outside {YEARS.start}-{YEARS.stop - 1}")
    value = parse_value(key, raw)
    row = session.exec(select(AnnualFigure).where(AnnualFigure.agency_id == agency_id, AnnualFigure.year == year,
                                                  AnnualFigure.key == key).with_for_update()).first()
    row = row or AnnualFigure(agency_id=agency_id, year=year, key=key, value="0", set_by=actor.label[:64])
    row.value, row.note, row.set_by, row.updated_at = str(value), note.strip(), actor.label[:64], utcnow()
    session.add(row)
    session.flush()
    record_event(session, actor=actor.label, action="figure_set", subject=figure_subject(agency_id, year, key),
                 details={"value": row.value, "note": row.note}, now=row.updated_at)
    return row


def unset_figure(session: Session, *, agency_id: int, year: int, key: str, actor: Actor) -> None:
    """Remove one figure (the report falls back to the ledger or the year before). Needs disclosure_office."""
    require_at(session, actor, Role.DISCLOSURE_OFFICE, agency_id=agency_id, doing=f"unset the figure {key}")
    row = session.exec(select(AnnualFigure).where(AnnualFigure.agency_id == agency_id, AnnualFigure.year == year,
                                                  AnnualFigure.key == key)).first()
    if row is None:
        raise NotFound(f"no figure {key} for {year}")
    session.delete(row)
    session.flush()
    record_event(session, actor=actor.label, action="figure_unset", subject=figure_subject(agency_id, year, key),
                 details={"value": row.value}, now=utcnow())


def list_figures(session: Session, *, agency_id: int, year: int | None = None) -> list[dict[str, Any]]:
    """The figures set so far for an agency (or one year of them), by year and key, as figure_view()s."""
    query = select(AnnualFigure).where(AnnualFigure.agency_id == agency_id)
    if year is not None:
        query = query.where(AnnualFigure.year == year)
    return [figure_view(r) for r in session.exec(query.order_by(AnnualFigure.year, AnnualFigure.key))]


def figures_upto(session: Session, *, agency_ids: list[int], year: int) -> dict[int, dict[int, dict[str, Any]]]:
    """agency id -> year -> key -> AnnualFigure, for every year up to `year`, in one query."""
    query = select(AnnualFigure).where(AnnualFigure.agency_id.in_(agency_ids), AnnualFigure.year <= year)
    result: dict[int, dict[int, dict[str, Any]]] = {agency_id: {} for agency_id in agency_ids}
    for row in session.exec(query).all():
        result[row.agency_id].setdefault(row.year, {})[row.key] = row
    return result


def figure_view(row: AnnualFigure) -> dict[str, Any]:
    return {"year": row.year, "key": row.key, "value": row.value, "meaning": FIGURES.get(row.key, ("", ""))[1],
            "note": row.note, "set_by": row.set_by, "updated_at": row.updated_at.isoformat()}
