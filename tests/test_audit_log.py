"""`gongkai audit log`: the trail read back with Beijing times, filtered, printed as text; and the chain head
each annual report carries."""

from __future__ import annotations

import json
import re

import docx as python_docx
import time_machine
from audit_helpers import events
from helpers import approve_fully, submit
from report_helpers import beijing, publish

from pipeline.core.clock import utcnow
from pipeline.records.audit import chain_head, record_event


def test_the_log_of_an_item_lists_its_events_and_its_deliveries_in_beijing_time(env, run):
    item_id = publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    other = submit(env, title="另一条")
    result = run(["audit", "log", "--item", str(item_id)], cwd=env.directory)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split()[3:5] for line in lines][:5] == [["zhangsan", "submit"], ["lisi", "review"],
                                                         ["wangwu", "review"], ["zhaoliu", "review"],
                                                         ["zhaoliu", "approve"]]
    assert any(" system  publish delivery:" in line for line in lines)
    assert f"item:{other}" not in result.out
    data = json.loads(run(["audit", "log", "--item", str(item_id), "--json"], cwd=env.directory).out)
    stored = [e for e in events(env) if e.subject == f"item:{item_id}"]
    assert data[0]["id"] == stored[0].id and data[0]["actor"] == "zhangsan"
    expected = stored[0].at.astimezone(beijing(2021, 1, 1).tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    assert data[0]["at"] == expected and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", data[0]["at"])
    assert "audit_rows" not in data[0]["details"] or isinstance(data[0]["details"]["audit_rows"]["item_revision"], int)


def test_the_log_filters_by_actor_as_recorded_and_by_beijing_date(env, run):
    with time_machine.travel(beijing(2021, 3, 1, 23, 30), tick=False):  # 15:30 UTC: still 1 March in Beijing
        item_id = submit(env)
    with time_machine.travel(beijing(2021, 3, 2, 0, 30), tick=False):  # 16:30 UTC on 1 March
        approve_fully(env, item_id)
        with env.session() as session:
            record_event(session, actor="admin zhaoliu for lisi", action="retry", subject="delivery:9", details={},
                         now=utcnow())
    by_lisi = json.loads(run(["audit", "log", "--actor", "lisi", "--json"], cwd=env.directory).out)
    assert [(e["actor"], e["action"]) for e in by_lisi] == [("lisi", "review"), ("admin zhaoliu for lisi", "retry")]
    by_zhaoliu = json.loads(run(["audit", "log", "--actor", "zhaoliu", "--json"], cwd=env.directory).out)
    assert [e["actor"] for e in by_zhaoliu] == ["zhaoliu", "zhaoliu", "admin zhaoliu for lisi"]
    assert json.loads(run(["audit", "log", "--actor", "li%", "--json"], cwd=env.directory).out) == []
    since = json.loads(run(["audit", "log", "--since", "2021-03-02", "--json"], cwd=env.directory).out)
    since = [e for e in since if e["action"] != "user_add"]  # the test people were added today, first
    assert "submit" not in [e["action"] for e in since] and since[0]["at"] == "2021-03-02 00:30:00"
    assert len(json.loads(run(["audit", "log", "--last", "2", "--json"], cwd=env.directory).out)) == 2
    bad = run(["audit", "log", "--since", "2021-02-30"], cwd=env.directory)
    assert bad.code == 2 and "is not a date" in bad.err


def test_what_users_typed_is_printed_as_text(env, run):
    title = "[bold red]已批准[/] [/] \x1b[31m红\u202e字"
    item_id = submit(env, title="关于统计执法检查的通知")
    with env.session() as session:
        record_event(session, actor="[red]lisi[/red]", action="reject", subject=f"item:{item_id}",
                     details={"comment": title}, now=utcnow())
    result = run(["audit", "log", "--item", str(item_id)], cwd=env.directory)
    assert result.code == 0, result.err
    assert "[red]lisi[/red]" in result.out and "[bold red]已批准[/] [/]" in result.out
    assert "\x1b" not in result.out and "\\x1b[31m红\\u202e字" in result.out


def test_each_annual_report_carries_the_chain_head_it_was_built_on(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    with env.session() as session:
        count, head = chain_head(session)
    assert count == len(events(env)) and head == events(env)[-1].hash
    data = json.loads(run(["report", "2021", "--format", "json", "--draft"], cwd=env.directory).out)
    assert data["metadata"]["audit_head"] == {"events": count, "head": head}
    html = run(["report", "2021", "--format", "html", "--draft"], cwd=env.directory).out
    assert f'<meta name="审计链" content="{count} {head}">' in html
    docx = env.directory / "report.docx"
    assert run(["report", "2021", "--format", "docx", "--draft", "--out", str(docx)], cwd=env.directory).code == 0
    assert f"审计链：{count} {head}" in python_docx.Document(str(docx)).core_properties.comments
