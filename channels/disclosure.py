"""政府信息公开目录 as a static site: the 政府信息公开专栏's fixed sections around the records.

Each record carries the standard header (索引号, 主题分类, 发布机构 …). The sections follow the State Council's
rules for the 专栏 (README, "The static sites"): 政府信息公开指南 and 政府信息公开制度 (items of their own kinds,
the newest shown first, earlier versions kept), 法定主动公开内容 by 主题分类 and by 第二十条 kind, and
政府信息公开年报 (every year's annual report).
"""

from __future__ import annotations

from channels.static import Section, StaticSite


class Disclosure(StaticSite):
    """Records filed under their catalogue category, with the 专栏's sections and listings."""

    kind = "disclosure"
    _sections = (
        Section("disclosure_guide", "guide.html", "政府信息公开指南", "section.html"),
        Section("disclosure_rules", "rules.html", "政府信息公开制度", "section.html", "per_title"),
        Section("annual_report", "reports.html", "政府信息公开年报", "section.html", "all"),
    )
