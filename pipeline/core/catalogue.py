"""The fixed vocabularies: 第二十条 kinds (they map to report rows), default 主题分类 and review levels."""

from __future__ import annotations

from pipeline.core.status import Role

# kind -> (Chinese name, the 第二十条 clause it falls under, or "" when it is no clause of its own)
KINDS: dict[str, tuple[str, str]] = {
    "regulation": ("规章", "第二十条第（一）项"),
    "normative": ("行政规范性文件", "第二十条第（一）项"),
    "institution": ("机构职能", "第二十条第（二）项"),
    "plan": ("规划计划", "第二十条第（三）项"),
    "statistics": ("统计信息", "第二十条第（四）项"),
    "license": ("行政许可", "第二十条第（五）项"),
    "penalty": ("行政处罚", "第二十条第（六）项"),
    "enforcement": ("行政强制", "第二十条第（六）项"),
    "budget": ("财政预决算", "第二十条第（七）项"),
    "fee": ("行政事业性收费", "第二十条第（八）项"),
    "procurement": ("政府集中采购", "第二十条第（九）项"),
    "personnel": ("人事信息", "第二十条第（十四）项"),
    "news": ("政务动态", ""),
    "notice": ("通知公告", ""),
    "interpretation": ("政策解读", ""),
    "press_conference": ("新闻发布会", ""),
    "annual_report": ("政府信息公开工作年度报告", ""),
    "disclosure_guide": ("政府信息公开指南", ""),   # 公开专栏: the guide, kept current (条例第十二条)
    "disclosure_rules": ("政府信息公开制度", ""),   # 公开专栏: the agency's own disclosure rules
    "other": ("其他", ""),
}

# 主题分类 of a municipal bureau's catalogue (天台县统计局 guide; see reference/annual-report-format.md §7.3)
DEFAULT_CATEGORIES: list[str] = [
    "机构信息", "政策文件", "政府决策", "计划总结", "统计数据", "政务动态", "政府建设", "监督投诉",
    "行政许可", "行政监管", "行政处罚", "人事任免", "财政信息", "办事指南", "通知公告", "政策解读",
    "新闻发布会", "信息公开年报",
]

VALIDITY = ("有效", "失效", "废止")

# the review levels of an agency that has set none (gongkai levels set), in order
DEFAULT_LEVELS = [{"name": "处室审核", "role": Role.SECTION_HEAD.value},
                  {"name": "保密审查", "role": Role.SECRECY_OFFICER.value},
                  {"name": "办公室审发", "role": Role.OFFICE_DIRECTOR.value}]
