"""The 政府网站工作年度报表 as HTML, Markdown, JSON or DOCX: the form's parts in order, one line per cell."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from pipeline.core.render import render_template
from pipeline.records.website_form import FLAG, PARTS, ROWS
from pipeline.report.website import WebsiteReport

NOTICE = "国办函〔2018〕12号"


def shown(row_type: str, value: Any) -> str:
    """A cell as printed: 是/否 for a yes-or-no line, the number or text otherwise."""
    if row_type == FLAG:
        return "是" if value else "否"
    return str(value) if value not in ("", None) else "—"


def _view(report: WebsiteReport) -> dict[str, Any]:
    parts = [(part, [(row.label, shown(row.type, report.cells[row.cell])) for row in ROWS if row.part == part])
             for part in PARTS]
    return {"title": report.title, "draft": report.draft, "parts": parts, "signatures": report.signatures,
            "notice": NOTICE}


def to_html(report: WebsiteReport) -> str:
    return render_template("report/website.html", _view(report))


def to_markdown(report: WebsiteReport) -> str:
    return render_template("report/website.md", _view(report))


def to_data(report: WebsiteReport) -> dict[str, Any]:
    return {
        "agency": report.agency_code, "year": report.year, "title": report.title, "format": NOTICE,
        "cells": {row.cell: {"part": row.part, "label": row.label, "type": row.type,
                             "value": _plain(report.cells[row.cell]), "source": report.sources[row.cell]}
                  for row in ROWS},
        "accounts": report.accounts, "signatures": dict(report.signatures),
        "check": [{"rule": f.rule, "level": f.level, "ok": f.ok, "cell": f.cell, "message": f.message}
                  for f in report.findings],
        "draft": report.draft,
    }


def to_json(reports: list[WebsiteReport], *, many: bool = False) -> str:
    data = [to_data(report) for report in reports]
    return orjson.dumps(data if many else data[0], option=orjson.OPT_INDENT_2).decode()


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def write_docx(report: WebsiteReport, path: Path) -> None:
    """A Word document: the title, then the form as a two-column table (项目, 数据) with a row per part."""
    from docx import Document as new_docx

    from pipeline.report.docx_style import PORTRAIT, SIZES, lay_out, mark_draft, register_fonts, set_font

    word = new_docx()
    register_fonts(word)
    section = word.sections[0]
    lay_out(section, PORTRAIT)
    if report.draft:
        mark_draft(section)
    word.core_properties.title = report.title
    set_font(word.add_paragraph().add_run(report.title)._r, "title", SIZES["title"])
    view = _view(report)
    table = word.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for part, lines in view["parts"]:
        merged = table.add_row().cells
        merged[0].merge(merged[1]).text = part
        for label, value in lines:
            cells = table.add_row().cells
            cells[0].text, cells[1].text = label, value
    word.add_paragraph("　".join(f"{label}：{value}" for label, value in report.signatures))
    word.save(str(path))
