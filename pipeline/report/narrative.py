"""The report's text: section 一 rendered from a Jinja2 template over the report's figures and the agency's own
text, and the agency's texts of sections 五 and 六.

For the 2021 format (国办公开办函〔2021〕30号), section 一 has five parts: （一）主动公开, （二）依申请公开,
（三）政府信息管理, （四）政府信息公开平台建设, （五）监督保障. The agency writes them in its overview file
(agencies.CODE.report.overview_file), each under a line naming the part; text before the first such line
opens the section. The built-in template adds the figures to parts （一） and （二）.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from pipeline.core.errors import ConfigError
from pipeline.core.render import environment, render_template
from pipeline.records.vocabulary import APPLICANT_TYPES
from pipeline.report.data import NEWS_CATEGORY, ORGANISATIONS, ReportData

MISSING = "（本机关未提供本部分内容。）"
PARTS = ("（一）主动公开", "（二）依申请公开", "（三）政府信息管理", "（四）政府信息公开平台建设", "（五）监督保障")
# what an agency may write on the line that opens a part: the heading, with or without its number
_PART_NAMES = {**{part[3:]: part for part in PARTS}, "平台建设": PARTS[3], "主动公开政府信息情况": PARTS[0],
               "收到和处理政府信息公开申请情况": PARTS[1]}
_HEADING = re.compile(r"^（[一二三四五六七八九十]+）[^。，；：！？]{1,20}$")
RESULT_NAMES = (("disclosed", "予以公开"), ("partly_disclosed", "部分公开"), ("withheld", "不予公开"),
                ("unable", "无法提供"), ("declined", "不予处理"), ("other", "其他处理"))


def read_text(path: Path | None, year: int) -> list[str]:
    """The paragraphs of an agency's text file ({year} in its name is the report's year); [] without one."""
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


def is_heading(paragraph: str) -> bool:
    """A sub-heading of a section such as （三）政府信息管理: a short numbered line without a sentence."""
    return bool(_HEADING.match(paragraph))


def split_parts(overview: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The agency's overview as (opening paragraphs, {part heading: paragraphs}) for the 2021 format."""
    opening: list[str] = []
    parts: dict[str, list[str]] = {part: [] for part in PARTS}
    current: str | None = None
    for paragraph in overview:
        name = re.sub(r"^（[一二三四五]）", "", paragraph).rstrip("。：:").strip()
        if len(paragraph) <= 24 and name in _PART_NAMES:
            current = _PART_NAMES[name]
            continue
        (parts[current] if current else opening).append(paragraph)
    return opening, parts


def missing_parts(narrative: list[str]) -> list[str]:
    """The parts of a 2021 section 一 that are absent, or hold no text but the placeholder."""
    missing = []
    for part in PARTS:
        if part not in narrative:
            missing.append(part)
            continue
        after = narrative[narrative.index(part) + 1:]
        body = after[:next((i for i, p in enumerate(after) if is_heading(p)), len(after))]
        if not [p for p in body if p != MISSING]:
            missing.append(part)
    return missing


def narrative_context(report: ReportData, overview: list[str]) -> dict[str, Any]:
    n = report.numbers
    opening, parts = split_parts(overview) if report.version == "2021" else (overview, {p: [] for p in PARTS})
    return {
        "agency": report.agency_name, "publisher": report.publisher, "year": report.year,
        "version": report.version, "n": n, "overview": "\n\n".join(opening), "parts": parts, "missing": MISSING,
        "channels": [{"name": c.name, "kind": c.kind, "label": c.label, "count": c.count,
                      "news": c.categories.get(NEWS_CATEGORY, 0) if c.kind == "disclosure" else 0,
                      "categories": c.categories} for c in report.channels],
        "organisations": [(APPLICANT_TYPES[k], n["requests_by_type"][k]) for k in ORGANISATIONS
                          if n["requests_by_type"][k]],
        "results": [(name, n["results"][key]) for key, name in RESULT_NAMES if n["results"][key]],
    }


def render_narrative(report: ReportData, template: Path | None, overview: list[str]) -> list[str]:
    """Section 一's paragraphs, from the agency's template (sandboxed) or the built-in one."""
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
