"""Counting once: one publication is one item in the report's tables however many channels carried it, also for
imported history whose WeChat rows carry no 索引号 (matched on title, date and kind); both table formats."""

from __future__ import annotations

import json
from datetime import date

import pytest
from report_helpers import beijing, publish, write_history

from pipeline.report.annual import make_reports

PRESS, NORMATIVE = "2021年第一季度统计数据新闻发布会", "关于印发统计调查项目管理办法的通知"
HISTORY = [
    ["002668389/2021-00001", PRESS, "portal", "新闻发布会", "press_conference", "2021-04-15"],
    ["", PRESS, "wechat", "政务动态", "新闻发布会", "2021-04-15"],
    ["002668389/2021-00002", NORMATIVE, "portal", "政策文件", "normative", "2021-05-10"],
    ["002668389/2021-00002", NORMATIVE, "disclosure", "政策文件", "normative", "2021-05-10"],
    ["", NORMATIVE, "wechat", "政策文件", "行政规范性文件", "2021-05-10"],
    # a press conference no row of which has a 索引号: the first row in the file leads
    ["", "2021年第二季度统计数据新闻发布会", "portal", "新闻发布会", "press_conference", "2021-07-15"],
    ["", "2021年第二季度统计数据新闻发布会", "weibo", "政务动态", "press_conference", "2021-07-15"],
    # same title and day, another kind: another publication
    ["", PRESS, "weibo", "政务动态", "news", "2021-04-15"],
]


def _cells(env, version: str) -> tuple[dict, dict]:
    with env.session() as session:
        [report], _ = make_reports(session, settings=env.settings, codes=["tjj"], year=2021, version=version)
    return report.cells, report.numbers


@pytest.mark.parametrize("version", ["2021", "2019"])
def test_a_publication_imported_on_several_channels_counts_once(env, run, version):
    path = write_history(env.directory / "history.csv", HISTORY)
    done = run(["ledger", "import", str(path), "--json"], as_="qianqi", cwd=env.directory)
    assert done.code == 0, done.err
    cells, numbers = _cells(env, version)
    assert numbers["press_conferences"] == 2
    assert numbers["channels"]["portal"] == 3 and numbers["channels"]["disclosure"] == 1
    if version == "2021":
        assert (cells["t2.normative.made"], cells["t2.normative.in_force"]) == (1, 1)
    else:
        assert (cells["t2.normative.made"], cells["t2.normative.published"], cells["t2.normative.total"]) == (1, 1, 1)
    result = json.loads(done.out)
    assert result["imported"] == 8
    # the import says which rows it merged, by line (the header is line 1)
    assert [(m["line"], m["channel"], m["into"]) for m in result["merged"]] == [
        (3, "wechat", "line 2"), (6, "wechat", "line 4"), (8, "weibo", "line 7")]
    text = run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory)
    assert "imported 0 entries; 8 were imported before" in text.out


def test_rows_imported_later_join_the_publication_already_in_the_ledger(env, run):
    portal = write_history(env.directory / "portal.csv", [row for row in HISTORY if row[2] != "wechat"])
    wechat = write_history(env.directory / "wechat.csv", [row for row in HISTORY if row[2] == "wechat"])
    assert run(["ledger", "import", str(portal)], as_="qianqi", cwd=env.directory).code == 0
    result = run(["ledger", "import", str(wechat)], as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    cells, numbers = _cells(env, "2021")
    assert numbers["press_conferences"] == 2 and cells["t2.normative.made"] == 1
    assert "2 row(s) merged into the publication of another row" in result.out
    assert "line 2 (wechat) -> entry 1" in result.out
    again = json.loads(run(["ledger", "import", str(wechat), "--json"], as_="qianqi", cwd=env.directory).out)
    assert (again["imported"], again["already_present"], again["merged"]) == (0, 2, [])
    # the publication a row joined is part of its content hash: the trail covers it
    assert run(["audit", "verify"], cwd=env.directory).code == 0


def test_a_wechat_post_of_an_item_gongkai_published_counts_with_the_item(env, run):
    publish(env, beijing(2021, 5, 10, 9), title=NORMATIVE, kind="normative", category="政策文件",
            created_on=date(2021, 5, 8), channels=["portal", "disclosure"])
    wechat = write_history(env.directory / "wechat.csv", [["", NORMATIVE, "wechat", "政策文件", "normative",
                                                           "2021-05-10"]])
    result = json.loads(run(["ledger", "import", str(wechat), "--json"], as_="qianqi", cwd=env.directory).out)
    cells, _ = _cells(env, "2021")
    assert cells["t2.normative.made"] == 1
    assert [m["publication"][0] for m in result["merged"]] == ["i"]


def test_two_documents_with_one_title_stay_two(env, run):
    rows = [["002668389/2021-00011", "行政许可决定书", "portal", "行政许可", "license", "2021-03-01"],
            ["002668389/2021-00012", "行政许可决定书", "portal", "行政许可", "license", "2021-03-01"],
            ["", "行政许可决定书", "wechat", "行政许可", "license", "2021-03-01"],
            ["", "行政许可决定书", "wechat", "行政许可", "license", "2021-03-01"]]
    result = json.loads(run(["ledger", "import", str(write_history(env.directory / "h.csv", rows)), "--json"],
                            as_="qianqi", cwd=env.directory).out)
    cells, _ = _cells(env, "2021")
    assert cells["t2.license.decisions"] == 2
    # the n-th row of each channel is one publication: each WeChat post joins one document
    assert [(m["line"], m["into"]) for m in result["merged"]] == [(4, "line 2"), (5, "line 3")]
