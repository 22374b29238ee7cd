"""The disclosure-request and appeals registers, through the CLI and the domain functions, on both databases."""

from __future__ import annotations

import json
from datetime import date

import pytest
from helpers import acting

from pipeline.core.agencies import agency_row
from pipeline.core.errors import GongkaiError, NotFound, WorkflowRefused
from pipeline.records import appeals, register
from pipeline.records.deadlines import EventKind
from pipeline.records.office_calendar import load_calendar
from pipeline.records.vocabulary import OUTCOMES
from pipeline.records.workdays import CalendarUnavailable, known_years
from pipeline.report.format import VERSIONS, t3_leaf_rows

TODAY = date(2021, 12, 31)


def add(env, received: date, applicant_type: str = "natural_person", **extra):
    with env.session() as session:
        return register.add_request(session, agency_id=agency_row(session, "tjj").id, received_on=received,
                                    channel="online", applicant_type=applicant_type,
                                    actor=acting(session, "qianqi"), today=TODAY,
                                    **extra)


def event(env, request_id: int, kind: EventKind, on: date, **extra):
    with env.session() as session:
        return register.record_event(session, agency_id=agency_row(session, "tjj").id, request_id=request_id,
                                     kind=kind, on=on, actor=acting(session, "qianqi"), today=TODAY, **extra)


def view(env, request_id: int, today: date = TODAY) -> dict:
    with env.session() as session:
        request = register.lock_request(session, agency_id=agency_row(session, "tjj").id, request_id=request_id)
        return register.request_view(request, register.events_of(session, request_id), today=today,
                                     calendar=load_calendar(session))


def test_every_outcome_maps_to_exactly_one_row_in_both_versions_and_every_row_is_reachable():
    for version in VERSIONS:
        rows = [rows[version] for _, rows in OUTCOMES.values()]
        assert set(rows) == set(t3_leaf_rows(version))
    assert all(set(rows) == set(VERSIONS) for _, rows in OUTCOMES.values())


def test_cli_add_list_due_and_close(env, run):
    added = run(["request", "add", "--received", "2021-09-28", "--applicant-type", "自然人", "--channel", "post",
                 "--subject", "2020年统计年鉴", "--ref", "YSQ-2021-1", "--json"], as_="qianqi", cwd=env.directory)
    assert added.code == 0, added.err
    data = json.loads(added.out)
    # received 28 Sep 2021: 29, 30 Sep (1, 2), 国庆 1-7 Oct, 8 Oct (3), Saturday 9 Oct (4, 调休) ... 1 Nov (20)
    assert (data["due_on"], data["applicant_type"], data["state"]) == ("2021-11-01", "natural_person", "running")
    second = json.loads(run(["request", "add", "--received", "2021-10-08", "--applicant-type", "commercial",
                             "--json"], as_="qianqi", cwd=env.directory).out)
    listed = run(["request", "list", "--due", "--on", "2021-10-26", "--json"], cwd=env.directory)
    rows = json.loads(listed.out)
    # the second, received Friday 8 Oct, is due 4 Nov (its first working day is Saturday 9 Oct)
    assert [(r["id"], r["due_on"], r["working_days_left"]) for r in rows] == [
        (data["id"], "2021-11-01", 4), (second["id"], "2021-11-04", 7)]
    table = run(["request", "list", "--due", "--on", "2021-11-02"], cwd=env.directory)
    assert "overdue 1" in table.out
    closed = run(["request", "close", str(data["id"]), "--on", "2021-10-20", "--outcome", "disclosed", "--json"],
                 as_="qianqi", cwd=env.directory)
    assert json.loads(closed.out)["outcome"] == "disclosed"
    shown = run(["request", "show", str(data["id"])], cwd=env.directory)
    assert "closed 2021-10-20 (disclosed)" in shown.out and "2021-10-20 closed" in shown.out
    outcomes = json.loads(run(["request", "outcomes", "--json"], cwd=env.directory).out)
    lapsed = next(o for o in outcomes if o["outcome"] == "lapsed_no_correction")
    assert lapsed["row_2019"] == "三、本年度办理结果/（六）其他处理"
    assert lapsed["row_2021"].endswith("/1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请")
    again = run(["request", "close", str(data["id"]), "--on", "2021-10-21", "--outcome", "disclosed"],
                as_="qianqi", cwd=env.directory)
    assert again.code == 1 and "was closed on 2021-10-20" in again.err
    duplicate = run(["request", "add", "--received", "2021-10-08", "--applicant-type", "other", "--ref",
                     "YSQ-2021-1"], as_="qianqi", cwd=env.directory)
    assert duplicate.code == 1 and "YSQ-2021-1" in duplicate.err
    unknown = run(["request", "add", "--received", "2021-10-08", "--applicant-type", "媒体"],
                  as_="qianqi", cwd=env.directory)
    assert unknown.code == 1 and "unknown applicant type '媒体'" in unknown.err
    bad_date = run(["request", "add", "--received", "2021-13-01", "--applicant-type", "other"],
                   as_="qianqi", cwd=env.directory)
    assert bad_date.code == 2


def test_correction_stops_then_restarts_the_clock_and_once_only(env, run):
    request = add(env, date(2021, 3, 1))
    event(env, request.id, EventKind.CORRECTION_ASKED, date(2021, 3, 3), deadline=date(2021, 3, 17))
    stopped = view(env, request.id)
    assert (stopped["state"], stopped["due_on"], stopped["correction_deadline"]) == (
        "awaiting_correction", None, "2021-03-17")
    with pytest.raises(WorkflowRefused, match="once only"):
        event(env, request.id, EventKind.CORRECTION_ASKED, date(2021, 3, 4))
    with pytest.raises(WorkflowRefused, match="stopped until the 补正"):
        event(env, request.id, EventKind.EXTENDED, date(2021, 3, 4), days=5)
    result = run(["request", "correct", str(request.id), "--received", "2021-03-10", "--json"],
                 as_="qianqi", cwd=env.directory)
    restarted = json.loads(result.out)
    assert (restarted["state"], restarted["clock_starts_on"], restarted["due_on"]) == (
        "running", "2021-03-10", "2021-04-08")  # 20 working days after 10 March, 清明 (5 April) excluded
    with pytest.raises(WorkflowRefused, match="no 补正 is outstanding"):
        event(env, request.id, EventKind.CORRECTION_RECEIVED, date(2021, 3, 11))


def test_extension_is_at_most_twenty_days_and_decided_in_time(env, run):
    request = add(env, date(2021, 3, 1))   # due 29 March
    with pytest.raises(WorkflowRefused, match="period ended on 2021-03-29"):
        event(env, request.id, EventKind.EXTENDED, date(2021, 3, 30), days=10)
    event(env, request.id, EventKind.EXTENDED, date(2021, 3, 25), days=15)
    with pytest.raises(WorkflowRefused, match="1 to 5 more working days"):
        event(env, request.id, EventKind.EXTENDED, date(2021, 3, 26), days=6)
    assert view(env, request.id)["working_days"] == 35
    result = run(["request", "extend", str(request.id), "--on", "2021-03-26", "--days", "5", "--json"],
                 as_="qianqi", cwd=env.directory)
    assert json.loads(result.out)["working_days"] == 40


def test_consultation_pauses_and_must_be_open_to_end(env, run):
    request = add(env, date(2021, 3, 1))
    with pytest.raises(WorkflowRefused, match="no consultation is open"):
        event(env, request.id, EventKind.CONSULTATION_ENDED, date(2021, 3, 2))
    run(["request", "consult", str(request.id), "--start", "2021-03-02"], as_="qianqi", cwd=env.directory)
    assert view(env, request.id)["state"] == "paused"
    run(["request", "consult", str(request.id), "--end", "2021-03-16"], as_="qianqi", cwd=env.directory)
    resumed = view(env, request.id)
    # due 29 March without the pause; 3-16 March (10 working days) do not count, nor 清明 (5 April)
    assert (resumed["state"], resumed["due_on"]) == ("running", "2021-04-13")


def test_closing_outcomes_that_need_a_correction(env):
    plain = add(env, date(2021, 3, 1))
    with pytest.raises(WorkflowRefused, match="lapsed_no_correction"):
        event(env, plain.id, EventKind.CLOSED, date(2021, 3, 5), outcome="lapsed_no_correction")
    with pytest.raises(WorkflowRefused, match="unable_unclear"):
        event(env, plain.id, EventKind.CLOSED, date(2021, 3, 5), outcome="unable_unclear")
    with pytest.raises(WorkflowRefused, match="unknown outcome 'granted'"):
        event(env, plain.id, EventKind.CLOSED, date(2021, 3, 5), outcome="granted")
    event(env, plain.id, EventKind.CORRECTION_ASKED, date(2021, 3, 2), deadline=date(2021, 3, 16))
    closed = event(env, plain.id, EventKind.CLOSED, date(2021, 4, 2), outcome="lapsed_no_correction")
    assert (closed.closed_on, closed.outcome) == (date(2021, 4, 2), "lapsed_no_correction")


def test_dates_are_refused_in_the_future_before_earlier_steps_and_outside_the_calendar(env):
    with pytest.raises(WorkflowRefused, match="in the future"):
        add(env, date(2022, 1, 4))
    first, _ = known_years()
    with pytest.raises(CalendarUnavailable, match=f"no Chinese working-day calendar for {first - 1}"):
        add(env, date(first - 1, 6, 1))
    request = add(env, date(2021, 3, 10))
    with pytest.raises(WorkflowRefused, match="before the request's last recorded step"):
        event(env, request.id, EventKind.CLOSED, date(2021, 3, 9), outcome="disclosed")
    with pytest.raises(NotFound):
        event(env, request.id + 99, EventKind.CLOSED, date(2021, 3, 11), outcome="disclosed")


def test_a_due_date_in_a_year_no_calendar_knows_is_provisional_and_says_how_to_fix_it(env):
    last = known_years()[1]
    with env.session() as session:
        request = register.add_request(session, agency_id=agency_row(session, "tjj").id,
                                       received_on=date(last, 12, 20), channel="fax", applicant_type="research",
                                       actor=acting(session, "qianqi"), today=date(last, 12, 31))
        data = register.request_view(request, [], today=date(last, 12, 31), calendar=load_calendar(session))
    assert data["due_on"] is not None and date.fromisoformat(data["due_on"]).year == last + 1
    assert (data["provisional"], data["provisional_years"]) == (True, [last + 1])
    assert any(f"gongkai calendar set {last + 1} --file" in w for w in data["warnings"])


def test_appeals_add_close_and_list(env, run):
    request = add(env, date(2021, 3, 1))
    filed = run(["appeal", "add", "--kind", "行政复议", "--filed", "2021-05-10", "--request", str(request.id),
                 "--ref", "复议〔2021〕3号", "--json"], as_="qianqi", cwd=env.directory)
    appeal = json.loads(filed.out)
    assert (appeal["kind"], appeal["result"]) == ("reconsideration", "pending")
    closed = run(["appeal", "close", str(appeal["id"]), "--result", "维持", "--on", "2021-07-01", "--json"],
                 as_="qianqi", cwd=env.directory)
    assert json.loads(closed.out)["result"] == "upheld"
    again = run(["appeal", "close", str(appeal["id"]), "--result", "other", "--on", "2021-07-02"],
                as_="qianqi", cwd=env.directory)
    assert again.code == 1 and "was closed on 2021-07-01" in again.err
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        with pytest.raises(WorkflowRefused, match="between the filing date"):
            later = appeals.add_appeal(session, agency_id=agency_id, kind="litigation", filed_on=date(2021, 8, 1),
                                       actor=acting(session, "qianqi"), today=TODAY)
            appeals.close_appeal(session, agency_id=agency_id, appeal_id=later.id, result="corrected",
                                 closed_on=date(2021, 7, 1), actor=acting(session, "qianqi"), today=TODAY)
        with pytest.raises(GongkaiError, match="unknown appeal kind"):
            appeals.add_appeal(session, agency_id=agency_id, kind="petition", filed_on=date(2021, 8, 1),
                               actor=acting(session, "qianqi"), today=TODAY)
    listed = json.loads(run(["appeal", "list", "--year", "2021", "--json"], cwd=env.directory).out)
    assert [(a["kind"], a["result"]) for a in listed] == [("reconsideration", "upheld"), ("litigation", "pending")]
