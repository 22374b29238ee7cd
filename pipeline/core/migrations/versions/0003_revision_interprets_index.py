"""index item_revision.interprets: every delivery looks up the interpretations of its item

Without it that lookup (pipeline.items.compose._interpretations) reads the whole item_revision table once per
delivery; see BENCHMARKS.md.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_revision_interprets"), ["interprets"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_revision_interprets"))
