"""Verified publications: the live publication read back and compared with the approved revision.

After a channel confirms a publication, and whenever `gongkai verify` runs, the channel's copy (a static page's
file, a WordPress post, a WeChat article) is read back and compared with the message the approved revision makes
(build_message gives the same message on every call). The delivery becomes "verified", or "differs" with what
differs (someone edited the live page: an audit event and a warning name it), or "unverifiable" when the channel
offers no way to read a publication back (a webhook partner without receipts). A read that fails leaves the
delivery as it was, with the error, for the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import ChannelError, Message, Receipt
from pipeline.core.db import session_scope
from pipeline.core.errors import NotFound
from pipeline.core.models import Agency, Delivery, Item, Role
from pipeline.core.models import DeliveryStatus as D
from pipeline.engine.runtime import Engine
from pipeline.items.compose import build_message
from pipeline.records.audit import SYSTEM, record_event
from pipeline.records.authority import require
from pipeline.records.people import Actor

log = logging.getLogger("gongkai.verify")
VERIFIED, DIFFERS, UNVERIFIABLE = "verified", "differs", "unverifiable"
# what is live now: the publications of each item's approved revision (an earlier one's page or post was replaced)
CURRENT = sa.and_(Delivery.status == D.PUBLISHED, Delivery.revision == Item.approved_revision)


@dataclass(frozen=True)
class Verification:
    delivery_id: int
    item_id: int
    channel: str
    result: str        # verified, differs, unverifiable, or "not read" when the channel could not be asked now
    detail: str = ""


def verify_publications(engine: Engine, *, agency_code: str, actor: Actor, item_id: int | None = None,
                        limit: int = 1000) -> list[Verification]:
    """gongkai verify: read back the agency's publications of approved revisions (of one item, or the longest
    unverified first) and compare each with its revision. Needs the role operator."""
    with session_scope(engine.db) as session:
        require(session, actor, Role.OPERATOR, agency_code=agency_code, doing="verify publications")
        query = (select(Delivery.id).join(Item, Item.id == Delivery.item_id).join(Agency, Agency.id == Item.agency_id)
                 .where(CURRENT, Agency.code == agency_code)
                 .order_by(Delivery.verified_at.is_not(None), Delivery.verified_at, Delivery.id).limit(limit))
        if item_id is not None:
            item = session.get(Item, item_id)
            if item is None or session.get(Agency, item.agency_id).code != agency_code:
                raise NotFound(f"no item {item_id} in {agency_code}")
            query = query.where(Delivery.item_id == item_id)
        ids = list(session.exec(query).all())
    return [v for v in (verify_delivery(engine, one, actor=actor.label) for one in ids) if v is not None]


def verify_delivery(engine: Engine, delivery_id: int, *, actor: str = SYSTEM) -> Verification | None:
    """Read one publication back and record what was found; None if it is no longer published."""
    with session_scope(engine.db) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != D.PUBLISHED:
            return None
        message = build_message(session, engine.settings, delivery)
        sent = Sent(delivery_id, delivery.item_id, delivery.channel, message,
                    Receipt(delivery.remote_id or "", delivery.url))
    return verify_sent(engine, [sent], actor=actor)[0]


@dataclass(frozen=True)
class Sent:
    """A publication as its delivery sent it: the message and the channel's receipt."""

    delivery_id: int
    item_id: int
    channel: str
    message: Message
    receipt: Receipt


def verify_sent(engine: Engine, sent: list[Sent], *, actor: str = SYSTEM) -> list[Verification]:
    """Read these publications back (the engine's follow-up: the messages it has just sent, no rendering again)
    and record what was found, all in one transaction."""
    found = []
    for one in sent:
        adapter = engine.channels.get(one.channel)
        if not adapter.supports_verify:
            result, detail = UNVERIFIABLE, f"a {adapter.kind} channel offers no way to read a publication back"
        else:
            try:
                difference = adapter.verify(one.message, one.receipt)
                result, detail = (VERIFIED, "") if difference is None else (DIFFERS, difference)
            except ChannelError as e:
                result, detail = None, f"could not be read back: {e.message}"
        found.append((one, result, detail))
    return _record(engine, found, actor)


def _record(engine: Engine, found: list[tuple[Sent, str | None, str]], actor: str) -> list[Verification]:
    now, done, alerts = engine.clock(), [], []
    with session_scope(engine.db) as session:
        rows = {row.id: row for row in session.exec(select(Delivery).where(
            Delivery.id.in_(sorted(one.delivery_id for one, _, _ in found))).with_for_update())}
        for one, result, detail in found:
            row = rows.get(one.delivery_id)
            if row is None or row.status != D.PUBLISHED:
                done.append(Verification(one.delivery_id, one.item_id, one.channel, "not read", "no longer published"))
                continue
            if result == DIFFERS and (row.verification != DIFFERS or row.verification_detail != detail):
                alerts.append((one, detail))  # once per new difference, in the trail and the log
                record_event(session, actor=actor, action="verify_differs", subject=f"delivery:{one.delivery_id}",
                             details={"item": one.item_id, "channel": one.channel, "difference": detail[:2000]},
                             now=now)
            if result is not None:
                row.verification, row.verified_at = result, now
            row.verification_detail = detail[:2000] or None
            session.add(row)
            done.append(Verification(one.delivery_id, one.item_id, one.channel, result or "not read", detail))
    for one, detail in alerts:
        log.warning("delivery %s (item %s on %s): %s", one.delivery_id, one.item_id, one.channel, detail)
    return done


def verification_counts(session: Session, *, agency_id: int) -> dict[str, int]:
    """The agency's publications of approved revisions by verification: verified, differs, unverifiable, not yet."""
    rows = session.exec(select(Delivery.verification, sa.func.count()).join(Item, Item.id == Delivery.item_id)
                        .where(CURRENT, Item.agency_id == agency_id)
                        .group_by(Delivery.verification)).all()
    counts = {VERIFIED: 0, DIFFERS: 0, UNVERIFIABLE: 0, "not yet": 0}
    for result, count in rows:
        counts[result or "not yet"] += count
    return counts


def differing(session: Session, *, agency_id: int, limit: int = 50) -> list[Verification]:
    """The agency's publications whose live copy differs from the approved revision, newest finding first."""
    rows = session.exec(select(Delivery.id, Delivery.item_id, Delivery.channel, Delivery.verification_detail)
                        .join(Item, Item.id == Delivery.item_id)
                        .where(CURRENT, Item.agency_id == agency_id,
                               Delivery.verification == DIFFERS)
                        .order_by(Delivery.verified_at.desc()).limit(limit)).all()
    return [Verification(i, item, channel, DIFFERS, detail or "") for i, item, channel, detail in rows]
