"""Issue 18: every decision is bound to an authenticated person holding the role, on SQLite and PostgreSQL.

With only a shell and a login of his own, 张三 (author) can pass no review level, set no figure, import no ledger
and change no level: each attempt exits 1, names the missing authority and is audited. Roles and levels come
from the database, not from the configuration or the environment.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pytest
import time_machine
from helpers import PASSWORD, approval, login_token, submit, write_config
from sqlmodel import select
from test_item_files import markdown

from pipeline.core.clock import utcnow
from pipeline.core.models import AnnualFigure, AuditEvent, Item, LedgerEntry, ReviewDecision, ReviewLevelSet

HISTORY = "索引号,标题,渠道,主题分类,类别,公开日期\n,旧通知,portal,通知公告,notice,2019-05-06\n"


def refusals(env, login: str) -> list[dict]:
    with env.session() as session:
        return [e.details for e in session.exec(select(AuditEvent).where(AuditEvent.action == "refused",
                                                                         AuditEvent.actor == login)
                                                .order_by(AuditEvent.id))]


def refused(result, message: str) -> None:
    assert result.code == 1, result.out + result.err
    assert f"error: {message}" in result.err, result.err


def test_an_author_cannot_pass_any_level_set_a_figure_import_a_ledger_or_change_levels(env, run):
    item_id = submit(env)  # his own item, and another author's would be refused the same way
    (env.directory / "history.csv").write_text(HISTORY, encoding="utf-8")
    before = {"levels": _count(env, ReviewLevelSet)}
    attempts = [
        (approval(item_id, "lisi"), "zhangsan does not hold the role section_head in tjj (needed to 处室审核)"),
        ([*approval(item_id, "lisi"), "--as", "lisi"],
         "zhangsan does not hold the role admin in tjj (needed to act for lisi)"),
        (["figures", "set", "2021", "fee.amount", "3"],
         "zhangsan does not hold the role disclosure_office in tjj (needed to set the figure fee.amount)"),
        (["ledger", "import", "history.csv"],
         "zhangsan does not hold the role disclosure_office in tjj (needed to import a ledger)"),
        (["levels", "set", "处室审核=section_head"],
         "zhangsan does not hold the role admin in tjj (needed to change review levels)"),
        (["user", "role", "zhangsan", "--add", "section_head"],
         "zhangsan does not hold the role admin in tjj (needed to change the roles of zhangsan)"),
    ]
    for args, message in attempts:
        refused(run(args, as_="zhangsan", cwd=env.directory), message)
    assert run(approval(item_id, "lisi"), as_="lisi", cwd=env.directory).code == 0
    refused(run(approval(item_id, "wangwu"), as_="zhangsan", cwd=env.directory),
            "zhangsan does not hold the role secrecy_officer in tjj (needed to 保密审查)")
    assert run(approval(item_id, "wangwu"), as_="wangwu", cwd=env.directory).code == 0
    refused(run(approval(item_id, "zhaoliu"), as_="zhangsan", cwd=env.directory),
            "zhangsan does not hold the role office_director in tjj (needed to 办公室审发)")
    audited = refusals(env, "zhangsan")
    assert [d["message"] for d in audited] == [m for _, m in attempts] + [
        "zhangsan does not hold the role secrecy_officer in tjj (needed to 保密审查)",
        "zhangsan does not hold the role office_director in tjj (needed to 办公室审发)"]
    with env.session() as session:
        assert [d.reviewer for d in session.exec(select(ReviewDecision))] == ["lisi", "wangwu"]
        assert session.exec(select(AnnualFigure)).all() == [] and session.exec(select(LedgerEntry)).all() == []
    assert _count(env, ReviewLevelSet) == before["levels"]


def _count(env, model) -> int:
    with env.session() as session:
        return len(session.exec(select(model)).all())


@pytest.mark.parametrize(("name", "value", "message"), [
    ("GONGKAI_AGENCIES__TJJ__USERS__ZHANGSAN__ROLES", '["section_head"]', "would grant roles; roles live in the "
     "database: use gongkai user add/role"),
    ("GONGKAI_AGENCIES__tjj__users__mallory__roles", '["section_head", "office_director"]', "would grant roles"),
    ("GONGKAI_AGENCIES__TJJ__REVIEW_LEVELS", '[{"name": "处室审核", "role": "section_head"}]',
     "would change review levels; they live in the database: use gongkai levels set"),
    ("GONGKAI_AGENCIES__TJJ", '{"review_levels": [{"name": "处室审核", "role": "section_head"}]}',
     "would change review levels"),
    ("GONGKAI_AGENCIES", '{"tjj": {"users": {"zhangsan": {"roles": ["office_director"]}}}}', "would grant roles"),
])
def test_the_environment_can_neither_grant_a_role_nor_change_the_levels(env, run, monkeypatch, name, value, message):
    item_id = submit(env)
    token = login_token(env.config, "zhangsan")
    monkeypatch.setenv(name, value)
    result = run(approval(item_id, "lisi"), token=token, cwd=env.directory)
    refused(result, f"environment: {name} {message}")
    monkeypatch.delenv(name)
    with env.session() as session:
        assert session.exec(select(ReviewDecision)).all() == []


def test_the_os_login_name_does_not_change_who_acts(env, run, monkeypatch):
    item_id = submit(env)
    for variable in ("LOGNAME", "USER", "USERNAME"):
        monkeypatch.setenv(variable, "lisi")
    refused(run(approval(item_id, "lisi"), as_="zhangsan", cwd=env.directory),
            "zhangsan does not hold the role section_head in tjj")
    refused(run(approval(item_id, "lisi"), cwd=env.directory), "not logged in: run gongkai login")


def test_login_keeps_a_token_only_its_owner_reads_whoami_and_logout(env, run):
    result = run(["login", "lisi", "--password-stdin"], stdin=PASSWORD + "\n", cwd=env.directory)
    assert result.code == 0, result.err
    assert "logged in as lisi (李四), tjj: section_head" in result.out
    [path] = (env.directory.parent / env.directory.name / "xdg" / "gongkai" / "tokens").iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with env.session() as session:
        assert path.read_text().strip() not in json.dumps([e.details for e in session.exec(select(AuditEvent))])
    whoami = run(["whoami"], cwd=env.directory)
    assert whoami.code == 0 and whoami.out.startswith("lisi (李四, 综合处), tjj; roles tjj: section_head")
    os.chmod(path, 0o644)
    refused(run(["whoami"], cwd=env.directory), f"{path} is readable by others (mode 0644)")
    os.chmod(path, 0o600)
    assert run(["logout"], cwd=env.directory).code == 0 and not path.exists()
    refused(run(["whoami"], cwd=env.directory), "not logged in: run gongkai login")


def test_bad_logins_and_dead_tokens_each_get_a_clear_message_and_change_nothing(env, run):
    item_id = submit(env)
    wrong = run(["login", "zhangsan", "--password-stdin"], stdin="not the password\n", cwd=env.directory)
    refused(wrong, "wrong login or password for zhangsan")
    for _ in range(4):
        run(["login", "zhangsan", "--password-stdin"], stdin="not the password\n", cwd=env.directory)
    locked = run(["login", "zhangsan", "--password-stdin"], stdin=PASSWORD + "\n", cwd=env.directory)
    refused(locked, "user zhangsan is locked until")
    with env.session() as session:
        failures = session.exec(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert len(failures) == 6 and all(e.actor == "zhangsan" for e in failures)

    lisi = login_token(env.config, "lisi")
    assert run(["user", "revoke", "lisi"], as_="root", cwd=env.directory).code == 0
    refused(run(approval(item_id, "lisi"), cwd=env.directory, token=lisi),
            "the login token was revoked at")
    assert run(["user", "disable", "wangwu"], as_="root", cwd=env.directory).code == 0
    refused(run(["login", "wangwu", "--password-stdin"], stdin=PASSWORD + "\n", cwd=env.directory),
            "user wangwu is disabled; ask an admin")
    zhaoliu = login_token(env.config, "zhaoliu")
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        refused(run(["whoami"], cwd=env.directory, token=zhaoliu), "the login token expired at")
    refused(run(["whoami"], cwd=env.directory, token="gk_made_up"), "the login token is not known here")
    with env.session() as session:
        assert session.exec(select(ReviewDecision)).all() == []


def test_a_change_of_levels_applies_only_to_items_submitted_after_it(env, run):
    before = submit(env, id="before")
    result = run(["levels", "set", "处室审核=section_head", "办公室审发=office_director"], as_="root",
                 cwd=env.directory)
    assert result.code == 0 and "version 2" in result.out, result.err
    after = submit(env, id="after")
    assert run(approval(after, "lisi"), as_="lisi", cwd=env.directory).code == 0
    final = run(approval(after, "zhaoliu"), as_="zhaoliu", cwd=env.directory)
    assert final.code == 0 and "approved, 索引号" in final.out, final.err
    assert run(approval(before, "lisi"), as_="lisi", cwd=env.directory).code == 0
    stale = run(approval(before, "zhaoliu"), as_="zhaoliu", cwd=env.directory)
    refused(stale, f"item {before} awaits 保密审查 of revision 1, not 办公室审发 of revision 1")
    shown = json.loads(run(["show", str(before), "--json"], cwd=env.directory).out)
    assert shown["levels"] == ["处室审核", "保密审查", "办公室审发"] and shown["awaiting"] == "保密审查"
    levels = json.loads(run(["levels", "show", "--json"], cwd=env.directory).out)
    assert [(row["kind"], row["version"], [lv["name"] for lv in row["levels"]]) for row in levels] == [
        (None, 2, ["处室审核", "办公室审发"])]


def test_a_kind_can_have_its_own_levels(env, run):
    args = ["levels", "set", "--kind", "normative", "处室审核=section_head", "合法性审核=legality_reviewer",
            "保密审查=secrecy_officer", "办公室审发=office_director"]
    assert run(args, as_="root", cwd=env.directory).code == 0
    normative = submit(env, kind="normative", category="通知公告")
    notice = submit(env)
    levels = {i: json.loads(run(["show", str(i), "--json"], cwd=env.directory).out)["levels"]
              for i in (normative, notice)}
    assert levels == {normative: ["处室审核", "合法性审核", "保密审查", "办公室审发"],
                      notice: ["处室审核", "保密审查", "办公室审发"]}
    assert run(approval(normative, "lisi"), as_="lisi", cwd=env.directory).code == 0
    refused(run(["review", str(normative), "--approve", "--level", "合法性审核", "--revision", "1"], as_="wangwu",
                cwd=env.directory), "wangwu does not hold the role legality_reviewer in tjj (needed to 合法性审核)")


def test_an_admin_acts_for_someone_recorded_and_shown_as_such(env, run):
    item_id = submit(env)
    result = run([*approval(item_id, "lisi"), "--as", "lisi"], as_="root", cwd=env.directory)
    assert result.code == 0, result.err
    shown = run(["show", str(item_id)], cwd=env.directory).out
    assert "lisi (admin root for lisi)" in shown
    with env.session() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "review")).one()
    assert event.actor == "admin root for lisi"
    refused(run([*approval(item_id, "wangwu"), "--as", "zhaoliu"], as_="root", cwd=env.directory),
            "zhaoliu does not hold the role secrecy_officer in tjj (needed to 保密审查)")
    refused(run([*approval(item_id, "wangwu"), "--as", "wangwu"], as_="root", cwd=env.directory),
            f"root already passed 处室审核 of item {item_id}; 保密审查 needs another person")
    assert run(approval(item_id, "wangwu"), as_="wangwu", cwd=env.directory).code == 0


def test_people_are_managed_with_the_user_commands_and_the_first_admin_needs_no_login(make_env, run):
    env = make_env(people=False)
    first = run(["user", "add", "chief", "--name", "主任", "--role", "admin", "--password-stdin"],
                stdin=PASSWORD + "\n", cwd=env.directory)
    assert first.code == 0 and "added chief (the first admin) to tjj: admin" in first.out, first.err
    refused(run(["user", "add", "mallory", "--name", "M", "--role", "admin", "--no-password"], cwd=env.directory),
            "not logged in: run gongkai login")
    added = run(["user", "add", "zhoujiu", "--name", "周九", "--department", "综合处", "--role", "author",
                 "--password-stdin"], stdin="short\n", as_="chief", cwd=env.directory)
    refused(added, "a password needs at least 12 characters")
    added = run(["user", "add", "zhoujiu", "--name", "周九", "--department", "综合处", "--role", "author",
                 "--password-stdin"], stdin=PASSWORD + "\n", as_="chief", cwd=env.directory)
    assert added.code == 0, added.err
    assert run(["user", "role", "zhoujiu", "--add", "section_head"], as_="chief", cwd=env.directory).code == 0
    listed = json.loads(run(["user", "list", "--json"], cwd=env.directory).out)
    assert [(p["login"], p["roles"]) for p in listed] == [("chief", {"tjj": ["admin"]}),
                                                          ("zhoujiu", {"tjj": ["author", "section_head"]})]
    changed = run(["user", "passwd", "--password-stdin"], stdin="a brand new passphrase\n", as_="zhoujiu",
                  cwd=env.directory)
    assert changed.code == 0, changed.err
    assert login_token(env.config, "zhoujiu", "a brand new passphrase")


def test_init_imports_the_users_of_an_old_configuration_once_then_warns_they_are_ignored(tmp_path, db_url, run):
    users = ('[agencies.tjj.users.zhangsan]\nname = "张三"\nroles = ["author"]\n'
             '[agencies.tjj.users.lisi]\nname = "李四"\nroles = ["section_head"]\n')
    write_config(tmp_path, db_url, users)
    first = run(["init"], cwd=tmp_path)
    assert first.code == 0 and "imported 2 users from the [agencies.*.users] sections" in first.out, first.err
    assert "from now on those sections are ignored" in first.out
    again = run(["init"], cwd=tmp_path)
    assert again.code == 0 and "imported" not in again.out
    listed = run(["user", "list", "--json"], cwd=tmp_path)
    assert "warning: [agencies.tjj.users] in the configuration is ignored" in listed.err
    assert [(p["login"], p["can_log_in"]) for p in json.loads(listed.out)] == [("lisi", False), ("zhangsan", False)]


def test_the_demo_creates_its_people_logs_them_in_and_prints_their_passwords(tmp_path, run):
    result = run(["demo", "--workspace", str(tmp_path / "demo")], cwd=tmp_path)
    assert result.code == 0, result.err
    people = (tmp_path / "demo" / "demo-people.txt")
    assert stat.S_IMODE(people.stat().st_mode) == 0o600
    rows = [line.split("\t") for line in people.read_text(encoding="utf-8").splitlines()[1:]]
    assert [row[0] for row in rows] == ["root", "zhangsan", "lisi", "wangwu", "zhaoliu", "qianqi"]
    for login, password, *_ in rows:
        assert f"{login}" in result.out and password in result.out
    assert login_token(tmp_path / "demo" / "gongkai.toml", "zhaoliu", rows[4][1])


def test_an_item_is_submitted_by_the_cli_as_the_logged_in_author(env, run):
    (env.directory / "a.md").write_bytes(markdown())
    assert run(["submit", "a.md"], as_="zhangsan", cwd=env.directory).code == 0
    refused(run(["submit", "a.md"], as_="lisi", cwd=env.directory),
            "lisi does not hold the role author in tjj (needed to submit items)")


def test_an_item_submitted_before_levels_were_stored_is_fixed_to_the_current_set_at_its_next_review(env, run):
    item_id = submit(env)
    with env.engine.begin() as connection:  # as migration 0012 leaves an item that was in review
        connection.exec_driver_sql(f"UPDATE item SET level_set_id = NULL WHERE id = {item_id}")
    assert json.loads(run(["show", str(item_id), "--json"], cwd=env.directory).out)["awaiting"] == "处室审核"
    assert run(approval(item_id, "lisi"), as_="lisi", cwd=env.directory).code == 0
    with env.session() as session:
        fixed = session.exec(select(ReviewLevelSet).join(Item, Item.level_set_id == ReviewLevelSet.id)).one()
    assert (fixed.version, [lv["name"] for lv in fixed.levels]) == (1, ["处室审核", "保密审查", "办公室审发"])


def test_init_on_a_new_database_says_how_to_add_the_first_admin(tmp_path, db_url, run):
    write_config(tmp_path, db_url)
    result = run(["init"], cwd=tmp_path)
    assert result.code == 0 and "no admin yet: gongkai user add LOGIN --name 姓名 --role admin" in result.out
