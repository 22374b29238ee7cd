"""Agencies live in the configuration; the database keeps a row per agency for its records."""

from __future__ import annotations

from sqlmodel import Session, select

from pipeline.core.config import Settings
from pipeline.core.db import kept
from pipeline.core.errors import ConfigError
from pipeline.core.models import Agency


def sync_agencies(session: Session, *, settings: Settings) -> list[Agency]:
    """Insert or update one row per configured agency. The org code of an agency with 索引号 never changes."""
    rows = {a.code: a for a in session.exec(select(Agency)).all()}
    for code, agency in settings.agencies.items():
        row = rows.get(code)
        if row is None:
            row = rows[code] = Agency(code=code, name=agency.name, org_code=agency.org_code)
        elif row.org_code != agency.org_code:
            raise ConfigError(
                f"agencies.{code}.org_code: was {row.org_code}, now {agency.org_code}; "
                "索引号 already issued keep the old code, so the code cannot change"
            )
        row.name = agency.name
        session.add(row)
    session.flush()
    return [rows[code] for code in settings.agencies]


def agency_row(session: Session, code: str) -> Agency:
    """The database row of a configured agency (created on first use)."""
    row = kept(session, ("agency", code), lambda: session.exec(select(Agency).where(Agency.code == code)).first())
    if row is None:
        raise ConfigError(f"agency '{code}' has no database row; run gongkai init")
    return row
