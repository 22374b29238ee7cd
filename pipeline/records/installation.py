"""`gongkai init` on the database: created or migrated, the configured agencies written, the audit trail sealed
and the users of an older configuration imported, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from pipeline.core.agencies import sync_agencies
from pipeline.core.config import Settings
from pipeline.core.db import migrate, session_scope
from pipeline.core.models import Agency
from pipeline.records.audit import seal_trail
from pipeline.records.people import admin_exists, import_users


@dataclass(frozen=True)
class Prepared:
    agencies: list[Agency]
    sealed: int | None      # events written before the audit key, now sealed (None: nothing sealed now)
    imported: list[str]     # logins imported from [agencies.*.users]
    admin_missing: bool     # nobody can add people yet: the first admin must be added


def prepare_database(engine: sa.Engine, *, settings: Settings, now: datetime) -> Prepared:
    """Create or migrate the database (an SQLite file's folder too), then sync the agencies, seal the trail and
    import the users of an older configuration in one transaction; say whether an admin is still missing."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    migrate(engine)
    with session_scope(engine) as session:
        rows = sync_agencies(session, settings=settings)
        sealed = seal_trail(session, now=now)
        imported = import_users(session, settings=settings, now=now)
    missing = False
    if not any(a.users for a in settings.agencies.values()):
        with session_scope(engine) as session:
            missing = not admin_exists(session)
    return Prepared(rows, sealed, imported, missing)
