"""The annual report as a Word document (python-docx): the same sections, and the three official tables
with their merged cells."""

from __future__ import annotations

from pathlib import Path

from docx import Document as new_docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt

from pipeline.report.format import SECTIONS
from pipeline.report.grid import Grid, positions, shape
from pipeline.report.render import Document

FONT = "SimSun"


def write_docx(doc: Document, path: Path) -> None:
    """Write `doc` to `path` (.docx): header lines, title, sections 一 to 六, tables 二 to 四."""
    word = new_docx()
    style = word.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)  # CJK text ignores font.name without this
    for key, value in doc.header:
        word.add_paragraph(f"{key}：{value}")
    title = word.add_heading(doc.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _section(word, SECTIONS["一"], doc.narrative)
    for name in ("二", "三", "四"):
        word.add_heading(SECTIONS[name], level=1)
        _table(word, doc.grids[name])
    _section(word, SECTIONS["五"], doc.problems)
    _section(word, SECTIONS["六"], doc.other)
    word.save(str(path))


def _section(word: object, heading: str, paragraphs: list[str]) -> None:
    word.add_heading(heading, level=1)  # type: ignore[attr-defined]
    for text in paragraphs:
        paragraph = word.add_paragraph(text)  # type: ignore[attr-defined]
        paragraph.paragraph_format.first_line_indent = Pt(22)


def _table(word: object, grid: Grid) -> None:
    rows, columns = shape(grid)
    table = word.add_table(rows=rows, cols=columns)  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, c, cell in positions(grid):
        target = table.cell(r, c)
        if cell.rowspan > 1 or cell.colspan > 1:
            target = target.merge(table.cell(r + cell.rowspan - 1, c + cell.colspan - 1))
        target.text = cell.text
        for paragraph in target.paragraphs:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            for run in paragraph.runs:
                run.font.size = Pt(9)
