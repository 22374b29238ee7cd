"""Engine, sessions and migrations. SQLite gets WAL, a busy timeout and write-locking transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from pipeline.core.config import DatabaseSettings

T = TypeVar("T")


def make_engine(settings: DatabaseSettings) -> sa.Engine:
    """An engine for the configured URL; SQLite connections are set up for concurrent writers."""
    url = sa.make_url(settings.url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    in_memory = url.database in (None, "", ":memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": settings.busy_timeout_ms / 1000},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        # take the write lock up front: a deferred transaction that later writes fails at once
        # with SQLITE_BUSY in WAL mode instead of waiting for the busy timeout
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def kept(session: Session, key: tuple[object, ...], read: Callable[[], T]) -> T:
    """What `read()` gives, read once per unit of work (a session is one transaction, see session_scope):
    for rows a page asks for several times over that do not change under it (an agency, a review level set).
    The identity map does not do it: it holds rows weakly, so a row nobody kept is read again. Nothing found
    (None) is not kept: it may be written later in the same unit of work."""
    if session.info.get(key) is None:
        session.info[key] = read()
    return session.info[key]


_NEXT_IDS = sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)")


def reserve_ids(session: Session, table: sa.Table, count: int) -> list[int]:
    """`count` new ids of `table`, ascending, for rows the caller inserts with them: a plain executemany then
    needs no RETURNING (on PostgreSQL a multi-row INSERT ... RETURNING of a batch is one long statement that
    psycopg parses anew every time; an executemany is one short prepared statement). PostgreSQL takes them from
    the table's sequence; SQLite from the table itself, whose writing transactions hold the write lock
    (BEGIN IMMEDIATE) until they commit."""
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return sorted(session.execute(_NEXT_IDS, {"table": table.name, "count": count}).scalars())
    last = session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    return list(range(last + 1, last + 1 + count))


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to the newest Alembic revision (or to `revision`)."""
    from alembic import command  # only here: commands that read the database start without Alembic
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "pipeline.core:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
