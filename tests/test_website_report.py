"""The 政府网站工作年度报表 (国办函〔2018〕12号): the demo's year, a constructed year whose every figure is known, and
the cross-check with the 年度报告 of the same year."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from report_helpers import write_history

from pipeline.records.website_form import DECIMAL, FIGURE, FLAG, LEDGER, ROWS, TEXT

YEAR = "2025"
ACCOUNTS = ('[channels.wechat]\nkind = "wechat"\nenabled = false\n'
            '[channels.weibo]\nkind = "weibo"\nenabled = false\n'
            '[agencies.tjj.website]\nname = "台州市统计局网站"\nurl = "https://tjj.example.gov.cn/"\n'
            'code = "3310000001"\nicp = "浙ICP备00000001号"\npsb = "浙公网安备 33100202000001号"\n'
            'mobile_other = "台州统计 App"\nhead = "赵六"\nreviewer = "钱七"\nfiller = "张三"\n'
            'phone = "0576-88000000"\n')
HISTORY = [  # 索引号, 标题, 渠道, 主题分类, 类别, 公开日期
    ["002668389/2025-00001", "机构职能", "portal", "机构信息", "institution", "2025-01-10"],
    ["002668389/2025-00001", "机构职能", "disclosure", "机构信息", "institution", "2025-01-10"],
    ["002668389/2025-00002", "一季度统计工作会议", "portal", "政务动态", "news", "2025-03-20"],
    ["002668389/2025-00003", "统计公报解读", "portal", "政策解读", "interpretation", "2025-03-21"],
    ["002668389/2025-00003", "统计公报解读", "disclosure", "政策解读", "interpretation", "2025-03-21"],
    ["002668389/2025-00004", "统计公报", "disclosure", "统计数据", "statistics", "2025-03-01"],
    ["", "统计开放日", "wechat", "政务动态", "news", "2025-09-20"],
    ["", "统计开放日回顾", "wechat", "政务动态", "news", "2025-09-21"],
    ["", "统计开放日", "weibo", "政务动态", "news", "2025-09-20"],
]
LEDGER_CELLS = {"w.info.total": 3, "w.info.overview": 1, "w.info.news": 1, "w.info.disclosure": 3,
                "w.interp.materials": 1, "w.wechat.posts": 2, "w.weibo.posts": 1}


@pytest.fixture
def year_env(make_env, monkeypatch, run):
    monkeypatch.setenv("GONGKAI_AGENCIES__TJJ__CHANNELS", '["portal", "disclosure", "wechat", "weibo"]')
    monkeypatch.setenv("GONGKAI_AGENCIES__TJJ__DEFAULT_CHANNELS", '["portal", "disclosure"]')
    env = make_env(ACCOUNTS)
    path = write_history(env.directory / "history.csv", HISTORY)
    assert run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory).code == 0
    return env


def known_figures() -> dict[str, str]:
    """A value for every figure of the form, each different, and consistent with every rule."""
    values, n = {}, 10
    for row in ROWS:
        if row.source != FIGURE:
            continue
        n += 1
        values[row.cell] = "1" if row.type == FLAG else ("2.5" if row.type == DECIMAL else str(n))
    values["w.service.online"] = "5"                  # ≤ 政务服务事项
    values["w.talk.closed"], values["w.talk.public"] = "20", "19"  # ≤ 收到留言 ≤ 办结
    values["w.talk.results"] = "1"                    # ≤ 征集调查期数
    values["w.security.fixed"] = "3"                  # ≤ 发现问题数量
    return values


def set_figures(run, env, values: dict[str, str]) -> None:
    for cell, value in values.items():
        result = run(["figures", "set", YEAR, "web." + cell.removeprefix("w."), value], as_="qianqi",
                     cwd=env.directory)
        assert result.code == 0, (cell, result.err)


def test_a_constructed_year_fills_every_cell_of_the_form(year_env, run):
    env = year_env
    figures = known_figures()
    set_figures(run, env, figures)
    result = run(["website", YEAR, "--format", "json"], cwd=env.directory)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    cells = {cell: entry["value"] for cell, entry in data["cells"].items()}
    expected = {
        "w.site.name": "台州市统计局网站", "w.site.url": "https://tjj.example.gov.cn/", "w.site.host": "台州市统计局",
        "w.site.type": "部门网站", "w.site.code": "3310000001", "w.site.icp": "浙ICP备00000001号",
        "w.site.psb": "浙公网安备 33100202000001号", "w.weibo.name": "weibo", "w.wechat.name": "wechat",
        "w.mobile.other": "台州统计 App", "w.new.other": "", "w.mobile.any": 1,
        **LEDGER_CELLS,
        **{cell: (value if "." in value else int(value)) for cell, value in figures.items()},
    }
    expected["w.interp.total"] = 1 + int(figures["w.interp.products"]) + int(figures["w.interp.comments"])
    expected["w.service.cases"] = int(figures["w.service.natural"]) + int(figures["w.service.legal"])
    assert cells == expected
    assert [row.cell for row in ROWS] == list(cells)  # the form's order
    assert {data["cells"][c]["source"] for c in LEDGER_CELLS} == {LEDGER}
    assert all(check["ok"] for check in data["check"]), data["check"]
    assert data["signatures"]["单位负责人"] == "赵六"
    assert data["accounts"] == {"wechat": {"wechat": 2}, "weibo": {"weibo": 1}}
    assert Decimal(cells["w.talk.days"]) == Decimal("2.5")

    md = run(["website", YEAR, "--format", "md"], cwd=env.directory).out
    assert "| 信息发布（单位：条）/总数 | 3 |" in md and "| 是否开展应急演练 | 是 |" in md
    html = env.directory / "website.html"
    assert run(["website", YEAR, "--out", str(html)], cwd=env.directory).code == 0
    assert "台州市统计局网站2025年政府网站工作年度报表" in html.read_text(encoding="utf-8")
    docx = env.directory / "website.docx"
    assert run(["website", YEAR, "--format", "docx", "--out", str(docx)], cwd=env.directory).code == 0
    from docx import Document

    text = [cell.text for table in Document(str(docx)).tables for row in table.rows for cell in row.cells]
    assert "微信/信息发布量（单位：条）" in text and "2" in text

    explained = json.loads(run(["website", YEAR, "--explain", "w.wechat.posts", "--format", "json"],
                               cwd=env.directory).out)
    assert explained["value"] == "2" and [r["title"] for r in explained["rows"]] == ["统计开放日", "统计开放日回顾"]
    figure = run(["website", YEAR, "--explain", "w.site.visits"], cwd=env.directory)
    assert figure.code == 0 and "[from the figure]" in figure.out and "web.site.visits" in figure.out


def test_the_cross_check_with_the_annual_report_fails_on_an_inconsistent_figure(year_env, run):
    env = year_env
    assert run(["website", YEAR, "--check"], cwd=env.directory).code == 0
    set_figures(run, env, {"w.wechat.posts": "5"})  # the 年度报告 counts 2 WeChat posts
    checked = run(["website", YEAR, "--check", "--format", "json"], cwd=env.directory)
    assert checked.code == 1
    broken = [f for f in json.loads(checked.out.split("\n}\n")[0] + "\n}")["tjj"] if not f["ok"]]
    assert [(f["rule"], f["cell"]) for f in broken] == [("X3", "w.wechat.posts")]
    assert "2025 年度报告 counts 2" in broken[0]["message"]
    out = env.directory / "refused.html"
    refused = run(["website", YEAR, "--out", str(out)], cwd=env.directory)
    assert refused.code == 1 and "X3" in refused.err and not out.exists()
    set_figures(run, env, {"w.wechat.posts": "2", "w.talk.received": "1", "w.talk.closed": "4"})
    again = run(["website", YEAR, "--check"], cwd=env.directory)
    assert again.code == 1 and "W4" in again.err and "X3" not in again.err


def test_the_demo_year(tmp_path, run):
    workspace = tmp_path / "demo"
    assert run(["demo", "--workspace", str(workspace)], cwd=tmp_path).code == 0
    [row] = json.loads(run(["ledger", "--by", "department", "--json"], cwd=workspace).out)
    result = run(["website", str(row["year"]), "--format", "json"], cwd=workspace)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    cells = {cell: entry["value"] for cell, entry in data["cells"].items()}
    # the demo publishes 4 items on the portal and the 公开目录: a 统计公报, its 图解 (政策解读), a 政务动态 and a
    # 新闻发布会; it runs no WeChat or Weibo account
    assert {c: cells[c] for c in LEDGER_CELLS} == {
        "w.info.total": 4, "w.info.overview": 0, "w.info.news": 1, "w.info.disclosure": 4, "w.interp.materials": 1,
        "w.wechat.posts": 0, "w.weibo.posts": 0}
    assert cells["w.site.name"] == "台州市统计局" and cells["w.site.url"] == "http://localhost:8080/portal"
    assert all(check["ok"] for check in data["check"])
    assert all(entry["value"] in (0, "", "0") for cell, entry in data["cells"].items()
               if entry["source"] == FIGURE and entry["type"] != TEXT)
