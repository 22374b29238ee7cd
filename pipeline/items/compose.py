"""From the database to what a channel receives: the item's view, its canonical URL and the rendered parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, select

from channels import REGISTRY, Message
from pipeline.core.catalogue import KINDS
from pipeline.core.clock import SHANGHAI, beijing_today
from pipeline.core.config import Settings
from pipeline.core.models import Agency, Delivery, DeliveryStatus, Item, ItemStatus, Revision
from pipeline.core.render import (
    ItemView,
    Link,
    clean_html,
    kind_name,
    markdown_to_html,
    render_template,
    template_names,
)


def slug_of(item_id: int) -> str:
    return f"art_{item_id}"


def images_beside(item_id: int) -> str:
    """Where a static site keeps an item's images, next to its page; the stored body HTML points there."""
    return f"{slug_of(item_id)}/"


def portal_root(settings: Settings, agency_code: str) -> str:
    """Where the agency's items live on its portal: agencies.<code>.portal_url or its portal channel's URL."""
    agency = settings.agencies[agency_code]
    if agency.portal_url:
        return agency.portal_url.rstrip("/")
    for name in agency.channels:
        config = settings.channels[name]
        if config.kind == "portal":
            return str(getattr(config, "public_url", "")).rstrip("/")
    return ""


def page_year(index_no: str | None, fallback: int) -> int:
    """The year in an item's page path: its 索引号's, so that every revision keeps one address."""
    return int(index_no.rsplit("/", 1)[1][:4]) if index_no else fallback


def canonical_url(settings: Settings, agency_code: str, item_id: int, published_on_year: int) -> str:
    """The item's page on the portal; the static portal writes exactly this path. An agency whose portal is a
    CMS (a WordPress channel with a `permalink`) has its items at that address."""
    root = portal_root(settings, agency_code)
    if root:
        return f"{root}/art/{published_on_year}/{slug_of(item_id)}.html"
    for name in settings.agencies[agency_code].channels:
        if permalink := getattr(settings.channels[name], "permalink", ""):
            return permalink.replace("{slug}", slug_of(item_id))
    return ""


def submitted_html(item_id: int, body: str, images: Mapping[str, str], *, html: str | None = None) -> str:
    """The body as every channel publishes it, rendered once when the revision is submitted (reviewers approve
    this very HTML, and a later change of the renderer cannot change an approved text): its images (and files
    it links to) at art_N/<name>, where a static site keeps them beside the page; item_view() points the other
    channels at the portal's copy. `html`: a body made as HTML by gongkai (the annual report), sanitised."""
    folder = images_beside(item_id)
    files = {src: folder + Path(stored).name for src, stored in images.items()}
    return str(markdown_to_html(body, files) if html is None else clean_html(html, files))


def item_view(session: Session, settings: Settings, item: Item, revision: Revision, published_at: datetime,
              *, local_images: bool = True, interpreted_by: Mapping[int, tuple[Link, ...]] | None = None) -> ItemView:
    """The plain view every template gets; links to the interpreted document and its interpretations
    (`interpreted_by`: those of the item, and of others, when the caller looked them up for several at once).

    Images: a static site keeps its own copy beside the page (art_N/name); other channels point at the
    portal's copy, or upload the files themselves (WeChat).
    """
    agency = session.get(Agency, item.agency_id)
    assert agency is not None
    published_on = published_at.astimezone(SHANGHAI).date()
    year = page_year(item.index_no, published_on.year)
    url = canonical_url(settings, agency.code, item.id, year)
    beside = images_beside(item.id)
    root = portal_root(settings, agency.code)  # a CMS portal has no copies there: its adapter uploads them
    folder = beside if local_images or not root else f"{root}/art/{year}/{beside}"
    html = revision.body_html if revision.body_html is not None else \
        submitted_html(item.id, revision.body, revision.images)
    if folder != beside:  # nh3 writes every image as <img src="…" first; text cannot hold "<img" unescaped
        html = html.replace(f'<img src="{beside}', f'<img src="{folder}').replace(f'<a href="{beside}',
                                                                                  f'<a href="{folder}')
    body_html = Markup(html)  # noqa: S704  (made by markdown_to_html, which sanitises it with nh3)
    links = interpreted_by.get(item.id) if interpreted_by is not None else None  # () when it has none
    return ItemView(
        # before approval: a placeholder as long as the real number, so that length limits hold
        id=item.id, index_no=item.index_no or f"{agency.org_code}/{published_on.year}-○○○○○",
        title=revision.title, summary=revision.summary,
        body_html=body_html,
        category=revision.category, kind=revision.kind, kind_name=kind_name(revision.kind),
        publisher=revision.publisher, agency_name=agency.name, doc_number=revision.doc_number or "",
        created_on=revision.created_on, published_on=published_on, validity=revision.validity or "",
        canonical_url=url, slug=slug_of(item.id),
        interprets=_interpreted(session, settings, agency, revision.interprets),
        interpreted_by=links if links is not None else interpretations(session, settings, [item])[item.id],
    )


def build_message(session: Session, settings: Settings, delivery: Delivery, *,
                  rows: tuple[Item, Revision] | None = None, views: dict[tuple[Any, ...], ItemView] | None = None,
                  interpreted_by: Mapping[int, tuple[Link, ...]] | None = None) -> Message:
    """The rendered message for one delivery; the same on every retry (published_on is the due date).
    `rows`: the item and revision when the caller has them; `views`: shared by the deliveries of a batch,
    so that a revision's body is rendered once for all its channels; `interpreted_by`: see item_view()."""
    message = compose_message(session, settings, item_id=delivery.item_id, revision=delivery.revision,
                              channel=delivery.channel, approved_at=delivery.created_at,
                              idempotency_key=delivery.idempotency_key, rows=rows, views=views,
                              interpreted_by=interpreted_by)
    if delivery.remote_id and delivery.status != DeliveryStatus.PUBLISHED:  # a handle kept from a try in doubt
        message = replace(message, handle=delivery.remote_id)
    return message


def compose_message(session: Session, settings: Settings, *, item_id: int, revision: int, channel: str,
                    approved_at: datetime, idempotency_key: str, rows: tuple[Item, Revision] | None = None,
                    views: dict[tuple[Any, ...], ItemView] | None = None,
                    interpreted_by: Mapping[int, tuple[Link, ...]] | None = None) -> Message:
    """The message a channel receives for an item revision (also what `gongkai preview` shows)."""
    item, revision_row = rows or (session.get(Item, item_id), session.exec(
        select(Revision).where(Revision.item_id == item_id, Revision.number == revision)).one())
    config = settings.channels[channel]
    due = max(filter(None, [revision_row.publish_at, approved_at]))
    adapter = REGISTRY[config.kind]
    page_templates = adapter.index_templates
    key = (item.id, revision_row.number, due.astimezone(SHANGHAI).date(), bool(page_templates))  # what the view shows
    view = views.get(key) if views is not None else None
    if view is None:
        view = item_view(session, settings, item, revision_row, due, local_images=bool(page_templates),
                         interpreted_by=interpreted_by)
        if views is not None:
            views[key] = view
    root = settings.items.attachments_dir
    context = {"item": view, "site_title": getattr(config, "title", view.agency_name), "root": "../../"}  # art/YEAR/
    parts = {name: render_template(f"{config.kind}/{name}", context)
             for name in template_names(config.kind, skip=page_templates)}
    return Message(
        idempotency_key=idempotency_key, title=view.title, index_no=view.index_no,
        canonical_url=view.canonical_url, published_on=view.published_on, category=view.category,
        kind=view.kind, parts=parts, metadata=view.header, summary=view.summary, slug=view.slug,
        images=tuple(root / stored for stored in revision_row.images.values()),
        cover=root / revision_row.cover if revision_row.cover else _cover(config),
        kind_name=view.kind_name, kind_clause=KINDS.get(view.kind, ("", ""))[1],
    )


def _cover(config: object) -> Path | None:
    cover = getattr(config, "cover", None)  # the channel's default cover (WeChat needs one per article)
    return Path(cover) if cover else None


def _interpreted(session: Session, settings: Settings, agency: Agency, ref: str | None) -> Link | None:
    if not ref:
        return None
    target = session.exec(select(Item).where(Item.agency_id == agency.id,
                                             sa.or_(Item.ref == ref, Item.index_no == ref))).first()
    if target is None or target.approved_revision is None or target.status == ItemStatus.WITHDRAWN:
        return None
    title = session.exec(select(Revision.title).where(Revision.item_id == target.id,
                                                      Revision.number == target.approved_revision)).one()
    return _link(settings, agency.code, target.id, target.index_no, title)


_INTERPRETATIONS = (  # built once: a worker asks for every batch it renders
    select(Item.id, Item.agency_id, Item.index_no, Agency.code, Revision.title, Revision.interprets)
    .join(Agency, Agency.id == Item.agency_id)
    .join(Revision, (Revision.item_id == Item.id) & (Revision.number == Item.approved_revision))
    .where(Item.agency_id.in_(sa.bindparam("agencies", expanding=True)), Item.status == ItemStatus.APPROVED,
           Revision.interprets.in_(sa.bindparam("names", expanding=True)),
           Item.id.in_(select(Delivery.item_id).where(Delivery.status == DeliveryStatus.PUBLISHED)))
    # a scheduled interpretation is not announced before it is out
    .order_by(Item.id)
)


def interpretations(session: Session, settings: Settings, items: list[Item]) -> dict[int, tuple[Link, ...]]:
    """For each item, the published interpretations (政策解读) of its agency that name it by ref or 索引号: one
    query for all the items (a worker renders many at once)."""
    named: dict[tuple[int, str], list[int]] = {}
    for item in items:
        for name in {item.ref, item.index_no} - {None, ""}:
            named.setdefault((item.agency_id, name), []).append(item.id)
    found: dict[int, list[Link]] = {item.id: [] for item in items}
    if not named:
        return {item_id: () for item_id in found}
    names = {"agencies": sorted({agency for agency, _ in named}), "names": sorted({name for _, name in named})}
    for other in session.execute(_INTERPRETATIONS, names):
        for owner in named.get((other.agency_id, other.interprets), []):
            found[owner].append(_link(settings, other.code, other.id, other.index_no, other.title))
    return {item_id: tuple(links) for item_id, links in found.items()}


def _link(settings: Settings, agency_code: str, item_id: int, index_no: str | None, title: str) -> Link:
    """A link to an item's page, titled with its approved revision's title."""
    year = page_year(index_no, beijing_today().year)
    return Link(title, canonical_url(settings, agency_code, item_id, year), index_no or "")


def interpreted_delivery(session: Session, delivery: Delivery) -> Delivery | None:
    """If this delivery is of a 政策解读, the published delivery of the document it interprets on the same channel."""
    revision = session.exec(select(Revision).where(Revision.item_id == delivery.item_id,
                                                   Revision.number == delivery.revision)).one()
    item = session.get(Item, delivery.item_id)
    if not revision.interprets or item is None:
        return None
    target = session.exec(select(Item).where(Item.agency_id == item.agency_id, sa.or_(
        Item.ref == revision.interprets, Item.index_no == revision.interprets))).first()
    if target is None:
        return None
    return session.exec(select(Delivery).where(
        Delivery.item_id == target.id, Delivery.channel == delivery.channel,
        Delivery.revision == target.approved_revision, Delivery.status == DeliveryStatus.PUBLISHED)).first()
