"""Small builders shared by tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pipeline.core.models import Decision
from pipeline.items import workflow
from pipeline.items.itemfile import ItemRecord, ItemSpec

EXAMPLE = Path(__file__).parents[1] / "pipeline" / "cli" / "gongkai.example.toml"
LEVEL_REVIEWERS = ["lisi", "wangwu", "zhaoliu"]  # the default three review levels
# argon2id at its cheapest: tests hash many passwords; production uses the [auth] defaults
CHEAP_AUTH = "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 8\nargon2_parallelism = 1\n"
PASSWORD = "correct horse battery staple"
# the people of the tests and the demo: login -> (姓名, 处室, roles)
PEOPLE = {
    "root": ("管理员", "办公室", ["admin"]),
    "zhangsan": ("张三", "综合处", ["author"]),
    "lisi": ("李四", "综合处", ["section_head"]),
    "wangwu": ("王五", "保密办", ["secrecy_officer"]),
    "zhaoliu": ("赵六", "办公室", ["office_director"]),
    "qianqi": ("钱七", "政务公开办", ["disclosure_office", "operator"]),
}


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


def actor(env: Any, login: str) -> Any:
    """The Actor of a stored person, as a login would give it."""
    from pipeline.records.people import actor_for, find_person

    with env.session() as session:
        return actor_for(session, find_person(session, login))


def record(**fields: Any) -> ItemRecord:
    body = fields.pop("body", "正文。\n")
    values = {"title": "关于开展统计执法检查的通知", "category": "通知公告", "kind": "notice",
              "created_on": date(2020, 3, 1), **fields}
    return ItemRecord("test.md", 1, ItemSpec(**values), body, {})


def submit(env: Any, actor: str = "zhangsan", **fields: Any) -> int:
    with env.session() as session:
        [done] = workflow.submit_items(session, settings=env.settings, agency_code="tjj", actor=actor,
                                       records=[record(**fields)])
    return done.item_id


def review(env: Any, item_id: int, actor: str, decision: Decision = Decision.APPROVE,
           comment: str = "") -> workflow.Reviewed:
    with env.session() as session:
        return workflow.review_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                                    actor=actor, decision=decision, comment=comment)


def approve_fully(env: Any, item_id: int) -> workflow.Reviewed:
    result = None
    for reviewer in LEVEL_REVIEWERS:
        result = review(env, item_id, reviewer)
    assert result is not None
    return result


def write_config(directory: Path, url: str, extra: str = "") -> Path:
    """The example configuration with this test's database, site directories and any extra TOML."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///gongkai.db"', f'url = "{url}"')
    text = text.replace('output_dir = "site/', f'output_dir = "{directory}/site/')
    path = directory / "gongkai.toml"
    path.write_text(text + "\n" + CHEAP_AUTH + "\n" + extra, encoding="utf-8")
    return path
