"""ledger_entry (agency_id, year) index on PostgreSQL also holds the columns a report's item counts read
(INCLUDE), so that one agency's report reads its ten years from the index, not a heap page per row (see
BENCHMARKS.md, reports at platform scale); SQLite keeps the plain index. The new index is built inside the
migration's transaction, which blocks ledger writes (publications being recorded) while it builds: 15-20 s
for 10 million rows on a 2-core machine; run it when no worker is recording

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 00:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as pipeline.core.models.REPORT_INCLUDE is today: a migration does not follow later changes of the models
INCLUDE = ["kind", "entry_type", "item_id", "revision", "index_no", "import_key", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # one transaction: nobody sees the ledger without the index
    op.drop_index("ix_ledger_entry_agency_year", table_name="ledger_entry")
    op.create_index("ix_ledger_entry_agency_year", "ledger_entry", ["agency_id", "year"], postgresql_include=INCLUDE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_ledger_entry_agency_year", table_name="ledger_entry")
    op.create_index("ix_ledger_entry_agency_year", "ledger_entry", ["agency_id", "year"])
