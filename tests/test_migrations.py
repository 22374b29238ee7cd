"""Migrations applied to an empty database give exactly the models' schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import pipeline.models  # noqa: F401
from pipeline.config import DatabaseSettings
from pipeline.db import make_engine, migrate


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
