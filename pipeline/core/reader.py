"""Plain SQL reads without SQLAlchemy, for the commands that must start at once (`gongkai list` and `show`:
importing SQLAlchemy alone takes longer than they may, issue 17) and for the console's pages of the same views,
which read through their unit of work's own connection (reader_of).

SQL is written once, with :name parameters, for SQLite and PostgreSQL alike; a list or tuple parameter stands
for the values of an IN (...). Values come back as the ORM's models give them through instant(), day() and
json_value(): instants aware in UTC, dates as dates, JSON as Python values.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pipeline.core.config_file import sqlite_file
from pipeline.core.errors import ConfigError, GongkaiError

PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
UPGRADE_HINT = "a database made by an older gongkai is brought up to date by gongkai init"
# a table or column the code expects is missing: SQLite's words, PostgreSQL's SQLSTATEs (undefined table, column)
MISSING_SCHEMA = re.compile(r"no such (table|column)")
MISSING_SQLSTATE = ("42P01", "42703")


class Reader:
    """Read-only queries on one DB-API connection (sqlite3, or psycopg for PostgreSQL)."""

    def __init__(self, connection: Any, *, postgresql: bool, errors: tuple[type[Exception], ...] = ()) -> None:
        self.connection = connection
        self.postgresql = postgresql
        self.errors = errors  # the driver's errors, told to the user as one message (not those of a console page)

    def all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Every row, each a dict by column name."""
        statement, values = self._bound(sql, params)
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement, values)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except self.errors as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            older = MISSING_SCHEMA.match(first) or getattr(e, "sqlstate", None) in MISSING_SQLSTATE
            raise GongkaiError(f"cannot read the database: {first}" + (f" ({UPGRADE_HINT})" if older else "")) from None
        finally:
            cursor.close()

    def first(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self.all(sql, **params)
        return rows[0] if rows else None

    def _bound(self, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        values: dict[str, Any] = {}

        def bind(match: re.Match[str]) -> str:
            name = match.group(1)
            value = params[name]
            if isinstance(value, list | tuple):
                names = [f"{name}_{i}" for i in range(len(value))]
                values.update(zip(names, value, strict=True))
                return ", ".join(map(self._placeholder, names)) or "NULL"  # IN (NULL) matches nothing
            values[name] = value
            return self._placeholder(name)

        return PARAMETER.sub(bind, sql.replace("%", "%%") if self.postgresql else sql), values

    def _placeholder(self, name: str) -> str:
        return f"%({name})s" if self.postgresql else f":{name}"


@contextmanager
def open_reader(url: str, *, busy_timeout_ms: int = 5000) -> Iterator[Reader]:
    """A reader on the database of a SQLAlchemy URL (sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB,
    special characters of the password percent-encoded), reading one snapshot; it writes nothing, and creates no
    database file where there is none. SQLite in WAL mode (gongkai's) reads beside a writer without waiting; a
    database in another journal mode is waited for up to busy_timeout_ms."""
    scheme, _, rest = url.partition("://")
    backend = scheme.split("+")[0]
    if backend == "sqlite":
        connection, errors = _sqlite(url, busy_timeout_ms / 1000), (sqlite3.Error,)
    elif backend in ("postgresql", "postgres"):
        import psycopg  # only for PostgreSQL: an embedded install reads without it

        try:
            connection = psycopg.connect("postgresql://" + rest)
        except psycopg.Error as e:
            raise GongkaiError(f"cannot connect to the database: {str(e).strip().splitlines()[0]}") from None
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        errors = (psycopg.Error,)
    else:
        raise ConfigError(f"database.url: unknown database '{scheme}' (sqlite:///FILE or postgresql+psycopg://...)")
    try:
        yield Reader(connection, postgresql=backend != "sqlite", errors=errors)
    finally:
        connection.close()


def _sqlite(url: str, timeout: float) -> sqlite3.Connection:
    database = unquote(sqlite_file(url) or "")  # as SQLAlchemy reads it: sqlite:///my%20db.db
    if database in ("", ":memory:"):
        raise ConfigError("database.url: a database in memory holds nothing to read")
    if not Path(database).is_file():
        raise GongkaiError(f"no database at {database}: run gongkai init")
    connection = sqlite3.connect(f"file:{quote(database)}?mode=rw", uri=True, timeout=timeout, isolation_level=None)
    connection.execute("BEGIN")  # every read of the command sees one snapshot (WAL: writers go on meanwhile)
    return connection


def reader_of(session: Any) -> Reader:
    """A reader inside a unit of work (pipeline.core.db.session_scope), on its connection and transaction; what the
    session holds unwritten is flushed first, as its own queries would (autoflush)."""
    session.flush()
    connection = session.connection()
    return Reader(connection.connection.driver_connection, postgresql=connection.dialect.name == "postgresql")


def instant(value: datetime | str | None) -> datetime | None:
    """A stored instant, aware in UTC (SQLite keeps text without an offset: UTC, as models.UTCDateTime writes it)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def json_value(value: Any) -> Any:
    """A JSON column's value (SQLite gives its text; psycopg may have decoded it already)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
