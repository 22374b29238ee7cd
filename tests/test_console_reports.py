"""台账与年报 in the console: ledger counts with a chart, the annual report's checks and cells, a cell's rows,
and the downloads (drafts, nothing frozen)."""

from __future__ import annotations

import io
import json

import docx
from console_helpers import console, log_in
from report_helpers import beijing, publish
from sqlmodel import select

from pipeline.core.models import FrozenReport


def _year(env) -> None:
    publish(env, beijing(2021, 3, 1, 9), kind="license", category="行政许可")
    publish(env, beijing(2021, 7, 1, 9), kind="news", category="政务动态", channels=["disclosure"])


def test_the_ledger_counts_by_dimension_with_a_chart(env):
    _year(env)
    client = console(env)
    log_in(client, "qianqi")
    page = client.get("/ledger", params={"year": 2021, "by": "category"}).text
    assert "<svg" in page and "<td>行政许可</td><td>2</td>" in page and "<td>政务动态</td><td>1</td>" in page
    by_month = client.get("/ledger", params={"year": 2021, "by": "month"}).text
    assert "<td>3月</td><td>2</td>" in by_month
    by_department = client.get("/ledger", params={"year": 2021, "by": "department"})
    assert by_department.status_code == 200 and "<td>综合处</td><td>3</td>" in by_department.text  # zhangsan's


def test_the_report_page_shows_checks_and_cells_and_a_cell_shows_its_rows(env):
    _year(env)
    client = console(env)
    log_in(client, "qianqi")
    page = client.get("/report/2021").text
    assert "规则检查" in page and "表二" in page and 'href="/report/2021/explain?cell=t2.license.decisions"' in page
    assert "<td>必须改正</td>" in page and "<td>hard</td>" not in page  # staff read the rule's level in Chinese
    rows = client.get("/report/2021/explain", params={"cell": "t2.license.decisions"}).text
    assert "行政许可" in rows and "002668389/2021-00001" in rows
    assert client.get("/report/2021/explain", params={"cell": "t9.nothing"}).status_code == 404


def test_downloads_are_drafts_and_freeze_nothing(env):
    _year(env)
    client = console(env)
    log_in(client, "qianqi")
    word = client.get("/report/2021/download.docx")
    assert word.status_code == 200 and 'filename="tjj-2021-report-draft.docx"' in word.headers["content-disposition"]
    assert len(docx.Document(io.BytesIO(word.content)).tables) == 3
    data = json.loads(client.get("/report/2021/download.json").text)
    assert data["tables"]["二"]["t2.license.decisions"]["value"] == 1
    assert "<table" in client.get("/report/2021/download.html").text
    with env.session() as session:
        assert session.exec(select(FrozenReport)).all() == []


def test_an_author_may_not_read_the_register_or_the_report(env):
    client = console(env)
    log_in(client, "zhangsan")
    assert client.get("/ledger").status_code == 403 and client.get("/report/2021").status_code == 403
