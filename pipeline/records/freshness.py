"""Freshness rules (政府网站与政务新媒体检查指标, 国办秘函〔2019〕19号): how long each channel and 主题分类 has
gone without a live publication, and which configured 主题分类 are empty.

Windows are calendar days, holidays included: the indicator asks about "监测时间点前2周内" and makes no exception
for 法定节假日, so a WeChat account quiet through the 春节 break is as stale to the inspector as at any other time
(docs/monitor.md). A publication counts once it is in the ledger and only while it is not reversed on that
channel: a withdrawn item is no update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from pipeline.core.config import AgencySettings, Settings
from pipeline.core.models import EntryType, LedgerEntry

BREACH, NEAR = "breach", "near"


@dataclass(frozen=True)
class Finding:
    """One rule breached or close to it."""

    agency: str
    rule: str                 # channel | category | nonempty | interpretation
    subject: str              # the channel, the 主题分类, or the item
    state: str                # breach | near
    window: int | None        # the rule's days (calendar; working days for interpretation)
    last_on: date | None      # the last live publication it counts
    days_quiet: int | None
    days_left: int | None     # window - days_quiet; negative when breached
    detail: str

    def view(self) -> dict[str, Any]:
        row = asdict(self)
        row["last_on"] = self.last_on.isoformat() if self.last_on else None
        return row


def _live() -> Any:
    """A publication not reversed: a take-down writes one reversal per delivery, naming it (imports have none)."""
    reversal = aliased(LedgerEntry)
    return sa.and_(LedgerEntry.entry_type == EntryType.PUBLICATION, ~sa.exists().where(
        reversal.entry_type == EntryType.REVERSAL, reversal.delivery_id == LedgerEntry.delivery_id,
        reversal.agency_id == LedgerEntry.agency_id))


def last_published(session: Session, *, agency_id: int, by: str, on: date) -> dict[str, date]:
    """The date of the last live publication up to `on`, per channel or per 主题分类."""
    column = getattr(LedgerEntry, by)
    query = (select(column, sa.func.max(LedgerEntry.local_date))
             .where(LedgerEntry.agency_id == agency_id, LedgerEntry.local_date <= on, _live())
             .group_by(column))
    return {name: last for name, last in session.exec(query).all()}


def _judge(agency: str, rule: str, subject: str, window: int, last: date | None, today: date,
           warn_days: int) -> Finding | None:
    if last is None:
        return Finding(agency, rule, subject, BREACH, window, None, None, None, "no live publication")
    quiet = (today - last).days
    left = window - quiet
    if left > warn_days:  # warn_days >= 0: a breach (left < 0) is never skipped
        return None
    state = BREACH if left < 0 else NEAR
    detail = (f"{quiet} days without a publication (at most {window})" if state == BREACH
              else f"{left} day(s) left of {window}")
    return Finding(agency, rule, subject, state, window, last, quiet, left, detail)


def freshness_findings(session: Session, *, settings: Settings, code: str, agency: AgencySettings,
                       agency_id: int, today: date) -> list[Finding]:
    """Every channel and 主题分类 rule of one agency judged on `today` (Beijing): breaches and near-breaches."""
    rules = agency.monitor
    found: list[Finding | None] = []
    channels = last_published(session, agency_id=agency_id, by="channel", on=today)
    for name, window in sorted(rules.quiet_days(settings.channels, agency.channels).items()):
        found.append(_judge(code, "channel", name, window, channels.get(name), today, rules.warn_days))
    categories = last_published(session, agency_id=agency_id, by="category", on=today)
    for name, window in sorted(rules.categories.items()):
        found.append(_judge(code, "category", name, window, categories.get(name), today, rules.warn_days))
    for name in sorted(set(rules.nonempty) - set(rules.categories)):
        if name not in categories:
            found.append(Finding(code, "nonempty", name, BREACH, None, None, None, None,
                                 "no live publication in this 主题分类"))
    return [finding for finding in found if finding is not None]

