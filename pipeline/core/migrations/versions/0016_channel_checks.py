"""Channel checks and verified publications: a channel's last live check (paused or not), and a delivery's
comparison of the live publication with the approved revision.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("verification", sa.String(16), nullable=True))
        batch.add_column(sa.Column("verification_detail", sa.String(), nullable=True))
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("verification_detail")
        batch.drop_column("verification")
    op.drop_table("channel_state")
