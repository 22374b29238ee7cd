"""The request register's legal clocks beyond the 20 days (issue 20): late replies shown, 信息处理费 notices that
stop the clock, consultations past 15 working days, and stored values no vocabulary knows, named."""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from helpers import acting

from pipeline.core.agencies import agency_row
from pipeline.core.models import Appeal, DisclosureRequest
from pipeline.records import register
from pipeline.records.deadlines import EventKind
from pipeline.records.office_calendar import load_calendar
from pipeline.report.annual import make_reports
from pipeline.report.narrative import narrative_context

ADD = ["request", "add", "--applicant-type", "natural_person", "--json", "--received"]


def run_json(run, env, args: list[str]) -> dict | list:
    result = run(args, cwd=env.directory, as_="qianqi")
    assert result.code == 0, result.out + result.err
    return json.loads(result.out)


def test_a_late_reply_is_flagged_when_closed_in_the_list_and_as_a_report_finding(env, run):
    request = run_json(run, env, [*ADD, "2021-03-01"])          # due Monday 29 March 2021
    on_time = run_json(run, env, [*ADD, "2021-03-02"])
    run_json(run, env, ["request", "close", str(on_time["id"]), "--on", "2021-03-30", "--outcome", "disclosed",
                        "--json"])
    closed = run(["request", "close", str(request["id"]), "--on", "2021-05-10", "--outcome", "disclosed"],
                 as_="qianqi", cwd=env.directory)
    # 30 March - 10 May 2021 without 清明 (3-5 April) and 劳动节 (1-5 May), with Sunday 25 April and Saturday
    # 8 May worked: 28 working days
    assert closed.code == 0 and "28 working day(s) late" in closed.out
    assert "replied 28 working day(s) late: due 2021-03-29, closed 2021-05-10" in closed.out
    rows = run_json(run, env, ["request", "list", "--json"])
    assert [(r["id"], r["replied_late"], r["working_days_late"]) for r in rows] == [
        (request["id"], True, 28), (on_time["id"], False, None)]
    table = run(["request", "list"], cwd=env.directory).out.splitlines()
    assert "late" in table[0].split()
    late_row = next(line for line in table if line.split()[0] == str(request["id"]))
    assert late_row.split()[-3:] == ["28", "2021-05-10", "disclosed"]

    findings = json.loads(run(["report", "2021", "--check", "--format", "json"], cwd=env.directory).out)["tjj"]
    [late] = [f for f in findings if f["rule"] == "L1"]
    assert (late["ok"], late["level"]) == (False, "warn")
    assert late["message"].startswith(f"1 of the replies given in 2021 came after the due date (working days late: "
                                      f"request {request['id']} 28)")
    with env.session() as session:
        [report], _ = make_reports(session, settings=env.settings, codes=["tjj"], year=2021, version=None)
    assert narrative_context(report, [])["n"]["requests_late"] == 1


def test_a_fee_notice_stops_the_clock_until_payment_and_the_fees_reach_the_report(env, run):
    request = run_json(run, env, [*ADD, "2021-03-01"])          # due 29 March without the fee
    rid = str(request["id"])
    notified = run_json(run, env, ["request", "fee", rid, "--notified", "2021-03-03", "--amount", "200", "--json"])
    # the applicant pays within 20 working days of the day after the notice reached them: 31 March
    assert (notified["state"], notified["due_on"]) == ("awaiting_payment", None)
    assert notified["fee"] == {"notified_on": "2021-03-03", "amount": "200.00", "pay_by": "2021-03-31",
                               "pay_by_provisional": False, "paid_on": None}
    paid = run_json(run, env, ["request", "fee", rid, "--paid", "2021-03-10", "--json"])
    # 4-10 March (5 working days) do not count: 29 March + 5 working days, 清明 (5 April) excluded
    assert (paid["state"], paid["due_on"], paid["fee"]["paid_on"]) == ("running", "2021-04-06", "2021-03-10")
    shown = run(["request", "show", rid], cwd=env.directory)
    assert "信息处理费 200.00 元, notice 2021-03-03, paid 2021-03-10" in shown.out
    assert "2021-03-10 fee_paid 200.00 元" in shown.out

    unpaid = run_json(run, env, [*ADD, "2021-03-01"])
    run_json(run, env, ["request", "fee", str(unpaid["id"]), "--notified", "2021-03-03", "--amount", "80.5",
                        "--json"])
    lapsed = run_json(run, env, ["request", "close", str(unpaid["id"]), "--on", "2021-04-01", "--outcome",
                                 "lapsed_unpaid_fee", "--json"])
    assert (lapsed["outcome"], lapsed["replied_late"]) == ("lapsed_unpaid_fee", False)
    numbers = json.loads(run(["report", "2021", "--format", "json"], cwd=env.directory).out)["narrative_numbers"]
    assert (numbers["fees_collected"], numbers["fee_notices"]) == ("200.00", 2)


def test_a_consultation_longer_than_fifteen_working_days_warns(env, run):
    closed = run_json(run, env, [*ADD, "2021-03-01"])
    run_json(run, env, ["request", "consult", str(closed["id"]), "--start", "2021-03-02", "--json"])
    ended = run_json(run, env, ["request", "consult", str(closed["id"]), "--end", "2021-03-31", "--json"])
    assert any(w.startswith("consultation from 2021-03-02 to 2021-03-31: 21 working days, longer than the 15 "
                            "第三十二条 gives") for w in ended["warnings"])
    short = run_json(run, env, [*ADD, "2021-03-01"])
    run_json(run, env, ["request", "consult", str(short["id"]), "--start", "2021-03-02", "--json"])
    ended = run_json(run, env, ["request", "consult", str(short["id"]), "--end", "2021-03-23", "--json"])
    assert not any("consultation" in w for w in ended["warnings"])   # 15 working days: within the period
    still_open = run_json(run, env, [*ADD, "2021-03-01"])
    run_json(run, env, ["request", "consult", str(still_open["id"]), "--start", "2021-03-02", "--json"])
    shown = run(["request", "show", str(still_open["id"])], cwd=env.directory)
    assert "warning: consultation open since 2021-03-02:" in shown.out


def test_an_unknown_applicant_type_in_the_database_is_named_not_a_crash(env, run):
    request = run_json(run, env, [*ADD, "2021-03-01"])
    with env.engine.begin() as connection:   # written by hand, as the issue found it
        connection.execute(sa.update(DisclosureRequest).values(applicant_type="媒体"))
    listed = run(["request", "list"], cwd=env.directory)
    assert listed.code == 0 and "unknown '媒体'" in listed.out
    shown = run_json(run, env, ["request", "show", str(request["id"]), "--json"])
    assert any(f"applicant type '媒体' stored in request {request['id']}" in w for w in shown["warnings"])
    report = run(["report", "2021"], cwd=env.directory)
    assert report.code == 1 and "Traceback" not in report.err
    assert f"disclosure_request {request['id']}: applicant_type '媒体' (known: natural_person" in report.err


def test_an_appeal_with_an_unknown_result_is_named_not_dropped_from_table_4(env, run):
    appeal = run_json(run, env, ["appeal", "add", "--kind", "reconsideration", "--filed", "2021-05-10", "--ref",
                                 "复议〔2021〕3号", "--json"])
    with env.engine.begin() as connection:
        connection.execute(sa.update(Appeal).values(result="dismissed", closed_on=date(2021, 7, 1)))
    assert run(["appeal", "list"], cwd=env.directory).code == 0
    report = run(["report", "2021", "--format", "json"], cwd=env.directory)
    assert report.code == 1, "the appeal would count nowhere in 四"
    named = f"appeal {appeal['id']} (复议〔2021〕3号): result 'dismissed' (known: upheld, corrected, other)"
    assert named in report.err


def test_an_open_pause_at_closing_counts_until_the_close(env):
    """A request closed while its consultation was still open: the open days do not make the reply late."""
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        request = register.add_request(session, agency_id=agency_id, received_on=date(2021, 3, 1), channel="online",
                                       applicant_type="other",
                                       actor=acting(session, "qianqi"), today=date(2021, 12, 31))
        for kind, on, extra in ((EventKind.CONSULTATION_STARTED, date(2021, 3, 10), {}),
                                (EventKind.CLOSED, date(2021, 4, 6), {"outcome": "withheld_third_party"})):
            register.record_event(session, agency_id=agency_id, request_id=request.id, kind=kind, on=on,
                                  actor=acting(session, "qianqi"), today=date(2021, 12, 31), **extra)
        view = register.request_view(request, register.events_of(session, request.id), today=date(2021, 12, 31),
                                     calendar=load_calendar(session))
    assert (view["replied_late"], view["working_days_late"]) == (False, None)
