"""After a decision commits: the item's due deliveries go to the queue, or — on the embedded defaults, with no
broker — are published right here by the in-process dispatcher, as `gongkai review` does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from pipeline.core.clock import utcnow
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.core.models import Delivery, DeliveryStatus
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.queueing import enqueue
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down


def hand_over(settings: Settings, db: sa.Engine, item_id: int | None = None, *, delivery_ids: list[int] | None = None,
              take_down_after: bool = False) -> None:
    if delivery_ids is None:
        with session_scope(db) as session:
            delivery_ids = [d.id for d in session.exec(select(Delivery).where(
                Delivery.item_id == item_id, Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= utcnow()))]
    if delivery_ids and settings.queue.broker_url:
        enqueue(settings, db, delivery_ids)
    elif delivery_ids:
        run_dispatcher(Engine.build(settings, db), until_idle=True)
    if take_down_after and item_id is not None:
        take_down(Engine.build(settings, db), item_id=item_id)
