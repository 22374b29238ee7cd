"""The review queue read in item order from one index: a reviewer's 50 oldest waiting items at a million items
without sorting every waiting item of their level.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07 18:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_review_queue", "item", ["agency_id", "status", "current_level", "id"])
    op.drop_index("ix_item_agency_status_level", table_name="item")


def downgrade() -> None:
    op.create_index("ix_item_agency_status_level", "item", ["agency_id", "status", "current_level"])
    op.drop_index("ix_item_review_queue", table_name="item")
