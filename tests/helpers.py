"""Small builders shared by tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipeline.cli.demo import PEOPLE  # the tests' people are the demo's (login -> 姓名, 处室, roles)
from pipeline.core.audit_key import create_key_file
from pipeline.core.clock import beijing_today
from pipeline.core.models import Decision
from pipeline.items import workflow
from pipeline.items.itemfile import ItemRecord, ItemSpec

EXAMPLE = Path(__file__).parents[1] / "pipeline" / "cli" / "gongkai.example.toml"
LEVEL_REVIEWERS = ["lisi", "wangwu", "zhaoliu"]  # the default three review levels
LEVEL_OF = {"lisi": "处室审核", "wangwu": "保密审查", "zhaoliu": "办公室审发"}  # the level each of them passes
# argon2id at its cheapest: tests hash many passwords; production uses the [auth] defaults
CHEAP_AUTH = "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 8\nargon2_parallelism = 1\n"
PASSWORD = "correct horse battery staple"


def add_people(env: Any, people: dict[str, tuple[str, str, list[str]]] | None = None) -> None:
    """Store the test people (password PASSWORD) in agency tjj; the first is the bootstrap admin."""
    from pipeline.core.clock import utcnow
    from pipeline.records.people import actor_for, add_person, find_person

    people = people or PEOPLE
    with env.session() as session:
        admin = None
        for login, (name, department, roles) in people.items():
            add_person(session, actor=admin, login=login, name=name, department=department, agency_code="tjj",
                       roles=roles, password=PASSWORD, settings=env.settings, now=utcnow())
            if admin is None:
                session.flush()
                admin = actor_for(session, find_person(session, login))


def hire(env: Any, login: str, roles: list[str], *, agency: str = "tjj", name: str = "") -> None:
    """Add one more person (password PASSWORD), as the admin root does with gongkai user add."""
    from pipeline.core.clock import utcnow
    from pipeline.records.people import add_person

    with env.session() as session:
        add_person(session, actor=acting(session, "root"), login=login, name=name or login, agency_code=agency,
                   roles=roles, password=PASSWORD, settings=env.settings, now=utcnow())


def acting(session: Any, login: str) -> Any:
    """The Actor of a stored person, read in the caller's session."""
    from pipeline.records.people import actor_for, find_person

    return actor_for(session, find_person(session, login))


def actor(env: Any, login: str) -> Any:
    """The Actor of a stored person, as a login would give it."""
    from pipeline.records.people import actor_for, find_person

    with env.session() as session:
        return actor_for(session, find_person(session, login))


# what the final approval of a test item formed long ago gives as the reason it goes out after its 第二十六条
# deadline (pipeline.records.timeliness); an item on time ignores it (tests/test_timeliness.py checks both)
LATE_REASON = "测试数据：按历史成文日期补发"


def approval(item_id: int | str, reviewer: str, revision: int = 1) -> list[str]:
    """The arguments of `gongkai review` by which `reviewer` passes their level of `revision`."""
    late = ["--late-reason", LATE_REASON] if reviewer == LEVEL_REVIEWERS[-1] else []
    return ["review", str(item_id), "--approve", "--level", LEVEL_OF[reviewer], "--revision", str(revision), *late]


def record(**fields: Any) -> ItemRecord:
    body = fields.pop("body", "正文。\n")
    values = {"title": "关于开展统计执法检查的通知", "category": "通知公告", "kind": "notice",
              "created_on": beijing_today(), **fields}
    return ItemRecord("test.md", 1, ItemSpec(**values), body, {})


def submit(env: Any, actor: str = "zhangsan", **fields: Any) -> int:
    with env.session() as session:
        [done] = workflow.submit_items(session, settings=env.settings, agency_code="tjj",
                                       actor=acting(session, actor), records=[record(**fields)])
    return done.item_id


def review(env: Any, item_id: int, actor: str, decision: Decision = Decision.APPROVE,
           comment: str = "", level: str | None = None, revision: int | None = None,
           late_reason: str = "") -> workflow.Reviewed:
    """One review step by `actor`, of the level and revision the item awaits unless they are given."""
    from pipeline.core.models import Item
    from pipeline.records.levels import levels_of

    with env.session() as session:
        item = session.get(Item, item_id)
        if item is not None:
            levels = levels_of(session, item)
            level = level or levels[min(item.current_level, len(levels) - 1)]["name"]
            revision = revision or item.current_revision
        return workflow.review_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                                    actor=acting(session, actor), decision=decision, comment=comment,
                                    level=level or "", revision=revision or 0, late_reason=late_reason)


def approve_fully(env: Any, item_id: int, late_reason: str = "") -> workflow.Reviewed:
    result = None
    for reviewer in LEVEL_REVIEWERS:
        result = review(env, item_id, reviewer, late_reason=late_reason)
    assert result is not None
    return result


def write_config(directory: Path, url: str, extra: str = "") -> Path:
    """The example configuration with this test's database, site directories and any extra TOML."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///gongkai.db"', f'url = "{url}"')
    text = text.replace('output_dir = "site/', f'output_dir = "{directory}/site/')
    path = directory / "gongkai.toml"
    path.write_text(text + "\n" + CHEAP_AUTH + "\n" + extra, encoding="utf-8")
    create_key_file(directory / "audit.key")  # what gongkai init does
    return path


def snapshot(env) -> dict[str, list]:
    """Every row of every table the database holds (reflected, so tables added later count too), but the test
    runner's own logging in (the tokens it mints, their last use, the audit events of those logins) and the audit
    events of refusals, which are kept on purpose (tests/test_authority.py checks them)."""
    metadata = sa.MetaData()
    metadata.reflect(env.engine)
    with env.engine.connect() as connection:
        rows = {name: sorted(map(tuple, connection.execute(sa.select(table)).all()), key=repr)
                for name, table in metadata.tables.items() if name != "person_token"}
    action = list(metadata.tables["audit_event"].c.keys()).index("action")
    rows["audit_event"] = [row for row in rows["audit_event"] if row[action] not in ("login", "refused")]
    return rows


def login_token(config: Path, login: str, password: str = PASSWORD) -> str:
    """A personal token of `login`, as gongkai login issues it, for the database of `config`."""
    from pipeline.core.audit_key import keyed_engine
    from pipeline.core.clock import utcnow
    from pipeline.core.config import load_settings
    from pipeline.core.db import session_scope
    from pipeline.records.authentication import log_in

    settings = load_settings(config)
    engine = keyed_engine(settings)
    try:
        with session_scope(engine) as session:
            result = log_in(session, login=login, password=password, now=utcnow(), label="cli", settings=settings)
    finally:
        engine.dispose()
    assert result.token is not None, result.refused
    return result.token


TOMORROW = "<tomorrow>"  # the agency's tomorrow, filled in when the test runs: a run may cross Beijing's midnight


def on_the_day(value: Any) -> Any:
    """`value` (text, bytes or a list of them) with TOMORROW replaced by Beijing's tomorrow at this moment."""
    from datetime import timedelta

    from pipeline.core.clock import beijing_today

    day = (beijing_today() + timedelta(days=1)).isoformat()
    if isinstance(value, bytes):
        return value.replace(TOMORROW.encode(), day.encode())
    if isinstance(value, str):
        return value.replace(TOMORROW, day)
    if isinstance(value, list):
        return [on_the_day(part) for part in value]
    return value


SCRIPTED_CHANNELS = '\n[channels.scripted]\nkind = "scripted"\n[channels.undeletable]\nkind = "undeletable"\n'


def scripted_env(make_env: Any, monkeypatch: Any) -> Any:
    """An env whose agency also publishes to the scripted doubles (tests/doubles/scripted.py: `scripted`, whose
    answers a test scripts, and `undeletable`, which refuses take-downs), reset."""
    from doubles.scripted import Scripted, Undeletable

    import channels

    monkeypatch.setitem(channels.REGISTRY, "scripted", Scripted)
    monkeypatch.setitem(channels.REGISTRY, "undeletable", Undeletable)
    Scripted.reset()
    built = make_env(SCRIPTED_CHANNELS)
    built.settings.agencies["tjj"].channels += ["scripted", "undeletable"]
    return built
