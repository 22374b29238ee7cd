"""Claims and records: the delivery engine's side of the database, a batch of requests in one transaction.

A worker's threads ask to claim the deliveries they are about to send (a ClaimRequest) or to record the results
of those they have sent (a RecordRequest); the group commit (grouping.py) gathers the requests made while a
transaction runs, and commit_batch() does them all in the next one: the claims first (each due delivery taken
under a lease and a claim token, its attempt opened and its message rendered), then the records (written only
where their claim still holds the delivery, with a ledger entry and an audit event per publication). Nothing
here talks to a channel. The rules are numbered in docs/group-commit.md.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import Message, Receipt
from pipeline.core.clock import SHANGHAI
from pipeline.core.config import Settings
from pipeline.core.models import (
    Agency,
    Attempt,
    AttemptOutcome,
    ChannelState,
    Delivery,
    EntryType,
    Item,
    ItemStatus,
    Revision,
)
from pipeline.core.models import DeliveryStatus as D
from pipeline.core.states import may_move_delivery
from pipeline.items.compose import build_message, interpretations
from pipeline.records.audit import SYSTEM, Action, record_events
from pipeline.records.ledger import insert_ledger_entries

log = logging.getLogger("gongkai.delivery")
RETRYABLE = (D.PENDING, D.RETRY_WAIT)
DUE = (*RETRYABLE, D.UNKNOWN)  # claimed once next_attempt_at has come (an unknown outcome: to be looked up)
A = AttemptOutcome
AMBIGUOUS = (A.SENDING, A.UNKNOWN, A.LOOKUP_FAILED)  # attempt outcomes after which the channel may have it
LOST_CLAIM, SKIPPED, ERROR = "lost-claim", "skipped", "error"  # an Outcome's status when no result was written
SETTLES_NOTHING = (A.DEFERRED, A.REPLAY)  # attempts that neither raise nor settle a doubt


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: its status, or LOST_CLAIM, SKIPPED or ERROR; retry_in says when to try again
    (None: nothing more to do now)."""

    delivery_id: int
    status: str
    retry_in: float | None = None
    detail: str = ""


@dataclass
class Job:
    """One claimed delivery of a batch, with what was read for it while the claim's transaction was open."""

    delivery: Delivery
    token: str                # its claim's (the row's own is cleared once a result is recorded)
    attempt_id: int
    in_doubt: bool            # an earlier try may have reached the channel unanswered
    stale_reason: str         # why it must not go out now: withdrawn, superseded ('' if it may)
    channel_unavailable: str  # why its channel cannot be used now: removed, disabled ('' if it can)
    item: Item | None
    revision: Revision | None
    message: Message | None = None
    render_error: str = ""
    withdrawn: bool = False  # the item, as read when the publication was recorded
    channel_paused: str = ""  # why its channel is paused after a failed check ('' if it is not): it waits


@dataclass(frozen=True)
class Result:
    """What a try came to, before it is recorded."""

    job: Job
    status: D
    outcome: AttemptOutcome
    detail: str = ""
    receipt: Receipt | None = None
    retry_in: float | None = None
    duration: float | None = None
    action: str = ""  # what a person must do (the delivery is then not due again by itself)


@dataclass(frozen=True, eq=False)
class ClaimRequest:
    """A thread's batch of delivery ids to claim; its future gets the claimed jobs, in id order."""

    ids: tuple[int, ...]
    future: Future[list[Job]] = field(default_factory=Future, repr=False)


@dataclass(frozen=True, eq=False)
class RecordRequest:
    """A batch's results to record; its future gets one outcome per result, in order. The callback, if any, is
    called with the done future once the transaction has ended (docs/group-commit.md, invariant 6)."""

    results: tuple[Result, ...]
    callback: Callable[[Future[list[Outcome]]], None] | None = None
    future: Future[list[Outcome]] = field(default_factory=Future, repr=False)


Request = ClaimRequest | RecordRequest


@dataclass(frozen=True)
class Committed:
    """What one transaction answered, by request."""

    jobs: dict[ClaimRequest, list[Job]]
    outcomes: dict[RecordRequest, list[Outcome]]


def claim(session: Session, delivery_id: int, *, token: str, now: datetime, lease: float) -> Delivery | None:
    """One delivery: ours if due and not held by anyone (or held past its lease), else None."""
    return next(iter(claim_many(session, [delivery_id], token=token, now=now, lease=lease)), None)


# The statements of every batch, built once with bind parameters (SQLAlchemy then also keeps their cache keys):
# building them anew for each batch cost a worker more than sending a webhook did.
_CLAIM = (
    sa.update(Delivery)
    .where(Delivery.id.in_(sa.bindparam("ids", expanding=True)),
           sa.or_(sa.and_(Delivery.status.in_([str(s) for s in DUE]),
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


def commit_batch(db: sa.Engine, settings: Settings, clock: Callable[[], datetime],
                 batch: Sequence[Request]) -> Committed:
    """A batch's one transaction: the deliveries some threads are about to send are claimed and rendered, then the
    results other threads have sent are written (so the audit chain's lock is held only from there to the
    commit). A delivery whose result is in the batch is not claimed in it (a message the sweep sent again while
    its lease ran out): the result counts, and a retry is the sweep's again. Nothing done in the transaction has
    reached a channel, so a database hiccup reruns all of it; a failed COMMIT is not rerun, since the server may
    have applied it: the claims and the results then wait for their leases, as after a worker's death."""
    claims = [r for r in batch if isinstance(r, ClaimRequest)]
    records = [r for r in batch if isinstance(r, RecordRequest)]
    results = [result for request in records for result in request.results]
    recording = {result.job.delivery.id for result in results}
    wanted = [[i for i in request.ids if i not in recording] for request in claims]
    for pause in (0.2, 1.0, 3.0, None):
        with Session(db, expire_on_commit=False) as session:
            try:
                jobs = _claim_in(session, settings, clock(), wanted)
                outcomes = iter(_write_results(session, clock(), results))
            except sa.exc.OperationalError:
                session.rollback()
                if pause is None:
                    raise
                time.sleep(pause)
                continue
            session.commit()
            break
    return Committed(jobs=dict(zip(claims, jobs, strict=True)),
                     outcomes={request: [next(outcomes) for _ in request.results] for request in records})


def _claim_in(session: Session, settings: Settings, now: datetime, requests: list[list[int]]) -> list[list[Job]]:
    """Claim and prepare several batches under one claim token; each gets its jobs in id order (an id in two
    batches at once, a duplicate message, goes to the first)."""
    wanted = list(dict.fromkeys(i for ids in requests for i in ids))
    if not wanted:
        return [[] for _ in requests]
    claimed = claim_many(session, wanted, token=uuid.uuid4().hex, now=now, lease=settings.queue.lease_seconds)
    _log_unclaimable(session, sorted(set(wanted) - {row.id for row in claimed}))
    jobs = {job.delivery.id: job for job in (_prepare(session, settings, claimed) if claimed else [])}
    return [[jobs.pop(i) for i in sorted(ids) if i in jobs] for ids in requests]


_DELIVERY, _ATTEMPT = Delivery.__table__, Attempt.__table__
_OPEN_ATTEMPTS = (  # one statement for the batch's attempts, whatever its size: the rows just claimed, as claimed
    sa.insert(_ATTEMPT).from_select(
        ["delivery_id", "number", "outcome", "started_at", "detail"],
        select(Delivery.id, Delivery.attempts, sa.literal(str(A.SENDING)), Delivery.updated_at, sa.literal(""))
        .where(Delivery.id.in_(sa.bindparam("ids", expanding=True)), Delivery.claim_token == sa.bindparam("token")))
    .returning(_ATTEMPT.c.delivery_id, _ATTEMPT.c.id)
)


def _prepare(session: Session, settings: Settings, claimed: list[Delivery]) -> list[Job]:
    """Everything the sends need, read at once for the batch: what is in doubt, items, revisions, attempts,
    messages."""
    first_tries = all(row.attempts == 1 for row in claimed)  # never claimed before: nothing can be in doubt
    in_doubt = set() if first_tries else _in_doubt(session, [row.id for row in claimed])
    pairs = {(row.item_id, row.revision) for row in claimed}
    items: dict[int, Item] = {}
    revisions: dict[tuple[int, int], Revision] = {}
    rows = session.execute(_ROWS, {"pairs": sorted(pairs), "item_ids": sorted({item_id for item_id, _ in pairs})})
    for item, revision, _agency in rows:
        items[item.id] = item
        if revision is not None:
            revisions[(revision.item_id, revision.number)] = revision
    opened = dict(session.execute(_OPEN_ATTEMPTS, {"ids": [row.id for row in claimed],
                                                   "token": claimed[0].claim_token}).all())
    paused = paused_channels(session, {row.channel for row in claimed})
    jobs = [Job(row, row.claim_token, opened[row.id], row.id in in_doubt, _stale_reason(items.get(row.item_id), row),
                _channel_unavailable(settings, row), items.get(row.item_id),
                revisions.get((row.item_id, row.revision))) for row in claimed]
    for job in jobs:
        job.channel_paused = paused.get(job.delivery.channel, "")
    sent = [job for job in jobs if not job.channel_unavailable and (job.in_doubt or not job.stale_reason)]
    # looked up only for the items whose messages are rendered (none when every job is refused)
    links = interpretations(session, settings, list({j.item.id: j.item for j in sent if j.item}.values()))
    views = {}
    for job in sent:
        try:
            job.message = build_message(session, settings, job.delivery, rows=(job.item, job.revision),
                                        views=views, interpreted_by=links)
        except sa.exc.DBAPIError:  # the database, not the template: the claims roll back, the sweep retries
            raise
        except Exception as e:  # a template or data bug: retrying cannot help, a person must look
            log.exception("delivery %s could not be rendered", job.delivery.id)
            job.render_error = f"rendering failed: {e!r}"
    return jobs


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


_RESULT_COLUMNS = ("status", "last_error", "remote_id", "url", "next_attempt_at", "manual_action")  # a result's
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
        if r.status == D.UNKNOWN and r.outcome not in AMBIGUOUS:  # the next claim must know it is in doubt
            raise RuntimeError(f"delivery {r.job.delivery.id}: unknown after a {r.outcome} attempt")
    held = {row.id: row for row in session.execute(_HELD, {"ids": sorted({r.job.delivery.id for r in results})})}
    kept, outcomes = [], []
    for r in results:
        row = held.get(r.job.delivery.id)
        if row is not None and row.claim_token == r.job.token:
            kept.append(r)
            outcomes.append(Outcome(r.job.delivery.id, str(r.status), retry_in=r.retry_in, detail=r.detail))
        else:
            log.warning("delivery %s: lost its claim before its result was recorded", r.job.delivery.id)
            outcomes.append(Outcome(r.job.delivery.id, LOST_CLAIM))
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
        remote_id = receipt.remote_id or None
        if r.retry_in is not None:
            due = now + timedelta(seconds=r.retry_in)
        else:  # an unknown outcome without a time to look again is a person's to settle: not due by itself
            due = None if r.status == D.UNKNOWN else d.next_attempt_at
        values = (str(r.status), None if r.status == D.PUBLISHED else r.detail[:2000], remote_id, receipt.url, due,
                  r.action[:2000] or None)
        changes.append({"b_id": d.id, "b_token": r.job.token, "b_now": now,
                        **{f"b_{name}": value for name, value in zip(_RESULT_COLUMNS, values, strict=True)}})
        r.job.withdrawn = held[d.id].status == ItemStatus.WITHDRAWN  # withdrawn while it was being sent?
        if r.status == D.PUBLISHED:
            published.append((r.job, remote_id))
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


def _stale_reason(item: Item | None, delivery: Delivery) -> str:
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


def paused_channels(session: Session, names: set[str]) -> dict[str, str]:
    """Of these channels, those paused after a failed check (pipeline/engine/health.py), and why."""
    rows = session.exec(select(ChannelState.name, ChannelState.reason)
                        .where(ChannelState.paused, ChannelState.name.in_(sorted(names)))).all()
    return dict(rows)


def _in_doubt(session: Session, ids: list[int]) -> set[int]:
    """Those of `ids` an earlier try of which may have reached the channel unanswered, until a later try
    settled it: a worker that died mid-call, an unknown outcome, or a lookup that failed. Deferrals and
    replays settle nothing. Read before this try's attempt is written."""
    latest = (select(Attempt.delivery_id, sa.func.max(Attempt.id).label("last"))
              .where(Attempt.delivery_id.in_(ids), Attempt.outcome.not_in(SETTLES_NOTHING))
              .group_by(Attempt.delivery_id).subquery())
    query = select(Attempt.delivery_id).join(latest, Attempt.id == latest.c.last).where(Attempt.outcome.in_(AMBIGUOUS))
    return set(session.scalars(query))


def _channel_unavailable(settings: Settings, delivery: Delivery) -> str:
    config = settings.channels.get(delivery.channel)
    if config is None:
        return f"channel {delivery.channel} is no longer configured; configure it and gongkai retry"
    if not config.enabled:
        return f"channel {delivery.channel} is disabled; enable it and gongkai retry"
    return ""


