"""ledger_entry.content_hash: each row's content hash, stored when it is written, so that a report hashes a
year of a platform's ledger (a million rows) without re-hashing every row (see BENCHMARKS.md, reports at
platform scale); existing rows are hashed here

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.audit import backfill_content_hashes

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
