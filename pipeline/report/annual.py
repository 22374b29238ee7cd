"""`gongkai report`: the annual report of one or all agencies, built, checked and turned into documents."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from pipeline.core.clock import beijing_today
from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError
from pipeline.records.audit import chain_head
from pipeline.records.ledger import ledger_state_hashes
from pipeline.report.check import check_report
from pipeline.report.data import ReportData, build_reports
from pipeline.report.format import VERSIONS, version_for
from pipeline.report.frozen import frozen_reports
from pipeline.report.render import Document, build_document

FIRST_YEAR = 2008  # the first year of the 2007 Regulations' annual reports


def make_documents(session: Session, *, settings: Settings, codes: list[str], year: int,
                   version: str | None, today: date, draft: bool = False) -> list[Document]:
    """One checked document per agency. The cross-year rules compare with last year's report as published
    (frozen) where there is one, else with last year recomputed. A year not yet ended (on the Beijing
    calendar `today`) gives a draft whatever `draft` says."""
    reports, previous = make_reports(session, settings=settings, codes=codes, year=year, version=version,
                                     today=today)
    published = frozen_reports(session, reports=reports, year=year - 1)
    hashes = ledger_state_hashes(session, agency_ids=[r.agency_id for r in reports], year=year)
    head = chain_head(session)
    return [build_document(report, settings.agencies[report.agency_code],
                           findings=check_report(report, previous=published.get(report.agency_id, before)),
                           today=today, ledger_hash=hashes[report.agency_id],
                           draft=draft or not year_ended(year, today), audit_head=head)
            for report, before in zip(reports, previous, strict=True)]


def year_ended(year: int, today: date) -> bool:
    """Whether 31 December of `year` has passed on the Beijing calendar (`today` is a Beijing date)."""
    return today.year > year


def make_reports(session: Session, *, settings: Settings, codes: list[str], year: int,
                 version: str | None, today: date | None = None) -> tuple[list[ReportData], list[ReportData]]:
    """This year's reports and, for the cross-year rules, last year's tables 二 and 三 (same format version;
    a constant number of queries)."""
    latest = (today or beijing_today()).year  # Beijing's year, not the machine's (it turns at 16:00 UTC)
    if year < FIRST_YEAR or year > latest:
        raise GongkaiError(f"year {year} is outside {FIRST_YEAR}-{latest}")
    version = version or version_for(year)
    if version not in VERSIONS:
        raise GongkaiError(f"format version must be one of {', '.join(VERSIONS)}")
    return build_reports(session, settings=settings, codes=codes, year=year, version=version)
