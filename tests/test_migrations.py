"""Migrations applied to an empty database give exactly the models' schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import pipeline.core.models  # noqa: F401
from pipeline.core.config import DatabaseSettings
from pipeline.core.db import make_engine, migrate


def test_migrated_schema_equals_the_models(db_url):
    engine = make_engine(DatabaseSettings(url=db_url))
    try:
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
            tables = set(sa.inspect(connection).get_table_names())
        assert differences == []
        assert set(SQLModel.metadata.tables) <= tables
        migrate(engine)  # a second run is a no-op
    finally:
        engine.dispose()


def test_report_index_holds_every_ledger_column_kind_counts_reads(db_url):
    """One agency's report reads its ten years from the (agency_id, year) index alone on PostgreSQL: the index
    holds every ledger column of the item-count query (BENCHMARKS.md §3); SQLite keeps the plain index."""
    from pipeline.core.models import REPORT_INCLUDE, LedgerEntry
    from pipeline.report.queries import kind_counts_query

    ledger = LedgerEntry.__table__
    query = kind_counts_query([1], [2025, 2024])
    read = {element.name for element in sa.sql.visitors.iterate(query)
            if isinstance(element, sa.Column) and element.table is ledger}
    assert read and read <= {"agency_id", "year", *REPORT_INCLUDE}, read - {"agency_id", "year", *REPORT_INCLUDE}
    engine = make_engine(DatabaseSettings(url=db_url))
    try:
        migrate(engine)
        with engine.connect() as connection:
            [index] = [i for i in sa.inspect(connection).get_indexes("ledger_entry")
                       if i["name"] == "ix_ledger_entry_agency_year"]
        assert index["column_names"] == ["agency_id", "year"]
        included = index.get("dialect_options", {}).get("postgresql_include", [])
        assert included == (list(REPORT_INCLUDE) if engine.dialect.name == "postgresql" else [])
    finally:
        engine.dispose()
