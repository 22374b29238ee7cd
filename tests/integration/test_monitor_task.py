"""The daily freshness check as the worker runs it: the beat's task gongkai.monitor on a real celery worker
records the breaches and sends them, signed, to the agency's notification webhook."""

from __future__ import annotations

import pytest
from celery import Celery
from harness import HOOKS, wait_for
from sqlmodel import select

from pipeline.core.db import session_scope
from pipeline.core.models import AuditEvent

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
MONITOR = "gongkai.monitor"  # worker.MONITOR; importing worker here would load its settings


def monitor_events(platform) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session_scope(platform.engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == "monitor")).all())


@pytest.mark.timeout(90)
def test_the_monitor_task_records_and_sends_the_days_breaches(make_platform, sink):
    platform = make_platform()
    with platform.config.open("a", encoding="utf-8") as f:  # the worker reads the file when it starts
        f.write(f'\n[agencies.tjj.monitor]\nnonempty = ["政务动态"]\nnotify = "{HOOKS[0]}"\n')
    platform.processes.worker()
    with Celery("beat-stand-in", broker=platform.redis.url) as app:
        app.send_task(MONITOR)
    [event] = wait_for(lambda: monitor_events(platform), timeout=60, what="the monitor task's audit event",
                       explain=platform.processes.logs)
    assert event.details["breaches"] == [{"rule": "nonempty", "subject": "政务动态",
                                          "detail": "no live publication in this 主题分类"}]
    assert event.details["notified"].startswith("sent")
    assert sink.accepted() == {f"monitor-tjj-{event.details['date']}"}
