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
from dataclasses import dataclass, field
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
from pipeline.audit import SYSTEM, Action, insert_ledger_entries, record_event, record_events
from pipeline.compose import build_message, interpretations, interpreted_delivery
from pipeline.config import Settings
from pipeline.db import reserve_ids, session_scope
from pipeline.errors import NotFound, WorkflowRefused
from pipeline.grouping import Group
from pipeline.itemfile import SHANGHAI
from pipeline.models import Agency, Attempt, Delivery, EntryType, Item, ItemStatus, Revision, utcnow
from pipeline.models import DeliveryStatus as D
from pipeline.ratelimit import RateLimiter
from pipeline.render import render_template
from pipeline.states import may_move_delivery, move_delivery
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
    """Everything deliver_one needs, built once per worker process. Its threads' claims and records are
    group-committed (pipeline/grouping.py): under load, one transaction claims and records for many messages."""

    db: sa.Engine
    settings: Settings
    channels: ChannelSet
    limiter: RateLimiter
    clock: Callable[[], datetime] = utcnow
    books: Group[Ask, list[Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.books = Group(lambda asks: _keep_books(self, asks), shared=_outage)

    @classmethod
    def build(cls, settings: Settings, db: sa.Engine) -> Engine:
        """The engine of this process: adapters, shared rate limits and the WeChat token store in Redis."""
        url = settings.queue.shared_redis_url
        client = redis.Redis.from_url(url) if url else None
        limits = {name: config.rate_limit for name, config in settings.channels.items() if config.rate_limit}
        return cls(db=db, settings=settings, channels=ChannelSet(settings, redis_client=client),
                   limiter=RateLimiter(limits, redis_url=url))


def claim(session: Session, delivery_id: int, *, token: str, now: datetime, lease: float) -> Delivery | None:
    """One delivery: ours if due and not held by anyone (or held past its lease), else None."""
    return next(iter(claim_many(session, [delivery_id], token=token, now=now, lease=lease)), None)


# The statements of every batch, built once with bind parameters (SQLAlchemy then also keeps their cache keys):
# building them anew for each batch cost a worker more than sending a webhook did.
_CLAIM = (
    sa.update(Delivery)
    .where(Delivery.id.in_(sa.bindparam("ids", expanding=True)),
           sa.or_(sa.and_(Delivery.status.in_([str(s) for s in RETRYABLE]),
                          Delivery.next_attempt_at <= sa.bindparam("now")),
                  sa.and_(Delivery.status == str(D.SENDING), Delivery.lease_until < sa.bindparam("now"))))
    .values(status=str(D.SENDING), attempts=Delivery.attempts + 1, claim_token=sa.bindparam("token"),
            lease_until=sa.bindparam("lease_until"), updated_at=sa.bindparam("now"))
    .returning(Delivery)
    .execution_options(synchronize_session=False)
)
_ROWS = (  # the agency comes along into the session, where rendering finds it
    select(Item, Revision, Agency).join(Agency, Agency.id == Item.agency_id)
    .outerjoin(Revision, sa.and_(Revision.item_id == Item.id, sa.tuple_(Revision.item_id, Revision.number).in_(
        sa.bindparam("pairs", expanding=True))))
    .where(Item.id.in_(sa.bindparam("item_ids", expanding=True)))
)


def claim_many(session: Session, ids: list[int], *, token: str, now: datetime, lease: float) -> list[Delivery]:
    """One conditional UPDATE ... RETURNING for a batch: those due and not held (or held past their lease)."""
    claimed = session.scalars(_CLAIM, {"ids": ids, "now": now, "token": token,
                                       "lease_until": now + timedelta(seconds=lease)})
    return sorted(claimed, key=lambda row: row.id)


@dataclass
class Job:
    """One claimed delivery of a batch, with what was read for it while the claim's transaction was open."""

    delivery: Delivery
    token: str             # its claim's (the row's own is cleared once a result is recorded)
    attempt_id: int
    doubt: bool            # an earlier try may have reached the channel unanswered
    refusal: str           # why it must not go out now ('' if it may)
    off: str               # why its channel cannot be used now ('' if it can)
    item: Item | None
    revision: Revision | None
    message: Message | None = None
    render_error: str = ""
    withdrawn: bool = False  # the item, as read when the publication was recorded


@dataclass(frozen=True)
class Result:
    """What a try came to, before it is recorded."""

    job: Job
    status: D
    outcome: str
    detail: str = ""
    receipt: Receipt | None = None
    retry_in: float | None = None
    duration: float | None = None


def deliver_one(engine: Engine, delivery_id: int) -> Outcome:
    return deliver_batch(engine, [delivery_id])[0]


def deliver_batch(engine: Engine, delivery_ids: list[int]) -> list[Outcome]:
    """Claim -> (look up if an earlier try may have landed) -> send -> record, for a batch (a revision's
    channels, or a chunk of what the sweep found). Claims and records are one transaction each for the batch
    (and for the batches other threads of the process claim or record meanwhile); each send happens with no
    transaction open and is never a blind re-send. One outcome per id, in order."""
    ids = list(dict.fromkeys(delivery_ids))
    jobs = claim_batch(engine, ids)
    results, error = [], None
    for job in jobs:
        try:
            results.append(_try(engine, job))
        except Exception as e:  # a bug or an outage outside the channel's typed errors: stop the batch, but
            error = e           # record what was done; the rest stay claimed until their lease, then in doubt
            break
    outcomes = {o.delivery_id: o for o in (record_batch(engine, results) if results else [])}
    for result in results:
        if outcomes[result.job.delivery.id].status == D.PUBLISHED:
            _after_publication(engine, result.job)
    if error is not None:
        raise error
    return [outcomes.get(i) or Outcome(i, "skipped") for i in ids]


def _outage(error: BaseException) -> bool:
    """The database could not be reached or answer: a group's every request fails alike, none is run alone."""
    return isinstance(error, sa.exc.OperationalError)


@dataclass(frozen=True)
class Ask:
    """One thread's part of a group commit: its batch to claim, or its batch's results to record."""

    claim: tuple[int, ...] = ()
    record: tuple[Result, ...] = ()


def claim_batch(engine: Engine, ids: list[int]) -> list[Job]:
    """The batch's claimed deliveries, in id order, with their messages rendered (with the other threads' asks)."""
    return engine.books(Ask(claim=tuple(ids)))


def record_batch(engine: Engine, results: list[Result]) -> list[Outcome]:
    """The batch's results written, one outcome each, in order (with the other threads' asks)."""
    return engine.books(Ask(record=tuple(results)))


def _keep_books(engine: Engine, asks: list[Ask]) -> list[list[Any]]:
    """A group's one transaction: the batches some threads are about to send are claimed and rendered, then the
    results other threads have sent are written (so the audit chain's lock is held only from there to the
    commit). Nothing done in it has reached a channel, so a database hiccup reruns all of it; the sends stay out."""
    claims = [list(ask.claim) for ask in asks if ask.claim]
    results = [result for ask in asks for result in ask.record]
    for pause in (0.2, 1.0, 3.0, None):
        try:
            with session_scope(engine.db) as session:
                jobs = _claim_in(session, engine, claims) if claims else []
                outcomes = _write_results(session, engine.clock(), results)
            break
        except sa.exc.OperationalError:
            if pause is None:
                raise
            time.sleep(pause)
    claimed, written = iter(jobs), iter(outcomes)
    return [next(claimed) if ask.claim else [next(written) for _ in ask.record] for ask in asks]


def _claim_in(session: Session, engine: Engine, requests: list[list[int]]) -> list[list[Job]]:
    """Claim and prepare several batches under one claim token; each gets its jobs in id order (an id in two
    batches at once, a duplicate message, goes to the first)."""
    wanted = list(dict.fromkeys(i for ids in requests for i in ids))
    claimed = claim_many(session, wanted, token=uuid.uuid4().hex, now=engine.clock(),
                         lease=engine.settings.queue.lease_seconds)
    _log_unclaimable(session, sorted(set(wanted) - {row.id for row in claimed}))
    jobs = {job.delivery.id: job for job in (_prepare(session, engine, claimed) if claimed else [])}
    return [[jobs.pop(i) for i in sorted(ids) if i in jobs] for ids in requests]


def _prepare(session: Session, engine: Engine, claimed: list[Delivery]) -> list[Job]:
    """Everything the sends need, read at once for the batch: doubts, items, revisions, attempts, messages."""
    first_tries = all(row.attempts == 1 for row in claimed)  # never claimed before: nothing can be in doubt
    doubts = set() if first_tries else _doubtful(session, [row.id for row in claimed])
    pairs = {(row.item_id, row.revision) for row in claimed}
    items: dict[int, Item] = {}
    revisions: dict[tuple[int, int], Revision] = {}
    rows = session.execute(_ROWS, {"pairs": sorted(pairs), "item_ids": sorted({item_id for item_id, _ in pairs})})
    for item, revision, _agency in rows:
        items[item.id] = item
        if revision is not None:
            revisions[(revision.item_id, revision.number)] = revision
    attempt_ids = reserve_ids(session, Attempt.__table__, len(claimed))
    session.execute(sa.insert(Attempt.__table__), [
        {"id": attempt_id, "delivery_id": row.id, "number": row.attempts, "outcome": "sending",
         "started_at": row.updated_at, "detail": ""} for row, attempt_id in zip(claimed, attempt_ids, strict=True)])
    jobs = [Job(row, row.claim_token, attempt_id, row.id in doubts, _stale(items.get(row.item_id), row),
                _channel_off(engine.settings, row), items.get(row.item_id), revisions.get((row.item_id, row.revision)))
            for row, attempt_id in zip(claimed, attempt_ids, strict=True)]
    sent = [job for job in jobs if not job.off and (job.doubt or not job.refusal)]
    # looked up only for the items whose messages are rendered (none when every job is refused)
    links = interpretations(session, engine.settings, list({j.item.id: j.item for j in sent if j.item}.values()))
    views = {}
    for job in sent:
        try:
            job.message = build_message(session, engine.settings, job.delivery, rows=(job.item, job.revision),
                                        views=views, interpreted_by=links)
        except sa.exc.DBAPIError:  # the database, not the template: the claims roll back, the sweep retries
            raise
        except Exception as e:  # a template or data bug: retrying cannot help, a person must look
            log.exception("delivery %s could not be rendered", job.delivery.id)
            job.render_error = f"rendering failed: {e!r}"
    return jobs


def _try(engine: Engine, job: Job) -> Result:
    """One delivery's try; every path ends in a Result (recorded with the rest of the batch)."""
    delivery = job.delivery
    if job.off or (job.refusal and not job.doubt):
        status, detail = (D.UNKNOWN if job.doubt else D.DEAD, job.off) if job.off else (D.CANCELLED, job.refusal)
        log.warning("delivery %s not sent: %s", delivery.id, detail)
        return Result(job, status, "refused", detail)
    if job.message is None:
        return Result(job, D.DEAD, "permanent", job.render_error)
    adapter = engine.channels.get(delivery.channel)
    if job.refusal:  # withdrawn or superseded, but an earlier try may have reached the channel: ask it
        return _settle(adapter, job)
    if delivery.lease_until - engine.clock() < timedelta(seconds=engine.settings.queue.lease_seconds / 2):
        # the sends before it in the batch used half its lease: the call might outlast it and another worker
        # take the delivery over, so it is not started
        return Result(job, D.RETRY_WAIT, "deferred", "its lease ran out while the batch was being sent", retry_in=0)
    wait = engine.limiter.acquire(delivery.channel)
    if 0 < wait <= 1.0:  # a short wait is held in the thread; then the slot is asked for again, never assumed
        time.sleep(wait)
        wait = engine.limiter.acquire(delivery.channel)
    if wait > 0:  # a long wait is not held in a worker thread: back to the queue, due when the limit allows
        return Result(job, D.RETRY_WAIT, "deferred", f"rate limit: wait {wait:.1f}s", retry_in=wait)
    started = time.monotonic()
    try:
        receipt = _send(adapter, job.message, look_first=job.doubt)
    except ChannelError as error:
        return _failed(engine, job, error, time.monotonic() - started)
    return Result(job, D.PUBLISHED, "published", receipt=receipt, duration=time.monotonic() - started)


def _settle(adapter: Channel, job: Job) -> Result:
    """A stale delivery whose earlier try may have landed: published if the channel has it (then taken down
    if withdrawn), else cancelled; unknown if the channel cannot be asked now."""
    if getattr(adapter, "resend_is_idempotent", False) and not adapter.supports_lookup:
        # sending again is how such a channel is asked, and a stale item must not be sent: a person decides
        return Result(job, D.UNKNOWN, "unknown",
                      f"{job.refusal}, and the receiver may have it from an earlier try: ask its operator")
    try:
        found = _look_up(adapter, job.message)
    except ChannelError as e:
        return Result(job, D.UNKNOWN, "unknown", f"{job.refusal}, and an earlier try may have published it: "
                                                 f"{e.message}")
    if found is None:
        return Result(job, D.CANCELLED, "refused", job.refusal)
    return Result(job, D.PUBLISHED, "published", receipt=found)


def _log_unclaimable(session: Session, ids: list[int]) -> None:
    """Messages that found nothing to claim: normal for a duplicate; worth a warning for a cancelled delivery."""
    if not ids:
        return
    found = {row.id: row for row in session.execute(
        select(Delivery.id, Delivery.status, Delivery.last_error).where(Delivery.id.in_(ids)))}
    for delivery_id in ids:
        row = found.get(delivery_id)
        if row is None:
            log.warning("message for delivery %s ignored: no such delivery", delivery_id)
        elif row.status == D.CANCELLED:
            log.warning("message for delivery %s ignored: cancelled (%s)", delivery_id, row.last_error)


def _after_publication(engine: Engine, job: Job) -> None:
    """Withdrawn while it was being sent: take it down now. A 政策解读 on a static site: link it back."""
    delivery = job.delivery
    try:
        adapter = engine.channels.get(delivery.channel)
        if job.withdrawn:  # taken down as recorded (job.delivery is the row as it was claimed)
            with session_scope(engine.db) as session:
                recorded = session.get(Delivery, delivery.id)
            take_down_one(engine, recorded)
        elif getattr(adapter, "index_templates", None) and job.revision is not None and job.revision.interprets:
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


def _failed(engine: Engine, job: Job, error: ChannelError, duration: float) -> Result:
    queue = engine.settings.queue
    detail = f"{error.message}{' | ' + error.detail if error.detail else ''}"
    if isinstance(error, OutcomeUnknown):
        return Result(job, D.UNKNOWN, "unknown", detail, duration=duration)
    if isinstance(error, PermanentChannelError):
        return Result(job, D.DEAD, "permanent", detail, duration=duration)
    if isinstance(error, RateLimited):
        engine.limiter.pause(job.delivery.channel, error.retry_after)
        return Result(job, D.RETRY_WAIT, "rate_limited", detail, retry_in=error.retry_after + random.uniform(0, 1),
                      duration=duration)
    kind = "lookup_failed" if isinstance(error, _LookupFailed) else "transient"  # the former stays ambiguous
    failures = _recent_failures(engine, job) + 1
    if failures >= queue.max_attempts:
        return Result(job, D.DEAD, kind, f"gave up after {failures} failed tries: {detail}", duration=duration)
    backoff = min(queue.retry_cap * 4, queue.retry_base * 2 ** (failures - 1))
    retry_in = random.uniform(backoff / 2, backoff)  # jitter: workers that failed together retry apart
    return Result(job, D.RETRY_WAIT, kind, detail, retry_in=retry_in, duration=duration)


def _recent_failures(engine: Engine, job: Job) -> int:
    """Transient failures since the last replay or other answer; waits for a rate limit are not failures."""
    with session_scope(engine.db) as session:
        outcomes = session.exec(select(Attempt.outcome).where(Attempt.delivery_id == job.delivery.id,
                                                              Attempt.id < job.attempt_id)
                                .order_by(Attempt.id.desc()).limit(100)).all()
    count = 0
    for outcome in outcomes:
        if outcome in FAILURES:
            count += 1
        elif outcome != "deferred":
            break
    return count


_DELIVERY, _ATTEMPT = Delivery.__table__, Attempt.__table__
_RESULT_COLUMNS = ("status", "last_error", "remote_id", "url", "next_attempt_at")  # what a try's result sets
_SET_RESULT = sa.update(_DELIVERY).where(  # the claim and status were checked under a row lock: a second guard
    _DELIVERY.c.id == sa.bindparam("b_id"), _DELIVERY.c.claim_token == sa.bindparam("b_token"),
    _DELIVERY.c.status == str(D.SENDING)).values(
    {**{name: sa.bindparam(f"b_{name}") for name in _RESULT_COLUMNS},
     "claim_token": None, "lease_until": None, "updated_at": sa.bindparam("b_now")})
_HELD = (  # the rows still being sent, locked until commit, with their claims and each item's status now
    select(_DELIVERY.c.id, _DELIVERY.c.claim_token, Item.__table__.c.status)
    .join(Item.__table__, Item.__table__.c.id == _DELIVERY.c.item_id)
    .where(_DELIVERY.c.id.in_(sa.bindparam("ids", expanding=True)), _DELIVERY.c.status == str(D.SENDING))
    .order_by(_DELIVERY.c.id).with_for_update(of=_DELIVERY)
)
_FINISH_ATTEMPT = sa.update(_ATTEMPT).where(_ATTEMPT.c.id == sa.bindparam("b_id")).values(
    outcome=sa.bindparam("b_outcome"), detail=sa.bindparam("b_detail"), duration_ms=sa.bindparam("b_duration_ms"),
    finished_at=sa.bindparam("b_now"))


def _write_results(session: Session, now: datetime, results: list[Result]) -> list[Outcome]:
    """One outcome per result, in order. A result is written only if its claim still holds the delivery: two
    results of one delivery (a claim whose lease ran out while it sent, and the claim that took over) may be
    recorded together, and only the holder's counts."""
    if not results:
        return []
    for r in results:
        if not may_move_delivery(D.SENDING, r.status):
            raise RuntimeError(f"delivery {r.job.delivery.id}: sending -> {r.status} is not an allowed move")
    held = {row.id: row for row in session.execute(_HELD, {"ids": sorted({r.job.delivery.id for r in results})})}
    kept, outcomes = [], []
    for r in results:
        row = held.get(r.job.delivery.id)
        if row is not None and row.claim_token == r.job.token:
            kept.append(r)
            outcomes.append(Outcome(r.job.delivery.id, str(r.status), retry_in=r.retry_in, detail=r.detail))
        else:
            log.warning("delivery %s: lost its claim before its result was recorded", r.job.delivery.id)
            outcomes.append(Outcome(r.job.delivery.id, "lost-claim"))
    if kept:
        _write_kept(session, now, kept, held)
    return outcomes


def _write_kept(session: Session, now: datetime, kept: list[Result], held: dict[int, Any]) -> None:
    """The results whose claims hold (`held`: their rows, read under lock): deliveries, attempts, and a ledger
    entry and audit event per publication. The claimed rows in memory stay as they were claimed."""
    changes, published = [], []
    for r in kept:
        d = r.job.delivery
        receipt = r.receipt or Receipt(d.remote_id or "", d.url)
        values = (str(r.status), None if r.status == D.PUBLISHED else r.detail[:2000], receipt.remote_id or None,
                  receipt.url, now + timedelta(seconds=r.retry_in) if r.retry_in is not None else d.next_attempt_at)
        changes.append({"b_id": d.id, "b_token": r.job.token, "b_now": now,
                        **{f"b_{name}": value for name, value in zip(_RESULT_COLUMNS, values, strict=True)}})
        r.job.withdrawn = held[d.id].status == ItemStatus.WITHDRAWN  # withdrawn while it was being sent?
        if r.status == D.PUBLISHED:
            published.append((r.job, receipt.remote_id or None))
    # one short statement each, executed for every row (executemany): no SQL text that grows with the batch
    session.execute(_SET_RESULT, changes)
    session.execute(_FINISH_ATTEMPT, [
        {"b_id": r.job.attempt_id, "b_now": now, "b_outcome": r.outcome, "b_detail": r.detail[:2000],
         "b_duration_ms": int(r.duration * 1000) if r.duration is not None else None} for r in kept])
    if published:
        _write_publications(session, now, published)


def _write_publications(session: Session, now: datetime, published: list[tuple[Job, str | None]]) -> None:
    """One ledger entry and one audit event per publication (its job, and the channel's id for it)."""
    local = now.astimezone(SHANGHAI)
    refs = insert_ledger_entries(session, [
        {"agency_id": j.item.agency_id, "item_id": j.item.id, "revision": j.delivery.revision,
         "delivery_id": j.delivery.id, "entry_type": EntryType.PUBLICATION.value, "channel": j.delivery.channel,
         "category": j.revision.category, "kind": j.revision.kind, "index_no": j.item.index_no,
         "title": j.revision.title, "published_at": now, "local_date": local.date(), "year": local.year,
         "source": "pipeline", "import_key": None, "created_at": now} for j, _ in published])
    record_events(session, [
        Action(SYSTEM, "publish", f"delivery:{j.delivery.id}",
               {"item": j.item.id, "revision": j.delivery.revision, "channel": j.delivery.channel,
                "remote_id": remote_id, "ledger": [ref]})
        for (j, remote_id), ref in zip(published, refs, strict=True)], now=now)


def _stale(item: Item | None, delivery: Delivery) -> str:
    """Why this delivery must not go out (re-checked at send time, whatever the message said), or ''."""
    if item is None:
        return "no such item"
    if item.status == ItemStatus.WITHDRAWN:
        return f"item {item.id} was withdrawn"
    if item.approved_revision is None or delivery.revision > item.approved_revision:
        return f"revision {delivery.revision} of item {item.id} is not approved"
    if delivery.revision < item.approved_revision:
        return f"revision {delivery.revision} of item {item.id} was superseded"
    return ""


def _doubtful(session: Session, ids: list[int]) -> set[int]:
    """Those of `ids` an earlier try of which may have reached the channel unanswered, until a later try
    settled it: a worker that died mid-call, an unknown outcome, or a lookup that failed. Deferrals and
    replays settle nothing. Read before this try's attempt is written."""
    latest = (select(Attempt.delivery_id, sa.func.max(Attempt.id).label("last"))
              .where(Attempt.delivery_id.in_(ids), Attempt.outcome.not_in(("deferred", "replay")))
              .group_by(Attempt.delivery_id).subquery())
    query = select(Attempt.delivery_id).join(latest, Attempt.id == latest.c.last).where(Attempt.outcome.in_(AMBIGUOUS))
    return set(session.scalars(query))


def _channel_off(settings: Settings, delivery: Delivery) -> str:
    config = settings.channels.get(delivery.channel)
    if config is None:
        return f"channel {delivery.channel} is no longer configured; configure it and gongkai retry"
    if not config.enabled:
        return f"channel {delivery.channel} is disabled; enable it and gongkai retry"
    return ""


def batches(delivery_ids: list[int], size: int) -> list[list[int]]:
    """Batches of ids, in order (a message's, or a dispatcher thread's): an approval's deliveries go together."""
    return [delivery_ids[i:i + size] for i in range(0, len(delivery_ids), size)]


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
    """A hint for the sweep's grace period. Rows are locked in id order and rows another transaction holds are
    skipped: concurrent sweeps and approvals marking overlapping ids deadlocked on PostgreSQL (bench/chaos.py)."""
    if not ids:
        return
    targets = Delivery.id.in_(ids)
    if session.get_bind().dialect.name == "postgresql":
        targets = Delivery.id.in_(select(Delivery.id).where(targets).order_by(Delivery.id)
                                  .with_for_update(skip_locked=True))
    session.execute(sa.update(Delivery).where(targets).values(enqueued_at=now))


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
