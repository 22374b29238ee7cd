"""The report as a publishable document: the public header only with what published reports carry, the office's
metadata elsewhere; the chart's legend and an empty year; section 一's five parts (2021 format) and the sections
a final report must have; a year not yet ended; the DOCX laid out as a 公文 (GB/T 9704-2012)."""

from __future__ import annotations

import json
import zipfile

import docx
import pytest
from docx.oxml.ns import qn
from lxml import etree
from report_helpers import OVERVIEW, TEXTS_CONFIG, beijing, publish, write_texts

from pipeline.core.clock import beijing_today
from pipeline.report.format import T3_OUTER

PARTS = ("（一）主动公开", "（二）依申请公开", "（三）政府信息管理", "（四）政府信息公开平台建设", "（五）监督保障")


def _texts_env(make_env, year: int = 2025, overview: str = OVERVIEW):
    env = make_env(TEXTS_CONFIG)
    write_texts(env.directory, year, overview=overview)
    return env


def test_the_public_header_carries_what_published_reports_carry_and_the_rest_is_metadata(make_env, run):
    env = _texts_env(make_env)
    publish(env, beijing(2025, 3, 1, 9), kind="license", category="行政许可")
    page = env.directory / "2025.html"
    assert run(["report", "2025", "--out", str(page)], as_="qianqi", cwd=env.directory).code == 0
    html = page.read_text(encoding="utf-8")
    header = html[html.index('<table class="meta">'):html.index("</table>")]
    assert [key for key in ("索引号", "公开方式", "发布机构", "公开日期") if f"<th>{key}</th>" not in header] == []
    assert [key for key in ("生成日期", "格式", "台账校验值", "统计时限") if key in header] == []
    data = json.loads(run(["report", "2025", "--format", "json"], cwd=env.directory).out)
    ledger_hash = data["metadata"]["ledger_hash"]
    assert len(ledger_hash) == 64 and f'<meta name="台账校验值" content="{ledger_hash}">' in html
    assert data["metadata"]["format"] == "国办公开办函〔2021〕30号" and data["draft"] is False
    markdown = run(["report", "2025", "--format", "md"], cwd=env.directory).out
    head, _, tail = markdown.partition("## 一、总体情况")
    assert "台账校验值" not in head and "生成日期" not in head and f"台账校验值：{ledger_hash}" in tail
    word = env.directory / "2025.docx"
    assert run(["report", "2025", "--format", "docx", "--out", str(word), "--draft"],
               as_="qianqi", cwd=env.directory).code == 0
    document = docx.Document(str(word))
    assert not [p.text for p in document.paragraphs if "索引号" in p.text or ledger_hash in p.text]
    assert f"台账校验值：{ledger_hash}" in document.core_properties.comments
    assert document.core_properties.content_status == "草稿"


def test_the_chart_names_channels_and_a_year_without_publications_draws_none(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="license", category="行政许可", channels=["portal", "disclosure"])
    html = run(["report", "2021"], cwd=env.directory).out
    legend = html[html.index("<svg"):html.index("</svg>")]
    assert "门户网站" in legend and "政府信息公开目录" in legend
    assert "(portal)" not in legend and "（portal）" not in legend and "disclosure" not in legend
    empty = run(["report", "2022"], cwd=env.directory).out
    assert "<svg" not in empty and "各渠道每月发布信息数" not in empty


def test_section_one_of_the_2021_format_has_its_five_parts_from_the_agencys_text(make_env, run):
    env = _texts_env(make_env)
    publish(env, beijing(2025, 3, 1, 9), kind="license", category="行政许可")
    data = json.loads(run(["report", "2025", "--format", "json"], cwd=env.directory).out)
    narrative = data["sections"]["一"]
    assert [p for p in narrative if p in PARTS] == list(PARTS)
    assert narrative[1] == "本局坚持以公开为常态、不公开为例外。"  # the text before the first part opens 一
    part_one = narrative[narrative.index(PARTS[0]) + 1:narrative.index(PARTS[1])]
    assert part_one[0].startswith("2025年，市统计局在门户网站主动公开信息1条") and part_one[1].startswith("围绕")
    assert narrative[narrative.index(PARTS[4]) + 1] == "将政务公开纳入处室年度考核，开展业务培训2次。"
    assert all(f["ok"] for f in data["check"] if f["rule"] in ("S1", "S5", "S6"))
    html = run(["report", "2025"], cwd=env.directory).out
    assert "<h3>（三）政府信息管理</h3>" in html


@pytest.mark.parametrize("missing", ["（四）政府信息公开平台建设", "problems"])
def test_a_missing_required_section_stops_a_final_report_but_not_a_draft(make_env, run, missing):
    overview = OVERVIEW.replace("（四）政府信息公开平台建设\n\n优化门户网站信息公开专栏，完善检索功能。\n\n", "") \
        if missing.startswith("（") else OVERVIEW
    env = _texts_env(make_env, overview=overview)
    if missing == "problems":
        (env.directory / "texts" / "2025-problems.txt").unlink()
    target = env.directory / "2025.docx"
    final = run(["report", "2025", "--format", "docx", "--out", str(target)], as_="qianqi", cwd=env.directory)
    assert final.code == 1 and not target.exists()
    expected = "S1 (final) 一: （四）政府信息公开平台建设 has no text" if missing.startswith("（") else \
        "S5 (final) 五: no text for section 五 (agencies.tjj.report.problems_file)"
    assert f"error: tjj 2025: {expected}" in final.err and "write a draft with --draft" in final.err
    check = run(["report", "2025", "--check"], cwd=env.directory)
    assert check.code == 1 and "missing" in check.out
    draft = run(["report", "2025", "--format", "docx", "--out", str(target), "--draft"],
                as_="qianqi", cwd=env.directory)
    assert draft.code == 0 and f"warning: tjj 2025: {expected}" in draft.err
    texts = [p.text for p in docx.Document(str(target)).paragraphs]
    assert "（本机关未提供本部分内容。）" in texts


def test_a_report_for_a_year_not_yet_ended_is_a_draft_and_says_so(make_env, run):
    year = beijing_today().year  # the current year on the Beijing calendar has not ended
    env = _texts_env(make_env, year)
    page = env.directory / "now.html"
    result = run(["report", str(year), "--out", str(page)], as_="qianqi", cwd=env.directory)
    assert result.code == 0
    assert f"warning: tjj {year}: the year has not ended (Beijing time): this is a draft (草稿)" in result.err
    html = page.read_text(encoding="utf-8")
    assert '<p class="draft">草稿</p>' in html
    assert f"<title>台州市统计局{year}年政府信息公开工作年度报告（草稿）" in html
    assert json.loads(run(["report", str(year), "--format", "json"], cwd=env.directory).out)["draft"] is True
    submitted = run(["report", str(year), "--submit"], as_="qianqi", cwd=env.directory)
    assert submitted.code == 1 and "is a draft: only a final report is submitted" in submitted.err


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_the_docx_is_laid_out_as_a_gongwen_on_a4(make_env, run, version):
    env = _texts_env(make_env)
    path = env.directory / "2025.docx"
    result = run(["report", "2025", "--format", "docx", "--format-version", version, "--out", str(path)],
                 as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    document = docx.Document(str(path))
    first = document.sections[0]
    assert (round(first.page_width.mm), round(first.page_height.mm)) == (210, 297)
    assert [round(m.mm) for m in (first.top_margin, first.bottom_margin, first.left_margin, first.right_margin)] \
        == [37, 35, 28, 26]
    landscape = [s for s in document.sections if s.page_width > s.page_height]
    assert landscape and all(round(s.page_width.mm) == 297 and round(s.page_width.mm - s.left_margin.mm -
                                                                     s.right_margin.mm) == 225 for s in landscape)
    # no Word default styles (blue Calibri headings): the 公文 fonts on every heading
    assert [p.style.name for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))] == []
    title = document.paragraphs[0]
    # too long for one line of 2号: broken between whole words (GB/T 9704-2012 7.3.1)
    assert "".join(r.text for r in title.runs) == "台州市统计局2025年\n政府信息公开工作年度报告"
    assert _east_asia(title.runs[0]) == "方正小标宋简体" and title.runs[0].font.size.pt == 22
    heading = next(p for p in document.paragraphs if p.text == "一、总体情况")
    assert _east_asia(heading.runs[0]) == "黑体" and heading.runs[0].font.size.pt == 16
    if version == "2021":  # 二级标题 in 楷体
        part = next(p for p in document.paragraphs if p.text == "（三）政府信息管理")
        assert _east_asia(part.runs[0]) == "楷体_GB2312"
    normal = document.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia"))
    assert normal == "仿宋_GB2312" and document.styles["Normal"].font.size.pt == 16
    fonts = _font_table(path)  # the 公文 fonts with their fallbacks (w:altName)
    assert "Noto Serif CJK SC" in fonts["仿宋_GB2312"] and "Noto Sans CJK SC" in fonts["黑体"]
    t3 = document.tables[1]
    assert [bool(row._tr.find(qn("w:trPr")).find(qn("w:tblHeader")) is not None) for row in t3.rows[:4]] == \
        [True, True, True, False]
    assert t3.cell(3, 0).text == T3_OUTER["new"]


def _east_asia(run) -> str:
    return run._r.rPr.rFonts.get(qn("w:eastAsia"))


def _font_table(path) -> dict[str, str]:
    root = etree.fromstring(zipfile.ZipFile(path).read("word/fontTable.xml"))
    return {f.get(qn("w:name")): f.find(qn("w:altName")).get(qn("w:val"))
            for f in root if f.find(qn("w:altName")) is not None}


HEADER_LINES = """() => [...document.querySelectorAll('table.official th')].map(th => {
    const range = document.createRange();
    range.selectNodeContents(th);
    return [th.textContent, new Set([...range.getClientRects()].map(r => Math.round(r.top))).size];
})"""


@pytest.mark.parametrize("version", ["2019", "2021"])
@pytest.mark.parametrize("width", [1100, 760])
def test_the_html_tables_break_no_header_word(env, run, browser, version, width):
    """Each short header label (自然人, 结果维持 …) on one line in Chromium, on a wide and a narrow window."""
    from browser import OUTPUT, serve, url_of, visit

    publish(env, beijing(2021, 3, 1, 9), kind="license", category="行政许可")
    folder = env.directory / "html"
    folder.mkdir()
    html = run(["report", "2021", "--format-version", version], cwd=env.directory).out
    (folder / "report.html").write_text(html, encoding="utf-8")
    server = serve(folder)
    try:
        page, problems = visit(browser, f"{url_of(server)}/report.html")
        page.set_viewport_size({"width": width, "height": 900})
        lines = page.evaluate(HEADER_LINES)
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"report-html-{version}-{width}.png"), full_page=True)
    finally:
        server.shutdown()
    assert len(lines) > 40
    assert [(text, count) for text, count in lines if len(text) <= 10 and count > 1] == []
    assert problems == []
