"""Every item carries its author's 处室, as the people records held it at submission (counts per 处室).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("department", sa.String(length=100), nullable=False, server_default=""))
    # items submitted before: their author's 处室 today, the best the records know
    op.execute("UPDATE item SET department = (SELECT person.department FROM person WHERE person.login = item.author)"
               " WHERE EXISTS (SELECT 1 FROM person WHERE person.login = item.author)")


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("department")
