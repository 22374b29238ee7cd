"""The official tables in the DOCX: fixed column widths worked out from the labels, so that every row label of
table 三 prints on one line and a header word breaks only between its words, on a landscape page when the
portrait 版心 is too narrow; header rows repeat on each page, rows do not split across pages.

Widths come from the text: a CJK character is one em wide in every CJK font, a digit or Latin letter half;
a line is about 1.45 em high in the CJK fonts LibreOffice and Word fall back to (Noto CJK, SimSun). A table
is given the largest font with which it fits one page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from docx.enum.table import WD_ALIGN_VERTICAL, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.docx_style import LINE, TYPE_AREA_MM, set_font
from pipeline.report.format import T2, T3_OUTER, T3_RESULTS, T4_COLUMNS
from pipeline.report.grid import Grid, positions, shape

PAD_MM = 0.8          # a cell's left and right margin
SLACK_MM = 0.6        # rounding in the renderer
SIZES = (12.0, 10.5, 9.0, 8.0, 7.5)  # 小四, 五号, 小五, 8 pt, 六号
# portrait down to 小五, then landscape down to 六号: the first that fits is taken
CHOICES = [(False, pt) for pt in SIZES if pt >= 9] + [(True, pt) for pt in SIZES]
MM_PER_PT = 25.4 / 72
LINE_EM = 1.45        # line height of a CJK font, in ems
TYPE_HEIGHT_MM = {False: 225.0, True: 156.0}  # 版心 height, portrait and landscape


@dataclass(frozen=True)
class Layout:
    landscape: bool
    font_pt: float
    widths_mm: tuple[float, ...]
    header_rows: int


def ems(text: str) -> float:
    """Width of `text` in ems: CJK and full-width characters 1, the rest (digits, '.') half."""
    return sum(0.5 if ord(ch) < 0x2E80 else 1.0 for ch in text)


def _cell(text_ems: float, pt: float) -> float:
    return text_ems * pt * MM_PER_PT + 2 * PAD_MM + SLACK_MM


def layout(name: str, version: str, grid: Grid) -> Layout:
    """The page, font and column widths of table 二, 三 or 四 (`grid`) in `version`: the first choice whose
    widths fit the 版心 and whose rows fit one page under the section's heading."""
    maker = {"二": _table2, "三": _table3, "四": _table4}[name]
    for landscape, pt in CHOICES:
        widths = maker(version, pt, TYPE_AREA_MM["landscape" if landscape else "portrait"])
        if widths is not None and height(grid, widths, pt) + LINE.mm <= TYPE_HEIGHT_MM[landscape]:
            return Layout(landscape, pt, widths, {"二": 0, "三": 3, "四": 3}[name])
    raise ValueError(f"table {name} of the {version} format does not fit an A4 page")


def height(grid: Grid, widths: tuple[float, ...], pt: float) -> float:
    """The table's height in mm: each row as tall as its tallest cell of one row."""
    line = LINE_EM * pt * MM_PER_PT + 0.3
    tallest: dict[int, int] = {}
    for r, c, cell in positions(grid):
        if cell.rowspan == 1:
            room = sum(widths[c:c + cell.colspan]) - 2 * PAD_MM
            lines = max(1, math.ceil(ems(cell.text) * pt * MM_PER_PT / room))
            tallest[r] = max(tallest.get(r, 1), lines)
    return sum(tallest.get(r, 1) for r in range(shape(grid)[0])) * line


def _table2(version: str, pt: float, room: float) -> tuple[float, ...] | None:
    """Row labels, then three value columns whose headers print on one line."""
    blocks = T2[version]
    label = max(_cell(ems(text), pt) for block in blocks for _, text in block.rows)
    value = max(_cell(ems(text), pt) for block in blocks for _, text in block.columns if len(block.columns) > 1)
    if label + 3 * value > room:
        return None
    return (room - 3 * value, value, value, value)


def _table3(version: str, pt: float, room: float) -> tuple[float, ...] | None:
    """Three label columns whose every label prints on one line; 自然人 on one line, the other applicant
    columns two characters a line (商业/企业, 社会/公益/组织: breaks between words), 总计 likewise."""
    groups = T3_RESULTS[version]
    a = _cell(ems(T3_OUTER["results"]), pt)
    b = max(_cell(ems(group), pt) for group, leaves in groups if leaves[0][1])
    c = max(_cell(ems(leaf), pt) for _, leaves in groups for _, leaf in leaves if leaf)
    c = max(c, max(_cell(ems(group), pt) for group, leaves in groups if not leaves[0][1]) - b)
    person = _cell(ems(APPLICANT_TYPES["natural_person"]), pt)
    other = _cell(2, pt)
    used = a + b + c + person + 6 * other
    if used > room:
        return None
    return (a, b, c + room - used, person, *[other] * 6)


def _table4(version: str, pt: float, room: float) -> tuple[float, ...] | None:
    """Fifteen equal columns whose headers (结果维持 …) print on one line."""
    column = max(_cell(ems(label), pt) for _, label in T4_COLUMNS)
    return (room / 15,) * 15 if 15 * column <= room else None


def add_table(word: Any, grid: Grid, plan: Layout) -> None:
    """The grid as a Word table with merged cells, fixed widths, repeated header rows and rows kept whole; each
    row is kept with the next, so that a table that fits on a page starts on a new one rather than split."""
    rows, columns = shape(grid)
    table = word.add_table(rows=rows, cols=columns)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _cell_margins(table)
    for column, width in zip(table.columns, plan.widths_mm, strict=True):
        column.width = Mm(width)
    for n, row in enumerate(table.rows):
        _row_flags(row, header=n < plan.header_rows)
        for cell, width in zip(row.cells, plan.widths_mm, strict=True):
            cell.width = Mm(width)
    for r, c, cell in positions(grid):
        target = table.cell(r, c)
        if cell.rowspan > 1 or cell.colspan > 1:
            target = target.merge(table.cell(r + cell.rowspan - 1, c + cell.colspan - 1))
        target.vertical_alignment = WD_ALIGN_VERTICAL.CENTER
        paragraph = target.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.first_line_indent = Pt(0)
        paragraph.paragraph_format.line_spacing = 1.0
        paragraph.paragraph_format.space_before = paragraph.paragraph_format.space_after = Pt(0)
        paragraph.paragraph_format.keep_with_next = r + cell.rowspan < rows
        set_font(paragraph.add_run(cell.text)._r, "body", plan.font_pt)


def _cell_margins(table: Any) -> None:
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        node = OxmlElement(f"w:{side}")
        node.set(qn("w:w"), str(round(PAD_MM / 25.4 * 1440)))  # twips
        node.set(qn("w:type"), "dxa")
        margins.append(node)
    look = table._tbl.tblPr.find(qn("w:tblLook"))
    if look is not None:
        look.addprevious(margins)
    else:
        table._tbl.tblPr.append(margins)


def _row_flags(row: Any, *, header: bool) -> None:
    """cantSplit: a row is never cut across pages; tblHeader: the row repeats at the top of each page."""
    tr_pr = row._tr.get_or_add_trPr()
    for flag in ("w:cantSplit", *(["w:tblHeader"] if header else [])):
        tr_pr.append(OxmlElement(flag))
