"""Indexes the console's pages need at a million items: an author's own items, the review queue.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_agency_author", "item", ["agency_id", "author", "id"])
    op.create_index("ix_item_agency_status_level", "item", ["agency_id", "status", "current_level"])


def downgrade() -> None:
    op.drop_index("ix_item_agency_status_level", table_name="item")
    op.drop_index("ix_item_agency_author", table_name="item")
