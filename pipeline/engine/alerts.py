"""The daily freshness check (worker beat task "gongkai.monitor"): judge every agency's rules, record the
breaches in the audit trail, and send them to the agency's notification channel (a signed webhook).

The event id is the agency and the Beijing date, so a check run twice on one day (a beat restarted, a retry)
sends the receiver the same webhook-id, which it dedupes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from channels import ChannelError
from pipeline.core.adapters import ChannelSet
from pipeline.core.clock import SHANGHAI
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.records.audit import record_event
from pipeline.records.freshness import BREACH, Finding
from pipeline.records.monitor import monitor_agencies

EVENT_TYPE = "monitor.breaches"


@dataclass(frozen=True)
class Checked:
    agency: str
    breaches: int
    near: int
    notified: str       # the receipt, "" when nothing was sent, or why sending failed


def check_freshness(settings: Settings, db: sa.Engine, *, now: datetime,
                    channels: ChannelSet | None = None) -> list[Checked]:
    """Judge every agency on `now`'s Beijing date; record and send each agency's breaches."""
    today = now.astimezone(SHANGHAI).date()
    with session_scope(db) as session:
        findings = monitor_agencies(session, settings=settings, codes=list(settings.agencies), today=today)
    channels = channels or ChannelSet(settings)
    done = []
    for code, agency in settings.agencies.items():
        mine = [f for f in findings if f.agency == code]
        breaches = [f for f in mine if f.state == BREACH]
        notified = ""
        if breaches and agency.monitor.notify:
            notified = _send(channels, agency.monitor.notify, f"monitor-{code}-{today.isoformat()}",
                             {"agency": code, "date": today.isoformat(), "breaches": [f.view() for f in breaches]},
                             now)
        with session_scope(db) as session:
            record_event(session, actor="system", action="monitor", subject=f"agency:{code}",
                         details={"date": today.isoformat(), "breaches": [_short(f) for f in breaches],
                                  "near": len(mine) - len(breaches), "notified": notified}, now=now)
        done.append(Checked(code, len(breaches), len(mine) - len(breaches), notified))
    return done


def _short(finding: Finding) -> dict[str, Any]:
    return {"rule": finding.rule, "subject": finding.subject, "detail": finding.detail}


def _send(channels: ChannelSet, name: str, event_id: str, data: dict[str, Any], now: datetime) -> str:
    adapter = channels.get(name)
    timestamp = now.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
    try:
        return "sent: " + adapter.send_event(event_id, EVENT_TYPE, timestamp, data).remote_id  # type: ignore[attr-defined]
    except ChannelError as e:
        return f"failed: {e}"
