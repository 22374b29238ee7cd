"""The annual report as a Word document laid out as a 公文 (GB/T 9704-2012, see pipeline.report.docx_style):
title, sections 一 to 六, the three official tables with their merged cells (pipeline.report.docx_tables).

The public header (索引号 …) is not printed: the page that publishes the document carries it. What the office
keeps about the document (生成日期, 格式, 台账校验值, 草稿/定稿) is in the document's properties. The file is
the same bytes for the same report on the same day (fixed times in its properties and its zip entries).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from datetime import datetime, time
from pathlib import Path
from typing import Any

from docx import Document as new_docx
from docx.enum.section import WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.shared import Pt

from pipeline.core.clock import SHANGHAI
from pipeline.report.docx_style import (
    INDENT,
    LANDSCAPE,
    LINE,
    PORTRAIT,
    SIZES,
    lay_out,
    mark_draft,
    page_numbers,
    register_fonts,
    set_font,
    set_language,
)
from pipeline.report.docx_tables import add_table, layout
from pipeline.report.format import SECTIONS
from pipeline.report.narrative import is_heading
from pipeline.report.render import Document

TITLE_CHARS = 20          # 2号 characters on a line of the 156 mm 版心
REPORT_WORDS = "政府信息公开工作年度报告"


def write_docx(doc: Document, path: Path) -> None:
    """Write `doc` to `path` (.docx)."""
    word = new_docx()
    register_fonts(word)
    _styles(word)
    section = word.sections[0]
    lay_out(section, PORTRAIT)
    page_numbers(word, section)
    if doc.draft:
        mark_draft(section)
    _properties(word, doc)
    _title(word, doc.title)
    _section(word, SECTIONS["一"], doc.narrative)
    landscape = False
    for name in ("二", "三", "四"):
        plan = layout(name, doc.report.version, doc.grids[name])
        if plan.landscape != landscape:
            lay_out(word.add_section(WD_SECTION.NEW_PAGE), LANDSCAPE if plan.landscape else PORTRAIT)
            landscape = plan.landscape
        _paragraph(word, SECTIONS[name], "heading")
        add_table(word, doc.grids[name], plan)
    if landscape:
        lay_out(word.add_section(WD_SECTION.NEW_PAGE), PORTRAIT)
    _section(word, SECTIONS["五"], doc.problems)
    _section(word, SECTIONS["六"], doc.other)
    _save(word, path, doc.generated_on)


def _styles(word: Any) -> None:
    normal = word.styles["Normal"]
    set_font(normal.element, "body", SIZES["body"])
    set_language(normal)
    fmt = normal.paragraph_format
    fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, LINE
    fmt.space_before = fmt.space_after = Pt(0)


def _properties(word: Any, doc: Document) -> None:
    """The office's metadata, in the document properties rather than on the page."""
    meta = dict(doc.metadata)
    props = word.core_properties
    props.title, props.subject, props.author = doc.title, REPORT_WORDS, doc.report.publisher
    props.keywords = f"{REPORT_WORDS};{doc.year}"
    props.identifier = dict(doc.header)["索引号"] if doc.report.published else ""
    props.content_status, props.version, props.language = meta["状态"], meta["格式"], "zh-CN"
    props.comments = "；".join(f"{key}：{value}" for key, value in doc.metadata)
    if doc.generated_on:
        props.created = props.modified = datetime.combine(doc.generated_on, time(), tzinfo=SHANGHAI)
    props.last_modified_by, props.revision = doc.report.publisher, 1


def _title(word: Any, title: str) -> None:
    """2号小标宋, centred; a long title breaks before 政府信息公开工作年度报告, between whole words (7.3.1)."""
    paragraph = word.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fmt = paragraph.paragraph_format
    fmt.first_line_indent, fmt.line_spacing = Pt(0), Pt(36)
    lines = [title] if len(title) <= TITLE_CHARS or not title.endswith(REPORT_WORDS) else \
        [title.removesuffix(REPORT_WORDS), REPORT_WORDS]
    for n, line in enumerate(lines):
        run = paragraph.add_run(line)
        set_font(run._r, "title", SIZES["title"])
        if n < len(lines) - 1:
            run.add_break()
    word.add_paragraph()  # 标题下空一行


def _section(word: Any, heading: str, paragraphs: list[str]) -> None:
    _paragraph(word, heading, "heading")
    for text in paragraphs:
        _paragraph(word, text, "subheading" if is_heading(text) else "body")


def _paragraph(word: Any, text: str, role: str) -> None:
    """A paragraph two characters in; 一级标题 黑体, 二级 楷体, text 仿宋 (7.3.3)."""
    paragraph = word.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    paragraph.paragraph_format.first_line_indent = INDENT
    if role != "body":
        paragraph.paragraph_format.keep_with_next = True
    set_font(paragraph.add_run(text)._r, role, SIZES[role])


def _save(word: Any, path: Path, day: Any) -> None:
    """Save with every zip entry dated the day it was generated: the same report gives the same bytes."""
    stamp = (day.year, day.month, day.day, 0, 0, 0) if day else (1980, 1, 1, 0, 0, 0)
    fd, raw = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".docx")
    os.close(fd)
    try:
        word.save(raw)
        with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                target.writestr(zipfile.ZipInfo(info.filename, date_time=stamp), source.read(info.filename),
                                compress_type=zipfile.ZIP_DEFLATED)
    finally:
        Path(raw).unlink(missing_ok=True)
