"""Shared fixtures: configurations, databases on SQLite and PostgreSQL, and an in-process CLI runner; and, with
TEST_NOW, the whole run at another instant (docs/time.md)."""

from __future__ import annotations

import io
import os
import shlex
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from helpers import add_people, login_token, write_config

from pipeline.cli import main as cli
from pipeline.core.agencies import sync_agencies
from pipeline.core.audit_key import keyed_engine
from pipeline.core.config import Settings, load_settings
from pipeline.core.db import migrate, session_scope

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]
PINNED = "TEST_NOW"  # not GONGKAI_*: that prefix is the settings', which refuse a key they do not know


def pytest_configure(config: pytest.Config) -> None:
    """TEST_NOW=2026-12-31T16:01:00Z: the run starts at that instant and its clock runs on from there.

    One timeline for the whole session, started before collection: module constants (a test's "tomorrow") and
    module-scoped fixtures (the demo site of the browser tests) are built at the same time as the tests that
    use them. The clock ticks, as in production: leases and retry delays fall due, created_at keeps its order
    (the suite passes with a stopped clock as well, but a test that waits for a lease would wait forever)."""
    _spread_the_fast_tier(config)
    value = os.environ.get(PINNED)
    if not value:
        return
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise pytest.UsageError(f"{PINNED}={value!r}: give an ISO 8601 instant with its offset, "
                                "e.g. 2026-12-31T16:01:00Z")
    traveller = time_machine.travel(instant, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)


def _spread_the_fast_tier(config: pytest.Config) -> None:
    """Plain `pytest` (the fast tier alone) runs on one pytest-xdist worker per core; `-n N` chooses, `-n 0` runs in
    this process (so does `-p no:xdist`). The other tiers start servers, workers and browsers of their own and run
    in one process."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is not None or config.option.collectonly:
        return
    if set(config.getoption("tier") or ["fast"]) != {"fast"} or config.getoption("usepdb"):
        return
    config.option.numprocesses = config.hook.pytest_xdist_auto_num_workers(config=config)
    config.option.dist = "load"
    config.option.tx = ["popen"] * config.option.numprocesses


# Tiers, slowest first: a test belongs to the first tier whose marker it carries, else to "fast" (unit tests on
# SQLite). Plain `pytest` runs the fast tier; `pytest --tier all` (what .ci/run does) runs every tier.
TIERS = ("integration", "browser", "docx_pdf", "boundary", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--tier", action="append", choices=("fast", *TIERS, "all"),
                     help="test tier to run (repeatable): fast (default: unit tests on SQLite), "
                          f"{', '.join(TIERS)}, or all")


def _tier(item: pytest.Item) -> str:
    if Path(item.path).is_relative_to(Path(__file__).parent / "integration"):
        item.add_marker(pytest.mark.integration)
    if "browser" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.browser)
    return next((tier for tier in TIERS if item.get_closest_marker(tier)), "fast")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("tier") or ["fast"])
    tiers = {item: _tier(item) for item in items}
    keep = items if "all" in wanted else [item for item in items if tiers[item] in wanted]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if tiers[item] not in wanted])
        items[:] = keep
    if os.environ.get(PINNED) and any(tiers[item] == "integration" for item in items):
        raise pytest.UsageError(f"{PINNED} moves this process's clock only; the integration tests' workers, beat "
                                "and servers are other processes on the real clock: leave out --tier integration")


def pytest_report_header(config: pytest.Config) -> str:
    return f"tiers: {', '.join(sorted(config.getoption('tier') or ['fast']))} (--tier all runs every tier)"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gongkai.db"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@dataclass
class Env:
    """A configured, migrated platform for one test."""

    directory: Path
    config: Path
    settings: Settings
    engine: sa.Engine

    def session(self):  # type: ignore[no-untyped-def]
        return session_scope(self.engine)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty SQLite database migrated to head, copied by each test instead of migrating again (Alembic reads
    every revision file on each upgrade: about 0.1 s a test). tests/test_migrations.py migrates for real."""
    path = tmp_path_factory.mktemp("template") / "gongkai.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def make_env(tmp_path: Path, db_url: str, migrated_sqlite: Path) -> Iterator:  # type: ignore[type-arg]
    engines = []

    def build(extra: str = "", *, people: bool = True) -> Env:
        """With `people`, the test people of helpers.PEOPLE (password helpers.PASSWORD) are stored."""
        config = write_config(tmp_path, db_url, extra)
        settings = load_settings(config)
        database = tmp_path / "gongkai.db"
        fresh = db_url == f"sqlite:///{database}" and not database.exists()
        if fresh:  # an empty SQLite database: the migrated copy is the same schema, made once
            shutil.copyfile(migrated_sqlite, database)
        engine = keyed_engine(settings)
        engines.append(engine)
        if not fresh:
            migrate(engine)
        with session_scope(engine) as session:
            sync_agencies(session, settings=settings)
        built = Env(tmp_path, config, settings, engine)
        if people:
            add_people(built)
        return built

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def env(make_env) -> Env:  # type: ignore[no-untyped-def]
    return make_env()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `gongkai ARGS` in this process, as a user would from the directory holding gongkai.toml; with as_=LOGIN
    as that person, logged in (GONGKAI_TOKEN; or with token=, that token), and without either as nobody logged in
    unless `gongkai login` stored a token (in tmp_path/xdg). `stdin` is what the command reads."""
    tokens: dict[tuple[Path, str], str] = {}
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # gongkai login's token files stay here

    def invoke(args: str | list[str], *, cwd: Path, as_: str | None = None, stdin: str = "",
               token: str | None = None) -> Result:
        argv = shlex.split(args) if isinstance(args, str) else args
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["gongkai", *argv])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        monkeypatch.delenv("GONGKAI_TOKEN", raising=False)
        if as_ is not None:
            key = (cwd, as_)
            if key not in tokens:
                tokens[key] = login_token(cwd / "gongkai.toml", as_)
            monkeypatch.setenv("GONGKAI_TOKEN", tokens[key])
        if token is not None:  # a token as a script would pass it
            monkeypatch.setenv("GONGKAI_TOKEN", token)
        capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from browser import CHROMIUM, FLAGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()
