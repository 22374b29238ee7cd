"""What each channel of an item would receive for one revision: the reviewer's view of 先审后发.

Composed exactly as the delivery engine composes it (compose_message) and checked by the channel's own rules
(title length, Weibo's 140 characters …); nothing is sent.
"""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from channels.errors import ChannelError
from channels.message import Message
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
    payload: Any = None             # the payload itself (None when it could not be made)
    message: Message | None = None  # what the channel would be handed (None when it could not be composed)
    images: tuple[Path, ...] = ()   # the files the HTML parts show, at art_N/<name> beside them


def channel_previews(session: Session, settings: Settings, *, item_id: int, revision: int,
                     channels: ChannelSet | None = None) -> list[ChannelPreview]:
    item, row = _rows(session, item_id, revision)
    channels = channels or ChannelSet(settings)
    shared_views: dict[Any, Any] = {}  # channels that show the same view of the item render it once
    return [_preview(session, settings, item, row, name, channels, shared_views)
            for name in row.channels if name in settings.channels]


def channel_preview(session: Session, settings: Settings, *, item_id: int, channel: str,
                    channels: ChannelSet | None = None) -> ChannelPreview:
    """gongkai preview: one channel's view of the item's newest revision. Never raises for what the channel
    would refuse or could not render: that is the preview's refusal, beside whatever could be shown."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}")
    item, row = _rows(session, item_id, item.current_revision)
    return _preview(session, settings, item, row, channel, channels or ChannelSet(settings), {})


def _rows(session: Session, item_id: int, revision: int) -> tuple[Item, Revision]:
    item = session.get(Item, item_id)
    row = session.exec(select(Revision).where(Revision.item_id == item_id, Revision.number == revision)).first()
    if item is None or row is None:
        raise NotFound(f"no revision {revision} of item {item_id}")
    return item, row


def _preview(session: Session, settings: Settings, item: Item, row: Revision, name: str, channels: ChannelSet,
             shared_views: dict[Any, Any]) -> ChannelPreview:
    kind = settings.channels[name].kind
    try:
        message = compose_message(session, settings, item_id=item.id, revision=row.number, channel=name,
                                  approved_at=utcnow(), idempotency_key=f"{item.id}:{row.number}:{name}",
                                  rows=(item, row), views=shared_views)
    except Exception as e:  # noqa: BLE001  (a template or data bug: the reviewer is told, not shown a traceback)
        return ChannelPreview(name, kind, {}, "", f"{name}: the item could not be rendered for it: {e!r}")
    adapter = channels.get(name)
    refusals = []
    try:
        adapter.check(message)
    except ChannelError as e:
        refusals.append(e.message)
    except OSError as e:  # an image file gone from the store
        refusals.append(f"{name}: {e}")
    # a page that shows the portal's copy of an image shows it from here: the portal is not live yet
    portal_copy = f'src="{message.canonical_url.rsplit("/", 1)[0]}/art_{item.id}/'
    html = {part: text.replace(portal_copy, f'src="art_{item.id}/')
            for part, text in message.parts.items() if part.endswith(".html")}
    try:
        payload = adapter.payload(message)
        text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    except (ChannelError, KeyError, ValueError) as e:
        payload, text = None, ""
        refusals.append(f"{name}: the payload could not be made: {e}")
    images = tuple(dict.fromkeys([*message.images, *filter(None, [message.cover])]))
    return ChannelPreview(name, kind, html, text, "; ".join(refusals) or None, payload, message, images)


def payload_summary(payload: Any, *, width: int = 100) -> list[tuple[str, str]]:
    """The payload as (field, value) lines a person reads: nested fields by path, long texts shortened with
    their length (the whole of them is in the HTML files and in --json)."""
    lines: list[tuple[str, str]] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{path}.{key}" if path else str(key), inner)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for n, inner in enumerate(value):
                walk(f"{path}[{n}]", inner)
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            flat = " ".join(shown.split())
            if len(flat) > width:
                flat = f"{flat[:width]}… ({len(shown)} characters)"
            lines.append((path, flat))

    walk("", payload)
    return lines


def write_preview(preview: ChannelPreview, folder: Path) -> list[Path]:
    """The HTML parts written into `folder`, the images they show beside them (art_N/<name>); the pages."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in preview.html.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    if preview.message is not None and preview.html:
        beside = folder / preview.message.slug
        for image in preview.images:
            if image.is_file():
                beside.mkdir(exist_ok=True)
                shutil.copyfile(image, beside / image.name)
    return written


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
