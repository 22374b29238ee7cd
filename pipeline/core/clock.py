"""Time: stored in UTC, counted on the Beijing calendar (Asia/Shanghai) for dates, years and deadlines."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)
