"""第二十六条: the reason an approval after the publication deadline gave, and an imported publication's 成文日期.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("review_decision") as batch:
        batch.add_column(sa.Column("late_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(sa.Column("formed_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_column("formed_on")
    with op.batch_alter_table("review_decision") as batch:
        batch.drop_column("late_reason")
