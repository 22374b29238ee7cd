"""item_revision.body_html: the body rendered once, when the revision is submitted

Reviewers approve, and every channel publishes, this HTML; a worker no longer converts Markdown for each
delivery (see BENCHMARKS.md §1). Revisions submitted before this migration keep NULL and are rendered when
they are shown, as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("item_revision", schema=None) as batch_op:
        batch_op.drop_column("body_html")
