"""`gongkai list` and `show` read through a plain DB-API connection and a configuration read without validation
(pipeline.core.config_file, pipeline.core.reader): what they read must be what every other command reads."""

from __future__ import annotations

import json

import pytest
from helpers import approve_fully, submit, write_config

from pipeline.core.config import DatabaseSettings, PlatformSettings, load_settings
from pipeline.core.config_file import KNOWN_KEYS, read_target
from pipeline.core.errors import ConfigError, GongkaiError
from pipeline.core.reader import open_reader, reader_of
from pipeline.items import reading
from pipeline.records.level_sets import read_levels
from pipeline.records.levels import levels_of


def test_the_sections_read_whole_have_the_keys_of_their_settings():
    assert set(KNOWN_KEYS["database"]) == set(DatabaseSettings.model_fields)
    assert set(KNOWN_KEYS["platform"]) == set(PlatformSettings.model_fields)


AGENCY = '{"name": "台州市财政局", "org_code": "002668397"}'


@pytest.mark.parametrize("environment", [
    {},
    {"GONGKAI_DATABASE__URL": "sqlite:///elsewhere.db"},
    {"gongkai_database__url": "sqlite:////srv/g.db"},
    {"GONGKAI_DATABASE": '{"url": "sqlite:///json.db"}'},
    {"GONGKAI_DATABASE__URL": "postgresql+psycopg://u:p%40ss@127.0.0.1:5432/x?sslmode=disable"},
    {"GONGKAI_PLATFORM__DEFAULT_AGENCY": "czj", "GONGKAI_AGENCIES__CZJ": AGENCY},
    {"GONGKAI_PLATFORM": '{"default_agency": "czj"}', "GONGKAI_AGENCIES": '{"czj": ' + AGENCY + "}"},
    {"GONGKAI_QUEUE__MAX_ATTEMPTS": "3"},  # a section list and show do not read
    # a key wins over its section's JSON whatever the order of the environment, as in pydantic-settings
    {"GONGKAI_DATABASE__URL": "sqlite:///key.db", "GONGKAI_DATABASE": '{"url": "sqlite:///json.db"}'},
    {"GONGKAI_DATABASE": '{"url": "sqlite:///json.db"}', "GONGKAI_DATABASE__URL": "sqlite:///key.db"},
    {"GONGKAI_PLATFORM__DEFAULT_AGENCY": "tjj", "GONGKAI_PLATFORM": '{"default_agency": "czj"}',
     "GONGKAI_AGENCIES": '{"czj": ' + AGENCY + "}"},
])
def test_the_database_and_agency_are_those_load_settings_gives(tmp_path, monkeypatch, environment):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, "sqlite:///g.db")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    target = read_target(None)
    assert (target.database_url, target.agency) == (settings.database.url, settings.agency(None)[0])
    assert read_target("tjj").agency == "tjj"


@pytest.mark.parametrize(("replace", "message"), [
    (("[database]", "[database]\nurll = 'x'"), "gongkai.toml: database.urll: Extra inputs are not permitted"),
    (('default_agency = "tjj"', 'default_agency = "nobody"'), "unknown agency 'nobody'; configured: tjj"),
    (("[database]", "[database\n"), "gongkai.toml: "),
])
def test_a_bad_configuration_is_named(tmp_path, monkeypatch, replace, message):
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path, "sqlite:///g.db")
    path.write_text(path.read_text(encoding="utf-8").replace(*replace), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_target(None)
    assert str(raised.value).startswith(message)


def test_a_configuration_path_that_is_a_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGKAI_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError, match="not a file"):
        read_target(None)


def test_a_sqlite_path_is_percent_decoded_as_sqlalchemy_decodes_it(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "my db.db").close()
    with open_reader(f"sqlite:///{tmp_path}/my%20db.db") as db:
        assert db.all("SELECT 1 AS one") == [{"one": 1}]


def test_only_a_missing_table_suggests_gongkai_init(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with open_reader(f"sqlite:///{tmp_path}/junk.db") as db:
        with pytest.raises(GongkaiError) as raised:
            db.all("SELECT id FROM agency")
    assert "file is not a database" in str(raised.value) and "gongkai init" not in str(raised.value)


def test_show_prints_instants_in_beijing_time(env, run):
    from datetime import datetime, time, timedelta

    from pipeline.core.clock import SHANGHAI, beijing_today

    at = datetime.combine(beijing_today() + timedelta(days=30), time(9), tzinfo=SHANGHAI)  # 01:00 UTC
    item = submit(env, publish_at=at)
    out = run(["show", str(item)], cwd=env.directory).out
    assert f"publish_at: {at:%Y-%m-%d} 09:00 (Beijing)" in out and "+00:00" not in out


def test_a_missing_database_is_named_and_not_created(tmp_path):
    with pytest.raises(GongkaiError, match="no database at .*missing.db: run gongkai init"):
        with open_reader(f"sqlite:///{tmp_path}/missing.db"):
            pass
    assert not (tmp_path / "missing.db").exists()


def test_a_database_without_the_tables_is_told_as_one_message(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    with open_reader(f"sqlite:///{tmp_path}/empty.db") as db:
        with pytest.raises(GongkaiError, match=r"cannot read the database: no such table: agency \(.*gongkai init"):
            reading.agency_id(db, "tjj")


def test_list_parameters_expand_and_text_with_a_percent_sign_is_bound_as_it_is(env):
    with env.session() as session:
        db = reader_of(session)
        assert db.all("SELECT :text AS text", text="100% :not_a_parameter")[0]["text"] == "100% :not_a_parameter"
        assert db.all("SELECT code FROM agency WHERE id IN (:ids)", ids=[]) == []
        assert [row["code"] for row in db.all("SELECT code FROM agency WHERE code IN (:codes)",
                                              codes=["tjj", "none"])] == ["tjj"]


def test_the_command_and_the_console_read_the_same_views(env):
    """The CLI's own connection (open_reader) and a unit of work's (reader_of) give the same dicts, JSON-ready."""
    first, second = submit(env), submit(env, title="第二条")
    approve_fully(env, first)
    with env.session() as session:
        inside = reader_of(session)
        agency = reading.agency_id(inside, "tjj")
        through_session = (reading.list_items(inside, agency_id=agency),
                           reading.show_item(inside, item_id=first, agency_id=agency))
    with open_reader(env.settings.database.url) as db:
        alone = (reading.list_items(db, agency_id=agency), reading.show_item(db, item_id=first, agency_id=agency))
    assert through_session == alone
    assert json.loads(json.dumps(alone)) == list(alone)
    rows = {row["id"]: row for row in alone[0]}
    assert rows[second]["awaiting"] == "处室审核" and rows[second]["deadline"]["days_left"] >= 0
    assert rows[first]["channels"] and rows[first]["index_no"]
    assert alone[1]["levels"] == ["处室审核", "保密审查", "办公室审发"]
    assert alone[1]["created_on"] and alone[1]["decisions"][0]["at"].endswith("+00:00")


def test_an_item_without_a_fixed_level_set_reads_the_levels_levels_of_gives(env):
    """Items submitted before migration 0012 have no level set yet: the newest for their kind, else the default."""
    from pipeline.core.models import Item

    item_id = submit(env)
    with env.session() as session:
        item = session.get(Item, item_id)
        item.level_set_id = None
        session.add(item)
    with env.session() as session:
        item = session.get(Item, item_id)
        expected = levels_of(session, item)
        found = read_levels(reader_of(session), item_id=item.id, agency_id=item.agency_id, level_set_id=None)
    assert found == expected and [level["name"] for level in found][0] == "处室审核"
