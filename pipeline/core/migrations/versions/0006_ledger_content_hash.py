"""ledger_entry.content_hash: each row's content hash, stored when it is written, so that a report hashes a
year of a platform's ledger (a million rows) without re-hashing every row (see BENCHMARKS.md, reports at
platform scale); existing rows are hashed here

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 20:00:00
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
    backfill_content_hashes(op.get_bind())
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.alter_column("content_hash", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_column("content_hash")


# Frozen here (a migration never imports live code): the content hash as pipeline/records/audit.py defined it on
# 2026-11-26, sha256 of the canonical JSON of these columns; tests/test_report_hash.py checks both agree.
CONTENT_NAMES = ("agency_id", "category", "channel", "created_at", "delivery_id", "entry_type", "import_key",
                 "index_no", "item_id", "kind", "local_date", "published_at", "revision", "source", "title", "year")
_DATES = {"created_at", "published_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _content_hash(row: Any) -> str:
    values = {}
    for name, value in zip(CONTENT_NAMES, row, strict=True):
        if name in _DATES and isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # SQLite keeps no offset; stored times are UTC
        if name == "local_date" and isinstance(value, str):
            value = date.fromisoformat(value)
        values[name] = value
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def backfill_content_hashes(connection: sa.Connection) -> int:
    """Store the content hash of every ledger row that has none, 20,000 rows at a time read by id and written
    back by id (on PostgreSQL one UPDATE per chunk from two arrays)."""
    types = {"created_at": sa.DateTime(timezone=True), "published_at": sa.DateTime(timezone=True),
             "local_date": sa.Date()}
    ledger = sa.table("ledger_entry", sa.column("id", sa.Integer()), sa.column("content_hash", sa.String()),
                      *[sa.column(name, types.get(name)) for name in CONTENT_NAMES])
    content = [ledger.c[name] for name in CONTENT_NAMES]
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        update = sa.text("UPDATE ledger_entry SET content_hash = v.digest FROM unnest(CAST(:ids AS integer[]), "
                         "CAST(:digests AS text[])) AS v(id, digest) WHERE ledger_entry.id = v.id")
    else:
        update = sa.update(ledger).where(ledger.c.id == sa.bindparam("row_id")).values(
            content_hash=sa.bindparam("digest"))
    done, last = 0, 0
    while rows := connection.execute(sa.select(ledger.c.id, *content)
                                     .where(ledger.c.content_hash.is_(None), ledger.c.id > last)
                                     .order_by(ledger.c.id).limit(20_000)).all():
        ids, digests = [row.id for row in rows], [_content_hash(row[1:]) for row in rows]
        if postgres:
            connection.execute(update, {"ids": ids, "digests": digests})
        else:
            connection.execute(update, [{"row_id": i, "digest": d} for i, d in zip(ids, digests, strict=True)])
        done, last = done + len(rows), ids[-1]
    return done
