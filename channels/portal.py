"""The agency's web portal as a static site (an HTTP CMS portal is the wordpress kind)."""

from __future__ import annotations

from channels.static import StaticSite


class Portal(StaticSite):
    """Article pages, a home page with the newest of each 主题分类, listings and search."""

    kind = "portal"
