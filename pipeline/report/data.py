"""An annual report's numbers: every cell of tables 二, 三 and 四 and the narrative's figures, for one or all
agencies, from a constant number of grouped queries (pipeline.report.queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from pipeline.core.config import Settings
from pipeline.core.errors import ConfigError
from pipeline.core.models import Agency
from pipeline.records.figures import figures_upto
from pipeline.records.ledger import channel_kind, channel_label
from pipeline.records.vocabulary import APPLICANT_TYPES, OUTCOMES
from pipeline.records.year_register import YearReplies, check_stored_values, replies_in_year
from pipeline.report.format import MONEY, T2, T3_COLUMNS, T4_BLOCKS, T4_COLUMNS, outcome_row, t3_leaf_rows, t3_rows
from pipeline.report.queries import (
    KindCounts,
    appeal_counts,
    channel_counts,
    kind_counts,
    published_reports,
    request_counts,
)

NEWS_CATEGORY = "政务动态"
ORGANISATIONS = tuple(k for k in APPLICANT_TYPES if k != "natural_person")


@dataclass
class ChannelFigures:
    name: str
    kind: str
    label: str
    count: int
    categories: dict[str, int]
    months: list[int]


@dataclass
class ReportData:
    """One agency's report for one year in one format version: plain numbers, no ORM rows."""

    agency_id: int
    agency_code: str
    agency_name: str
    publisher: str
    year: int
    version: str
    cells: dict[str, Any] = field(default_factory=dict)     # cell id -> int or Decimal
    sources: dict[str, str] = field(default_factory=dict)   # cell id -> ledger | figure | register | derived
    channels: list[ChannelFigures] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)   # the narrative's figures
    published: tuple[str, date] | None = None               # 索引号 and 公开日期, once gongkai published it
    as_published: bool = False                              # the cells of a frozen report (pipeline.report.frozen)

    def t3(self, row: str, column: str) -> int:
        return self.cells[f"t3.{row}.{column}"]


def build_reports(session: Session, *, settings: Settings, codes: list[str], year: int,
                  version: str) -> tuple[list[ReportData], list[ReportData]]:
    """Reports of the agencies `codes` (in that order) for `year`, and for the year before only the tables the
    cross-year rules compare (二 and 三): eight queries however many agencies there are."""
    rows = {a.code: a for a in session.exec(select(Agency).where(Agency.code.in_(codes))).all()}
    missing = [code for code in codes if code not in rows]
    if missing:
        raise ConfigError(f"agency {', '.join(missing)} has no database row; run gongkai init")
    ids = [rows[code].id for code in codes]
    check_stored_values(session, agency_ids=ids, first=date(year - 1, 1, 1), last=date(year, 12, 31))
    kinds = kind_counts(session, agency_ids=ids, years=[year, year - 1])
    channels = channel_counts(session, agency_ids=ids, year=year)
    figures = figures_upto(session, agency_ids=ids, year=year)
    requests = {y: request_counts(session, agency_ids=ids, year=y) for y in (year, year - 1)}
    appeals = appeal_counts(session, agency_ids=ids, year=year)
    published = published_reports(session, agency_ids=ids, year=year)
    replies = replies_in_year(session, agency_ids=ids, year=year)
    reports, previous = [], []
    for code in codes:
        agency, row = settings.agencies[code], rows[code]
        values = _figure_values(figures[row.id])
        report = ReportData(row.id, code, agency.name, agency.display_publisher, year, version,
                            published=published.get(row.id))
        _table2(report, kinds[year][row.id], values)
        _table3(report, requests[year][row.id])
        _table4(report, appeals[row.id])
        report.channels = _channels(settings, code, channels[row.id])
        _numbers(report, kinds[year][row.id], values)
        _replies(report, replies[row.id])
        reports.append(report)
        before = ReportData(row.id, code, agency.name, agency.display_publisher, year - 1, version)
        _table2(before, kinds[year - 1][row.id], {y: keys for y, keys in values.items() if y < year})
        _table3(before, requests[year - 1][row.id])
        previous.append(before)
    return reports, previous


def _figure_values(by_year: dict[int, dict[str, Any]]) -> dict[int, dict[str, Decimal]]:
    return {year: {key: Decimal(row.value) for key, row in keys.items()} for year, keys in by_year.items()}


def _latest(figures: dict[int, dict[str, Decimal]], key: str, upto: int) -> Decimal | None:
    years = [y for y, keys in figures.items() if y <= upto and key in keys]
    return figures[max(years)][key] if years else None


def _table2(report: ReportData, kinds: dict[str, KindCounts], figures: dict[int, dict[str, Decimal]]) -> None:
    year, this_year = report.year, figures.get(report.year, {})
    for block in T2[report.version]:
        for row, _ in block.rows:
            counts = kinds.get(row, KindCounts())
            for column, _ in block.columns:
                cell, key = f"t2.{row}.{column}", f"{row}.{column}"
                value, source = _t2_value(row, column, counts, figures, year)
                if key in this_year and column not in ("prev_items", "change"):
                    value, source = this_year[key], "figure"
                report.cells[cell] = value if column in MONEY else int(value)
                report.sources[cell] = source


def _t2_value(row: str, column: str, counts: KindCounts, figures: dict[int, dict[str, Decimal]],
              year: int) -> tuple[Any, str]:
    if column in ("prev_items", "change"):
        before = _latest(figures, f"{row}.items", year - 1) or Decimal(0)
        now = _latest(figures, f"{row}.items", year)
        return (before, "figure") if column == "prev_items" else ((now if now is not None else before) - before,
                                                                  "derived")
    if column in MONEY:
        return Decimal(0), "figure"
    if column == "made":  # 本年新制作/制发: what was published, unless the agency says otherwise
        return figures.get(year, {}).get(f"{row}.published", Decimal(counts.new)), "ledger"
    attribute = {"published": "new", "decisions": "new", "projects": "new", "total": "total",
                 "abolished": "abolished", "in_force": "in_force"}[column]
    return Decimal(getattr(counts, attribute)), "ledger"


def _table3(report: ReportData, counts: dict[tuple[str, str], int]) -> None:
    version = report.version
    values = {(row, column): 0 for row in t3_rows(version) for column in APPLICANT_TYPES}
    unmapped: dict[str, int] = {}
    for (bucket, applicant), count in counts.items():
        if bucket not in ("new", "carried_in", "carried_out") and bucket not in OUTCOMES:
            unmapped[bucket] = unmapped.get(bucket, 0) + count  # R4 reports it
            continue
        row = bucket if bucket in ("new", "carried_in", "carried_out") else outcome_row(bucket, version)
        values[(row, applicant)] += count
    report.numbers["unmapped"] = unmapped
    for column in APPLICANT_TYPES:
        values[("total", column)] = sum(values[(row, column)] for row in t3_leaf_rows(version))
    for row in t3_rows(version):
        for column in APPLICANT_TYPES:
            report.cells[f"t3.{row}.{column}"] = values[(row, column)]
        report.cells[f"t3.{row}.total"] = sum(values[(row, column)] for column in APPLICANT_TYPES)
    report.sources.update({f"t3.{row}.{column}": "register" for row in t3_rows(version) for column in T3_COLUMNS})


def _table4(report: ReportData, counts: dict[tuple[str, str], int]) -> None:
    for block, _ in T4_BLOCKS:
        results = [column for column, _ in T4_COLUMNS if column != "total"]
        for column in results:
            report.cells[f"t4.{block}.{column}"] = counts.get((block, column), 0)
        report.cells[f"t4.{block}.total"] = sum(counts.get((block, column), 0) for column in results)
        report.sources.update({f"t4.{block}.{column}": "register" for column, _ in T4_COLUMNS})


def _channels(settings: Settings, code: str, counts: dict[tuple[str, str, int], int]) -> list[ChannelFigures]:
    configured = settings.agencies[code].channels
    names = list(configured) + sorted({key[0] for key in counts} - set(configured))
    result = []
    for name in names:
        mine = {key: n for key, n in counts.items() if key[0] == name}
        if not mine and name not in configured:
            continue
        categories: dict[str, int] = {}
        months = [0] * 12
        for (_, category, month), n in mine.items():
            categories[category] = categories.get(category, 0) + n
            months[month - 1] += n
        result.append(ChannelFigures(name, channel_kind(settings, name), channel_label(settings, name),
                                     sum(mine.values()), categories, months))
    return result


def _numbers(report: ReportData, kinds: dict[str, KindCounts], figures: dict[int, dict[str, Decimal]]) -> None:
    """The narrative's figures, all taken from the cells and channel counts above (R8, R14)."""
    cells, by_kind = report.cells, {}
    for channel in report.channels:
        by_kind[channel.kind] = by_kind.get(channel.kind, 0) + channel.count
    press = figures.get(report.year, {}).get("press_conferences")
    report.sources["n.press_conferences"] = "ledger" if press is None else "figure"
    results = t3_leaf_rows(report.version)
    report.numbers |= {
        "period": [f"{report.year}-01-01", f"{report.year}-12-31"],
        "items": {row: int(_latest(figures, f"{row}.items", report.year) or 0)
                  for block in T2[report.version] for row, _ in block.rows
                  if any(column == "change" for column, _ in block.columns)},
        "channels": {c.name: c.count for c in report.channels},
        "news": sum(c.categories.get(NEWS_CATEGORY, 0) for c in report.channels if c.kind == "disclosure"),
        "wechat_posts": by_kind.get("wechat", 0), "weibo_posts": by_kind.get("weibo", 0),
        "press_conferences": int(press) if press is not None else kinds.get("press_conference", KindCounts()).new,
        "requests_new": cells["t3.new.total"],
        "requests_by_type": {k: cells[f"t3.new.{k}"] for k in APPLICANT_TYPES},
        "requests_organisations": sum(cells[f"t3.new.{k}"] for k in ORGANISATIONS),
        "requests_carried_in": cells["t3.carried_in.total"], "requests_closed": cells["t3.total.total"],
        "requests_carried_out": cells["t3.carried_out.total"],
        "results": {group: sum(cells[f"t3.{r}.total"] for r in results if r.startswith(prefix))
                    for group, prefix in (("disclosed", "disclosed"), ("partly_disclosed", "partly"),
                                          ("withheld", "withheld"), ("unable", "unable"),
                                          ("declined", "declined"), ("other", "other"))},
        "reconsiderations": cells["t4.reconsideration.total"],
        "litigation_direct": cells["t4.litigation.total"], "litigation_after": cells["t4.litigation_after.total"],
        "litigation": cells["t4.litigation.total"] + cells["t4.litigation_after.total"],
    }


def _replies(report: ReportData, replies: YearReplies) -> None:
    """Late replies (the check's L1 and the narrative) and the 信息处理费 of the year (section 六), 元 as text."""
    report.numbers |= {
        "requests_late": len(replies.late),
        "late_replies": [{"request": late.request_id, "ref": late.ref, "due_on": late.due_on.isoformat(),
                          "closed_on": late.closed_on.isoformat(), "working_days_late": late.working_days_late,
                          "provisional": late.provisional} for late in replies.late],
        "fee_notices": replies.fee_notices,
        "fees_collected": str(replies.fees_collected),
    }
