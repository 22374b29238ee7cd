"""第二十六条: published within 20 working days of being formed or changed; shown at submission and in `list`,
and `gongkai timeliness YEAR` lists the publications that were late, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from helpers import acting, approve_fully, record, review, snapshot, submit
from report_helpers import HEADER, beijing, publish, write_history
from sqlmodel import select

from pipeline.core.clock import utcnow
from pipeline.core.models import Decision, LedgerEntry, ReviewDecision
from pipeline.items import workflow
from pipeline.records.audit import verify_trail
from pipeline.records.people import add_person
from pipeline.records.timeliness import deadline_of
from pipeline.records.workdays import WorkCalendar

ITEM = """---
title: 关于2026年统计执法检查情况的通报
category: 通知公告
kind: notice
created_on: {created_on}
---
正文。
"""

MONDAY_7_DECEMBER = datetime(2026, 12, 7, 2, tzinfo=UTC)  # 10:00 in Beijing


def test_the_deadline_counts_20_working_days_on_the_calendar_with_its_make_up_days():
    calendar = WorkCalendar()
    # 2025: 春节 28 January - 4 February; Sunday 26 January and Saturday 8 February were worked (调休)
    found = deadline_of(date(2025, 1, 20), on=date(2025, 2, 21), calendar=calendar)
    assert (found.due_on, found.days_left, found.late) == (date(2025, 2, 21), 0, False)
    assert deadline_of(date(2025, 1, 20), on=date(2025, 2, 24), calendar=calendar).days_left == -1
    assert deadline_of(date(2025, 1, 20), on=date(2025, 2, 14), calendar=calendar).days_left == 5
    # a Saturday after a Friday deadline is late, by at least one working day
    assert deadline_of(date(2025, 1, 20), on=date(2025, 2, 22), calendar=calendar).days_left == -1


def test_a_deadline_in_a_year_no_calendar_covers_is_provisional():
    found = deadline_of(date(2026, 12, 14), on=date(2026, 12, 14), calendar=WorkCalendar())
    assert found.provisional_years == (2027,)
    assert found.view()["provisional"] is True
    assert deadline_of(date(1990, 1, 2), on=date(2026, 12, 7), calendar=WorkCalendar()) is None  # before 2004


@time_machine.travel(MONDAY_7_DECEMBER, tick=False)
def test_an_item_formed_in_june_is_shown_late_at_submission_and_in_list(env, run):
    (env.directory / "late.md").write_text(ITEM.format(created_on="2026-06-01"), encoding="utf-8")
    (env.directory / "fresh.md").write_text(ITEM.format(created_on="2026-12-07").replace("通报", "通知"),
                                            encoding="utf-8")
    done = run(["submit", "late.md", "fresh.md"], cwd=env.directory, as_="zhangsan")
    assert done.code == 0, done.err
    # 20 working days after 1 June 2026 (端午节 19 June) is 30 June; 7 December is 110 working days after it
    assert "第二十六条 publication deadline 2026-06-30 (formed 2026-06-01): 110 working day(s) late" in done.out
    # 18 working days to 31 December, then 元旦 (1 January 2027, statutory) skipped: Monday 4 and Tuesday 5 January
    assert "第二十六条 publication deadline 2027-01-05 (provisional) (formed 2026-12-07): 20 working day(s) left" \
        in done.out
    assert "gongkai calendar set 2027" in done.err
    listed = run(["list", "--json"], cwd=env.directory, as_="zhangsan")
    deadlines = {row["title"][-2:]: row["deadline"] for row in json.loads(listed.out)}
    assert (deadlines["通报"]["days_left"], deadlines["通报"]["late"]) == (-110, True)
    assert (deadlines["通知"]["days_left"], deadlines["通知"]["provisional_years"]) == (20, [2027])
    table = run(["list"], cwd=env.directory, as_="zhangsan")
    assert "公开期限" in table.out and "-110" in table.out


@time_machine.travel(MONDAY_7_DECEMBER, tick=False)
def test_the_june_item_published_in_december_is_listed_late(env, run):
    item_id = publish(env, beijing(2026, 12, 7, 11), created_on=date(2026, 6, 1))
    found = run(["timeliness", "2026", "--json"], cwd=env.directory, as_="qianqi")
    assert found.code == 0, found.err
    [late] = json.loads(found.out)["late"]
    assert (late["item_id"], late["department"], late["formed_on"], late["due_on"], late["published_on"],
            late["working_days_late"]) == (item_id, "综合处", "2026-06-01", "2026-06-30", "2026-12-07", 110)


def add_author(env, login: str, department: str) -> None:
    with env.session() as session:
        add_person(session, actor=acting(session, "root"), login=login, name=login, department=department,
                   agency_code="tjj", roles=["author"], password="correct horse battery staple",
                   settings=env.settings, now=utcnow())


# a year of items: (author, title, 成文日期, published in Beijing, working days late or None when on time)
YEAR = [
    ("zhangsan", "春节前成文，第20个工作日发布", date(2025, 1, 20), beijing(2025, 2, 21, 9), None),
    ("zhangsan", "春节前成文，晚1个工作日", date(2025, 1, 20), beijing(2025, 2, 24, 9), 1),
    ("sunba", "当日成文当日发布", date(2025, 5, 6), beijing(2025, 5, 6, 15), None),
    ("sunba", "国庆前成文，节后晚发", date(2025, 9, 1), beijing(2025, 10, 20, 9), 11),
    ("zhangsan", "年末成文，次年初发布", date(2025, 12, 1), beijing(2025, 12, 26, 9), None),
]


def test_a_year_of_items_lists_exactly_the_late_ones_by_department(env, run):
    add_author(env, "sunba", "法规处")
    ids = {title: publish(env, when, actor=author, title=title, created_on=formed)
           for author, title, formed, when, _ in YEAR}
    publish(env, beijing(2024, 3, 1, 9), title="上一年的迟发", created_on=date(2024, 1, 2))  # another year
    found = run(["timeliness", "2025", "--json"], cwd=env.directory, as_="qianqi")
    data = json.loads(found.out)
    assert data["checked"] == len(YEAR)
    expected = sorted(((("法规处" if a == "sunba" else "综合处"), ids[t], late) for a, t, _, _, late in YEAR
                       if late is not None))
    assert sorted((p["department"], p["item_id"], p["working_days_late"]) for p in data["late"]) == expected
    text = run(["timeliness", "2025"], cwd=env.directory, as_="qianqi")
    assert "2025: 2 of 5 publication(s)" in text.out and "国庆前成文，节后晚发" in text.out
    assert "当日成文当日发布" not in text.out


def test_a_revision_is_formed_on_the_day_it_was_submitted(env):
    with time_machine.travel(datetime(2026, 3, 2, 2, tzinfo=UTC), tick=False):
        item_id = submit(env, id="rev", created_on=date(2026, 1, 5))
        review(env, item_id, "lisi", decision=Decision.REJECT, comment="请修改")
    with time_machine.travel(datetime(2026, 3, 9, 2, tzinfo=UTC), tick=False):
        with env.session() as session:
            [done] = workflow.submit_items(session, settings=env.settings, agency_code="tjj",
                                           actor=acting(session, "zhangsan"),
                                           records=[record(id="rev", created_on=date(2026, 1, 5), title="改")])
    assert done.revision == 2
    assert (done.deadline["formed_on"], done.deadline["late"]) == ("2026-03-09", False)


@time_machine.travel(MONDAY_7_DECEMBER, tick=False)
def test_approving_after_the_deadline_needs_a_reason_which_is_kept_and_shown(env, run):
    (env.directory / "late.md").write_text(ITEM.format(created_on="2026-06-01"), encoding="utf-8")
    assert run(["submit", "late.md"], cwd=env.directory, as_="zhangsan").code == 0
    for reviewer, level in (("lisi", "处室审核"), ("wangwu", "保密审查")):  # earlier levels need no reason
        assert run(["review", "1", "--approve", "--level", level, "--revision", "1"], cwd=env.directory,
                   as_=reviewer).code == 0
    before = snapshot(env)
    final = ["review", "1", "--approve", "--level", "办公室审发", "--revision", "1"]
    refused = run(final, cwd=env.directory, as_="zhaoliu")
    assert refused.code == 1
    assert "110 working day(s) after its deadline 2026-06-30" in refused.err and "--late-reason" in refused.err
    assert snapshot(env) == before  # nothing was decided
    done = run([*final, "--late-reason", "成文后漏报，经办公室补发"], cwd=env.directory, as_="zhaoliu")
    assert done.code == 0, done.err
    shown = json.loads(run(["show", "1", "--json"], cwd=env.directory, as_="zhaoliu").out)
    assert [d["late_reason"] for d in shown["decisions"]] == [None, None, "成文后漏报，经办公室补发"]
    assert "迟发原因：成文后漏报，经办公室补发" in run(["show", "1"], cwd=env.directory, as_="zhaoliu").out


@time_machine.travel(MONDAY_7_DECEMBER, tick=False)
def test_an_approval_on_time_needs_no_reason_and_keeps_none(env):
    item_id = submit(env, created_on=date(2026, 11, 30))
    approve_fully(env, item_id, late_reason="不需要")
    with env.session() as session:
        kept = session.exec(select(ReviewDecision.late_reason).where(ReviewDecision.item_id == item_id)).all()
    assert kept == [None, None, None]


def test_imported_history_with_a_formation_date_column_is_checked_too(env, run):
    header = [*HEADER, "成文日期"]
    rows = [["", "按时发布的通知", "portal", "通知公告", "notice", "2025-02-21", "2025-01-20"],
            ["", "迟发的通知", "portal", "通知公告", "notice", "2025-02-24", "2025-01-20"],
            ["", "迟发的通知", "wechat", "通知公告", "notice", "2025-02-24", "2025-01-20"],  # one publication
            ["", "没有成文日期的通知", "portal", "通知公告", "notice", "2025-12-01", ""]]
    path = write_history(env.directory / "history.csv", rows, header)
    assert run(["ledger", "import", str(path)], cwd=env.directory, as_="qianqi").code == 0
    data = json.loads(run(["timeliness", "2025", "--json"], cwd=env.directory, as_="qianqi").out)
    assert data["checked"] == 2
    assert [(p["title"], p["working_days_late"], p["item_id"]) for p in data["late"]] == [("迟发的通知", 1, None)]
    with env.session() as session:  # the content hash is that of the frozen columns: audit verify still holds
        verdict = verify_trail(session)
    assert verdict.ok and verdict.ledger_entries == 4, verdict


def test_a_bad_formation_date_is_named_with_its_line_and_nothing_is_imported(env, run):
    rows = [["", "通知", "portal", "通知公告", "notice", "2025-02-21", "2025-02-30"],
            ["", "通知二", "portal", "通知公告", "notice", "2025-02-21", "2025-03-01"]]
    path = write_history(env.directory / "history.csv", rows, [*HEADER, "成文日期"])
    refused = run(["ledger", "import", str(path)], cwd=env.directory, as_="qianqi")
    assert refused.code == 1
    assert "history.csv:2: formed_on: '2025-02-30' is not a date" in refused.err
    assert "history.csv:3: formed_on: 2025-03-01 is after the publication on 2025-02-21" in refused.err
    with env.session() as session:
        assert session.exec(select(LedgerEntry)).first() is None


@pytest.mark.parametrize(("formed", "on"), [
    (date(2019, 12, 31), date(2026, 12, 7)), (date(2020, 3, 1), date(2027, 2, 3)),
    (date(2004, 1, 2), date(2005, 1, 1)), (date(2024, 12, 1), date(2026, 1, 1))])
def test_an_item_formed_years_ago_is_late_by_every_working_day_since_its_deadline(formed, on):
    calendar = WorkCalendar()
    found = deadline_of(formed, on=on, calendar=calendar)
    assert found.days_left == -calendar.workdays_between(found.due_on, on)
