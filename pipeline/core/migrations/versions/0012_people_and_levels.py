"""people, roles, login tokens and versioned review levels in the database (issue 18)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("login"),
    )
    op.create_index("ix_person_agency_id", "person", ["agency_id"])
    op.create_table(
        "person_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "agency_id", "role", name="uq_person_role"),
    )
    op.create_index("ix_person_role_person_id", "person_role", ["person_id"])
    op.create_table(
        "person_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_person_token_person_id", "person_token", ["person_id"])
    op.create_table(
        "review_level_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "kind", "version", name="uq_level_set_version"),
    )
    op.create_index("ix_review_level_set_agency_id", "review_level_set", ["agency_id"])
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("level_set_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_item_level_set", "review_level_set", ["level_set_id"], ["id"])
    with op.batch_alter_table("review_decision") as batch:
        batch.add_column(sa.Column("acted_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_decision") as batch:
        batch.drop_column("acted_by")
    with op.batch_alter_table("item") as batch:
        batch.drop_constraint("fk_item_level_set", type_="foreignkey")
        batch.drop_column("level_set_id")
    for table in ("review_level_set", "person_token", "person_role", "person"):
        op.drop_table(table)
