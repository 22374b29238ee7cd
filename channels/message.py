"""The values that cross the channel boundary: a rendered message and a receipt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Message:
    """What the delivery engine hands an adapter: already rendered, already sanitised."""

    idempotency_key: str            # stable across retries: "<revision id>:<channel name>"
    title: str
    index_no: str                   # 索引号
    canonical_url: str              # the item's page on the portal
    published_on: date              # 公开日期 (Asia/Shanghai)
    category: str                   # 主题分类
    kind: str                       # 第二十条 kind
    parts: Mapping[str, str]        # rendered templates/<kind>/ files by name, e.g. "article.html"
    metadata: Mapping[str, str] = field(default_factory=dict)  # disclosure header: 索引号, 发布机构, 文号 …
    summary: str = ""
    slug: str = ""                  # stable path segment for static sites and CMS slugs
    images: tuple[Path, ...] = ()   # local image files referenced by the body
    cover: Path | None = None
    handle: str = ""                # the channel's id for what an earlier unanswered try started (OutcomeUnknown)
    kind_name: str = ""             # the kind's Chinese name, e.g. 统计信息 (static sites list by kind)
    kind_clause: str = ""           # the 第二十条 clause it falls under, e.g. 第二十条第（四）项, or ""


@dataclass(frozen=True)
class Receipt:
    """What the channel confirmed: its id for the publication and the public URL."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True)
class Finding:
    """One thing a channel's live check looked at: what, whether it holds, what was seen, how to fix it."""

    what: str                       # e.g. "credentials", "meta keys", "signature"
    ok: bool
    detail: str = ""
    fix: str = ""                   # what the operator does about it ("" when it holds)
