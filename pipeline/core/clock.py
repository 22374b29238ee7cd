"""The one clock: instants stored in UTC, counted on the Beijing calendar (Asia/Shanghai) for dates, years and
deadlines, whatever the machine's time zone.

Every read of the current time in pipeline/ goes through utcnow() (a meta-test checks it). Tests move it with
time-machine, which travels datetime.now() itself, so nothing here needs a hook of its own; the engine also
takes a `clock` callable (pipeline.engine.runtime.Engine.clock) that defaults to utcnow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def beijing_now() -> datetime:
    """Now on the Beijing wall clock (aware, Asia/Shanghai)."""
    return utcnow().astimezone(SHANGHAI)


def beijing_today() -> date:
    """Today's date in Beijing: from 16:00 UTC on it is already tomorrow there."""
    return beijing_now().date()

