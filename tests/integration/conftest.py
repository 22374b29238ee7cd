"""Fixtures for the queue tests: a private Redis, a loopback webhook sink, and a platform on PostgreSQL.

These tests run real `celery -A worker worker` (and beat) subprocesses; the database is PostgreSQL only
(SQLite is the embedded path, which needs no broker). Every process and redis-server a test starts is
killed when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness import HOOKS, Platform, RedisServer, write_config
from helpers import add_people
from sink import Sink

from pipeline.core.agencies import sync_agencies
from pipeline.core.audit_key import keyed_engine
from pipeline.core.config import load_settings
from pipeline.core.db import migrate, session_scope


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = Sink().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def make_platform(tmp_path: Path, db_url: str, redis_server: RedisServer,
                  sink: Sink) -> Iterator[Callable[..., Platform]]:
    """build(queue={...}, channels={name: {...}}) -> a migrated platform; its processes die with the test."""
    built: list[Platform] = []

    def build(*, queue: dict[str, Any] | None = None,
              channels: dict[str, dict[str, Any]] | None = None) -> Platform:
        config = write_config(tmp_path, db_url=db_url, broker_url=redis_server.url, sink=sink,
                              queue=queue or {}, channels=channels or {name: {} for name in HOOKS})
        settings = load_settings(config)
        engine = keyed_engine(settings)
        migrate(engine)
        with session_scope(engine) as session:
            sync_agencies(session, settings=settings)
        add_people(SimpleNamespace(session=lambda: session_scope(engine), settings=settings))
        platform = Platform(tmp_path, config, settings, engine, redis_server, sink)
        built.append(platform)
        return platform

    try:
        yield build
    finally:
        for platform in built:
            platform.processes.close()
            platform.engine.dispose()
