"""`gongkai report YEAR --submit`: the finished report goes out through the pipeline like any other item.

It becomes an item of kind annual_report (主题分类 信息公开年报) of the agency, whose body is the report's
sections and tables as HTML (the Markdown text kept as its source) with the DOCX attached and linked, kept
beside the page by the static sites. It is reviewed level by level, gets its 索引号 when approved and is
published to the agency's portal and 公开目录, where the ledger counts it like every publication. Submitting
freezes the report (pipeline.report.frozen); a resubmission revises the same item (ref annual-report-YEAR).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session

from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Role
from pipeline.items.itemfile import ItemRecord, ItemSpec
from pipeline.items.workflow import submit_items
from pipeline.records.authority import require
from pipeline.records.people import Actor
from pipeline.report.docx_writer import write_docx
from pipeline.report.frozen import freeze_report
from pipeline.report.render import Document, to_body_html, to_markdown

KIND, CATEGORY = "annual_report", "信息公开年报"
CHANNEL_KINDS = ("portal", "disclosure")  # 第五十条: published on the portal and in the 公开目录


@dataclass(frozen=True)
class SubmittedReport:
    agency_code: str
    year: int
    item_id: int
    revision: int
    channels: tuple[str, ...]
    attachment: str


def submit_report(session: Session, *, settings: Settings, doc: Document, actor: Actor, today: date,
                  now: datetime) -> SubmittedReport:
    """Submit `doc` (a final document: not a draft) for review as an annual_report item, and freeze it.
    Needs the role disclosure_office (the 政务公开办 writes the report; no author role besides)."""
    code = doc.report.agency_code
    require(session, actor, Role.DISCLOSURE_OFFICE, agency_code=code, doing=f"submit the {doc.year} report")
    if doc.draft:
        raise GongkaiError(f"the {doc.year} report of {code} is a draft: only a final report is submitted "
                           "(the year must have ended, without --draft)")
    channels = _channels(settings, code)
    name = f"{code}-{doc.year}-annual-report.docx"
    with tempfile.TemporaryDirectory(prefix="gongkai-report-") as folder:
        path = Path(folder) / name
        write_docx(doc, path)
        spec = ItemSpec(id=f"annual-report-{doc.year}", title=doc.title, category=CATEGORY, kind=KIND,
                        channels=list(channels), publisher=doc.report.publisher, created_on=today,
                        summary=f"{doc.report.agency_name}{doc.year}年政府信息公开工作情况")
        record = ItemRecord(f"gongkai report {doc.year}", 1, spec, to_markdown(doc), {}, images={name: path},
                            body_html=to_body_html(doc, download=name))
        [done] = submit_items(session, settings=settings, agency_code=code, actor=actor, records=[record],
                              today=today, role=Role.DISCLOSURE_OFFICE)
    freeze_report(session, doc=doc, actor=actor, how="submit", now=now, item_id=done.item_id)
    return SubmittedReport(code, doc.year, done.item_id, done.revision, channels, name)


def _channels(settings: Settings, code: str) -> tuple[str, ...]:
    agency = settings.agencies[code]
    categories = agency.categories or settings.catalogue.categories
    if CATEGORY not in categories:
        raise GongkaiError(f"agencies.{code}.categories: add '{CATEGORY}', the 主题分类 the report is filed under")
    if KIND not in settings.catalogue.kinds:
        raise GongkaiError(f"catalogue.kinds: add '{KIND}', the kind of the annual report")
    channels = tuple(name for name in agency.channels
                     if settings.channels[name].kind in CHANNEL_KINDS and settings.channels[name].enabled)
    if not channels:
        raise GongkaiError(f"agencies.{code}.channels: no enabled portal or disclosure channel to publish the "
                           "report to")
    return channels
