"""Handing committed work on: to the broker when there is one, else to the in-process dispatcher right here.

Every command that makes deliveries due (an approval, a withdrawal, a replay) and the demo call hand_over()
after their transaction has committed; the choice is made here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.clock import utcnow
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.core.models import Delivery, DeliveryStatus
from pipeline.engine.claims import Outcome


@dataclass(frozen=True)
class HandedOver:
    """What became of the deliveries: how many the broker took (the sweep sends the rest), or, without a broker,
    what the dispatcher did with everything due."""

    given: int
    broker: bool
    queued: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def due_of_item(session: Session, *, item_id: int) -> list[int]:
    """The item's pending deliveries that are due now (a scheduled one waits for its time)."""
    return list(session.exec(select(Delivery.id).where(
        Delivery.item_id == item_id, Delivery.status == DeliveryStatus.PENDING,
        Delivery.next_attempt_at <= utcnow())).all())


def hand_over_item(settings: Settings, db: sa.Engine, *, item_id: int) -> HandedOver:
    """After commit: the item's due deliveries handed over (an approval's, or a withdrawal's unknown outcomes)."""
    with session_scope(db) as session:
        due = due_of_item(session, item_id=item_id)
    return hand_over(settings, db, due)


def hand_over(settings: Settings, db: sa.Engine, delivery_ids: list[int]) -> HandedOver:
    """After commit: enqueue the deliveries if there is a broker (a failed send is left to the sweep), else run
    the dispatcher until nothing is due."""
    broker = bool(settings.queue.broker_url)
    if not delivery_ids:
        return HandedOver(given=0, broker=broker)
    if broker:
        from pipeline.engine.queueing import enqueue  # Celery: only when there is a broker

        return HandedOver(given=len(delivery_ids), broker=True, queued=enqueue(settings, db, delivery_ids))
    from pipeline.engine.dispatcher import run_dispatcher
    from pipeline.engine.runtime import Engine

    outcomes = run_dispatcher(Engine.build(settings, db), until_idle=True)
    return HandedOver(given=len(delivery_ids), broker=False, outcomes=outcomes)
