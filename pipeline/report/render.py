"""The annual report as a document: section 一 from a Jinja2 template, 五 and 六 from the agency's texts,
the official tables, the chart; written as HTML, Markdown or JSON (DOCX: pipeline.report.docx_writer).

The public header carries what a published report's record carries (索引号, 公开方式, 发布机构, 公开日期);
what the office keeps about the document (生成日期, 格式, 台账校验值, 草稿 or 定稿) is its metadata: <meta>
elements in HTML, a closing comment in Markdown, "metadata" in JSON, the document properties in DOCX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import orjson
from markupsafe import Markup

from pipeline.core.config import AgencySettings
from pipeline.core.render import render_template
from pipeline.report.chart import month_chart
from pipeline.report.check import Finding, check_sections
from pipeline.report.data import ReportData
from pipeline.report.format import SECTIONS, cell_label
from pipeline.report.grid import Grid, table2, table3, table4
from pipeline.report.narrative import MISSING, is_heading, missing_parts, read_text, render_narrative

FORMATS = {"2019": "国办公开办函〔2019〕60号", "2021": "国办公开办函〔2021〕30号"}
DRAFT, FINAL = "草稿", "定稿"


@dataclass
class Document:
    report: ReportData
    title: str
    header: list[tuple[str, str]]
    narrative: list[str]
    problems: list[str]
    other: list[str]
    has_problems: bool
    has_other: bool
    findings: list[Finding] = field(default_factory=list)
    ledger_hash: str = ""  # sha256 of the year's ledger rows the report was built from (pipeline.records.audit)
    generated_on: date | None = None
    draft: bool = False    # asked for (--draft), or the year has not ended: marked 草稿, never frozen
    audit_head: tuple[int, str] = (0, "")  # the audit chain's length and head it was built on (docs/audit.md)

    @property
    def year(self) -> int:
        return self.report.year

    @property
    def metadata(self) -> list[tuple[str, str]]:
        """What the office keeps about the document, outside its public header."""
        return [("生成日期", self.generated_on.isoformat() if self.generated_on else ""),
                ("格式", FORMATS[self.report.version]), ("台账校验值", self.ledger_hash),
                ("审计链", f"{self.audit_head[0]} {self.audit_head[1]}"), ("状态", DRAFT if self.draft else FINAL)]

    @cached_property
    def grids(self) -> dict[str, Grid]:
        """Tables 二, 三 and 四 as printed: built when an output draws them (JSON does not)."""
        version, cells = self.report.version, self.report.cells
        return {"二": table2(version, cells), "三": table3(version, cells), "四": table4(cells)}


def build_document(report: ReportData, agency: AgencySettings, *, findings: list[Finding],
                   today: date, ledger_hash: str = "", draft: bool = False,
                   audit_head: tuple[int, str] = (0, "")) -> Document:
    """Everything an output needs, with section 一 rendered from the (agency's or built-in) template, and the
    sections rules (S1, S5, S6) added to `findings`."""
    texts, year = agency.report, report.year
    problems, other = read_text(texts.problems_file, year), read_text(texts.other_file, year)
    narrative = render_narrative(report, texts.narrative_template, read_text(texts.overview_file, year))
    index_no, published_on = report.published or ("（发布时分配）", None)
    sections = check_sections(version=report.version, missing_parts=missing_parts(narrative),
                              has_problems=bool(problems), has_other=bool(other),
                              where=f"agencies.{report.agency_code}.report")
    return Document(
        report=report, title=f"{report.agency_name}{year}年政府信息公开工作年度报告",
        header=[("索引号", index_no), ("公开方式", "主动公开"), ("发布机构", report.publisher),
                ("公开日期", published_on.isoformat() if published_on else "（发布时填写）")],
        narrative=narrative, problems=problems or [MISSING], other=other or [MISSING], has_problems=bool(problems),
        has_other=bool(other), findings=findings + sections, ledger_hash=ledger_hash, generated_on=today,
        draft=draft, audit_head=audit_head,
    )


def _tables(doc: Document) -> dict[str, Markup]:
    return {name: Markup(render_template("report/table.html", {"grid": grid}))  # noqa: S704  (autoescaped)
            for name, grid in doc.grids.items()}


def _view(doc: Document) -> dict[str, Any]:
    chart = month_chart(doc.report.channels, title=f"{doc.year}年各渠道每月发布信息数")
    return {"doc": {"title": doc.title, "header": doc.header, "year": doc.year,
                    "narrative": [(is_heading(p), p) for p in doc.narrative], "problems": doc.problems,
                    "other": doc.other, "has_problems": doc.has_problems, "has_other": doc.has_other,
                    "tables": _tables(doc), "chart": chart, "metadata": doc.metadata, "draft": doc.draft},
            "sections": SECTIONS, "body": False, "download": ""}


def to_body_html(doc: Document, *, download: str = "") -> str:
    """Sections 一 to 六 as an item's body: the page of the portal and the catalogue prints the title and the
    header itself; `download` names the Word file published beside the page."""
    return render_template("report/body.html", {**_view(doc), "body": True, "download": download})


def to_html(doc: Document) -> str:
    return render_template("report/report.html", _view(doc))


def to_markdown(doc: Document) -> str:
    return render_template("report/report.md", _view(doc))


def to_data(doc: Document) -> dict[str, Any]:
    """Every cell with its label, the narrative's figures, the sections' text and the check's findings."""
    r = doc.report
    tables: dict[str, dict[str, Any]] = {"二": {}, "三": {}, "四": {}}
    for cell, value in r.cells.items():
        table = {"t2": "二", "t3": "三", "t4": "四"}[cell[:2]]
        entry = {"label": cell_label(r.version, cell), "value": _plain(value), "source": r.sources.get(cell, "")}
        if isinstance(value, Decimal):
            entry["unit"] = "万元"
        tables[table][cell] = entry
    numbers = {k: v for k, v in r.numbers.items() if k != "unmapped"}
    return {
        "agency": r.agency_code, "agency_name": r.agency_name, "year": r.year, "format_version": r.version,
        "title": doc.title, "period": numbers.pop("period"), "tables": tables, "narrative_numbers": numbers,
        "channels": [{"name": c.name, "kind": c.kind, "label": c.label, "count": c.count, "months": c.months,
                      "categories": c.categories} for c in r.channels],
        "sections": {"一": doc.narrative, "五": doc.problems if doc.has_problems else [],
                     "六": doc.other if doc.has_other else []},
        "check": [{"rule": f.rule, "level": f.level, "ok": f.ok, "cell": f.cell, "message": f.message}
                  for f in doc.findings],
        "draft": doc.draft,
        "metadata": {"ledger_hash": doc.ledger_hash, "format": FORMATS[r.version],
                     "audit_head": {"events": doc.audit_head[0], "head": doc.audit_head[1]},
                     "generated_on": doc.generated_on.isoformat() if doc.generated_on else ""},
    }


def to_json(docs: list[Document], *, many: bool = False) -> str:
    """One report as an object; with `many` (--all-agencies), a list of them."""
    data = [to_data(doc) for doc in docs]
    # orjson: the same text as json.dumps(ensure_ascii=False, indent=2), whose indenting encoder is pure Python,
    # for what a report holds (str keys, ints, str; Decimal as str): orjson refuses int keys and writes floats
    # and NaN differently, so a report must not hold them (tests/test_report_outputs.py compares the two)
    return orjson.dumps(data if many else data[0], option=orjson.OPT_INDENT_2).decode()


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
