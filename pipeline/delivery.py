"""The delivery engine: claim a delivery, render it, send it with no transaction open, record the result.

Every path from an approved item to a channel goes through deliver_one(), whether a Celery task or the
in-process dispatcher calls it. The database is the source of truth: a duplicate or forged message finds
nothing to claim, and a publication is recorded once, with its ledger entry, in one transaction.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlmodel import Session, select

from channels import (
    REGISTRY,
    AlreadyPublished,
    Channel,
    ChannelError,
    Message,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    Receipt,
    TransientChannelError,
)
from pipeline.audit import SYSTEM, ledger_refs, record_event
from pipeline.compose import build_message, interpreted_delivery
from pipeline.config import Settings
from pipeline.db import session_scope
from pipeline.errors import NotFound, WorkflowRefused
from pipeline.itemfile import SHANGHAI
from pipeline.models import Attempt, Delivery, EntryType, Item, ItemStatus, LedgerEntry, Revision, utcnow
from pipeline.models import DeliveryStatus as D
from pipeline.ratelimit import RateLimiter
from pipeline.render import render_template
from pipeline.states import move_delivery
from pipeline.takedown import take_down_one

log = logging.getLogger("gongkai.delivery")
RETRYABLE = (D.PENDING, D.RETRY_WAIT)
AMBIGUOUS = ("sending", "unknown", "lookup_failed")  # attempt outcomes after which the channel may have it
FAILURES = ("transient", "lookup_failed")


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery; retry_in says when to try again (None: nothing more to do now)."""

    delivery_id: int
    status: str
    retry_in: float | None = None
    detail: str = ""


class ChannelSet:
    """One adapter instance per configured channel, built on first use, with the services it needs."""

    def __init__(self, settings: Settings, *, redis_client: Any = None) -> None:
        self.settings = settings
        self.redis = redis_client
        self._adapters: dict[str, Channel] = {}

    def get(self, name: str) -> Channel:
        if name not in self._adapters:
            config = self.settings.channels[name]
            kind = config.kind
            render = lambda template, context: render_template(f"{kind}/{template}", context)  # noqa: E731
            self._adapters[name] = REGISTRY[kind](name, config, render=render, redis=self.redis)
        return self._adapters[name]


@dataclass
class Engine:
    """Everything deliver_one needs, built once per worker process."""

    db: sa.Engine
    settings: Settings
    channels: ChannelSet
    limiter: RateLimiter
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def build(cls, settings: Settings, db: sa.Engine) -> Engine:
        """The engine of this process: adapters, shared rate limits and the WeChat token store in Redis."""
        url = settings.queue.shared_redis_url
        client = redis.Redis.from_url(url) if url else None
        limits = {name: config.rate_limit for name, config in settings.channels.items() if config.rate_limit}
        return cls(db=db, settings=settings, channels=ChannelSet(settings, redis_client=client),
                   limiter=RateLimiter(limits, redis_url=url))


def claim(session: Session, delivery_id: int, *, token: str, now: datetime, lease: float) -> Delivery | None:
    """One conditional UPDATE: due and not held by anyone (or held past its lease) -> ours. Else None."""
    table = Delivery.__table__
    statement = (
        sa.update(table)
        .where(table.c.id == delivery_id,
               sa.or_(sa.and_(table.c.status.in_([str(s) for s in RETRYABLE]), table.c.next_attempt_at <= now),
                      sa.and_(table.c.status == str(D.SENDING), table.c.lease_until < now)))
        .values(status=str(D.SENDING), attempts=table.c.attempts + 1, claim_token=token,
                lease_until=now + timedelta(seconds=lease), updated_at=now)
        .returning(table.c.id)
    )
    if session.execute(statement).first() is None:
        return None
    return session.exec(select(Delivery).where(Delivery.id == delivery_id)
                        .execution_options(populate_existing=True)).one()


def deliver_one(engine: Engine, delivery_id: int, *, token: str | None = None) -> Outcome:
    """Claim -> (look up if an earlier try may have landed) -> send -> record. Never a blind re-send."""
    token = token or uuid.uuid4().hex
    with session_scope(engine.db) as session:
        lease = engine.settings.queue.lease_seconds
        delivery = claim(session, delivery_id, token=token, now=engine.clock(), lease=lease)
        if delivery is None:
            _log_unclaimable(session, delivery_id)
            return Outcome(delivery_id, "skipped")
        ambiguous = _ambiguous(session, delivery)
        refusal = _stale(session, delivery)
        attempt = Attempt(delivery_id=delivery.id, number=delivery.attempts, outcome="sending")
        session.add(attempt)
        session.flush()
        off = _channel_off(engine.settings, delivery)
        if off or (refusal and not ambiguous):
            status, detail = (D.UNKNOWN if ambiguous else D.DEAD, off) if off else (D.CANCELLED, refusal)
            log.warning("delivery %s not sent: %s", delivery_id, detail)
            _finish(session, delivery, token, status, outcome="refused", detail=detail, attempt_id=attempt.id)
            return Outcome(delivery_id, str(status), detail=detail)
        try:
            message = build_message(session, engine.settings, delivery)
        except Exception as e:  # a template or data bug: retrying cannot help, a person must look
            log.exception("delivery %s could not be rendered", delivery_id)
            _finish(session, delivery, token, D.DEAD, outcome="permanent", detail=f"rendering failed: {e!r}",
                    attempt_id=attempt.id)
            return Outcome(delivery_id, str(D.DEAD), detail=f"rendering failed: {e!r}")
    adapter = engine.channels.get(delivery.channel)
    if refusal:  # withdrawn or superseded, but an earlier try may have reached the channel: ask it
        return _settle(engine, delivery, token, attempt, adapter, message, refusal)
    wait = engine.limiter.acquire(delivery.channel)
    if 0 < wait <= 1.0:  # a short wait is held in the thread; then the slot is asked for again, never assumed
        time.sleep(wait)
        wait = engine.limiter.acquire(delivery.channel)
    if wait > 0:  # a long wait is not held in a worker thread: back to the queue, due when the limit allows
        return _record(engine, delivery, token, attempt, D.RETRY_WAIT, outcome="deferred",
                       detail=f"rate limit: wait {wait:.1f}s", retry_in=wait)
    started = time.monotonic()
    try:
        receipt = _send(adapter, message, look_first=ambiguous)
    except ChannelError as error:
        return _failed(engine, delivery, token, attempt, error, time.monotonic() - started)
    outcome = _record(engine, delivery, token, attempt, D.PUBLISHED, outcome="published", receipt=receipt,
                      duration=time.monotonic() - started)
    if outcome.status == D.PUBLISHED:
        _after_publication(engine, delivery, adapter)
    return outcome


def _settle(engine: Engine, delivery: Delivery, token: str, attempt: Attempt, adapter: Channel, message: Message,
            refusal: str) -> Outcome:
    """A stale delivery whose earlier try may have landed: published if the channel has it (then taken down
    if withdrawn), else cancelled; unknown if the channel cannot be asked now."""
    if getattr(adapter, "resend_is_idempotent", False) and not adapter.supports_lookup:
        # sending again is how such a channel is asked, and a stale item must not be sent: a person decides
        return _record(engine, delivery, token, attempt, D.UNKNOWN, outcome="unknown",
                       detail=f"{refusal}, and the receiver may have it from an earlier try: ask its operator")
    try:
        found = _look_up(adapter, message)
    except ChannelError as e:
        return _record(engine, delivery, token, attempt, D.UNKNOWN, outcome="unknown",
                       detail=f"{refusal}, and an earlier try may have published it: {e.message}")
    if found is None:
        return _record(engine, delivery, token, attempt, D.CANCELLED, outcome="refused", detail=refusal)
    outcome = _record(engine, delivery, token, attempt, D.PUBLISHED, outcome="published", receipt=found)
    _after_publication(engine, delivery, adapter)
    return outcome


def _log_unclaimable(session: Session, delivery_id: int) -> None:
    """A message found nothing to claim: normal for a duplicate; worth a warning for a cancelled delivery."""
    row = session.get(Delivery, delivery_id)
    if row is None:
        log.warning("message for delivery %s ignored: no such delivery", delivery_id)
    elif row.status == D.CANCELLED:
        log.warning("message for delivery %s ignored: cancelled (%s)", delivery_id, row.last_error)


def _after_publication(engine: Engine, delivery: Delivery, adapter: Channel) -> None:
    """Withdrawn while it was being sent: take it down now. A 政策解读 on a static site: link it back."""
    try:
        with session_scope(engine.db) as session:  # the item's status only: the delivery row is read if needed
            status = session.exec(select(Item.status).where(Item.id == delivery.item_id)).one()
            row = session.get(Delivery, delivery.id) if status == ItemStatus.WITHDRAWN else None
        if row is not None:
            take_down_one(engine, row)
        elif getattr(adapter, "index_templates", None):
            _refresh_interpreted(engine, delivery, adapter)
    except Exception:  # the publication is recorded; what follows it must not turn it into an error
        log.exception("delivery %s: follow-up after publication failed", delivery.id)


def _refresh_interpreted(engine: Engine, delivery: Delivery, adapter: Channel) -> None:
    """Rewrite the interpreted document's page on this static site so that it links back. Rewriting a
    static page is idempotent and not a new publication, so no ledger entry."""
    with session_scope(engine.db) as session:
        target = interpreted_delivery(session, delivery)
        message = build_message(session, engine.settings, target) if target else None
    if message is not None:
        try:
            adapter.publish(message)
        except ChannelError as e:
            log.warning("delivery %s: could not add the link to its interpretation: %s", target.id, e.message)


class _LookupFailed(TransientChannelError):
    """Asking the channel whether it has the publication failed: still ambiguous, try again later."""


def _send(adapter: Channel, message: Message, *, look_first: bool) -> Receipt:
    if look_first:  # the last try may have reached the channel: ask before sending again
        found = _look_up_or_retry(adapter, message)
        if found is not None:
            return found
    try:
        return adapter.publish(message)
    except AlreadyPublished as e:
        return e.receipt
    except OutcomeUnknown:
        found = _look_up_or_retry(adapter, message)
        if found is not None:
            return found
        raise TransientChannelError(f"{adapter.name}: the channel does not have it after an unanswered call; "
                                    "safe to send again") from None


def _look_up_or_retry(adapter: Channel, message: Message) -> Receipt | None:
    try:
        return _look_up(adapter, message)
    except TransientChannelError as e:
        raise _LookupFailed(f"{adapter.name}: could not ask whether it has the publication: {e.message}",
                            detail=e.detail) from e


def _look_up(adapter: Channel, message: Message) -> Receipt | None:
    if getattr(adapter, "resend_is_idempotent", False) and not adapter.supports_lookup:
        return None  # the receiver dedupes on the idempotency key: sending again is the lookup
    if not adapter.supports_lookup:
        raise OutcomeUnknown(f"{adapter.name}: cannot look the publication up; check by hand, then "
                             "gongkai retry")
    return adapter.lookup(message)


def _failed(engine: Engine, delivery: Delivery, token: str, attempt: Attempt, error: ChannelError,
            duration: float) -> Outcome:
    queue = engine.settings.queue
    detail = f"{error.message}{' | ' + error.detail if error.detail else ''}"
    if isinstance(error, OutcomeUnknown):
        return _record(engine, delivery, token, attempt, D.UNKNOWN, outcome="unknown", detail=detail,
                       duration=duration)
    if isinstance(error, PermanentChannelError):
        return _record(engine, delivery, token, attempt, D.DEAD, outcome="permanent", detail=detail,
                       duration=duration)
    if isinstance(error, RateLimited):
        engine.limiter.pause(delivery.channel, error.retry_after)
        return _record(engine, delivery, token, attempt, D.RETRY_WAIT, outcome="rate_limited", detail=detail,
                       retry_in=error.retry_after + random.uniform(0, 1), duration=duration)
    kind = "lookup_failed" if isinstance(error, _LookupFailed) else "transient"  # the former stays ambiguous
    failures = _recent_failures(engine, delivery) + 1
    if failures >= queue.max_attempts:
        return _record(engine, delivery, token, attempt, D.DEAD, outcome=kind,
                       detail=f"gave up after {failures} failed tries: {detail}", duration=duration)
    backoff = min(queue.retry_cap * 4, queue.retry_base * 2 ** (failures - 1))
    retry_in = random.uniform(backoff / 2, backoff)  # jitter: workers that failed together retry apart
    return _record(engine, delivery, token, attempt, D.RETRY_WAIT, outcome=kind, detail=detail,
                   retry_in=retry_in, duration=duration)


def _recent_failures(engine: Engine, delivery: Delivery) -> int:
    """Transient failures since the last replay or other answer; waits for a rate limit are not failures."""
    with session_scope(engine.db) as session:
        outcomes = session.exec(select(Attempt.outcome).where(Attempt.delivery_id == delivery.id)
                                .order_by(Attempt.id.desc()).limit(100)).all()
    count = 0
    for outcome in outcomes[1:]:  # [0] is this try, still "sending"
        if outcome in FAILURES:
            count += 1
        elif outcome != "deferred":
            break
    return count


def _record(engine: Engine, delivery: Delivery, token: str, attempt: Attempt, status: D, *, outcome: str,
            detail: str = "", receipt: Receipt | None = None, retry_in: float | None = None,
            duration: float | None = None) -> Outcome:
    """Write the result; retried as a write only (never the channel call) if the database hiccups."""
    for pause in (0.2, 1.0, 3.0, None):
        try:
            with session_scope(engine.db) as session:
                row = session.exec(select(Delivery).where(Delivery.id == delivery.id)
                                   .execution_options(populate_existing=True)).one()
                if row.claim_token != token or row.status != D.SENDING:
                    log.warning("delivery %s: lost its claim before recording %s", delivery.id, status)
                    return Outcome(delivery.id, "lost-claim")
                _finish(session, row, token, status, outcome=outcome, detail=detail, receipt=receipt,
                        attempt_id=attempt.id, duration=duration, now=engine.clock(), retry_in=retry_in)
                if status == D.PUBLISHED:
                    entry = _write_ledger(session, row, engine.clock())
                    record_event(session, actor=SYSTEM, action="publish", subject=f"delivery:{row.id}",
                                 details={"item": row.item_id, "revision": row.revision, "channel": row.channel,
                                          "remote_id": row.remote_id, "ledger": ledger_refs([entry])},
                                 now=engine.clock())
            break
        except sa.exc.OperationalError:
            if pause is None:
                raise
            time.sleep(pause)
    return Outcome(delivery.id, str(status), retry_in=retry_in, detail=detail)


def _finish(session: Session, row: Delivery, token: str, status: D, *, outcome: str, detail: str = "",
            receipt: Receipt | None = None, attempt_id: int | None = None, duration: float | None = None,
            now: datetime | None = None, retry_in: float | None = None) -> None:
    now = now or utcnow()
    move_delivery(row, status)
    row.claim_token, row.lease_until = None, None
    row.last_error = None if status == D.PUBLISHED else detail[:2000]
    if receipt is not None:
        row.remote_id, row.url = receipt.remote_id, receipt.url
    if retry_in is not None:
        row.next_attempt_at = now + timedelta(seconds=retry_in)
    session.add(row)
    attempt = session.get(Attempt, attempt_id) if attempt_id else None
    if attempt is None:
        attempt = Attempt(delivery_id=row.id, number=row.attempts, outcome=outcome)
    attempt.outcome, attempt.finished_at, attempt.detail = outcome, now, detail[:2000]
    attempt.duration_ms = int(duration * 1000) if duration is not None else None
    session.add(attempt)


def _write_ledger(session: Session, delivery: Delivery, now: datetime) -> LedgerEntry:
    item = session.get(Item, delivery.item_id)
    revision = session.exec(select(Revision).where(Revision.item_id == item.id,
                                                   Revision.number == delivery.revision)).one()
    local = now.astimezone(SHANGHAI)
    entry = LedgerEntry(
        agency_id=item.agency_id, item_id=item.id, revision=delivery.revision, delivery_id=delivery.id,
        entry_type=EntryType.PUBLICATION, channel=delivery.channel, category=revision.category,
        kind=revision.kind, index_no=item.index_no, title=revision.title, published_at=now,
        local_date=local.date(), year=local.year,
    )
    session.add(entry)
    session.flush()
    return entry


def _stale(session: Session, delivery: Delivery) -> str:
    """Why this delivery must not go out (re-checked at send time, whatever the message said), or ''."""
    item = session.get(Item, delivery.item_id)
    if item is None:
        return "no such item"
    if item.status == ItemStatus.WITHDRAWN:
        return f"item {item.id} was withdrawn"
    if item.approved_revision is None or delivery.revision > item.approved_revision:
        return f"revision {delivery.revision} of item {item.id} is not approved"
    if delivery.revision < item.approved_revision:
        return f"revision {delivery.revision} of item {item.id} was superseded"
    return ""


def _ambiguous(session: Session, delivery: Delivery) -> bool:
    """May an earlier try have reached the channel unanswered? Until a later try settles it, yes: a worker
    that died mid-call, an unknown outcome, or a lookup that failed. Deferrals and replays settle nothing."""
    outcomes = session.exec(select(Attempt.outcome).where(Attempt.delivery_id == delivery.id)
                            .order_by(Attempt.id.desc()).limit(100)).all()
    settled = next((o for o in outcomes if o not in ("deferred", "replay")), None)
    return settled in AMBIGUOUS


def _channel_off(settings: Settings, delivery: Delivery) -> str:
    config = settings.channels.get(delivery.channel)
    if config is None:
        return f"channel {delivery.channel} is no longer configured; configure it and gongkai retry"
    if not config.enabled:
        return f"channel {delivery.channel} is disabled; enable it and gongkai retry"
    return ""


def due_deliveries(session: Session, *, now: datetime, grace: float, limit: int = 1000) -> list[int]:
    """Deliveries that should be in flight but may not be: due and not enqueued lately, or past their lease."""
    recent = now - timedelta(seconds=grace)
    query = select(Delivery.id).where(sa.or_(
        sa.and_(Delivery.status.in_(RETRYABLE), Delivery.next_attempt_at <= now,
                sa.or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < recent)),
        sa.and_(Delivery.status == D.SENDING, Delivery.lease_until < now),
    )).order_by(Delivery.next_attempt_at).limit(limit)
    return list(session.exec(query).all())


def mark_enqueued(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=now))


def replay_delivery(session: Session, *, delivery_id: int, now: datetime, actor: str = SYSTEM) -> Delivery:
    """gongkai retry: a dead or unknown delivery becomes due again (a new attempt on record)."""
    row = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.status not in (D.DEAD, D.UNKNOWN):
        raise WorkflowRefused(f"delivery {delivery_id} is {row.status}; only dead or unknown deliveries are retried")
    move_delivery(row, D.PENDING)
    row.next_attempt_at, row.enqueued_at = now, None
    session.add(row)
    session.add(Attempt(delivery_id=row.id, number=row.attempts, outcome="replay", finished_at=now,
                        detail="replayed with gongkai retry"))
    record_event(session, actor=actor, action="retry", subject=f"delivery:{row.id}",
                 details={"item": row.item_id, "channel": row.channel, "last_error": row.last_error}, now=now)
    return row
