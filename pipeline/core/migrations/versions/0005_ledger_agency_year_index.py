"""ledger_entry (agency_id, year) replaces (agency_id): one agency's report reads its rows of one year
instead of every row it ever had (see BENCHMARKS.md, reports at platform scale)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_agency_year", ["agency_id", "year"], unique=False)
        batch_op.drop_index(batch_op.f("ix_ledger_entry_agency_id"))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entry_agency_id"), ["agency_id"], unique=False)
        batch_op.drop_index("ix_ledger_entry_agency_year")
