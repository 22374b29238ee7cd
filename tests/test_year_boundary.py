"""The year boundary in Beijing: at 16:00 UTC on 31 December it is already the next year there.

Each test runs at three fixed instants (time-machine, clock stopped): a minute before Beijing's midnight, a
minute after it (still 31 December in UTC and on this machine), and UTC's midnight. 索引号 years, ledger years
and dates, page paths, the years `gongkai report` accepts and the dates a request may be received on all
follow the Beijing calendar. The expected dates are written out, not computed from the clock under test.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import time_machine
from helpers import approve_fully, submit
from sqlmodel import select

from pipeline.core.models import LedgerEntry
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine

pytestmark = pytest.mark.boundary

# instant (UTC) -> the date in Beijing
INSTANTS = {
    "2026-12-31T15:59:00Z": date(2026, 12, 31),
    "2026-12-31T16:01:00Z": date(2027, 1, 1),
    "2027-01-01T00:00:00Z": date(2027, 1, 1),
}


@pytest.fixture(params=list(INSTANTS))
def beijing(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Stop the clock at one instant of the boundary; the test gets the Beijing date of that instant."""
    with time_machine.travel(datetime.fromisoformat(request.param), tick=False):
        yield INSTANTS[request.param]


def test_the_demo_publishes_into_the_beijing_year(beijing, run, tmp_path):
    workspace = tmp_path / "demo"
    result = run(["demo", "--workspace", str(workspace)], cwd=tmp_path)
    assert result.code == 0, result.err
    published, total = map(int, re.search(r"(\d+) of (\d+) deliveries published", result.out).groups())
    assert published == total > 0
    for site in ("portal", "disclosure"):
        years = {p.name for p in (workspace / "site" / site / "art").iterdir()}
        assert years == {str(beijing.year)}, site
    ledger = result.out.split("ledger (one entry per confirmed publication)")[1]
    assert len(re.findall(rf"/{beijing.year}-\d{{5}}\s.*{beijing.isoformat()}", ledger)) == published


def test_index_number_ledger_entry_and_page_take_the_beijing_year(beijing, env):
    item_id = submit(env, channels=["portal"])
    assert approve_fully(env, item_id).index_no == f"002668389/{beijing.year}-00001"
    outcomes = run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    assert [o.status for o in outcomes] == ["published"]
    with env.session() as session:
        [entry] = session.exec(select(LedgerEntry)).all()
    assert (entry.year, entry.local_date) == (beijing.year, beijing)
    assert (env.directory / "site" / "portal" / "art" / str(beijing.year) / f"art_{item_id}.html").is_file()


@pytest.mark.parametrize("year", [2026, 2027])
def test_report_years_end_at_the_current_beijing_year(beijing, env, run, year):
    result = run(["report", str(year), "--format", "md"], cwd=env.directory)
    if year > beijing.year:  # 2027 before Beijing's midnight: a year that has not begun
        assert result.code == 1
        assert f"year {year} is outside 2008-{beijing.year}" in result.err
        return
    assert result.code == 0, result.err
    assert f"{year}年政府信息公开工作年度报告" in result.out and f"自{year}年1月1日起至{year}年12月31日止" in result.out
    ended = year < beijing.year  # 2026 is a draft until Beijing's midnight, then a final report
    assert ("年度报告（草稿）" in result.out) is not ended


NOTICE_2027 = Path(__file__).parent / "notices" / "2027-test.toml"


@pytest.fixture
def calendar_2027(env, run) -> None:  # type: ignore[no-untyped-def]
    """The office enters 2027's 放假安排 (chinesecalendar 1.11 ends with 2026): the test notice, whose 元旦 is
    1-3 January 2027 and whose Spring Festival comes after the due dates below."""
    entered = run(["calendar", "set", "2027", "--file", str(NOTICE_2027)],
                  as_="root", cwd=env.directory)
    assert entered.code == 0, entered.err


def test_a_request_received_today_in_beijing_is_accepted_and_tomorrow_is_refused(beijing, calendar_2027, env, run):
    today = run(["request", "add", "--received", beijing.isoformat(), "--applicant-type", "natural_person",
                 "--json"], as_="qianqi", cwd=env.directory)
    assert today.code == 0, today.err
    view = json.loads(today.out)
    assert (view["received_on"], view["clock_starts_on"]) == (beijing.isoformat(), beijing.isoformat())
    # Thursday 31 December or 元旦: 20 working days counted from Monday 4 January either way
    assert (view["due_on"], view["working_days_left"]) == ("2027-01-29", 20)
    tomorrow = date.fromordinal(beijing.toordinal() + 1).isoformat()
    refused = run(["request", "add", "--received", tomorrow, "--applicant-type", "natural_person"],
                  as_="qianqi", cwd=env.directory)
    assert refused.code == 1 and f"received date {tomorrow} is in the future" in refused.err
