"""The consistency rules R1-R15 of reference/annual-report-format.md §4, evaluated on a report's cells, and L1:
the replies of the year that came after their due date.

Hard rules fail the report naming the cell; the cross-year rules R9 (结转) and R10 (现行有效) and the
heuristic R11 only warn, as real reports may legitimately break them; L1 warns, as a late reply is a fact
the office reports, not an error in the tables. R9 and R10 compare with the previous year's report as it was
published (pipeline.report.frozen) when there is one.

The sections rules S1, S5 and S6 ask for the agency's own text where the format requires it; they block a
final document (`gongkai report --out` without --draft, --submit), not a draft.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.data import ORGANISATIONS, ReportData
from pipeline.report.format import MONEY, SIGNED, T2, T3_COLUMNS, T4_BLOCKS, T4_COLUMNS, t3_leaf_rows, t3_rows

HARD, WARN, FINAL = "hard", "warn", "final"  # FINAL: blocks a final document, not a draft
RULES = {
    "R1": (HARD, "本年新收 + 上年结转 = 办理结果总计 + 结转下年度, per column"),
    "R2": (HARD, "总计 column = the six applicant columns, every row of 三"),
    "R3": (HARD, "（七）总计 = the sum of every result row, per column"),
    "R4": (HARD, "each closed request counts in exactly one result row"),
    "R5": (HARD, "no group subtotal rows in 三"),
    "R6": (HARD, "no 法人或其他组织 小计 column in 三"),
    "R7": (HARD, "四: each 总计 = 维持 + 纠正 + 其他 + 尚未审结"),
    "R8": (HARD, "a 行政诉讼 total in the narrative = 直接起诉总计 + 复议后起诉总计"),
    "R9": (WARN, "上年结转 = last year's 结转下年度继续办理, per column"),
    "R10": (WARN, "现行有效件数 = last year's + 本年制发件数 - 本年废止件数 (2021 format)"),
    "R11": (WARN, "处理决定数量 counts decisions, not 上一年项目数量 + 本年增/减 (2019 format)"),
    "R12": (HARD, "本年增/减 = 项目数量 this year - 上一年项目数量 (2019 format)"),
    "R13": (HARD, "counts are whole and not negative; only 本年增/减 is signed; amounts are not negative"),
    "R14": (HARD, "the narrative's numbers equal the tables'"),
    "R15": (HARD, "the reporting period is 1 January - 31 December of the year"),
    "L1": (WARN, "every request closed in the year was answered by its due date (第三十三条)"),
}
SECTION_RULES = {
    "S1": (FINAL, "section 一 covers （一）主动公开 to （五）监督保障 (2021 format)"),
    "S5": (FINAL, "section 五 has the agency's text"),
    "S6": (FINAL, "section 六 has the agency's text"),
}
ROWS = {"2019": 23, "2021": 25}


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str
    ok: bool
    cell: str
    message: str

    def __str__(self) -> str:
        where = f" {self.cell}:" if self.cell else ""
        return f"{self.rule} ({self.level}){where} {self.message}"


def check_report(report: ReportData, *, previous: ReportData | None = None) -> list[Finding]:
    """Every rule, with one finding per broken cell, or one passing finding per rule."""
    rules = {"R1": _r1, "R2": _r2, "R3": _r3, "R4": _r4, "R5": _r5, "R6": _r6, "R7": _r7, "R8": _r8,
             "R11": _r11, "R12": _r12, "R13": _r13, "R14": _r14, "R15": _r15, "L1": _l1}
    findings = []
    for rule in RULES:
        if rule in ("R9", "R10"):
            broken = list(_r9(report, previous) if rule == "R9" else _r10(report, previous))
        else:
            broken = list(rules[rule](report))
        level = RULES[rule][0]
        findings += [Finding(rule, level, False, cell, message) for cell, message in broken] or \
            [Finding(rule, level, True, "", RULES[rule][1])]
    return findings


def failures(findings: list[Finding], *, final: bool = False) -> list[Finding]:
    """The broken rules that stop a report: hard ones, and for a final document the FINAL ones too."""
    return [f for f in findings if not f.ok and (f.level == HARD or (final and f.level == FINAL))]


def check_sections(*, version: str, missing_parts: list[str], has_problems: bool, has_other: bool,
                   where: str) -> list[Finding]:
    """S1, S5, S6: `missing_parts` are the headings of section 一 without the agency's text; `where` names the
    agency's settings section (agencies.CODE.report)."""
    broken = {
        "S1": [("一", f"{part} has no text (write it under a line '{part}' in {where}.overview_file)")
               for part in missing_parts] if version == "2021" else [],
        "S5": [] if has_problems else [("五", f"no text for section 五 ({where}.problems_file)")],
        "S6": [] if has_other else [("六", f"no text for section 六 ({where}.other_file)")],
    }
    return [finding for rule, (level, meaning) in SECTION_RULES.items()
            for finding in ([Finding(rule, level, False, cell, message) for cell, message in broken[rule]]
                            or [Finding(rule, level, True, "", meaning)])]


def _r1(r: ReportData) -> Iterator[tuple[str, str]]:
    for c in T3_COLUMNS:
        left, right = r.t3("new", c) + r.t3("carried_in", c), r.t3("total", c) + r.t3("carried_out", c)
        if left != right:
            yield f"t3.carried_out.{c}", f"一 + 二 = {left} but 三（七）总计 + 四 = {right}"


def _r2(r: ReportData) -> Iterator[tuple[str, str]]:
    for row in t3_rows(r.version):
        parts = sum(r.t3(row, c) for c in APPLICANT_TYPES)
        if r.t3(row, "total") != parts:
            yield f"t3.{row}.total", f"总计 is {r.t3(row, 'total')} but the applicant columns add up to {parts}"


def _r3(r: ReportData) -> Iterator[tuple[str, str]]:
    for c in T3_COLUMNS:
        leaves = sum(r.t3(row, c) for row in t3_leaf_rows(r.version))
        if r.t3("total", c) != leaves:
            yield f"t3.total.{c}", f"（七）总计 is {r.t3('total', c)} but the result rows add up to {leaves}"


def _r4(r: ReportData) -> Iterator[tuple[str, str]]:
    for outcome, count in r.numbers.get("unmapped", {}).items():
        yield "t3.total.total", f"{count} closed request(s) with outcome '{outcome}' map to no row"


def _r5(r: ReportData) -> Iterator[tuple[str, str]]:
    rows = t3_rows(r.version)
    if len(rows) != ROWS[r.version] or len(set(rows)) != len(rows):
        yield "t3", f"{len(rows)} data rows; the {r.version} format has {ROWS[r.version]}"


def _r6(r: ReportData) -> Iterator[tuple[str, str]]:
    if len(T3_COLUMNS) != 7 or any(f"t3.new.{c}" not in r.cells for c in T3_COLUMNS):
        yield "t3", "the numeric columns must be the six applicant types and 总计"


def _r7(r: ReportData) -> Iterator[tuple[str, str]]:
    for block, _ in T4_BLOCKS:
        parts = sum(r.cells[f"t4.{block}.{c}"] for c, _ in T4_COLUMNS if c != "total")
        if r.cells[f"t4.{block}.total"] != parts:
            yield f"t4.{block}.total", f"总计 is {r.cells[f't4.{block}.total']} but its results add up to {parts}"


def _r8(r: ReportData) -> Iterator[tuple[str, str]]:
    both = r.cells["t4.litigation.total"] + r.cells["t4.litigation_after.total"]
    if r.numbers.get("litigation") != both:
        yield "t4.litigation.total", f"the narrative's 行政诉讼 total {r.numbers.get('litigation')} is not {both}"


def _r9(r: ReportData, previous: ReportData | None) -> Iterator[tuple[str, str]]:
    if previous is None:
        return
    for c in T3_COLUMNS:
        if r.t3("carried_in", c) != previous.t3("carried_out", c):
            yield (f"t3.carried_in.{c}", f"上年结转 {r.t3('carried_in', c)} but the {_named(previous)} carried "
                                         f"{previous.t3('carried_out', c)} over")


def _r10(r: ReportData, previous: ReportData | None) -> Iterator[tuple[str, str]]:
    if previous is None or r.version != "2021" or previous.version != "2021":
        return
    for row in ("regulation", "normative"):
        cell = f"t2.{row}.in_force"
        expected = previous.cells[cell] + r.cells[f"t2.{row}.made"] - r.cells[f"t2.{row}.abolished"]
        if r.cells[cell] != expected:
            yield cell, (f"现行有效 {r.cells[cell]}; the {_named(previous)} had {previous.cells[cell]}, "
                         f"+ 制发 - 废止 = {expected}")


def _named(previous: ReportData) -> str:
    return f"{previous.year} report{' as published' if previous.as_published else ''}"


def _r11(r: ReportData) -> Iterator[tuple[str, str]]:
    if r.version != "2019":
        return
    for row in ("license", "service", "penalty", "enforcement"):
        decisions = r.cells[f"t2.{row}.decisions"]
        items = r.cells[f"t2.{row}.prev_items"] + r.cells[f"t2.{row}.change"]
        if r.sources.get(f"t2.{row}.decisions") == "figure" and decisions and decisions == items:
            yield (f"t2.{row}.decisions", f"处理决定数量 {decisions} equals this year's 项目数量: decisions (办件量) "
                                          "were probably meant")


def _r12(r: ReportData) -> Iterator[tuple[str, str]]:
    if r.version != "2019":
        return
    for row, items in r.numbers.get("items", {}).items():
        change = items - r.cells[f"t2.{row}.prev_items"]
        if r.cells[f"t2.{row}.change"] != change:
            yield f"t2.{row}.change", f"本年增/减 is {r.cells[f't2.{row}.change']} but 项目数量 moved by {change}"


def _r13(r: ReportData) -> Iterator[tuple[str, str]]:
    money = {f"t2.{row}.{c}" for block in T2[r.version] for row, _ in block.rows
             for c, _ in block.columns if c in MONEY}
    for cell, value in r.cells.items():
        if cell in money:
            ok = isinstance(value, Decimal) and value >= 0
        else:
            ok = isinstance(value, int) and (value >= 0 or cell.rsplit(".", 1)[1] in SIGNED)
        if not ok:
            yield cell, f"{value!r} is not a {'non-negative amount' if cell in money else 'valid count'}"


def _r14(r: ReportData) -> Iterator[tuple[str, str]]:
    n = r.numbers
    pairs = [("requests_new", "t3.new.total"), ("requests_carried_in", "t3.carried_in.total"),
             ("requests_closed", "t3.total.total"), ("requests_carried_out", "t3.carried_out.total")]
    pairs += [(f"requests_by_type.{k}", f"t3.new.{k}") for k in APPLICANT_TYPES]
    for key, cell in pairs:
        head, _, tail = key.partition(".")
        value = n.get(head, {}).get(tail) if tail else n.get(head)
        if value != r.cells[cell]:
            yield cell, f"the narrative says {value} ({key})"
    organisations = sum(r.cells[f"t3.new.{k}"] for k in ORGANISATIONS)
    if n.get("requests_organisations") != organisations:
        said = n.get("requests_organisations")
        yield "t3.new.commercial", f"the narrative's 法人或其他组织 {said} is not {organisations}"


def _r15(r: ReportData) -> Iterator[tuple[str, str]]:
    period = (f"{r.year}-01-01", f"{r.year}-12-31")
    if tuple(r.numbers.get("period", ())) != period:
        yield "", f"the report covers {r.numbers.get('period')}, not {period[0]} - {period[1]}"


def _l1(r: ReportData) -> Iterator[tuple[str, str]]:
    late = r.numbers.get("late_replies", [])
    if late:
        listed = ", ".join(f"request {x['request']}{' (' + x['ref'] + ')' if x['ref'] else ''} "
                           f"{x['working_days_late']}{' provisional' if x['provisional'] else ''}" for x in late)
        yield "t3.total.total", (f"{len(late)} of the replies given in {r.year} came after the due date "
                                 f"(working days late: {listed})")
