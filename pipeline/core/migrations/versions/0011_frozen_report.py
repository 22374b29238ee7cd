"""frozen_report: each annual report as published, its cells and ledger hash, for next year's R9 and R10

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "frozen_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=4), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("ledger_hash", sa.String(length=64), nullable=False),
        sa.Column("how", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("frozen_by", sa.String(length=64), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "year", name="uq_frozen_report_agency_year"),
    )


def downgrade() -> None:
    op.drop_table("frozen_report")
