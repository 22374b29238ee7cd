"""政府信息公开目录 as a static site: each record carries the standard header (索引号, 主题分类, 发布机构 …)."""

from __future__ import annotations

from channels.static import StaticSite


class Disclosure(StaticSite):
    """Records filed under their catalogue category, with the catalogue's index pages."""

    kind = "disclosure"
