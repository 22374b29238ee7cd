"""Tables 二, 三 and 四 as grids of cells with their merges, exactly as the official format prints them.

One grid feeds every output: HTML and Markdown (as HTML tables) and DOCX (merged Word cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.format import (
    INFO,
    MONEY,
    SIGNED,
    T2,
    T2_WIDTH,
    T3_COLUMNS,
    T3_HEAD,
    T3_NOTE,
    T3_OUTER,
    T3_RESULTS,
    T4_BLOCKS,
    T4_COLUMNS,
    T4_LITIGATION,
)


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    header: bool = False
    cell: str = ""          # the cell id of a number


Grid = list[list[Cell]]


def format_value(cell: str, value: Any, version: str) -> str:
    """A number as printed: signed changes with their sign, amounts in 万元 (2019 prints the unit in the cell)."""
    column = cell.rsplit(".", 1)[1]
    if column in MONEY:
        text = format(Decimal(value).normalize(), "f") if value else "0"
        return f"{text}万元" if version == "2019" else text
    if column in SIGNED and value > 0:
        return f"+{value}"
    return str(value)


def table2(version: str, cells: dict[str, Any]) -> Grid:
    grid: Grid = []
    for block in T2[version]:
        grid.append([Cell(block.caption, colspan=T2_WIDTH, header=True)])
        grid.append([Cell(INFO, header=True), *_spread([Cell(label, header=True) for _, label in block.columns])])
        for row, label in block.rows:
            values = [Cell(format_value(f"t2.{row}.{c}", cells[f"t2.{row}.{c}"], version), cell=f"t2.{row}.{c}")
                      for c, _ in block.columns]
            grid.append([Cell(label, header=True), *_spread(values)])
    return grid


def _spread(cells: list[Cell]) -> list[Cell]:
    """Fill the three value columns: one cell spans them all; two leave the third empty."""
    if len(cells) == 1:
        only = cells[0]
        return [Cell(only.text, colspan=T2_WIDTH - 1, header=only.header, cell=only.cell)]
    return cells + [Cell("")] * (T2_WIDTH - 1 - len(cells))


def table3(version: str, cells: dict[str, Any]) -> Grid:
    def values(row: str) -> list[Cell]:
        return [Cell(str(cells[f"t3.{row}.{c}"]), cell=f"t3.{row}.{c}") for c in T3_COLUMNS]

    names = list(APPLICANT_TYPES.values())
    grid: Grid = [
        [Cell(T3_NOTE, colspan=3, rowspan=3, header=True), Cell(T3_HEAD[0], colspan=7, header=True)],
        [Cell(names[0], rowspan=2, header=True), Cell(T3_HEAD[1], colspan=5, header=True),
         Cell(T3_HEAD[2], rowspan=2, header=True)],
        [Cell(name, header=True) for name in names[1:]],
        [Cell(T3_OUTER["new"], colspan=3, header=True), *values("new")],
        [Cell(T3_OUTER["carried_in"], colspan=3, header=True), *values("carried_in")],
    ]
    result_rows = sum(len(leaves) for _, leaves in T3_RESULTS[version])
    first = True
    for group, leaves in T3_RESULTS[version]:
        for index, (row, leaf) in enumerate(leaves):
            line = [Cell(T3_OUTER["results"], rowspan=result_rows, header=True)] if first else []
            first = False
            if not leaf:
                line.append(Cell(group, colspan=2, header=True))
            else:
                if index == 0:
                    line.append(Cell(group, rowspan=len(leaves), header=True))
                line.append(Cell(leaf, header=True))
            grid.append(line + values(row))
    grid.append([Cell(T3_OUTER["carried_out"], colspan=3, header=True), *values("carried_out")])
    return grid


def table4(cells: dict[str, Any]) -> Grid:
    (_, first_label), *litigation = T4_BLOCKS
    return [
        [Cell(first_label, colspan=5, header=True), Cell(T4_LITIGATION, colspan=10, header=True)],
        [*(Cell(label, rowspan=2, header=True) for _, label in T4_COLUMNS),
         *(Cell(label, colspan=5, header=True) for _, label in litigation)],
        [Cell(label, header=True) for _ in litigation for _, label in T4_COLUMNS],
        [Cell(str(cells[f"t4.{block}.{c}"]), cell=f"t4.{block}.{c}") for block, _ in T4_BLOCKS for c, _ in T4_COLUMNS],
    ]


def positions(grid: Grid) -> list[tuple[int, int, Cell]]:
    """(row, column, cell) of every cell in the physical grid, skipping places covered by earlier spans."""
    taken: set[tuple[int, int]] = set()
    placed = []
    for r, line in enumerate(grid):
        c = 0
        for cell in line:
            while (r, c) in taken:
                c += 1
            placed.append((r, c, cell))
            taken |= {(r + dr, c + dc) for dr in range(cell.rowspan) for dc in range(cell.colspan)}
            c += cell.colspan
    return placed


def shape(grid: Grid) -> tuple[int, int]:
    """(rows, columns) of the physical grid."""
    placed = positions(grid)
    return (max(r + cell.rowspan for r, _, cell in placed), max(c + cell.colspan for _, c, cell in placed))
