"""The report's outputs (HTML, Markdown, JSON, DOCX) have the official shapes and verbatim labels; --check,
--explain, --all-agencies, agency texts and templates, and the figures commands."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import docx
import pytest
import sqlalchemy as sa
from report_helpers import beijing, publish

from pipeline.core.agencies import agency_row
from pipeline.core.models import DisclosureRequest
from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.annual import make_documents
from pipeline.report.format import (
    INFO,
    OTHER_2021,
    SECTIONS,
    T2,
    T3_HEAD,
    T3_NOTE,
    T3_OUTER,
    T3_RESULTS,
    T4_BLOCKS,
    T4_COLUMNS,
    T4_LITIGATION,
)
from pipeline.report.grid import shape, table2, table3, table4

# the shared reference sits beside the checkout (here and in CI); /work/shared on a developer's machine
REFERENCE = next((p for p in (Path(__file__).parents[2] / "shared" / "reference" / "annual-report-format.md",
                              Path("/work/shared/reference/annual-report-format.md")) if p.exists()),
                 Path(__file__).parents[2] / "shared" / "reference" / "annual-report-format.md")
SHAPES = {"2019": {"二": (18, 4), "三": (26, 10), "四": (4, 15)},
          "2021": {"二": (14, 4), "三": (28, 10), "四": (4, 15)}}
OTHER_AGENCIES = """
[agencies.fgw]
name = "台州市发展和改革委员会"
org_code = "002668001"
channels = ["portal"]

[agencies.sj]
name = "台州市审计局"
org_code = "002668002"
channels = ["portal"]
"""


def labels() -> set[str]:
    found = {INFO, T3_NOTE, *T3_HEAD, *T3_OUTER.values(), T4_LITIGATION, *APPLICANT_TYPES.values(),
             *SECTIONS.values()}
    for blocks in T2.values():
        for block in blocks:
            found |= {block.caption, *(label for _, label in block.columns), *(label for _, label in block.rows)}
    for groups in T3_RESULTS.values():
        for group, leaves in groups:
            found |= {group, *(leaf for _, leaf in leaves if leaf)}
    return found | {label for _, label in T4_BLOCKS} | {label for _, label in T4_COLUMNS}


def test_every_label_is_verbatim_from_the_reference():
    assert REFERENCE.exists(), f"{REFERENCE} not found: the shared reference must sit beside the checkout"
    text = REFERENCE.read_text(encoding="utf-8")
    assert [label for label in sorted(labels()) if label not in text] == []
    assert {leaf for _, leaf in OTHER_2021} <= set(labels())


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_grids_have_the_official_shapes(version):
    from pipeline.report.format import all_cells

    cells = dict.fromkeys(all_cells(version), 0)
    grids = {"二": table2(version, cells), "三": table3(version, cells), "四": table4(cells)}
    assert {name: shape(grid) for name, grid in grids.items()} == SHAPES[version]


class Tables(HTMLParser):
    """Rows of each <table class="official">, as (tag, text, colspan, rowspan)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple]]] = []
        self.scripts = 0
        self.cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "table" and attrs.get("class") == "official":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self.cell = [tag, "", int(attrs.get("colspan", 1)), int(attrs.get("rowspan", 1))]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.tables:
            self.tables[-1][-1].append(tuple(self.cell))
            self.cell = None


def html_shape(rows: list[list[tuple]]) -> tuple[int, int]:
    from pipeline.report.grid import Cell

    return shape([[Cell(text, colspan=c, rowspan=r) for _, text, c, r in row] for row in rows])


def small_year(env) -> None:
    publish(env, beijing(2021, 3, 1, 9), kind="license", category="行政许可")
    publish(env, beijing(2021, 7, 1, 9), kind="news", category="政务动态", channels=["disclosure"])


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_html_and_markdown_print_the_official_tables_and_a_chart_without_scripts(env, run, version):
    small_year(env)
    out = env.directory / "report.html"
    result = run(["report", "2021", "--format-version", version, "--out", str(out), "--draft"],
                 as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    html = out.read_text(encoding="utf-8")
    parser = Tables()
    parser.feed(html)
    assert parser.scripts == 0 and "<svg" in html and "各渠道每月发布信息数" in html
    assert [html_shape(t) for t in parser.tables] == list(SHAPES[version].values())
    assert parser.tables[1][0][0] == ("th", T3_NOTE, 3, 3)
    assert "<th>索引号</th><td>（发布时分配）</td>" in html and "<th>发布机构</th><td>市统计局</td>" in html
    markdown = run(["report", "2021", "--format", "md", "--format-version", version], cwd=env.directory).out
    md_parser = Tables()
    md_parser.feed(markdown)
    assert [html_shape(t) for t in md_parser.tables] == list(SHAPES[version].values())
    assert markdown.startswith("# 台州市统计局2021年政府信息公开工作年度报告")


@pytest.mark.browser
def test_the_html_report_opens_in_headless_chromium_without_console_errors(env, run, tmp_path):
    small_year(env)
    page = tmp_path / "report.html"
    assert run(["report", "2021", "--out", str(page), "--draft"], as_="qianqi", cwd=env.directory).code == 0
    shot = tmp_path / "report.png"
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               "--window-size=1100,2400", f"--screenshot={shot}", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CONSOLE" not in done.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_the_docx_opens_with_python_docx_and_has_the_three_official_tables(env, run, version):
    small_year(env)
    path = env.directory / "report.docx"
    result = run(["report", "2021", "--format", "docx", "--format-version", version, "--out", str(path), "--draft"],
                 as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    document = docx.Document(str(path))
    tables = document.tables
    assert [(len(t.rows), len(t.columns)) for t in tables] == list(SHAPES[version].values())
    t3 = tables[1]
    assert t3.cell(0, 0).text == t3.cell(2, 2).text == T3_NOTE        # one merged cell
    results = 20 if version == "2019" else 22
    assert t3.cell(5, 0).text == t3.cell(4 + results, 0).text == T3_OUTER["results"]
    assert t3.cell(3, 0).text == T3_OUTER["new"] and t3.cell(3, 3).text == "0"
    assert tables[2].cell(0, 5).text == tables[2].cell(0, 14).text == T4_LITIGATION
    assert tables[0].cell(4, 0).text == "第二十条第（五）项"
    paragraphs = [p.text for p in document.paragraphs]
    assert SECTIONS["五"] in paragraphs and any("通过" in p or "公开" in p for p in paragraphs)


def test_a_hand_written_annual_report_item_does_not_give_the_header_an_index_number(env, run):
    """Only the report that `gongkai report YEAR --submit` froze is this year's report (test_report_submit
    checks that its 索引号 reaches the header); an annual_report item written by hand says nothing of the
    year it reports on, so the header keeps its placeholders rather than borrow that item's 索引号."""
    small_year(env)
    publish(env, beijing(2022, 1, 20, 9), kind="annual_report", category="信息公开年报", created_on=date(2022, 1, 18),
            title="台州市统计局2021年政府信息公开工作年度报告")
    html = run(["report", "2021"], cwd=env.directory).out
    assert "002668389/2022-00001" not in html and "<th>索引号</th><td>（发布时分配）</td>" in html


def test_json_has_every_cell_with_its_label(env, run):
    small_year(env)
    data = json.loads(run(["report", "2021", "--format", "json"], cwd=env.directory).out)
    assert len(data["tables"]["二"]) == 10 and len(data["tables"]["三"]) == 25 * 7 and len(data["tables"]["四"]) == 15
    assert data["tables"]["二"]["t2.license.decisions"] == {
        "label": "二/第二十条第（五）项/行政许可/本年处理决定数量", "value": 1, "source": "ledger"}
    assert data["tables"]["二"]["t2.fee.amount"]["unit"] == "万元"
    # the text is what the standard library writes (orjson only writes it faster), Chinese unescaped
    text = run(["report", "2021", "--format", "json"], cwd=env.directory).out
    assert text == json.dumps(data, ensure_ascii=False, indent=2) + "\n" and "行政许可" in text


def test_check_passes_warns_and_a_broken_hard_rule_exits_1_naming_the_cell(env, run):
    small_year(env)
    ok = run(["report", "2021", "--check", "--draft"], cwd=env.directory)
    assert ok.code == 0 and "R15" in ok.out and "broken" not in ok.out
    findings = json.loads(run(["report", "2021", "--check", "--draft", "--format", "json"],
                              cwd=env.directory).out)["tjj"]
    assert {f"R{n}" for n in range(1, 16)} | {"S1", "S5", "S6"} <= {f["rule"] for f in findings}
    assert all(f["ok"] for f in findings if f["rule"].startswith("R"))
    # final (without --draft), sections 五 and 六 are missing: a finding that stops
    final = run(["report", "2021", "--check"], cwd=env.directory)
    assert final.code == 1 and "S5 (final) 五: no text for section 五" in final.err
    with env.session() as session:  # a request closed with an outcome gongkai does not know (a bad import)
        session.add(DisclosureRequest(agency_id=agency_row(session, "tjj").id, received_on=date(2021, 5, 6),
                                      channel="post", applicant_type="natural_person", closed_on=date(2021, 5, 20),
                                      outcome="granted", recorded_by="legacy"))
    target = env.directory / "broken.html"
    broken = run(["report", "2021", "--check", "--out", str(target)], as_="qianqi", cwd=env.directory)
    assert broken.code == 1
    assert "R4 (hard) t3.total.total: 1 closed request(s) with outcome 'granted' map to no row" in broken.err
    assert "R1 (hard) t3.carried_out.natural_person" in broken.err and not target.exists()


def test_explain_lists_the_rows_behind_a_cell(env, run):
    small_year(env)
    result = run(["report", "2021", "--explain", "t2.license.decisions"], cwd=env.directory)
    assert "二/第二十条第（五）项/行政许可/本年处理决定数量" in result.out and "2021-03-01" in result.out
    run(["figures", "set", "2021", "license.decisions", "9", "--note", "含线下办件"], as_="qianqi", cwd=env.directory)
    figure = json.loads(run(["report", "2021", "--explain", "t2.license.decisions", "--format", "json"],
                            cwd=env.directory).out)
    assert (figure["value"], figure["source"], figure["rows"][0]["note"]) == ("9", "figure", "含线下办件")
    run(["figures", "set", "2021", "press_conferences", "6"], as_="qianqi", cwd=env.directory)
    press = json.loads(run(["report", "2021", "--explain", "n.press_conferences", "--format", "json"],
                           cwd=env.directory).out)
    assert (press["value"], press["source"], press["rows"][0]["value"]) == ("6", "figure", "6")
    news = json.loads(run(["report", "2021", "--explain", "n.news", "--format", "json"], cwd=env.directory).out)
    assert [(r["channel"], r["date"]) for r in news["rows"]] == [("disclosure", "2021-07-01")]
    unknown = run(["report", "2021", "--explain", "t3.granted.total"], cwd=env.directory)
    assert unknown.code == 1 and "no cell 't3.granted.total'" in unknown.err


def test_figures_commands(env, run):
    assert "fee.amount" in run(["figures", "keys"], cwd=env.directory).out
    assert run(["figures", "set", "2021", "fee.amount", "3.25"], as_="qianqi", cwd=env.directory).code == 0
    assert run(["figures", "set", "2021", "fee.amount", "3.5"], as_="qianqi", cwd=env.directory).code == 0
    listed = json.loads(run(["figures", "list", "--json"], cwd=env.directory).out)
    assert [(f["year"], f["key"], f["value"]) for f in listed] == [(2021, "fee.amount", "3.5")]
    for args, message in ((["2021", "license.items", "2.5"], "a count is a whole number"),
                          (["2021", "license.items", "-1"], "must be zero or more"),
                          (["2021", "fee.amount", "1.00001"], "at most 4 decimals"),
                          (["2021", "nonsense", "1"], "unknown figure 'nonsense'")):
        bad = run(["figures", "set", "--", *args], as_="qianqi", cwd=env.directory)
        assert bad.code == 1 and message in bad.err, (args, bad.err)
    assert run(["figures", "unset", "2021", "fee.amount"], as_="qianqi", cwd=env.directory).code == 0
    assert json.loads(run(["figures", "list", "--json"], cwd=env.directory).out) == []


def test_agency_texts_and_its_own_narrative_template(make_env, run):
    env = make_env('\n[agencies.tjj.report]\nnarrative_template = "texts/narrative.txt"\n'
                   'problems_file = "texts/{year}-problems.txt"\nother_file = "texts/{year}-other.txt"\n')
    texts = env.directory / "texts"
    texts.mkdir()
    (texts / "narrative.txt").write_text("{{ year }}年，本局公开信息{{ channels[0].count }}条。\n\n第二段。\n",
                                         encoding="utf-8")
    (texts / "2021-problems.txt").write_text("一是栏目需完善；\n二是解读不够。\n\n改进措施。\n", encoding="utf-8")
    (texts / "2021-other.txt").write_text("本年度未收取信息处理费。\n", encoding="utf-8")
    small_year(env)
    data = json.loads(run(["report", "2021", "--format", "json"], cwd=env.directory).out)
    assert data["sections"] == {"一": ["2021年，本局公开信息1条。", "第二段。"],
                                "五": ["一是栏目需完善；二是解读不够。", "改进措施。"],
                                "六": ["本年度未收取信息处理费。"]}
    missing = run(["report", "2020", "--format", "md"], cwd=env.directory)
    assert "（本机关未提供本部分内容。）" in missing.out
    assert "no text for section 五 (agencies.tjj.report.problems_file)" in missing.err


def test_all_agencies_use_the_same_number_of_queries_as_one(make_env, run):
    env = make_env(OTHER_AGENCIES)
    small_year(env)
    statements: list[str] = []
    sa.event.listen(env.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    for codes in (["tjj"], ["tjj", "fgw", "sj"]):
        statements.clear()
        with env.session() as session:
            docs = make_documents(session, settings=env.settings, codes=codes, year=2021, version=None,
                                  today=date(2022, 1, 5))
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
        assert [d.report.agency_code for d in docs] == codes
    # seven grouped queries for the year, seven for the year before, one for the ledger hashes (台账校验值), one
    # for the frozen reports of the year before (R9, R10) and one for the audit chain's head
    assert counts[0] == counts[1] <= 17
    folder = env.directory / "reports"
    result = run(["report", "2021", "--all-agencies", "--format", "md", "--out", str(folder), "--draft"],
                 as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    assert f"wrote 3 reports into {folder}/" in result.err.replace("\n", "")
    assert sorted(p.name for p in folder.iterdir()) == ["fgw-2021.md", "sj-2021.md", "tjj-2021.md"]
    assert "台州市审计局2021年政府信息公开工作年度报告" in (folder / "sj-2021.md").read_text(encoding="utf-8")
    both = json.loads(run(["report", "2021", "--all-agencies", "--format", "json"], cwd=env.directory).out)
    assert [r["agency"] for r in both] == ["tjj", "fgw", "sj"]
    counts = json.loads(run(["ledger", "--all-agencies", "--year", "2021", "--json"], cwd=env.directory).out)
    assert {(r["agency"], r["channel"]): r["count"] for r in counts} == {("tjj", "disclosure"): 2, ("tjj", "portal"): 1}
