"""Operations from the command line, embedded mode: approval publishes, show, deliveries, retry, withdraw."""

from __future__ import annotations

import json

import pytest
from doubles.scripted import PERMANENT, Scripted, Undeletable
from helpers import LATE_REASON, approval

import channels

ITEM = """---
id: op-1
title: 关于开展2020年统计执法检查的通知
category: 通知公告
kind: notice
channels: [portal, scripted, undeletable]
created_on: 2020-03-01
---
正文。
"""


@pytest.fixture
def env(make_env, monkeypatch):
    monkeypatch.setitem(channels.REGISTRY, "scripted", Scripted)
    monkeypatch.setitem(channels.REGISTRY, "undeletable", Undeletable)
    Scripted.reset()
    built = make_env('[channels.scripted]\nkind = "scripted"\n[channels.undeletable]\nkind = "undeletable"\n')
    config = built.config.read_text(encoding="utf-8").replace(
        'channels = ["portal", "disclosure"]', 'channels = ["portal", "disclosure", "scripted", "undeletable"]')
    built.config.write_text(config, encoding="utf-8")
    (built.directory / "item.md").write_text(ITEM, encoding="utf-8")
    return built


def approve(run, env) -> None:
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    for reviewer in ("lisi", "wangwu"):
        assert run(approval(1, reviewer), as_=reviewer, cwd=env.directory).code == 0
    result = run(["review", "1", "--approve", "--level", "办公室审发", "--revision", "1", "--comment", "同意",
                  "--late-reason", LATE_REASON], as_="zhaoliu", cwd=env.directory)
    assert result.code == 0, result.err
    return result


def show(run, env) -> dict:
    result = run("show 1 --json", cwd=env.directory)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_final_approval_publishes_at_once_without_a_broker_and_show_tells_where(env, run):
    Scripted.reset(PERMANENT)
    result = approve(run, env)
    assert "approved, 索引号 002668389/" in result.out
    data = show(run, env)
    by_channel = {d["channel"]: d for d in data["deliveries"]}
    assert by_channel["portal"]["status"] == "published"
    assert by_channel["portal"]["url"].endswith("/portal/art/" + data["index_no"][10:14] + "/art_1.html")
    assert by_channel["undeletable"]["status"] == "published"
    dead = by_channel["scripted"]
    assert dead["status"] == "dead" and "HTTP 400 invalid field 'title'" in dead["last_error"]
    assert [t["outcome"] for t in dead["tries"]] == ["permanent"]


def test_dead_letters_are_listed_and_a_retry_publishes_once_as_a_new_attempt(env, run):
    Scripted.reset(PERMANENT)
    approve(run, env)
    failed = json.loads(run("deliveries --failed --json", cwd=env.directory).out)
    assert [(d["channel"], d["status"]) for d in failed] == [("scripted", "dead")]
    assert run(f"retry {failed[0]['id']}", as_="qianqi", cwd=env.directory).code == 0
    dead = {d["channel"]: d for d in show(run, env)["deliveries"]}["scripted"]
    assert dead["status"] == "published"
    assert [t["outcome"] for t in dead["tries"]] == ["permanent", "replay", "published"]
    assert json.loads(run("deliveries --failed --json", cwd=env.directory).out) == []
    again = run(f"retry {failed[0]['id']}", as_="qianqi", cwd=env.directory)
    assert again.code == 1 and "only dead or unknown deliveries are retried" in again.err


def test_retry_needs_an_id_or_all_failed(env, run):
    assert run("retry", as_="qianqi", cwd=env.directory).code == 2
    assert run("retry 1 --all-failed", as_="qianqi", cwd=env.directory).code == 2


def test_withdraw_takes_down_reverses_and_flags_what_needs_a_person(env, run):
    approve(run, env)
    result = run("withdraw 1 --reason 数据有误", as_="zhaoliu", cwd=env.directory)
    assert result.code == 0, result.err
    assert "portal: withdrawn" in result.out and "undeletable: manual" in result.out
    data = show(run, env)
    statuses = {d["channel"]: d["status"] for d in data["deliveries"]}
    assert statuses == {"portal": "withdrawn", "scripted": "withdrawn", "undeletable": "published"}
    assert data["status"] == "withdrawn" and data["withdraw_reason"] == "数据有误"
    flagged = json.loads(run("deliveries --failed --json", cwd=env.directory).out)
    assert [d["channel"] for d in flagged] == ["undeletable"] and "by hand" in flagged[0]["manual_action"]
    page = env.directory / "site" / "portal" / "art"
    assert not any(page.rglob("art_1.html"))


def test_withdraw_by_someone_without_the_final_role_is_refused(env, run):
    approve(run, env)
    result = run("withdraw 1 --reason 想撤", as_="lisi", cwd=env.directory)
    assert result.code == 1 and "office_director" in result.err
    assert show(run, env)["status"] == "approved"


def test_preview_shows_the_exact_payload_and_writes_html(env, run, tmp_path):
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    result = run(f"preview 1 --channel portal --out {tmp_path}/p --json", cwd=env.directory)
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert "关于开展2020年统计执法检查的通知" in payload["article.html"]
    assert (tmp_path / "p" / "article.html").read_text(encoding="utf-8") == payload["article.html"]
    assert run("preview 1 --channel weixin", cwd=env.directory).code == 1


def test_list_shows_delivery_states_and_overdue_scheduled_items(env, run):
    approve(run, env)
    rows = json.loads(run("list --json", cwd=env.directory).out)
    assert rows[0]["channels"]["portal"] == "published" and rows[0]["overdue"] == []


def test_a_document_published_before_its_interpretation_gets_the_link_back(env, run):
    from pipeline.core.clock import beijing_today

    (env.directory / "doc.md").write_text(ITEM.replace("channels: [portal, scripted, undeletable]",
                                                       "channels: [portal, disclosure]"), encoding="utf-8")
    (env.directory / "jd.md").write_text(
        ITEM.replace("id: op-1", "id: op-1-jd").replace("title: 关于", "title: 解读：关于")
        .replace("kind: notice", "kind: interpretation\ninterprets: op-1")
        .replace("category: 通知公告", "category: 政策解读")
        .replace("channels: [portal, scripted, undeletable]", "channels: [portal, disclosure]"), encoding="utf-8")
    for name, item_id in (("doc.md", 1), ("jd.md", 2)):
        assert run(f"submit {name}", as_="zhangsan", cwd=env.directory).code == 0
        for reviewer in ("lisi", "wangwu", "zhaoliu"):
            assert run(approval(item_id, reviewer), as_=reviewer, cwd=env.directory).code == 0
    for site in ("portal", "disclosure"):
        page = env.directory / "site" / site / "art" / str(beijing_today().year) / "art_1.html"
        html = page.read_text(encoding="utf-8")
        assert "相关解读" in html and "art_2.html" in html and "解读：关于开展" in html
    assert len(json.loads(run("show 1 --json", cwd=env.directory).out)["deliveries"]) == 2  # no new publication


def test_a_deletion_by_hand_is_recorded_and_retry_all_failed_still_works(env, run):
    Scripted.reset(PERMANENT)
    approve(run, env)
    assert run("withdraw 1 --reason 有误", as_="zhaoliu", cwd=env.directory).code == 0
    # the flagged take-down is not in the way
    assert run("retry --all-failed", as_="qianqi", cwd=env.directory).code == 0
    again = run("withdraw 1", as_="lisi", cwd=env.directory)
    assert again.code == 1 and "office_director" in again.err  # running it again needs the role too
    result = run("withdraw 1 --deleted-by-hand undeletable", as_="zhaoliu", cwd=env.directory)
    assert result.code == 0, result.err
    statuses = {d["channel"]: d["status"] for d in show(run, env)["deliveries"]}
    assert statuses["undeletable"] == "withdrawn"
    assert json.loads(run("deliveries --failed --json", cwd=env.directory).out) == []
