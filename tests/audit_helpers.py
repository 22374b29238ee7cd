"""What the audit tests share: the trail as stored, SQL as an attacker with database access would run it."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from pipeline.core.models import AuditEvent
from pipeline.records.audit import EVENT_NAMES, canonical, chained


def events(env: Any) -> list[AuditEvent]:
    with env.session() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)))


def execute(env: Any, statement: str) -> None:
    with env.engine.begin() as connection:
        connection.exec_driver_sql(statement)


def workspace_key(env: Any) -> bytes:
    return (env.directory / "audit.key").read_text(encoding="utf-8").strip().encode()


def rewrite(env: Any, trail: list[AuditEvent], *, key: bytes | None = None) -> None:
    """Re-chain `trail` from its first event on with the project's own hash function (with `key`: an attacker who
    also stole the key) and write every event back, with the actor and details the caller may have changed."""
    prev = trail[0].prev_hash
    marker = "%({})s" if env.engine.dialect.name == "postgresql" else ":{}"
    names = ("actor", "details", "prev", "hash", "id")
    statement = ("UPDATE audit_event SET actor = {}, details = {}, prev_hash = {}, hash = {} WHERE id = {}"
                 .format(*(marker.format(name) for name in names)))
    with env.engine.begin() as connection:
        for event in trail:
            values = [getattr(event, name) for name in EVENT_NAMES]
            event.hash = chained(prev, values, key) if key else chained(prev, values)
            connection.exec_driver_sql(statement, {"actor": event.actor, "details": canonical(event.details),
                                                   "prev": prev, "hash": event.hash, "id": event.id})
            prev = event.hash
