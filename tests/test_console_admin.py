"""管理 in the console: an admin adds a person, changes roles, sets a password, disables; sets a new version of
the review levels; nobody else can, even with a forged form."""

from __future__ import annotations

from console_helpers import console, csrf, log_in
from sqlmodel import select

from pipeline.core.models import AuditEvent, Person, ReviewLevelSet


def test_an_admin_adds_a_person_who_can_then_log_in(env):
    client = console(env)
    log_in(client, "root")
    done = client.post("/admin/people", data={"csrf": csrf(client), "login": "sunba", "name": "孙八",
                                              "department": "综合处", "password": "a long enough secret",
                                              "roles": ["author"]})
    assert done.status_code == 303
    newcomer = console(env)
    assert log_in(newcomer, "sunba", "a long enough secret").status_code == 303
    assert "撰写" in newcomer.get("/").text


def test_a_weak_password_comes_back_beside_the_field(env):
    client = console(env)
    log_in(client, "root")
    again = client.post("/admin/people", data={"csrf": csrf(client), "login": "sunba", "name": "孙八",
                                               "password": "short", "roles": ["author"]})
    assert again.status_code == 400 and 'id="password-error"' in again.text and 'value="孙八"' in again.text
    with env.session() as session:
        assert session.exec(select(Person).where(Person.login == "sunba")).first() is None


def test_roles_and_disabling_take_effect_at_once(env):
    admin = console(env)
    log_in(admin, "root")
    reviewer = console(env)
    log_in(reviewer, "lisi")
    assert admin.post("/admin/people/lisi/roles", data={"csrf": csrf(admin), "roles": ["section_head", "author"]}
                      ).status_code == 303
    assert "撰写" in reviewer.get("/").text
    assert admin.post("/admin/people/lisi/disable", data={"csrf": csrf(admin)}).status_code == 303
    assert reviewer.get("/").status_code == 303                    # the session ended with the account


def test_a_new_version_of_the_levels(env):
    client = console(env)
    log_in(client, "root")
    done = client.post("/admin/levels", data={"csrf": csrf(client), "kind": "normative",
                                              "name": ["处室审核", "合法性审核", "保密审查", "办公室审发"],
                                              "role": ["section_head", "legality_reviewer", "secrecy_officer",
                                                       "office_director"]})
    assert done.status_code == 303
    assert "合法性审核" in client.get("/admin/levels").text
    with env.session() as session:
        assert session.exec(select(ReviewLevelSet).where(ReviewLevelSet.kind == "normative")).one().version == 1


def test_nobody_but_an_admin_manages_people(env):
    client = console(env)
    log_in(client, "zhaoliu")
    assert client.get("/admin/people").status_code == 403
    forged = client.post("/admin/people", data={"csrf": csrf(client), "login": "mole", "name": "内鬼",
                                                "password": "a long enough secret", "roles": ["admin"]})
    assert forged.status_code == 403
    assert client.post("/admin/people/lisi/roles", data={"csrf": csrf(client), "roles": ["office_director"]}
                       ).status_code == 403
    with env.session() as session:
        assert session.exec(select(Person).where(Person.login == "mole")).first() is None
        refusals = session.exec(select(AuditEvent).where(AuditEvent.actor == "zhaoliu",
                                                         AuditEvent.action == "refused")).all()
    assert len(refusals) >= 3


def test_the_audit_log_filters_by_item_and_person_and_shows_text_as_text(env):
    author = console(env)
    log_in(author, "zhangsan")
    author.post("/items/new", data={"csrf": csrf(author), "title": "<b>标题</b>", "category": "通知公告",
                                    "kind": "notice", "created_on": "2026-12-01", "channels": ["portal"],
                                    "body": "正文\n"})
    client = console(env)
    log_in(client, "root")
    page = client.get("/audit", params={"item": "1"}).text
    assert "submit" in page and "item:1" in page and "&lt;b&gt;标题&lt;/b&gt;" in page and "<b>标题</b>" not in page
    mine = client.get("/audit", params={"actor": "zhangsan"}).text
    assert "user_add" not in mine and "login" in mine
    bad = client.get("/audit", params={"since": "2026-02-30"})
    assert bad.status_code == 400 and 'id="since-error"' in bad.text
    other = console(env)
    log_in(other, "qianqi")
    assert other.get("/audit").status_code == 403
