"""The annual report as a document: section 一 from a Jinja2 template, 五 and 六 from the agency's texts,
the official tables, the chart; written as HTML, Markdown or JSON (DOCX: pipeline.report.docx_writer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import orjson
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup

from pipeline.core.config import AgencySettings
from pipeline.core.errors import ConfigError
from pipeline.core.render import environment, render_template
from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.chart import month_chart
from pipeline.report.check import Finding
from pipeline.report.data import NEWS_CATEGORY, ORGANISATIONS, ReportData
from pipeline.report.format import SECTIONS, cell_label
from pipeline.report.grid import Grid, table2, table3, table4

RESULT_NAMES = (("disclosed", "予以公开"), ("partly_disclosed", "部分公开"), ("withheld", "不予公开"),
                ("unable", "无法提供"), ("declined", "不予处理"), ("other", "其他处理"))
MISSING = "（本机关未提供本部分内容。）"


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

    @property
    def year(self) -> int:
        return self.report.year

    @cached_property
    def grids(self) -> dict[str, Grid]:
        """Tables 二, 三 and 四 as printed: built when an output draws them (JSON does not)."""
        version, cells = self.report.version, self.report.cells
        return {"二": table2(version, cells), "三": table3(version, cells), "四": table4(cells)}


def build_document(report: ReportData, agency: AgencySettings, *, findings: list[Finding],
                   today: date, ledger_hash: str = "") -> Document:
    """Everything an output needs, with section 一 rendered from the (agency's or built-in) template."""
    texts = agency.report
    problems, other = _text(texts.problems_file, report.year), _text(texts.other_file, report.year)
    year = report.year
    index_no, published_on = report.published or ("（发布时分配）", None)
    return Document(
        report=report, title=f"{report.agency_name}{year}年政府信息公开工作年度报告",
        header=[("索引号", index_no), ("公开方式", "主动公开"), ("发布机构", report.publisher),
                ("公开日期", published_on.isoformat() if published_on else "（发布时填写）"),
                ("统计时限", f"{year}年1月1日至{year}年12月31日"), ("生成日期", today.isoformat()),
                ("格式", f"国办公开办函〔{report.version}〕{'60' if report.version == '2019' else '30'}号"),
                *([("台账校验值", ledger_hash)] if ledger_hash else [])],
        narrative=_narrative(report, texts.narrative_template, _text(texts.overview_file, year)),
        problems=problems or [MISSING], other=other or [MISSING], has_problems=bool(problems),
        has_other=bool(other), findings=findings, ledger_hash=ledger_hash,
    )


def _text(path: Path | None, year: int) -> list[str]:
    if path is None:
        return []
    real = Path(str(path).replace("{year}", str(year)))
    if not real.is_file():
        return []
    try:
        return paragraphs(real.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{real}: not valid UTF-8") from None


def paragraphs(text: str) -> list[str]:
    """Paragraphs are separated by blank lines; lines inside one are joined (Chinese needs no space)."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return ["".join(line.strip() for line in block.splitlines()) for block in blocks if block]


def narrative_context(report: ReportData, overview: list[str]) -> dict[str, Any]:
    n = report.numbers
    return {
        "agency": report.agency_name, "publisher": report.publisher, "year": report.year,
        "version": report.version, "n": n, "overview": "\n\n".join(overview),
        "channels": [{"name": c.name, "kind": c.kind, "label": c.label, "count": c.count,
                      "news": c.categories.get(NEWS_CATEGORY, 0) if c.kind == "disclosure" else 0,
                      "categories": c.categories} for c in report.channels],
        "organisations": [(APPLICANT_TYPES[k], n["requests_by_type"][k]) for k in ORGANISATIONS
                          if n["requests_by_type"][k]],
        "results": [(name, n["results"][key]) for key, name in RESULT_NAMES if n["results"][key]],
    }


def _narrative(report: ReportData, template: Path | None, overview: list[str]) -> list[str]:
    context = narrative_context(report, overview)
    if template is None:
        return paragraphs(render_template("report/narrative.txt", context))
    real = Path(str(template).replace("{year}", str(report.year)))
    if not real.is_file():
        raise ConfigError(f"agencies.{report.agency_code}.report.narrative_template: no file {real}")
    try:
        return paragraphs(_agency_environment().from_string(real.read_text(encoding="utf-8")).render(**context))
    except SecurityError as e:
        raise ConfigError(f"{real}: refused by the template sandbox: {e}") from None
    except TemplateError as e:
        raise ConfigError(f"{real}: {e}") from None


@cache
def _agency_environment() -> SandboxedEnvironment:
    """Agency-editable templates run sandboxed: no access to Python internals (__class__, __globals__ …)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters.update(environment().filters)
    return env


def _tables(doc: Document) -> dict[str, Markup]:
    return {name: Markup(render_template("report/table.html", {"grid": grid}))  # noqa: S704  (autoescaped)
            for name, grid in doc.grids.items()}


def _view(doc: Document) -> dict[str, Any]:
    chart = month_chart(doc.report.channels, title=f"{doc.year}年各渠道每月发布信息数")
    return {"doc": {"title": doc.title, "header": doc.header, "year": doc.year, "narrative": doc.narrative,
                    "problems": doc.problems, "other": doc.other, "has_problems": doc.has_problems,
                    "has_other": doc.has_other, "tables": _tables(doc), "chart": chart},
            "sections": SECTIONS}


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
        "metadata": {"ledger_hash": doc.ledger_hash},
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
