"""The annual report as `gongkai report YEAR` issues it: built, judged by the reference's rules and, unless a
rule stops it, frozen as the published report (written out final) or submitted for review; and the
政府网站工作年度报表 as `gongkai website YEAR` makes it from the same year's 年度报告."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError
from pipeline.records.people import Actor
from pipeline.report.annual import make_documents, make_reports
from pipeline.report.check import Finding, failures
from pipeline.report.data import ReportData
from pipeline.report.explain import explain
from pipeline.report.frozen import freeze_report
from pipeline.report.render import Document
from pipeline.report.website import WebsiteReport, build_website_report, explain_website

if TYPE_CHECKING:
    from pipeline.report.submission import SubmittedReport


@dataclass(frozen=True)
class Checked:
    """One agency's document and the broken rules that stop it (hard ones; missing sections when final)."""

    doc: Document
    blocking: list[Finding]


@dataclass
class Issued:
    checks: list[Checked]
    submitted: list[SubmittedReport] = field(default_factory=list)

    @property
    def docs(self) -> list[Document]:
        return [c.doc for c in self.checks]


class ReportStopped(GongkaiError):
    """Nothing was issued (the caller's transaction rolls back): a rule stops the report, or freezing or submitting
    it was refused. `issued` holds what was judged, and submitted before the refusal, to be shown."""

    def __init__(self, message: str, issued: Issued) -> None:
        super().__init__(message)
        self.issued = issued


def issue_report(session: Session, *, settings: Settings, codes: list[str], year: int, version: str | None,
                 today: date, now: datetime, draft: bool, final: bool, freeze: bool, submit: bool,
                 actor: Callable[[], Actor]) -> Issued:
    """Each agency's report of `year`, judged (`final`: a missing section stops it too, unless it is a draft);
    then submitted for review (`submit`), or each final one frozen as published (`freeze`: it is written out in
    the caller's transaction). `actor` is asked only when something is frozen or submitted."""
    docs = make_documents(session, settings=settings, codes=codes, year=year, version=version, today=today,
                          draft=draft)
    issued = Issued([Checked(doc, failures(doc.findings, final=final and not doc.draft)) for doc in docs])
    if any(failures(doc.findings) for doc in docs):
        raise ReportStopped(f"the {year} report breaks a hard rule (see above); nothing was written", issued)
    if any(c.blocking for c in issued.checks):
        raise ReportStopped(f"the {year} report lacks a required section (see above); nothing was written: add the "
                            "agency's text, or write a draft with --draft", issued)
    try:
        if submit:
            _submit(session, settings=settings, issued=issued, actor=actor(), today=today, now=now)
        elif freeze:
            finals = [doc for doc in docs if not doc.draft]
            who = actor() if finals else None
            for doc in finals:
                freeze_report(session, doc=doc, actor=who, how="out", now=now)
    except GongkaiError as e:
        raise ReportStopped(str(e), issued) from e
    return issued


def _submit(session: Session, *, settings: Settings, issued: Issued, actor: Actor, today: date,
            now: datetime) -> None:
    from pipeline.report.submission import submit_report  # python-docx: only when a report is submitted

    for doc in issued.docs:
        issued.submitted.append(submit_report(session, settings=settings, doc=doc, actor=actor, today=today,
                                              now=now))


def explain_report_cell(session: Session, *, settings: Settings, code: str, year: int, version: str | None,
                        today: date, cell: str) -> dict[str, Any]:
    """The ledger, register or figure rows behind one cell of an agency's report of `year` (see explain())."""
    [report], _ = make_reports(session, settings=settings, codes=[code], year=year, version=version, today=today)
    return explain(session, settings=settings, report=report, cell=cell)


def make_website_report(session: Session, *, settings: Settings, code: str, year: int,
                        today: date) -> WebsiteReport:
    """An agency's 政府网站工作年度报表 of `year`, checked against its 年度报告 of that year."""
    return _website(session, settings=settings, code=code, year=year, today=today)[1]


def explain_website_cell(session: Session, *, settings: Settings, code: str, year: int, today: date,
                         cell: str) -> dict[str, Any]:
    """The ledger entries or the figure behind one cell of an agency's 政府网站工作年度报表 (explain_website())."""
    annual, report = _website(session, settings=settings, code=code, year=year, today=today)
    return explain_website(session, settings=settings, report=report, annual=annual, cell=cell)


def _website(session: Session, *, settings: Settings, code: str, year: int,
             today: date) -> tuple[ReportData, WebsiteReport]:
    [annual], _ = make_reports(session, settings=settings, codes=[code], year=year, version=None, today=today)
    return annual, build_website_report(session, settings=settings, annual=annual, today=today)
