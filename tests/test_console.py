"""The console in-process: login, sessions, CSRF, security headers, and each room's pages and refusals.
The whole path in a real browser is tests/test_console_browser.py."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import time_machine
from console_helpers import ITEM, console, csrf, log_in, with_channels, write
from helpers import LEVEL_REVIEWERS, review, submit
from sqlmodel import select
from starlette.testclient import TestClient

from pipeline.core.clock import utcnow
from pipeline.core.models import AuditEvent, Decision, Item, ReviewDecision
from pipeline.web.app import create_app
from pipeline.web.security import SESSION_COOKIE


def test_pages_need_a_login_and_come_back_after_it(env):
    client = console(env)
    first = client.get("/items?status=submitted")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/items%3Fstatus%3Dsubmitted"
    page = client.get("/login?next=/items")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and page.text.count("<h1") == 1
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    done = client.post("/login", data={"login": "lisi", "password": "correct horse battery staple", "nonce": nonce,
                                       "next": "/items"})
    assert done.status_code == 303 and done.headers["location"] == "/items"
    cookie = done.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "信息列表" in client.get("/items").text


def test_every_response_carries_the_security_headers(env):
    client = console(env)
    for response in (client.get("/login"), client.get("/nowhere"), client.get("/static/console.css")):
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_wrong_password_says_so_and_five_lock_the_account(env):
    client = console(env)
    for _ in range(4):
        refused = log_in(client, "lisi", "not the password at all")
        assert refused.status_code == 401 and "用户名或密码错误" in refused.text
    locked = log_in(client, "lisi", "not the password at all")
    assert "账号已暂时锁定" in locked.text
    assert "账号已暂时锁定" in log_in(client, "lisi").text          # even the right password, while locked
    assert SESSION_COOKIE not in client.cookies
    with env.session() as session:
        failures = session.exec(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert len(failures) == 6


def test_a_login_form_from_another_site_is_refused(env):
    client = console(env)
    refused = client.post("/login", data={"login": "lisi", "password": "correct horse battery staple",
                                          "nonce": "forged", "next": "/"})
    assert refused.status_code == 400 and SESSION_COOKIE not in client.cookies


def test_next_never_leads_off_the_site(env):
    client = console(env)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text


def test_a_post_without_the_session_csrf_token_changes_nothing(env):
    client = console(env)
    log_in(client, "zhangsan")
    refused = client.post("/items/new", data={**ITEM, "csrf": "0" * 64})
    assert refused.status_code == 403 and "校验码" in refused.text
    missing = client.post("/items/new", data=ITEM)
    assert missing.status_code == 403
    with env.session() as session:
        assert session.exec(select(Item)).all() == []


def test_logout_ends_the_session_on_the_server(env):
    client = console(env)
    log_in(client, "lisi")
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf": csrf(client)}).status_code == 303
    client.cookies.set(SESSION_COOKIE, token)                       # a copy of the old cookie is worth nothing
    assert client.get("/").status_code == 303


def test_an_idle_session_ends(env, time_machine):
    time_machine.move_to(utcnow())
    client = console(env)
    log_in(client, "lisi")
    assert client.get("/").status_code == 200
    time_machine.shift(env.settings.web.idle_minutes * 60 + 5)
    assert client.get("/").headers["location"] == "/login?next=/"


def test_an_author_writes_an_item_and_reviewers_find_it_in_their_to_do_list(env):
    author = console(env)
    log_in(author, "zhangsan")
    done = write(author)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=submitted")
    item_id = int(done.headers["location"].split("/")[2].split("?")[0])
    page = author.get(done.headers["location"])
    assert "关于开展统计执法检查的通知" in page.text and "已提交审核" in page.text
    assert 'name="decision"' not in page.text                          # the author may not review it
    assert "关于开展统计执法检查的通知" in author.get("/").text           # 我撰写的信息
    reviewer = console(env)
    log_in(reviewer, LEVEL_REVIEWERS[0])
    todo = reviewer.get("/").text
    assert f'href="/items/{item_id}"' in todo and "处室审核" in todo
    other = console(env)
    log_in(other, LEVEL_REVIEWERS[1])
    assert f'href="/items/{item_id}"' not in other.get("/").text      # not at his level yet


def test_the_form_comes_back_with_the_message_beside_the_field_and_nothing_saved(env):
    client = console(env)
    log_in(client, "zhangsan")
    again = write(client, title="", created_on="2026-13-45")
    assert again.status_code == 400
    assert re.search(r'id="title-error">[^<]*required', again.text)
    assert 'id="created_on-error"' in again.text and 'aria-invalid="true"' in again.text
    assert "为规范统计工作" in again.text                               # what was typed is kept
    with env.session() as session:
        assert session.exec(select(Item)).all() == []


def test_channel_limits_are_shown_while_typing_and_enforced_on_save(make_env):
    env = with_channels(make_env, '[channels.wechat]\nkind = "wechat"\napp_id = "wx1"\napp_secret = "s"\n',
                        ["portal", "disclosure", "wechat"])
    client = console(env)
    log_in(client, "zhangsan")
    assert """data-limits='{"disclosure": null, "portal": null, "wechat": 32}'""" in client.get("/items/new").text
    long_title = "关于" + "统计" * 20 + "的通知"
    refused = write(client, title=long_title, channels=["portal", "wechat"])
    assert refused.status_code == 400
    assert re.search(r'id="channels-error">wechat: title has 45 characters, the channel allows 32', refused.text)
    with env.session() as session:
        assert session.exec(select(Item)).all() == []


def test_an_unknown_item_is_a_404_and_nothing_leaks(env):
    client = console(env)
    log_in(client, "lisi")
    missing = client.get("/items/999")
    assert missing.status_code == 404 and "Traceback" not in missing.text and "no item 999" in missing.text


def _submitted(env) -> int:
    author = console(env)
    log_in(author, "zhangsan")
    done = write(author)
    return int(done.headers["location"].split("/")[2].split("?")[0])


def _decide(client, item_id: int, level: str, revision: int = 1, decision: str = "approve"):
    return client.post(f"/items/{item_id}/review", data={"csrf": csrf(client, f"/items/{item_id}"), "level": level,
                                                         "revision": revision, "decision": decision})


def test_a_forged_self_review_is_refused_and_changes_nothing(env):
    item_id = _submitted(env)
    author = console(env)
    log_in(author, "zhangsan")
    refused = _decide(author, item_id, "处室审核")
    assert refused.status_code == 403 and "zhangsan does not hold the role section_head" in refused.text
    with env.session() as session:
        item = session.get(Item, item_id)
        assert (item.status, item.current_level) == ("submitted", 0)
        assert session.exec(select(ReviewDecision)).all() == []


def test_a_stale_form_is_refused_not_applied_to_the_next_level(env):
    item_id = _submitted(env)
    first, second = console(env), console(env)
    log_in(first, "lisi")
    log_in(second, "lisi")
    stale = csrf(second, f"/items/{item_id}")                      # lisi's second tab shows 处室审核 too
    assert _decide(first, item_id, "处室审核").status_code == 303
    refused = second.post(f"/items/{item_id}/review", data={"csrf": stale, "level": "处室审核", "revision": 1,
                                                            "decision": "reject", "comment": "退回"})
    assert refused.status_code == 403 and "awaits 保密审查 of revision 1, not 处室审核 of revision 1" in refused.text
    with env.session() as session:
        assert session.get(Item, item_id).current_level == 1
        assert [d.level_name for d in session.exec(select(ReviewDecision))] == ["处室审核"]


def test_three_reviewers_approve_in_the_console_and_the_item_is_published(env):
    item_id = _submitted(env)
    for login, level in zip(LEVEL_REVIEWERS, ["处室审核", "保密审查", "办公室审发"], strict=True):
        reviewer = console(env)
        log_in(reviewer, login)
        page = reviewer.get(f"/items/{item_id}").text
        assert f'name="level" value="{level}"' in page
        assert _decide(reviewer, item_id, level).status_code == 303
    with env.session() as session:
        item = session.get(Item, item_id)
        assert item.status == "approved" and item.index_no.startswith("002668389/")
    page = console(env)
    log_in(page, "zhangsan")
    text = page.get(f"/items/{item_id}").text
    assert text.count("已发布") >= 2 and item.index_no in text


def test_after_the_demo_one_command_serves_its_workspace_and_its_people_log_in(tmp_path, run):
    workspace = tmp_path / "demo"
    result = run(["demo", "--workspace", str(workspace)], cwd=tmp_path)
    assert result.code == 0, result.err
    [serve] = re.findall(rf"cd {re.escape(str(workspace))} && (\S+) serve", result.out)
    assert "http://127.0.0.1:8000/" in result.out
    assert serve == "gongkai" and shutil.which("gongkai") or Path(serve).is_file()  # what this shell can run
    passwords = dict(line.split("\t")[:2] for line in
                     (workspace / "demo-people.txt").read_text(encoding="utf-8").splitlines()[1:])
    from pipeline.core.audit_key import keyed_engine
    from pipeline.core.config import load_settings

    settings = load_settings(workspace / "gongkai.toml")
    client = TestClient(create_app(settings, keyed_engine(settings)), follow_redirects=False)
    assert log_in(client, "zhangsan", passwords["zhangsan"]).status_code == 303
    mine = client.get("/").text
    assert "我撰写的信息" in mine and "已退回" in mine                      # the demo rejected one of his items
    reviewer = TestClient(create_app(settings, keyed_engine(settings)), follow_redirects=False)
    assert log_in(reviewer, "lisi", passwords["lisi"]).status_code == 303
    assert "关于征集2027年度统计调查项目的通知" in reviewer.get("/").text    # one item left at 处室审核 for him


@time_machine.travel(datetime(2026, 12, 7, 2, tzinfo=UTC), tick=False)
def test_a_late_item_shows_its_days_in_the_to_do_list_and_its_approval_asks_for_the_reason(env):
    item_id = submit(env, created_on=date(2026, 6, 1))  # 第二十六条 deadline 30 June: 110 working days ago
    on_time = submit(env, created_on=date(2026, 12, 1), title="按时的通知")
    for login in LEVEL_REVIEWERS[:2]:
        review(env, item_id, login)
        review(env, on_time, login)
    director = console(env)
    log_in(director, LEVEL_REVIEWERS[2])
    todo = director.get("/").text
    assert "公开期限" in todo and '<span class="over">已逾期110个工作日</span>' in todo and "剩16个工作日" in todo
    page = director.get(f"/items/{item_id}").text
    assert 'name="late_reason"' in page and "已超过第二十六条公开期限110个工作日" in page
    assert 'name="late_reason"' not in director.get(f"/items/{on_time}").text
    refused = _decide(director, item_id, "办公室审发")
    assert refused.status_code != 303 and "--late-reason" in refused.text
    with env.session() as session:
        assert session.get(Item, item_id).status == "submitted"
    done = director.post(f"/items/{item_id}/review", data={
        "csrf": csrf(director, f"/items/{item_id}"), "level": "办公室审发", "revision": 1, "decision": "approve",
        "late_reason": "成文后漏报，经办公室补发"})
    assert done.status_code == 303
    assert "迟发原因：成文后漏报，经办公室补发" in director.get(f"/items/{item_id}").text


def test_the_to_do_list_is_oldest_item_first_whatever_revision_it_is_at(env):
    """In the order of first submission (the index ix_item_review_queue): an item sent back and revised keeps its
    place before items submitted after it, its 第二十六条 clock having run since before either."""
    first = submit(env, id="first", title="第一件")
    second = submit(env, id="second", title="第二件")
    review(env, first, "lisi", Decision.REJECT, comment="请补充数据来源")
    assert submit(env, id="first", title="第一件（修改稿）") == first   # revision 2, submitted after the second
    reviewer = console(env)
    log_in(reviewer, "lisi")
    todo = reviewer.get("/").text
    assert todo.index(f'href="/items/{first}"') < todo.index(f'href="/items/{second}"')


def test_a_reviewer_approves_several_items_from_the_to_do_list_and_one_refusal_decides_none(env):
    items = [submit(env, title=f"关于第{n}批统计执法检查的通知", id=f"batch{n}") for n in range(3)]
    reviewer = console(env)
    log_in(reviewer, "lisi")
    page = reviewer.get("/").text
    picks = re.findall(r'name="pick" value="([^"]+)"', page)
    assert picks == [f"{i}:1:处室审核" for i in items]
    forged = reviewer.post("/review", data={"csrf": csrf(reviewer), "pick": [picks[0], f"{items[1]}:2:处室审核"]})
    assert forged.status_code == 403 and f"item {items[1]} awaits 处室审核 of revision 1" in forged.text
    with env.session() as session:
        assert session.exec(select(ReviewDecision)).all() == []
    done = reviewer.post("/review", data={"csrf": csrf(reviewer), "pick": picks[:2]})
    assert done.status_code == 303 and done.headers["location"] == "/?done=approved"
    with env.session() as session:
        assert sorted(d.item_id for d in session.exec(select(ReviewDecision))) == items[:2]
        assert [session.get(Item, i).current_level for i in items] == [1, 1, 0]
    assert reviewer.post("/review", data={"csrf": "0" * 64, "pick": picks[2:]}).status_code == 403


def test_the_console_counts_a_doubt_being_looked_up_as_waiting_and_one_asked_of_a_person_as_failed(env):
    """The 运维 page's per-channel health: an unknown outcome the sweep is still looking up needs nobody yet."""
    from datetime import timedelta

    from helpers import approve_fully

    from pipeline.core.agencies import agency_row
    from pipeline.core.models import Delivery, DeliveryStatus
    from pipeline.items.views import channel_health

    approve_fully(env, submit(env))
    with env.session() as session:
        portal, disclosure = session.exec(select(Delivery).order_by(Delivery.channel.desc())).all()
        portal.status, portal.next_attempt_at = DeliveryStatus.UNKNOWN, utcnow() + timedelta(minutes=5)
        disclosure.status, disclosure.manual_action = DeliveryStatus.UNKNOWN, "confirm by hand: 3 lookups failed"
        session.add_all([portal, disclosure])
    with env.session() as session:
        health = {h.channel: h for h in channel_health(session, agency_id=agency_row(session, "tjj").id)}
    assert (health["portal"].waiting, health["portal"].failed) == (1, 0)
    assert (health["disclosure"].waiting, health["disclosure"].failed) == (0, 1)
