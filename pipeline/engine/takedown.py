"""Taking a withdrawn item down from every channel that published it; each removal reverses its ledger entry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import ChannelError, PermanentChannelError, Receipt
from pipeline.core.clock import SHANGHAI
from pipeline.core.db import session_scope
from pipeline.core.errors import NotFound, WorkflowRefused
from pipeline.core.models import Agency, Delivery, EntryType, Item, ItemStatus, LedgerEntry
from pipeline.core.models import DeliveryStatus as D
from pipeline.core.states import move_delivery
from pipeline.engine.runtime import Engine
from pipeline.records.audit import CONTENT_NAMES, SYSTEM, record_event
from pipeline.records.authority import require
from pipeline.records.ledger import insert_ledger_entries
from pipeline.records.levels import fix_set
from pipeline.records.people import Actor

log = logging.getLogger("gongkai.takedown")


@dataclass(frozen=True)
class TakeDown:
    delivery_id: int
    channel: str
    result: str  # withdrawn | manual | failed | done already
    detail: str = ""


def take_down(engine: Engine, *, item_id: int) -> list[TakeDown]:
    """For each publication of a withdrawn item: delete it at the channel, or flag it for a person to delete."""
    with session_scope(engine.db) as session:
        item = session.get(Item, item_id)
        if item is None or item.status != ItemStatus.WITHDRAWN:
            return []
        published = list(session.exec(select(Delivery).where(Delivery.item_id == item_id,
                                                             Delivery.status == D.PUBLISHED)))
    return [take_down_one(engine, delivery) for delivery in published]


def take_down_owed(engine: Engine, *, limit: int = 100) -> list[TakeDown]:
    """Publications of items withdrawn more than queue.sweep_grace ago that nobody took down and nobody was asked
    to: a worker died between recording a publication that raced the withdrawal and taking it down, the
    command that withdrew the item died mid-way, or a take-down failed for now and its next try is due. Run by
    every sweep."""
    now = engine.clock()
    before = now - timedelta(seconds=engine.settings.queue.sweep_grace)
    with session_scope(engine.db) as session:
        owed = list(session.exec(
            select(Delivery).join(Item, Item.id == Delivery.item_id)
            .where(Delivery.status == D.PUBLISHED, Delivery.manual_action.is_(None),
                   Item.status == ItemStatus.WITHDRAWN, Item.updated_at < before,
                   sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
            .order_by(Delivery.id).limit(limit)))
    for delivery in owed:
        log.warning("delivery %s: item %s was withdrawn but this publication is still up: taking it down",
                    delivery.id, delivery.item_id)
    return [take_down_one(engine, delivery) for delivery in owed]


def take_down_one(engine: Engine, delivery: Delivery) -> TakeDown:
    adapter = engine.channels.get(delivery.channel)
    if not adapter.supports_withdraw:
        note = (f"{delivery.channel} cannot delete through its API: delete {delivery.url or delivery.remote_id} by "
                f"hand, then gongkai withdraw {delivery.item_id} --deleted-by-hand {delivery.channel}")
        _flag(engine, delivery, note)
        return TakeDown(delivery.id, delivery.channel, "manual", note)
    try:
        adapter.withdraw(Receipt(delivery.remote_id or "", delivery.url))
    except PermanentChannelError as e:
        _flag(engine, delivery, f"take-down refused: {e.message}; delete it by hand, then gongkai withdraw "
                                f"{delivery.item_id} --deleted-by-hand {delivery.channel}")
        return TakeDown(delivery.id, delivery.channel, "manual", e.message)
    except ChannelError as e:
        _try_later(engine, delivery, e.message)
        return TakeDown(delivery.id, delivery.channel, "failed", e.message)
    with session_scope(engine.db) as session:
        done = record_take_down(session, delivery_id=delivery.id, now=engine.clock())
    log.info("delivery %s withdrawn from %s", delivery.id, delivery.channel)
    return TakeDown(delivery.id, delivery.channel, "withdrawn" if done else "done already")


def confirm_deleted_by_hand(session: Session, *, item_id: int, channel: str, now: datetime, actor: Actor) -> None:
    """A person deleted the publication at a channel that cannot do it through its API: record it (needs the
    role of the item's final review level, as a withdrawal does)."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}")
    final = fix_set(session, item).levels[-1]
    require(session, actor, final["role"], agency_code=session.get(Agency, item.agency_id).code,
            doing=f"record the take-down of item {item_id} ({final['name']})")
    delivery = session.exec(select(Delivery).where(Delivery.item_id == item_id, Delivery.channel == channel,
                                                   Delivery.status == D.PUBLISHED)).first()
    if delivery is None:
        raise NotFound(f"item {item_id} has no publication on {channel} to take down")
    if session.get(Item, item_id).status != ItemStatus.WITHDRAWN:
        raise WorkflowRefused(f"item {item_id} is not withdrawn")
    record_take_down(session, delivery_id=delivery.id, now=now, actor=actor.label, by_hand=True)


def record_take_down(session: Session, *, delivery_id: int, now: datetime, actor: str = SYSTEM,
                     by_hand: bool = False) -> bool:
    """The publication is gone: the delivery is withdrawn and its ledger entry reversed, once."""
    row = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()
                       .execution_options(populate_existing=True)).one()
    if row.status != D.PUBLISHED:  # another take-down got here first
        return False
    move_delivery(row, D.WITHDRAWN)
    row.manual_action = None
    session.add(row)
    original = session.exec(select(LedgerEntry).where(LedgerEntry.delivery_id == row.id,
                                                      LedgerEntry.entry_type == EntryType.PUBLICATION)).one()
    local = now.astimezone(SHANGHAI)  # the reversal counts on the day it happened, like any entry
    refs = insert_ledger_entries(session, [{
        **{name: getattr(original, name) for name in CONTENT_NAMES}, "entry_type": EntryType.REVERSAL.value,
        "published_at": now, "local_date": local.date(), "year": local.year, "import_key": None, "created_at": now}])
    record_event(session, actor=actor, action="take_down", subject=f"delivery:{row.id}",
                 details={"item": row.item_id, "channel": row.channel, "by_hand": by_hand, "ledger": refs}, now=now)
    return True


def _try_later(engine: Engine, delivery: Delivery, error: str) -> None:
    """A take-down that failed for now is tried again by the sweep, after a wait as long as the item has been
    withdrawn (between queue.lookup_base and queue.lookup_cap); a person is asked only once it has been
    failing for queue.doubt_horizon."""
    queue, now = engine.settings.queue, engine.clock()
    with session_scope(engine.db) as session:
        row = session.get(Delivery, delivery.id)
        since = session.get(Item, row.item_id).withdrawn_at or now
        lasted = (now - since).total_seconds()
        if lasted >= queue.doubt_horizon:
            row.manual_action = (f"take-down still failing {lasted / 3600:.1f} h after the withdrawal (last: "
                                 f"{error}); delete it by hand, then gongkai withdraw {row.item_id} "
                                 f"--deleted-by-hand {row.channel}, or run gongkai withdraw {row.item_id} again")[:2000]
        else:
            row.last_error = f"take-down failed for now, tried again by the sweep: {error}"[:2000]
            row.next_attempt_at = now + timedelta(seconds=min(queue.lookup_cap, max(queue.lookup_base, lasted)))
        session.add(row)


def _flag(engine: Engine, delivery: Delivery, note: str) -> None:
    with session_scope(engine.db) as session:
        row = session.get(Delivery, delivery.id)
        row.manual_action = note[:2000]
        session.add(row)
