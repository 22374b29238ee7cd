"""prepare_database: what `gongkai init` does to the database, run again as often as one likes."""

from __future__ import annotations

from helpers import add_people, write_config

from pipeline.core.audit_key import create_key_file, keyed_engine
from pipeline.core.config import load_settings
from pipeline.core.models import utcnow
from pipeline.records.installation import prepare_database


def test_init_on_a_database_with_nobody_says_an_admin_is_missing_until_one_is_added(make_env):
    env = make_env(people=False)
    first = prepare_database(env.engine, settings=env.settings, now=utcnow())
    assert [(a.code, a.name) for a in first.agencies] == [("tjj", env.settings.agencies["tjj"].name)]
    assert first.imported == [] and first.admin_missing
    add_people(env)
    again = prepare_database(env.engine, settings=env.settings, now=utcnow())
    assert again.sealed is None and again.imported == [] and not again.admin_missing


def test_an_sqlite_file_in_a_folder_not_made_yet_is_created(tmp_path):
    """SQLite only (a PostgreSQL database has no folder): a configuration of its own, not the tiers' database."""
    settings = load_settings(write_config(tmp_path, f"sqlite:///{tmp_path / 'new' / 'folder' / 'gongkai.db'}"))
    create_key_file(settings.audit.key_file)
    engine = keyed_engine(settings)
    try:
        done = prepare_database(engine, settings=settings, now=utcnow())
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "folder" / "gongkai.db").exists() and done.admin_missing
