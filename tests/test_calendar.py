"""The working-day calendar the office keeps (issue 20): a year's notice entered as data, taking precedence over
chinesecalendar; provisional dates for a year nobody knows yet; open requests re-timed when a year is entered."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from helpers import acting
from sqlmodel import select
from test_bad_input import one_message, refused, snapshot

from pipeline.core.agencies import agency_row
from pipeline.core.errors import Forbidden, InputRejected
from pipeline.core.models import AuditEvent, CalendarYear, utcnow
from pipeline.records import calendar as office_calendar
from pipeline.records import register, workdays
from pipeline.records.notice import parse_notice, read_notice
from pipeline.records.office_calendar import load_calendar

NOTICE = Path(__file__).parent / "notices" / "2027-test.toml"
TEXT = NOTICE.read_text(encoding="utf-8")


@pytest.fixture
def package_until_2026(monkeypatch):
    """chinesecalendar as 1.11.0 ships it (up to 2026), whatever release is installed: a later one that knows 2027
    must not turn these tests' provisional dates into final ones."""
    first = workdays.known_years()[0]
    monkeypatch.setattr(workdays, "known_years", lambda: (first, 2026))
    monkeypatch.setattr(office_calendar, "known_years", lambda: (first, 2026))


def out(result) -> dict:
    assert result.code == 0, result.out + result.err
    return json.loads(result.out)


@time_machine.travel(datetime(2026, 12, 21, 2, tzinfo=UTC), tick=True)  # Monday 21 December in Beijing: the
# working days left of a reply due in 2026 are counted in 2026 only (from 2027 on they would be provisional)
def test_a_reply_due_in_2027_is_provisional_until_the_notice_is_entered_and_then_re_timed(env, run,
                                                                                         package_until_2026):
    # received Monday 7 December 2026: 18 working days to 31 December; without a calendar for 2027, Friday
    # 1 January is skipped as 元旦 (a statutory holiday every year) and Monday 4, Tuesday 5 January are the 19th and
    # 20th. The notice entered below gives 1-4 January off and has Saturday 9 January worked (调休, as the 2012
    # notice gave 3 January off against 31 December worked): 19th on the 5th, 20th on Wednesday 6 January
    notice = env.directory / "notice.toml"
    notice.write_text(TEXT.replace("last = 2027-01-03           # 周日", "last = 2027-01-04\nworkdays = [2027-01-09]"),
                      encoding="utf-8")
    added = out(run(["request", "add", "--received", "2026-12-07", "--applicant-type", "自然人", "--ref", "YSQ-1",
                     "--json"], as_="qianqi", cwd=env.directory))
    assert (added["due_on"], added["provisional"], added["provisional_years"]) == ("2027-01-05", True, [2027])
    assert any("gongkai calendar set 2027 --file" in w for w in added["warnings"])
    early = out(run(["request", "add", "--received", "2026-12-01", "--applicant-type", "other", "--json"],
                    as_="qianqi", cwd=env.directory))
    assert (early["due_on"], early["provisional"]) == ("2026-12-29", False)
    fee = out(run(["request", "fee", str(early["id"]), "--notified", "2026-12-07", "--amount", "100", "--json"],
                  as_="qianqi", cwd=env.directory))
    assert (fee["fee"]["pay_by"], fee["fee"]["pay_by_provisional"], fee["provisional"]) == ("2027-01-05", True, True)
    assert "pay by 2027-01-05 (provisional)" in run(["request", "show", str(early["id"])], cwd=env.directory).out
    board = run(["request", "list", "--due", "--on", "2026-12-21"], cwd=env.directory)
    assert "2027-01-05 (provisional)" in board.out and "2026-12-29 (provisional)" not in board.out
    assert "gongkai calendar set 2027 --file NOTICE.toml" in board.out
    shown = run(["request", "show", str(added["id"])], cwd=env.directory)
    assert "due 2027-01-05 (provisional)" in shown.out and "calendar set 2027" in shown.out

    entered = out(run(["calendar", "set", "2027", "--file", str(notice), "--json"], as_="root",
                      cwd=env.directory))
    assert (entered["holidays"], entered["workdays"], entered["replaced"], entered["warnings"]) == (30, 6, None, [])
    assert [(m["request_id"], m["what"], m["old"], m["old_provisional"], m["new"], m["new_provisional"])
            for m in entered["moved"]] == [(early["id"], "pay by", "2027-01-05", True, "2027-01-06", False),
                                           (added["id"], "due", "2027-01-05", True, "2027-01-06", False)]
    final = out(run(["request", "show", str(added["id"]), "--json"], cwd=env.directory))
    assert (final["due_on"], final["provisional"], final["warnings"]) == ("2027-01-06", False, [])
    board = run(["request", "list", "--due", "--on", "2026-12-21"], cwd=env.directory)
    assert "2027-01-06" in board.out and "provisional" not in board.out

    again = run(["calendar", "set", "2027", "--file", str(notice)], as_="root", cwd=env.directory)
    assert again.code == 0 and "2027 replaced from 测试用通知" in again.out
    assert "no open request's dates moved" in again.out
    with env.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "calendar_set")
                              .order_by(AuditEvent.id)).all()
    assert [(e.actor, e.subject) for e in events] == [("root", "calendar:2027")] * 2
    assert events[0].details["moved"] == [[early["id"], "pay by", "2027-01-05", "2027-01-06"],
                                          [added["id"], "due", "2027-01-05", "2027-01-06"]]
    assert run(["audit", "verify"], cwd=env.directory).code == 0


def test_twenty_working_days_across_the_2027_spring_festival_with_and_without_the_notice(env, package_until_2026):
    today = date(2027, 1, 25)
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        request = register.add_request(session, agency_id=agency_id, received_on=date(2027, 1, 20), channel="post",
                                       applicant_type="commercial", actor=acting(session, "qianqi"), today=today)
        before = register.request_view(request, [], today=today, calendar=load_calendar(session))
        change = office_calendar.set_calendar(session, actor=acting(session, "root"), year=2027,
                                              notice=read_notice(NOTICE, year=2027), now=utcnow())
        after = register.request_view(request, [], today=today, calendar=load_calendar(session))
    # provisional: 21 January - 19 February, skipping weekends and the statutory 春节 days 除夕 Friday 5 February to
    # 初三 Monday 8 February (2 weekdays). The notice: Sunday 31 January worked, 5-13 February off (6 weekdays),
    # Saturday 20 February worked: 23 February
    assert (before["due_on"], before["provisional"]) == ("2027-02-19", True)
    assert (after["due_on"], after["provisional"]) == ("2027-02-23", False)
    assert [(m.request_id, m.old, m.new) for m in change.moved] == [(request.id, date(2027, 2, 19),
                                                                     date(2027, 2, 23))]


def test_the_office_s_calendar_wins_over_the_package_also_for_december_of_the_year_before(env, run):
    # the 2019 notice began the 元旦 break on 30 December 2018 and had Saturday 29 December worked: a notice may
    # name the December before for its 元旦 break only
    text = TEXT.replace("first = 2027-01-01          # 周五", "first = 2026-12-31\nworkdays = [2026-12-27]")
    path = env.directory / "notice.toml"
    path.write_text(text, encoding="utf-8")
    with env.session() as session:
        package = load_calendar(session)
    assert package.is_workday(date(2026, 12, 31)) and not package.is_workday(date(2026, 12, 27))
    assert run(["calendar", "set", "2027", "--file", "notice.toml"], as_="root", cwd=env.directory).code == 0
    with env.session() as session:
        office = load_calendar(session)
    assert not office.is_workday(date(2026, 12, 31)) and office.is_workday(date(2026, 12, 27))
    assert office.is_workday(date(2026, 12, 30)) and not office.is_workday(date(2027, 2, 8))
    shown = out(run(["calendar", "show", "2027", "--json"], cwd=env.directory))
    assert shown["source"] == "office" and shown["entered_by"]
    assert shown["periods"][0] == {"name": "元旦", "first": "2026-12-31", "last": "2027-01-03", "days": 4,
                                   "workdays": ["2026-12-27"]}
    assert [p["name"] for p in shown["periods"]] == ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]


def test_show_tells_where_a_year_comes_from(env, run, package_until_2026):
    package = out(run(["calendar", "show", "2026", "--json"], cwd=env.directory))
    assert package["source"] == "package" and package["notice"].startswith("chinesecalendar")
    spring = next(p for p in package["periods"] if p["name"] == "春节")
    assert spring == {"name": "春节", "first": "2026-02-15", "last": "2026-02-23", "days": 9,
                      "workdays": ["2026-02-14", "2026-02-28"]}
    unknown = run(["calendar", "show", "2027"], cwd=env.directory)
    assert unknown.code == 0 and "2027: not known" in unknown.out and "calendar set 2027 --file" in unknown.out
    assert "the statutory holidays were skipped there but not the 调休" in unknown.out
    # a provisional year shows the statutory holidays it is counted with: 除夕 5 February to 初三 8 February
    assert "2027-02-05" in unknown.out and "2027-02-08" in unknown.out
    provisional = out(run(["calendar", "show", "2027", "--json"], cwd=env.directory))
    assert (provisional["source"], provisional["provisional"]) == ("provisional", True)
    assert [(p["name"], p["first"], p["days"], p["workdays"]) for p in provisional["periods"]] == [
        ("元旦", "2027-01-01", 1, []), ("春节", "2027-02-05", 4, []), ("清明节", "2027-04-05", 1, []),
        ("劳动节", "2027-05-01", 2, []), ("端午节", "2027-06-09", 1, []), ("中秋节", "2027-09-15", 1, []),
        ("国庆节", "2027-10-01", 3, [])]
    table = run(["calendar", "show", "2026"], cwd=env.directory)
    assert "春节" in table.out and "2026-02-14, 2026-02-28" in table.out


def test_setting_the_calendar_needs_the_admin_role(env):
    refusal = r"qianqi does not hold the role admin in tjj \(needed to change the working-day calendar\)"
    with env.session() as session, pytest.raises(Forbidden, match=refusal):
        office_calendar.set_calendar(session, actor=acting(session, "qianqi"), year=2027,
                                     notice=read_notice(NOTICE, year=2027), now=utcnow())
    with env.session() as session:
        assert session.exec(select(CalendarYear)).all() == []


BAD = {  # name -> (change to the test notice, the one problem: line: key: message)
    "wrong year": (("year = 2027", "year = 2028"), "notice.toml:4: year: must be 2027"),
    "unknown key": (("last = 2027-01-03", "lats = 2027-01-03"), "notice.toml:10: holiday[1].lats: unknown key"),
    "date outside the year": (("first = 2027-02-05", "first = 2028-02-05"),
                              "notice.toml:14: holiday[2].first: 2028-02-05 is not in 2027"),
    "only 元旦 may start in the December before": (
        ("first = 2027-02-05", "first = 2026-12-30"), "holiday[2].first: 2026-12-30 is not in 2027 (only the 元旦"),
    "make-up day on a weekday": (("workdays = [2027-05-08]", "workdays = [2027-05-07]"),
                                 "notice.toml:27: holiday[4].workdays: 2027-05-07 is a Friday"),
    "make-up day inside a break": (("workdays = [2027-09-26, 2027-10-09]", "workdays = [2027-10-02]"),
                                   "holiday[7].workdays: 2027-10-02 is inside the break holiday[7]"),
    "overlapping breaks": (("first = 2027-06-09", "first = 2027-05-05"),
                           "notice.toml:31: holiday[5].first: 2027-05-05 to 2027-05-05 overlaps holiday[4]"),
    "unknown festival": (('name = "春节"', 'name = "新年"'), "notice.toml:13: holiday[2].name: '新年' is not one of"),
    "a break of weekend days only": (("last = 2027-04-05", "last = 2027-04-04"),
                                     "holiday[3].first: 2027-04-03 to 2027-04-04 holds only Saturdays and Sundays"),
    "last before first": (("last = 2027-10-07", "last = 2027-09-07"),
                          "holiday[7].last: 2027-09-07 is before first (2027-10-01)"),
    "a date in quotes that is no date": (("first = 2027-06-09", 'first = "6月9日"'),
                                         "holiday[5].first: '6月9日' is not a date"),
    "not TOML": (("last = 2027-01-03", "last = "), "notice.toml:10: not TOML"),
    "no source": (('source = "测试用通知', 'sauce = "测试用通知'), "notice.toml: source: name the notice"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_notice_names_file_line_and_key_and_stores_nothing(env, run, case):
    (old, new), expected = BAD[case]
    assert old in TEXT
    (env.directory / "notice.toml").write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    args = ["calendar", "set", "2027", "--file", "notice.toml"]
    if case == "no source":   # the unknown key is a second problem
        before = snapshot(env)
        result = run(args, cwd=env.directory)
        assert result.code == 1 and "notice.toml:5: sauce: unknown key" in result.err
        assert expected in result.err and "2 problems; nothing was written" in result.err
        assert snapshot(env) == before
        return
    refused(env, run, args, expected)


def test_a_missing_notice_file_is_named(env, run):
    result = run(["calendar", "set", "2027", "--file", "nowhere.toml"], as_="root", cwd=env.directory)
    assert result.code == 1 and "nowhere.toml: no such file" in one_message(result.err)


def test_a_notice_that_leaves_out_a_festival_is_taken_with_a_warning():
    text = TEXT[:TEXT.index('[[holiday]]\nname = "中秋节"')]  # 中秋节 and 国庆节 cut off
    notice = parse_notice(text, file="n.toml", year=2027)
    assert [p.name for p in notice.periods][-1] == "端午节"
    assert notice.warnings == ("the notice names no 中秋节、国庆节; every notice since 2008 names all seven festivals",)
    with pytest.raises(InputRejected, match="n.toml: holiday: give each holiday period"):
        parse_notice('year = 2027\nsource = "x"\n', file="n.toml", year=2027)
