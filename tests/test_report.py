"""The golden year: items through review and delivery, requests and appeals through the registers, figures;
every cell of tables 二, 三 and 四 in both format versions, and every rule of §4."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from helpers import acting, approve_fully, submit
from report_helpers import beijing, engine_at, publish, withdraw

from pipeline.core.agencies import agency_row
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.records import appeals, figures, register
from pipeline.records.deadlines import EventKind
from pipeline.report.annual import make_documents, make_reports
from pipeline.report.check import RULES, check_report
from pipeline.report.explain import explain
from pipeline.report.format import T3_COLUMNS, all_cells, t3_rows
from pipeline.report.render import to_json

TODAY = date(2026, 1, 31)


def build_year(env) -> None:
    """A year (2021) of an agency's work, with what 2020 left over."""
    _publications(env)
    _requests(env)
    _appeals(env)
    _figures(env)


def _publications(env) -> None:
    both = {"channels": ["portal", "disclosure"]}
    publish(env, beijing(2020, 5, 10, 9), id="norm-a", kind="normative", category="政策文件", validity="有效", **both)
    publish(env, beijing(2020, 8, 1, 9), kind="regulation", category="政策文件", **both)
    publish(env, beijing(2020, 9, 1, 9), kind="license", category="行政许可", **both)
    publish(env, beijing(2021, 2, 3, 9), kind="normative", category="政策文件", **both)
    withdrawn = publish(env, beijing(2021, 4, 6, 9), kind="normative", category="政策文件", **both)
    withdraw(env, withdrawn, beijing(2021, 4, 20, 9))
    # norm-a is abolished: a revision marked 废止, reviewed and published again
    revised = submit(env, id="norm-a", kind="normative", category="政策文件", validity="废止",
                     created_on=date(2021, 5, 30), publish_at=beijing(2021, 6, 1, 9), **both)
    approve_fully(env, revised)
    run_dispatcher(engine_at(env, beijing(2021, 6, 1, 9, 1)), until_idle=True)
    for month in (3, 7, 11):
        publish(env, beijing(2021, month, 15, 10), kind="license", category="行政许可", **both)
    for month in (4, 9):
        publish(env, beijing(2021, month, 2, 10), kind="penalty", category="行政处罚", **both)
    publish(env, beijing(2021, 10, 12, 10), kind="enforcement", category="行政监管", **both)
    publish(env, beijing(2021, 8, 18, 10), kind="procurement", category="财政信息", **both)
    for month in (5, 12):
        publish(env, beijing(2021, month, 20, 15), kind="press_conference", category="新闻发布会",
                channels=["portal"])
    for month in (1, 6, 10):
        publish(env, beijing(2021, month, 8, 16), kind="news", category="政务动态", channels=["disclosure"])
    publish(env, beijing(2021, 12, 31, 23, 30), kind="statistics", category="统计数据", **both)


def _request(env, received: date, applicant: str, *steps: tuple) -> None:
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        request = register.add_request(session, agency_id=agency_id, received_on=received, channel="online",
                                       applicant_type=applicant, actor=acting(session, "qianqi"), today=TODAY)
        for kind, on, *extra in steps:
            details = {"outcome": extra[0]} if kind == EventKind.CLOSED else {"days": extra[0]} if extra else {}
            if kind == EventKind.CORRECTION_ASKED:
                details = {"deadline": on + timedelta(days=14)}
            if kind == EventKind.FEE_NOTIFIED:
                details = {"amount": extra[0]}
            register.record_event(session, agency_id=agency_id, request_id=request.id, kind=kind, on=on,
                                  actor=acting(session, "qianqi"), today=TODAY, **details)


def _requests(env) -> None:
    closed, asked, answered = EventKind.CLOSED, EventKind.CORRECTION_ASKED, EventKind.CORRECTION_RECEIVED
    _request(env, date(2020, 6, 1), "natural_person", (closed, date(2020, 6, 10), "disclosed"))
    _request(env, date(2020, 12, 10), "natural_person", (closed, date(2021, 1, 8), "disclosed"))
    _request(env, date(2020, 12, 28), "commercial", (asked, date(2020, 12, 30)), (answered, date(2021, 1, 5)),
             (closed, date(2021, 1, 20), "partly_disclosed"))
    _request(env, date(2021, 2, 1), "natural_person", (closed, date(2021, 2, 20), "disclosed"))
    _request(env, date(2021, 3, 1), "natural_person", (EventKind.CONSULTATION_STARTED, date(2021, 3, 3)),
             (EventKind.CONSULTATION_ENDED, date(2021, 3, 18)), (closed, date(2021, 3, 30), "withheld_third_party"))
    _request(env, date(2021, 4, 1), "research", (closed, date(2021, 4, 9), "unable_not_held"))
    _request(env, date(2021, 5, 10), "legal_service", (closed, date(2021, 5, 12), "declined_repeat"))
    _request(env, date(2021, 6, 1), "public_interest", (asked, date(2021, 6, 3)),
             (closed, date(2021, 7, 20), "lapsed_no_correction"))
    _request(env, date(2021, 7, 1), "other", (closed, date(2021, 7, 2), "other"))
    _request(env, date(2021, 8, 2), "natural_person", (EventKind.FEE_NOTIFIED, date(2021, 8, 10), "200"),
             (closed, date(2021, 9, 10), "lapsed_unpaid_fee"))
    _request(env, date(2021, 9, 1), "natural_person", (asked, date(2021, 9, 2)), (answered, date(2021, 9, 8)),
             (closed, date(2021, 9, 30), "unable_unclear"))
    _request(env, date(2021, 11, 1), "commercial", (EventKind.EXTENDED, date(2021, 11, 25), 20),
             (closed, date(2022, 1, 10), "disclosed"))
    _request(env, date(2021, 12, 20), "natural_person")


def _appeals(env) -> None:
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        for kind, filed, result, closed in (("reconsideration", date(2021, 3, 1), "upheld", date(2021, 5, 1)),
                                            ("reconsideration", date(2021, 10, 1), None, None),
                                            ("litigation", date(2020, 11, 1), "corrected", date(2021, 2, 1)),
                                            ("litigation_after", date(2021, 6, 1), "other", date(2022, 1, 15))):
            appeal = appeals.add_appeal(session, agency_id=agency_id, kind=kind, filed_on=filed,
                                        actor=acting(session, "qianqi"),
                                        today=TODAY)
            if result:
                appeals.close_appeal(session, agency_id=agency_id, appeal_id=appeal.id, result=result,
                                     closed_on=closed, actor=acting(session, "qianqi"), today=TODAY)


def _figures(env) -> None:
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        for year, key, value in ((2020, "license.items", "12"), (2021, "license.items", "14"),
                                 (2020, "penalty.items", "5"), (2021, "service.items", "3"),
                                 (2021, "service.decisions", "40"), (2020, "fee.items", "2"), (2021, "fee.items", "1"),
                                 (2021, "fee.amount", "12.5"), (2021, "procurement.amount", "18.4719")):
            figures.set_figure(session, agency_id=agency_id, year=year, key=key, raw=value,
                               actor=acting(session, "qianqi"))


def expected_t3(version: str) -> dict[str, int]:
    rows = {
        "new": {"natural_person": 5, "commercial": 1, "research": 1, "public_interest": 1, "legal_service": 1,
                "other": 1},
        "carried_in": {"natural_person": 1, "commercial": 1},
        "disclosed": {"natural_person": 2}, "partly_disclosed": {"commercial": 1},
        "withheld_third_party": {"natural_person": 1}, "unable_not_held": {"research": 1},
        "unable_unclear": {"natural_person": 1}, "declined_repeat": {"legal_service": 1},
        "total": {"natural_person": 5, "commercial": 1, "research": 1, "public_interest": 1, "legal_service": 1,
                  "other": 1},
        "carried_out": {"natural_person": 1, "commercial": 1},
    }
    if version == "2021":
        rows |= {"other_no_correction": {"public_interest": 1}, "other_unpaid_fee": {"natural_person": 1},
                 "other_other": {"other": 1}}
    else:
        rows |= {"other": {"natural_person": 1, "public_interest": 1, "other": 1}}
    cells = {}
    for row in t3_rows(version):
        values = rows.get(row, {})
        for column in T3_COLUMNS:
            cells[f"t3.{row}.{column}"] = sum(values.values()) if column == "total" else values.get(column, 0)
    return cells


EXPECTED_T2 = {
    "2021": {"t2.regulation.made": 0, "t2.regulation.abolished": 0, "t2.regulation.in_force": 1,
             "t2.normative.made": 1, "t2.normative.abolished": 1, "t2.normative.in_force": 1,
             "t2.license.decisions": 3, "t2.penalty.decisions": 2, "t2.enforcement.decisions": 1,
             "t2.fee.amount": "12.5"},
    "2019": {"t2.regulation.made": 0, "t2.regulation.published": 0, "t2.regulation.total": 1,
             "t2.normative.made": 1, "t2.normative.published": 1, "t2.normative.total": 2,
             "t2.license.prev_items": 12, "t2.license.change": 2, "t2.license.decisions": 3,
             "t2.service.prev_items": 0, "t2.service.change": 3, "t2.service.decisions": 40,
             "t2.penalty.prev_items": 5, "t2.penalty.change": 0, "t2.penalty.decisions": 2,
             "t2.enforcement.prev_items": 0, "t2.enforcement.change": 0, "t2.enforcement.decisions": 1,
             "t2.fee.prev_items": 2, "t2.fee.change": -1,
             "t2.procurement.projects": 1, "t2.procurement.amount": "18.4719"},
}
EXPECTED_T4 = {f"t4.{block}.{column}": 0 for block in ("reconsideration", "litigation", "litigation_after")
               for column in ("upheld", "corrected", "other", "pending", "total")} | {
    "t4.reconsideration.upheld": 1, "t4.reconsideration.pending": 1, "t4.reconsideration.total": 2,
    "t4.litigation.corrected": 1, "t4.litigation.total": 1,
    "t4.litigation_after.pending": 1, "t4.litigation_after.total": 1}


@pytest.mark.parametrize("version", ["2021", "2019"])
def test_golden_year_every_cell_in_both_versions_and_every_rule(env, version):
    build_year(env)
    with env.session() as session:
        [report], [previous] = make_reports(session, settings=env.settings, codes=["tjj"], year=2021,
                                            version=version)
    cells = {cell: str(value) if cell in ("t2.fee.amount", "t2.procurement.amount") else value
             for cell, value in report.cells.items()}
    assert set(cells) == set(all_cells(version))
    assert cells == EXPECTED_T2[version] | expected_t3(version) | EXPECTED_T4
    findings = check_report(report, previous=previous)
    assert {f.rule for f in findings} == set(RULES)
    assert [str(f) for f in findings if not f.ok] == []
    numbers = report.numbers
    # 2021 on both channels: 10 items (the withdrawn one nets out); portal also 2 press conferences,
    # disclosure also 3 政务动态
    assert numbers["channels"] == {"portal": 12, "disclosure": 13}
    assert (numbers["news"], numbers["press_conferences"], numbers["wechat_posts"]) == (3, 2, 0)
    assert (numbers["requests_new"], numbers["requests_organisations"], numbers["litigation"]) == (10, 5, 2)
    monthly = {c.name: c.months for c in report.channels}
    assert monthly["portal"] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]  # April: a penalty, and +1 -1 withdrawn
    assert monthly["disclosure"] == [1, 1, 1, 1, 0, 2, 1, 1, 1, 2, 1, 1]
    with env.session() as session:
        behind = explain(session, settings=env.settings, report=report, cell="t3.new.natural_person")
        assert [r["received_on"] for r in behind["rows"]] == ["2021-02-01", "2021-03-01", "2021-08-02",
                                                               "2021-09-01", "2021-12-20"]
        decisions = explain(session, settings=env.settings, report=report, cell="t2.license.decisions")
        assert {r["date"] for r in decisions["rows"]} == {"2021-03-15", "2021-07-15", "2021-11-15"}
        assert explain(session, settings=env.settings, report=report, cell="n.news")["value"] == "3"


def test_cross_year_rules_warn_and_hard_rules_name_the_cell(env):
    build_year(env)
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        figures.set_figure(session, agency_id=agency_id, year=2021, key="normative.in_force", raw="7",
                           actor=acting(session, "qianqi"))
        figures.set_figure(session, agency_id=agency_id, year=2021, key="license.decisions", raw="14",
                           actor=acting(session, "qianqi"))
    with env.session() as session:
        [doc] = make_documents(session, settings=env.settings, codes=["tjj"], year=2021, version="2021",
                               today=TODAY)
        [old] = make_documents(session, settings=env.settings, codes=["tjj"], year=2021, version="2019",
                               today=TODAY)
    # the consistency rules (the agency wrote no texts: S1, S5 and S6 fail, see test_report_document.py)
    broken = {(f.rule, f.level, f.cell) for f in doc.findings if not f.ok and f.rule.startswith("R")}
    assert broken == {("R10", "warn", "t2.normative.in_force")}
    assert {(f.rule, f.cell) for f in old.findings if not f.ok and f.rule.startswith("R")} == {
        ("R11", "t2.license.decisions")}
    report = doc.report
    report.cells["t3.total.natural_person"] += 1
    report.cells["t4.litigation.total"] = 5
    report.cells["t2.fee.amount"] = -1
    report.numbers["requests_new"] = 9
    found = {(f.rule, f.cell) for f in check_report(report) if not f.ok}
    assert {("R1", "t3.carried_out.natural_person"), ("R2", "t3.total.total"), ("R3", "t3.total.natural_person"),
            ("R7", "t4.litigation.total"), ("R8", "t4.litigation.total"), ("R13", "t2.fee.amount"),
            ("R14", "t3.new.total")} <= found


@pytest.mark.parametrize("version", ["2021", "2019"])
def test_last_years_tables_are_those_of_last_years_own_report(env, version):
    # make_reports reads both years in one pass over the ledger; the year before must come out as its own run
    build_year(env)
    with env.session() as session:
        _, [previous] = make_reports(session, settings=env.settings, codes=["tjj"], year=2021, version=version)
        [direct], _ = make_reports(session, settings=env.settings, codes=["tjj"], year=2020, version=version)
    assert previous.year == 2020
    assert previous.cells == {cell: value for cell, value in direct.cells.items() if cell.startswith(("t2.", "t3."))}
    assert previous.cells["t2.normative.total" if version == "2019" else "t2.normative.in_force"] == 1


def test_an_agency_alone_gets_the_report_it_gets_among_all_agencies(make_env):
    env = make_env('\n[agencies.fgw]\nname = "台州市发展和改革委员会"\norg_code = "002668001"\nchannels = ["portal"]\n')
    build_year(env)
    with env.session() as session:
        if env.engine.dialect.name == "postgresql":  # group by hashing, as PostgreSQL does with many rows
            session.execute(sa.text("SET LOCAL enable_sort = off"))
        [alone] = make_documents(session, settings=env.settings, codes=["tjj"], year=2021, version=None, today=TODAY)
        among = make_documents(session, settings=env.settings, codes=["fgw", "tjj"], year=2021, version=None,
                               today=TODAY)
    assert to_json([alone]) == to_json([among[1]])
    # a channel's categories in one order (the database's), whatever plan its grouping took
    categories = list(alone.report.channels[0].categories)
    assert len(categories) == 7 and categories == sorted(categories)  # the test databases collate by code point
