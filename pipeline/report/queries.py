"""The grouped queries behind an annual report: one per table, each for any number of agencies at once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.models import Appeal, DisclosureRequest, EntryType, FrozenReport, Item, LedgerEntry, Revision
from pipeline.records.ledger import item_key, month_of, net

# kinds whose items table 二 (and the narrative's press conferences) count
COUNTED_KINDS = ("regulation", "normative", "license", "penalty", "enforcement", "procurement", "press_conference")
INVALID = ("废止", "失效")


@dataclass(frozen=True)
class KindCounts:
    """Distinct items of one kind, as of the end of the year."""

    new: int = 0          # first published this year and not withdrawn by its end
    total: int = 0        # published by the end of the year and not withdrawn
    abolished: int = 0    # a revision marked 废止 published this year
    in_force: int = 0     # published, not withdrawn, no revision marked 废止 or 失效


def _bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def kind_counts(session: Session, *, agency_ids: list[int],
                years: list[int]) -> dict[int, dict[int, dict[str, KindCounts]]]:
    """Per year, agency and kind: distinct items (one item = all its channels and revisions), every year
    from one pass over the agencies' history (a report needs its year's and the year before's)."""
    result: dict[int, dict[int, dict[str, KindCounts]]] = {y: {a: {} for a in agency_ids} for y in years}
    for agency_id, kind, *numbers in session.exec(kind_counts_query(agency_ids, years)).all():
        for n, year in enumerate(years):
            result[year][agency_id][kind] = KindCounts(*(int(v or 0) for v in numbers[4 * n:4 * n + 4]))
    return result


def kind_counts_query(agency_ids: list[int], years: list[int]) -> Any:
    """The ledger columns it reads are in the (agency_id, year) index on PostgreSQL (models.REPORT_INCLUDE)."""
    inner = (
        select(LedgerEntry.agency_id, LedgerEntry.kind, item_key().label("item"),
               sa.func.min(sa.case((LedgerEntry.entry_type == EntryType.PUBLICATION, LedgerEntry.year))).label("first"),
               *[column for year in years for column in _item_state(year)])
        .select_from(LedgerEntry)
        # the revisions of these agencies' items only: for one agency, a few hundred read by index rather than a
        # hash of every agency's revisions (BENCHMARKS.md §3)
        .outerjoin(sa.join(Revision, Item, (Item.id == Revision.item_id) & Item.agency_id.in_(agency_ids)),
                   (Revision.item_id == LedgerEntry.item_id) & (Revision.number == LedgerEntry.revision))
        .where(LedgerEntry.agency_id.in_(agency_ids), LedgerEntry.kind.in_(COUNTED_KINDS),
               LedgerEntry.year <= max(years))
        .group_by(LedgerEntry.agency_id, LedgerEntry.kind, item_key())
    ).subquery()
    return (select(inner.c.agency_id, inner.c.kind, *[column for year in years for column in _counts(inner, year)])
            .group_by(inner.c.agency_id, inner.c.kind))


def _item_state(year: int) -> list[Any]:
    """An item at the end of `year`: its net count, a revision marked 废止 published in the year, any published
    revision marked 废止 or 失效 (rows of later years count for nothing)."""
    validity, entry_year = Revision.validity, LedgerEntry.year
    return [sa.func.sum(sa.case((entry_year <= year, net()), else_=0)).label(f"net_{year}"),
            sa.func.max(sa.case(((entry_year == year) & (validity == "废止"), 1), else_=0)).label(f"abolished_{year}"),
            sa.func.max(sa.case(((entry_year <= year) & validity.in_(INVALID), 1), else_=0)).label(f"invalid_{year}")]


def _counts(items: Any, year: int) -> list[Any]:
    """KindCounts of `year` over the items (an item first published in a later year adds zeros)."""
    c = items.c
    alive = c[f"net_{year}"] > 0
    return [sa.func.sum(sa.case((alive & (c.first == year), 1), else_=0)),         # new
            sa.func.sum(sa.case((alive, 1), else_=0)),                             # total
            sa.func.sum(c[f"abolished_{year}"]),                                   # abolished
            sa.func.sum(sa.case((alive & (c[f"invalid_{year}"] == 0), 1), else_=0))]  # in_force


def channel_counts(session: Session, *, agency_ids: list[int],
                   year: int) -> dict[int, dict[tuple[str, str, int], int]]:
    """Per agency: net entries by (channel, category, month) in the year, in that order (the order in which the
    report lists a channel's categories)."""
    month = month_of()
    groups = (LedgerEntry.agency_id, LedgerEntry.channel, LedgerEntry.category, month)
    query = (select(*groups, sa.func.sum(net()))
             .where(LedgerEntry.agency_id.in_(agency_ids), LedgerEntry.year == year)
             .group_by(*groups).order_by(*groups))
    result: dict[int, dict[tuple[str, str, int], int]] = {agency_id: {} for agency_id in agency_ids}
    for agency_id, channel, category, m, count in session.exec(query).all():
        result[agency_id][(channel, category, int(m))] = int(count)
    return result


def request_counts(session: Session, *, agency_ids: list[int],
                   year: int) -> dict[int, dict[tuple[str, str], int]]:
    """Per agency: (bucket, applicant type) -> requests, where bucket is new, carried_in, carried_out or the
    outcome of a request closed in the year."""
    start, end = _bounds(year)
    r = DisclosureRequest
    closed_now = r.closed_on.is_not(None) & (r.closed_on >= start) & (r.closed_on <= end)
    outcome = sa.case((closed_now, r.outcome), else_=sa.null()).label("outcome")
    query = (select(r.agency_id, r.applicant_type, outcome,
                    sa.func.sum(sa.case((r.received_on >= start, 1), else_=0)),
                    sa.func.sum(sa.case((r.received_on < start, 1), else_=0)),
                    sa.func.sum(sa.case((r.closed_on.is_(None) | (r.closed_on > end), 1), else_=0)),
                    sa.func.count())
             .where(r.agency_id.in_(agency_ids), r.received_on <= end, r.closed_on.is_(None) | (r.closed_on >= start))
             .group_by(r.agency_id, r.applicant_type, outcome))
    result: dict[int, dict[tuple[str, str], int]] = {agency_id: defaultdict(int) for agency_id in agency_ids}
    for agency_id, applicant, closed_as, new, carried_in, carried_out, count in session.exec(query).all():
        counts = result[agency_id]
        counts[("new", applicant)] += int(new)
        counts[("carried_in", applicant)] += int(carried_in)
        counts[("carried_out", applicant)] += int(carried_out)
        if closed_as is not None:
            counts[(closed_as, applicant)] += int(count)
    return result


def appeal_counts(session: Session, *, agency_ids: list[int], year: int) -> dict[int, dict[tuple[str, str], int]]:
    """Per agency: (kind, result) -> appeals open at some time in the year; result as of 31 December."""
    start, end = _bounds(year)
    a = Appeal
    result_col = sa.case((a.closed_on.is_not(None) & (a.closed_on <= end), a.result),
                         else_=sa.literal_column("'pending'", sa.String)).label("result")
    query = (select(a.agency_id, a.kind, result_col, sa.func.count())
             .where(a.agency_id.in_(agency_ids), a.filed_on <= end, a.closed_on.is_(None) | (a.closed_on >= start))
             .group_by(a.agency_id, a.kind, result_col))
    result: dict[int, dict[tuple[str, str], int]] = {agency_id: defaultdict(int) for agency_id in agency_ids}
    for agency_id, kind, outcome, count in session.exec(query).all():
        result[agency_id][(kind, outcome)] += int(count)
    return result


def published_reports(session: Session, *, agency_ids: list[int], year: int) -> dict[int, tuple[str, date]]:
    """Per agency: 索引号 and 公开日期 of this year's report if gongkai published it: the first publication of
    the annual_report item that `gongkai report YEAR --submit` froze, whenever it went out."""
    query = (select(LedgerEntry.agency_id, LedgerEntry.index_no, LedgerEntry.local_date)
             .join(FrozenReport, sa.and_(FrozenReport.item_id == LedgerEntry.item_id,
                                         FrozenReport.agency_id == LedgerEntry.agency_id))
             .where(FrozenReport.agency_id.in_(agency_ids), FrozenReport.year == year,
                    LedgerEntry.entry_type == EntryType.PUBLICATION, LedgerEntry.index_no.is_not(None))
             .order_by(LedgerEntry.id))
    found: dict[int, tuple[str, date]] = {}
    for agency_id, index_no, published_on in session.exec(query).all():
        found.setdefault(agency_id, (index_no, published_on))
    return found
