"""What `gongkai monitor` and the daily check judge: every agency's freshness rules and its 政策解读 in step."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from pipeline.core.agencies import agency_row
from pipeline.core.config import Settings
from pipeline.records.freshness import BREACH, Finding, freshness_findings
from pipeline.records.interpretations import interpretation_findings


def monitor_agencies(session: Session, *, settings: Settings, codes: list[str], today: date) -> list[Finding]:
    """The findings of every rule of the agencies named, breaches first."""
    found: list[Finding] = []
    for code in codes:
        agency, agency_id = settings.agencies[code], agency_row(session, code).id
        found += freshness_findings(session, settings=settings, code=code, agency=agency, agency_id=agency_id,
                                    today=today)
        found += interpretation_findings(session, code=code, agency=agency, agency_id=agency_id, today=today)
    return sorted(found, key=lambda f: (f.state != BREACH, f.agency, f.rule, f.subject))
