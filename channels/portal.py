"""The agency's web portal as a static site (an HTTP CMS portal is the wordpress kind)."""

from __future__ import annotations

from channels.static import StaticSite


class Portal(StaticSite):
    """Article pages, a home page and one index page per 主题分类."""

    kind = "portal"
