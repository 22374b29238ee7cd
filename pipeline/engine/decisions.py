"""Decisions that make deliveries due, carried through: the decision is committed, then what it made due is handed
over (pipeline.engine.handover) and, for a withdrawal, what was published is taken down.

`gongkai review`, `withdraw`, `retry` and `channels check` and the console's buttons for the same call these, so
that both do the same steps in the same order."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from pipeline.core.agencies import agency_row
from pipeline.core.clock import utcnow
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.core.models import Decision, DeliveryStatus, ItemStatus
from pipeline.engine.delivery import replay_delivery
from pipeline.engine.handover import HandedOver, hand_over, hand_over_item
from pipeline.engine.health import ChannelCheck, check_channels
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import TakeDown, confirm_deleted_by_hand, take_down
from pipeline.items import views, workflow
from pipeline.records.actor import Actor


@dataclass(frozen=True)
class Decided:
    """Each item's review result, in the order asked, and the hand-over of each item it approved."""

    results: list[workflow.Reviewed]
    handed_over: list[HandedOver]


@dataclass(frozen=True)
class Replayed:
    delivery_ids: list[int]
    handed_over: HandedOver


def review_and_hand_over(settings: Settings, db: sa.Engine, *, agency_code: str,
                         decisions: list[tuple[int, int, str]], actor: Actor, decision: Decision,
                         comment: str = "", late_reason: str = "") -> Decided:
    """The same review decision for each (item id, revision read, level) in one transaction (one refusal decides
    none), then each approved item's due deliveries handed over."""
    with session_scope(db) as session:
        results = workflow.review_items(session, settings=settings, agency_code=agency_code, decisions=decisions,
                                        actor=actor, decision=decision, comment=comment, late_reason=late_reason)
    handed = [hand_over_item(settings, db, item_id=item_id)
              for (item_id, _, _), result in zip(decisions, results, strict=True)
              if result.status == ItemStatus.APPROVED]
    return Decided(results, handed)


def withdraw_and_take_down(settings: Settings, db: sa.Engine, *, agency_code: str, item_id: int, actor: Actor,
                           reason: str, deleted_by_hand: list[str] | None = None) -> list[TakeDown]:
    """Withdraw the item, recording the channels where a person deleted it by hand; then hand over the deliveries
    whose outcome was unknown (asked, then taken down) and take down every publication still up. Run again, it
    retries the take-downs."""
    with session_scope(db) as session:
        workflow.withdraw_item(session, settings=settings, agency_code=agency_code, item_id=item_id, actor=actor,
                               reason=reason)
        for channel in deleted_by_hand or []:
            confirm_deleted_by_hand(session, item_id=item_id, channel=channel, now=utcnow(), actor=actor)
    hand_over_item(settings, db, item_id=item_id)
    return take_down(Engine.build(settings, db), item_id=item_id)


def replay_and_hand_over(settings: Settings, db: sa.Engine, *, agency_code: str, delivery_id: int | None,
                         actor: Actor, absent: bool = False) -> Replayed:
    """Replay one delivery of the agency, or (None) every dead letter and unknown outcome (not those flagged for a
    person), in one transaction; then hand them over."""
    with session_scope(db) as session:
        agency_id = agency_row(session, agency_code).id
        ids = [delivery_id] if delivery_id is not None else [
            row["id"] for row in views.list_deliveries(session, agency_id=agency_id, failed_only=True)
            if row["status"] in (DeliveryStatus.DEAD, DeliveryStatus.UNKNOWN)]
        for one in ids:
            views.check_delivery_agency(session, delivery_id=one, agency_id=agency_id)
            replay_delivery(session, delivery_id=one, now=utcnow(), actor=actor, absent=absent)
    return Replayed(ids, hand_over(settings, db, ids))


def check_and_resume(engine: Engine, *, names: list[str], actor: Actor, agency_code: str) -> list[ChannelCheck]:
    """Check the channels (pipeline.engine.health.check_channels); the deliveries that waited for a channel now
    resumed are handed over."""
    checks = check_channels(engine, names=names, actor=actor, agency_code=agency_code)
    resumed = [i for c in checks for i in c.resumed]
    if resumed:
        hand_over(engine.settings, engine.db, resumed)
    return checks
