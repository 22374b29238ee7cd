"""The official annual-report format (国办公开办函〔2019〕60号 and 〔2021〕30号): labels verbatim, cell ids, outcomes.

Every label here is copied from ../shared/reference/annual-report-format.md §2–§3; a test checks that each
appears there verbatim. Cells are named `t2.ROW.COLUMN`, `t3.ROW.COLUMN` and `t4.BLOCK.COLUMN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pipeline.records.vocabulary import APPLICANT_TYPES, DECLINED, OUTCOMES, UNABLE, WITHHELD

VERSIONS = ("2019", "2021")

SECTIONS = {
    "一": "一、总体情况",
    "二": "二、主动公开政府信息情况",
    "三": "三、收到和处理政府信息公开申请情况",
    "四": "四、政府信息公开行政复议、行政诉讼情况",
    "五": "五、存在的主要问题及改进情况",
    "六": "六、其他需要报告的事项",
}


def version_for(year: int) -> str:
    """The format a year's report uses: 2019 for 2019-2020, 2021 from 2021."""
    return "2021" if year >= 2021 else "2019"


# ---------------------------------------------------------------- table 二
@dataclass(frozen=True)
class Block:
    """One sub-block of table 二: a caption row, a header row, then rows of values."""

    caption: str
    columns: tuple[tuple[str, str], ...]      # (column key, header label); one key spans the value columns
    rows: tuple[tuple[str, str], ...]         # (row key, label)


INFO = "信息内容"
_ITEMS_COLUMNS = (("prev_items", "上一年项目数量"), ("change", "本年增/减"), ("decisions", "处理决定数量"))
_DECISIONS_2021 = (("decisions", "本年处理决定数量"),)
T2: dict[str, tuple[Block, ...]] = {
    "2019": (
        Block("第二十条第（一）项",
              (("made", "本年新制作数量"), ("published", "本年新公开数量"), ("total", "对外公开总数量")),
              (("regulation", "规章"), ("normative", "规范性文件"))),
        Block("第二十条第（五）项", _ITEMS_COLUMNS, (("license", "行政许可"), ("service", "其他对外管理服务事项"))),
        Block("第二十条第（六）项", _ITEMS_COLUMNS, (("penalty", "行政处罚"), ("enforcement", "行政强制"))),
        Block("第二十条第（八）项", _ITEMS_COLUMNS[:2], (("fee", "行政事业性收费"),)),
        Block("第二十条第（九）项", (("projects", "采购项目数量"), ("amount", "采购总金额")),
              (("procurement", "政府集中采购"),)),
    ),
    "2021": (
        Block("第二十条第（一）项",
              (("made", "本年制发件数"), ("abolished", "本年废止件数"), ("in_force", "现行有效件数")),
              (("regulation", "规章"), ("normative", "行政规范性文件"))),
        Block("第二十条第（五）项", _DECISIONS_2021, (("license", "行政许可"),)),
        Block("第二十条第（六）项", _DECISIONS_2021, (("penalty", "行政处罚"), ("enforcement", "行政强制"))),
        Block("第二十条第（八）项", (("amount", "本年收费金额（单位：万元）"),), (("fee", "行政事业性收费"),)),
    ),
}
SIGNED = {"change"}                  # 本年增/减 may be negative
MONEY = {"amount"}                   # 万元, decimal
T2_WIDTH = 4


def t2_cells(version: str) -> list[str]:
    return [f"t2.{row}.{column}" for block in T2[version] for row, _ in block.rows for column, _ in block.columns]


# ---------------------------------------------------------------- table 三
T3_COLUMNS = (*APPLICANT_TYPES, "total")
T3_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
T3_HEAD = ("申请人情况", "法人或其他组织", "总计")

OTHER_2021 = (("other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
              ("other_unpaid_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
              ("other_other", "3.其他"))

# the result groups of "三、本年度办理结果": (group label, ((row key, leaf label or ""), ...))
_RESULTS_HEAD = (("（一）予以公开", (("disclosed", ""),)),
                 ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", (("partly_disclosed", ""),)),
                 ("（三）不予公开", WITHHELD), ("（四）无法提供", UNABLE), ("（五）不予处理", DECLINED))
T3_RESULTS: dict[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]] = {
    "2019": (*_RESULTS_HEAD, ("（六）其他处理", (("other", ""),)), ("（七）总计", (("total", ""),))),
    "2021": (*_RESULTS_HEAD, ("（六）其他处理", OTHER_2021), ("（七）总计", (("total", ""),))),
}
T3_OUTER = {"new": "一、本年新收政府信息公开申请数量", "carried_in": "二、上年结转政府信息公开申请数量",
            "results": "三、本年度办理结果", "carried_out": "四、结转下年度继续办理"}


def t3_rows(version: str) -> list[str]:
    """Row keys of table 三 in printed order (23 rows in 2019, 25 in 2021)."""
    results = [key for _, leaves in T3_RESULTS[version] for key, _ in leaves]
    return ["new", "carried_in", *results, "carried_out"]


def t3_leaf_rows(version: str) -> list[str]:
    """The result rows that R3 sums into （七）总计."""
    return [key for key in t3_rows(version) if key not in ("new", "carried_in", "total", "carried_out")]


def t3_label(version: str, row: str) -> str:
    if row in T3_OUTER:
        return T3_OUTER[row]
    for group, leaves in T3_RESULTS[version]:
        for key, leaf in leaves:
            if key == row:
                return f"{T3_OUTER['results']}/{group}" + (f"/{leaf}" if leaf else "")
    raise KeyError(row)


def outcome_row(outcome: str, version: str) -> str:
    return OUTCOMES[outcome][1][version]


# ---------------------------------------------------------------- table 四
T4_BLOCKS = (("reconsideration", "行政复议"), ("litigation", "未经复议直接起诉"), ("litigation_after", "复议后起诉"))
T4_LITIGATION = "行政诉讼"
T4_COLUMNS = (("upheld", "结果维持"), ("corrected", "结果纠正"), ("other", "其他结果"), ("pending", "尚未审结"),
              ("total", "总计"))


def t4_cells() -> list[str]:
    return [f"t4.{block}.{column}" for block, _ in T4_BLOCKS for column, _ in T4_COLUMNS]


@cache  # a report has ~400 cells, a platform's run 1,000 reports of the same cells
def cell_label(version: str, cell: str) -> str:
    """A cell id in words, as a reader of the printed table would point at it."""
    table, row, column = cell.split(".")
    if table == "t2":
        for block in T2[version]:
            rows, columns = dict(block.rows), dict(block.columns)
            if row in rows and column in columns:
                return f"二/{block.caption}/{rows[row]}/{columns[column]}"
    elif table == "t3" and column in T3_COLUMNS and row in t3_rows(version):
        return f"三/{t3_label(version, row)}/{dict(APPLICANT_TYPES, total='总计')[column]}"
    elif table == "t4":
        blocks, columns = dict(T4_BLOCKS), dict(T4_COLUMNS)
        if row in blocks and column in columns:
            prefix = "" if row == "reconsideration" else f"{T4_LITIGATION}/"
            return f"四/{prefix}{blocks[row]}/{columns[column]}"
    raise KeyError(f"no cell {cell} in the {version} format")


def all_cells(version: str) -> list[str]:
    return [*t2_cells(version), *(f"t3.{r}.{c}" for r in t3_rows(version) for c in T3_COLUMNS), *t4_cells()]
