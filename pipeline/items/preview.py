"""What each channel of an item would receive for one revision: the reviewer's view of 先审后发.

Composed exactly as the delivery engine composes it (compose_message) and checked by the channel's own rules
(title length, Weibo's 140 characters …); nothing is sent.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from channels.errors import ChannelError
from pipeline.core.adapters import ChannelSet
from pipeline.core.clock import SHANGHAI, utcnow
from pipeline.core.config import Settings
from pipeline.core.errors import NotFound
from pipeline.core.models import Item, Revision
from pipeline.items.compose import compose_message


@dataclass(frozen=True)
class ChannelPreview:
    channel: str
    kind: str                       # the adapter kind: portal, disclosure, wechat, weibo, webhook …
    html: dict[str, str]            # rendered HTML parts by template name (a page, an article)
    text: str                       # the payload the channel's API would receive, as indented JSON
    refusal: str | None             # what the channel would refuse, in its words; None if it would accept


def channel_previews(session: Session, settings: Settings, *, item_id: int, revision: int,
                     channels: ChannelSet | None = None) -> list[ChannelPreview]:
    item = session.get(Item, item_id)
    row = session.exec(select(Revision).where(Revision.item_id == item_id, Revision.number == revision)).first()
    if item is None or row is None:
        raise NotFound(f"no revision {revision} of item {item_id}")
    channels = channels or ChannelSet(settings)
    previews, shared_views = [], {}  # channels that show the same view of the item render it once
    for name in row.channels:
        if name not in settings.channels:
            continue
        message = compose_message(session, settings, item_id=item_id, revision=revision, channel=name,
                                  approved_at=utcnow(), idempotency_key=f"{item_id}:{revision}:{name}",
                                  rows=(item, row), views=shared_views)
        adapter = channels.get(name)
        refusal = None
        try:
            adapter.check(message)
        except ChannelError as e:
            refusal = str(e)
        # a page that shows the portal's copy of an image shows it from here: the portal is not live yet
        portal_copy = f'src="{message.canonical_url.rsplit("/", 1)[0]}/art_{item_id}/'
        html = {part: text.replace(portal_copy, f'src="art_{item_id}/')
                for part, text in message.parts.items() if part.endswith(".html")}
        payload = json.dumps(adapter.payload(message), ensure_ascii=False, indent=2, default=str)
        previews.append(ChannelPreview(name, settings.channels[name].kind, html, payload, refusal))
    return previews


def revision_file(session: Session, settings: Settings, *, item_id: int, name: str) -> Path:
    """An image of the item (by its stored file name), for the previews; only files some revision holds."""
    for images, cover in session.exec(select(Revision.images, Revision.cover).where(Revision.item_id == item_id)):
        for stored in [*images.values(), cover]:
            if stored and Path(stored).name == name:
                return settings.items.attachments_dir / stored
    raise NotFound(f"item {item_id} has no file {name}")


FIELDS = {"title": "标题", "category": "主题分类", "kind": "第二十条类别", "channels": "发布渠道", "doc_number": "文号",
          "created_on": "成文日期", "publish_at": "定时发布", "summary": "摘要", "validity": "有效性",
          "interprets": "解读对象"}


@dataclass(frozen=True)
class Changes:
    """How a revision differs from the one before: changed fields (name, before, after) and the body's lines
    as (mark, text) with mark "-", "+" or " " (unchanged context)."""

    previous: int | None
    fields: list[tuple[str, str, str]]
    body: list[tuple[str, str]]


def revision_changes(session: Session, *, item_id: int, revision: int) -> Changes:
    rows = {r.number: r for r in session.exec(select(Revision).where(
        Revision.item_id == item_id, Revision.number.in_([revision - 1, revision])))}
    if revision not in rows:
        raise NotFound(f"no revision {revision} of item {item_id}")
    before, after = rows.get(revision - 1), rows[revision]
    if before is None:
        return Changes(None, [], [])
    fields = [(label, _text(getattr(before, name)), _text(getattr(after, name))) for name, label in FIELDS.items()
              if getattr(before, name) != getattr(after, name)]
    lines = difflib.ndiff(before.body.splitlines(), after.body.splitlines())
    body = [(line[0], line[2:]) for line in lines if line[0] in "-+ "]
    return Changes(before.number, fields, body)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return "、".join(map(str, value))
    return str(value)
