"""The 政府网站工作年度报表 of one agency and year (国办函〔2018〕12号), built beside the 年度报告 from the same
ledger and figures, and checked against it.

The ledger fills what it knows: 信息发布 on the portal (总数, 概况类 and 政务动态 by 主题分类), 信息公开目录 on the
disclosure channels, 解读材料 (items of kind interpretation on the portal) and the posts of each WeChat and
Weibo account. The office sets the rest as per-year figures (`web.*`, gongkai figures set), and the website's
own names (网站名称, 标识码, 备案号 …) in [agencies.CODE.website]. A figure set for a ledger cell replaces it;
the cross-check rules X1-X4 then compare it with what the 年度报告 states about the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.config import Settings
from pipeline.core.models import LedgerEntry
from pipeline.records.figures import figures_upto
from pipeline.records.ledger import channel_kind, ledger_rows, net
from pipeline.records.website_form import (
    BY_CELL,
    COUNT,
    DECIMAL,
    DERIVED,
    FIGURE,
    FLAG,
    LEDGER,
    ROWS,
    SIGNATURES,
    TEXT,
)
from pipeline.report.check import HARD, Finding
from pipeline.report.data import NEWS_CATEGORY, ReportData

PORTALS, DISCLOSURE = ("portal", "wordpress"), ("disclosure",)
RULES = {
    "W1": (HARD, "概况类信息更新量 + 政务动态信息更新量 ≤ 信息发布总数"),
    "W2": (HARD, "解读信息发布总数 = 解读材料 + 解读产品 + 媒体评论文章"),
    "W3": (HARD, "办件量总数 = 自然人办件量 + 法人办件量"),
    "W4": (HARD, "可全程在线办理事项 ≤ 政务服务事项; 办结留言 ≤ 收到留言; 公开答复 ≤ 办结留言; 公布调查结果期数 ≤ "
                 "征集调查期数; 问题整改 ≤ 发现问题"),
    "W5": (HARD, "是否有移动新媒体 = 是 when a 微博 or 微信 account is reported"),
    "X1": (HARD, "信息发布总数 = the 年度报告's count on the portal"),
    "X2": (HARD, "信息公开目录信息更新量 = the 年度报告's count on the 政府信息公开目录"),
    "X3": (HARD, "微信信息发布量 = the 年度报告's WeChat posts"),
    "X4": (HARD, "微博信息发布量 = the 年度报告's Weibo posts"),
}
NOT_ABOVE = (("w.service.online", "w.service.items"), ("w.talk.closed", "w.talk.received"),
             ("w.talk.public", "w.talk.closed"), ("w.talk.results", "w.talk.surveys"),
             ("w.security.fixed", "w.security.found"))


@dataclass
class WebsiteReport:
    agency_code: str
    agency_id: int
    year: int
    title: str
    cells: dict[str, Any] = field(default_factory=dict)      # cell -> int, Decimal or str
    sources: dict[str, str] = field(default_factory=dict)    # cell -> ledger | figure | derived | setting
    signatures: list[tuple[str, str]] = field(default_factory=list)
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)  # wechat/weibo -> channel -> posts
    findings: list[Finding] = field(default_factory=list)
    draft: bool = False
    generated_on: date | None = None


def _kinds(settings: Settings, annual: ReportData, kinds: tuple[str, ...]) -> list[Any]:
    return [c for c in annual.channels if channel_kind(settings, c.name) in kinds]


def _interpretations(session: Session, settings: Settings, annual: ReportData) -> int:
    portals = [c.name for c in _kinds(settings, annual, PORTALS)]
    query = select(sa.func.coalesce(sa.func.sum(net()), 0)).where(
        LedgerEntry.agency_id == annual.agency_id, LedgerEntry.year == annual.year,
        LedgerEntry.kind == "interpretation", LedgerEntry.channel.in_(portals))
    return int(session.exec(query).one())


def _ledger_cells(session: Session, settings: Settings, annual: ReportData, overview: list[str]) -> dict[str, int]:
    portals = _kinds(settings, annual, PORTALS)
    return {
        "w.info.total": sum(c.count for c in portals),
        "w.info.overview": sum(c.categories.get(name, 0) for c in portals for name in overview),
        "w.info.news": sum(c.categories.get(NEWS_CATEGORY, 0) for c in portals),
        "w.info.disclosure": sum(c.count for c in _kinds(settings, annual, DISCLOSURE)),
        "w.interp.materials": _interpretations(session, settings, annual),
        "w.weibo.posts": annual.numbers["weibo_posts"],
        "w.wechat.posts": annual.numbers["wechat_posts"],
    }


def build_website_report(session: Session, *, settings: Settings, annual: ReportData, today: date) -> WebsiteReport:
    """The form's every cell for the agency and year of `annual` (the 年度报告's data), checked."""
    agency = settings.agencies[annual.agency_code]
    site = agency.website
    report = WebsiteReport(annual.agency_code, annual.agency_id, annual.year,
                           f"{site.name or _portal_setting(settings, agency.channels, 'title') or annual.agency_name}"
                           f"{annual.year}年政府网站工作年度报表", draft=today.year <= annual.year, generated_on=today)
    figures = {key.removeprefix("web."): Decimal(row.value)
               for key, row in figures_upto(session, agency_ids=[annual.agency_id], year=annual.year)
               [annual.agency_id].get(annual.year, {}).items() if key.startswith("web.")}
    ledger = _ledger_cells(session, settings, annual, site.overview_categories)
    texts = _texts(settings, annual, agency)
    for row in ROWS:
        name = row.cell.removeprefix("w.")
        if row.type == TEXT:
            report.cells[row.cell], report.sources[row.cell] = texts.get(row.cell, ""), row.source
        elif name in figures:
            value = figures[name]
            report.cells[row.cell] = int(value) if row.type in (COUNT, FLAG) else value
            report.sources[row.cell] = FIGURE
        elif row.source == LEDGER:
            report.cells[row.cell], report.sources[row.cell] = ledger[row.cell], LEDGER
        else:
            report.cells[row.cell] = Decimal(0) if row.type == DECIMAL else 0
            report.sources[row.cell] = row.source
    _derive(report, figures)
    report.accounts = {kind: {c.name: c.count for c in _kinds(settings, annual, (kind,))}
                       for kind in ("wechat", "weibo")}
    report.signatures = [(label, getattr(site, key)) for key, label in SIGNATURES] + [("填报日期", today.isoformat())]
    report.findings = check_website(report, annual)
    return report


def _derive(report: WebsiteReport, figures: dict[str, Decimal]) -> None:
    cells = report.cells
    if "interp.total" not in figures:
        cells["w.interp.total"] = cells["w.interp.materials"] + cells["w.interp.products"] + cells["w.interp.comments"]
    if "service.cases" not in figures:
        cells["w.service.cases"] = cells["w.service.natural"] + cells["w.service.legal"]
    cells["w.mobile.any"] = int(bool(cells["w.weibo.name"] or cells["w.wechat.name"] or cells["w.mobile.other"]))


def _portal_setting(settings: Settings, names: list[str], key: str) -> str:
    """A setting (title, public_url) of the agency's first portal channel, "" without one."""
    for name in names:
        if channel_kind(settings, name) in PORTALS:
            return str(getattr(settings.channels[name], key, "") or "")
    return ""


def _texts(settings: Settings, annual: ReportData, agency: Any) -> dict[str, str]:
    site = agency.website
    accounts = {kind: "、".join(c.name for c in _kinds(settings, annual, (kind,)) if c.count or
                               c.name in agency.channels) for kind in ("wechat", "weibo")}
    return {"w.site.name": site.name or _portal_setting(settings, agency.channels, "title") or agency.name,
            "w.site.url": site.url or agency.portal_url or _portal_setting(settings, agency.channels, "public_url"),
            "w.site.host": agency.name, "w.site.type": site.type,
            "w.site.code": site.code, "w.site.icp": site.icp, "w.site.psb": site.psb,
            "w.weibo.name": accounts["weibo"], "w.wechat.name": accounts["wechat"],
            "w.mobile.other": site.mobile_other, "w.new.other": site.innovation_other}


def check_website(report: WebsiteReport, annual: ReportData) -> list[Finding]:
    """W1-W5 on the form itself; X1-X4 against the 年度报告 of the same agency and year."""
    c, n = report.cells, annual.numbers
    channels = annual.numbers["channels"]
    portal = sum(v for name, v in channels.items() if name in {x.name for x in annual.channels if x.kind in PORTALS})
    disclosure = sum(v for name, v in channels.items()
                     if name in {x.name for x in annual.channels if x.kind in DISCLOSURE})
    found = [
        _rule("W1", "w.info.total", c["w.info.overview"] + c["w.info.news"] <= c["w.info.total"],
              f"{c['w.info.overview']} + {c['w.info.news']} > {c['w.info.total']}"),
        _rule("W2", "w.interp.total",
              c["w.interp.total"] == c["w.interp.materials"] + c["w.interp.products"] + c["w.interp.comments"],
              f"{c['w.interp.total']} ≠ {c['w.interp.materials']} + {c['w.interp.products']} + "
              f"{c['w.interp.comments']}"),
        _rule("W3", "w.service.cases", c["w.service.cases"] == c["w.service.natural"] + c["w.service.legal"],
              f"{c['w.service.cases']} ≠ {c['w.service.natural']} + {c['w.service.legal']}"),
    ]
    found += [_rule("W4", part, c[part] <= c[whole], f"{BY_CELL[part].label} {c[part]} > {BY_CELL[whole].label} "
                    f"{c[whole]}", f"{BY_CELL[part].label} ≤ {BY_CELL[whole].label}") for part, whole in NOT_ABOVE]
    found.append(_rule("W5", "w.mobile.any", bool(c["w.mobile.any"]) or not (c["w.weibo.posts"] or c["w.wechat.posts"]),
                       "posts are reported but 是否有移动新媒体 is 否"))
    for rule, cell, annual_value, what in (("X1", "w.info.total", portal, "门户网站"),
                                           ("X2", "w.info.disclosure", disclosure, "政府信息公开目录"),
                                           ("X3", "w.wechat.posts", n["wechat_posts"], "微信公众号"),
                                           ("X4", "w.weibo.posts", n["weibo_posts"], "政务微博")):
        found.append(_rule(rule, cell, c[cell] == annual_value, f"{c[cell]} here, but the {annual.year} 年度报告 "
                           f"counts {annual_value} on the {what}"))
    return found


def _rule(rule: str, cell: str, ok: bool, message: str, ok_message: str = "") -> Finding:
    level, text = RULES[rule]
    return Finding(rule, level, ok, cell, (ok_message or text) if ok else message)


def explain_website(session: Session, *, settings: Settings, report: WebsiteReport, annual: ReportData,
                    cell: str) -> dict[str, Any]:
    """{cell, label, value, source, rows}: the ledger entries or the figure behind one cell of the form."""
    from pipeline.core.errors import GongkaiError
    from pipeline.core.models import AnnualFigure
    from pipeline.records.figures import figure_view

    if cell not in BY_CELL:
        raise GongkaiError(f"no cell '{cell}' in the 政府网站工作年度报表; cells look like w.info.total (see "
                           "--format json)")
    source, rows = report.sources[cell], []
    if source == FIGURE:
        query = select(AnnualFigure).where(AnnualFigure.agency_id == report.agency_id,
                                           AnnualFigure.year == report.year,
                                           AnnualFigure.key == "web." + cell.removeprefix("w."))
        rows = [figure_view(f) for f in session.exec(query).all()]
    elif source == LEDGER:
        rows = ledger_rows(session, agency_id=report.agency_id, year=report.year,
                           where=_ledger_where(settings, annual, cell))
    elif source == DERIVED:
        rows = [{"from": part} for part in _parts(cell)]
    value = report.cells[cell]
    return {"cell": cell, "label": BY_CELL[cell].label, "value": str(value), "source": source, "rows": rows}


def _parts(cell: str) -> list[str]:
    return {"w.interp.total": ["w.interp.materials", "w.interp.products", "w.interp.comments"],
            "w.service.cases": ["w.service.natural", "w.service.legal"],
            "w.mobile.any": ["w.weibo.name", "w.wechat.name", "w.mobile.other"]}.get(cell, [])


def _ledger_where(settings: Settings, annual: ReportData, cell: str) -> Any:
    def on(kinds: tuple[str, ...]) -> Any:
        return LedgerEntry.channel.in_([c.name for c in _kinds(settings, annual, kinds)])

    overview = settings.agencies[annual.agency_code].website.overview_categories
    return {"w.info.total": on(PORTALS), "w.info.disclosure": on(DISCLOSURE),
            "w.info.overview": sa.and_(on(PORTALS), LedgerEntry.category.in_(overview)),
            "w.info.news": sa.and_(on(PORTALS), LedgerEntry.category == NEWS_CATEGORY),
            "w.interp.materials": sa.and_(on(PORTALS), LedgerEntry.kind == "interpretation"),
            "w.wechat.posts": on(("wechat",)), "w.weibo.posts": on(("weibo",))}[cell]
