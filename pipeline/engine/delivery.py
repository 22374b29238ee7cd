"""The delivery engine: claim a batch, send it with no transaction open, record the results.

Every path from an approved item to a channel goes through deliver_batch() (the in-process dispatcher's) or
hand_off_batch() (a Celery task's, which does not wait for its results to be recorded). The database is the
source of truth: a duplicate or forged message finds nothing to claim, and a publication is recorded once, with
its ledger entry, in one transaction. The claims and the records are pipeline/engine/claims.py's, group-committed with
those of the process's other threads (grouping.py, docs/group-commit.md); this module sends, asks a channel
whether it has what an earlier try may have published, and decides what a failure means.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import (
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
from pipeline.core.db import session_scope
from pipeline.core.errors import NotFound, WorkflowRefused
from pipeline.core.models import Agency, Attempt, Delivery, Item, Role
from pipeline.core.models import AttemptOutcome as A
from pipeline.core.models import DeliveryStatus as D
from pipeline.core.states import move_delivery
from pipeline.engine import health
from pipeline.engine.claims import AMBIGUOUS, DUE, SKIPPED, Job, Outcome, Result
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down_one
from pipeline.engine.verify import Sent, verify_sent
from pipeline.items.compose import build_message, interpreted_delivery
from pipeline.records.audit import record_event
from pipeline.records.authority import require
from pipeline.records.people import Actor

log = logging.getLogger("gongkai.delivery")
FAILURES = (A.TRANSIENT, A.LOOKUP_FAILED)


def deliver_one(engine: Engine, delivery_id: int) -> Outcome:
    return deliver_batch(engine, [delivery_id])[0]


def deliver_batch(engine: Engine, delivery_ids: list[int]) -> list[Outcome]:
    """Claim -> (look up if an earlier try may have landed) -> send -> record, for a batch (a revision's
    channels, or a chunk of what the sweep found). The claim is one transaction, and the record a later one,
    each shared with what the process's other threads ask meanwhile (the group commit); each send happens with
    no transaction open and is never a blind re-send. One outcome per id, in order."""
    ids = list(dict.fromkeys(delivery_ids))
    results, error = _send_batch(engine, ids)
    outcomes = _record_now(engine, results)
    if error is not None:
        raise error
    return [outcomes.get(i) or Outcome(i, SKIPPED) for i in ids]


def hand_off_batch(engine: Engine, delivery_ids: list[int], then: Callable[[list[Outcome]], None]) -> None:
    """deliver_batch() for a Celery task: the thread returns once the batch is sent, and its results are recorded
    by the group commit's next batch; then(outcomes) runs after that commit, on the group commit's callback thread.
    A worker that dies before the results commit leaves the
    deliveries sending, as one that dies mid-send does: their leases run out, and the sweep asks the channel
    before anything is sent again. A batch stopped by an error is recorded before the error is raised."""
    ids = list(dict.fromkeys(delivery_ids))
    results, error = _send_batch(engine, ids)
    if error is not None:
        then(list(_record_now(engine, results).values()))
        raise error
    if results:
        engine.group.record(results, then=lambda recorded: _handed_off(engine, results, recorded, then))


def _handed_off(engine: Engine, results: list[Result], recorded: Future[list[Outcome]],
                then: Callable[[list[Outcome]], None]) -> None:
    if (failure := recorded.exception()) is not None:
        log.error("the results of deliveries %s were not recorded (%r): they stay sending until their leases run "
                  "out, then the sweep asks the channel", [r.job.delivery.id for r in results], failure)
        return
    then(list(_recorded(engine, results, recorded.result()).values()))


def _send_batch(engine: Engine, ids: list[int]) -> tuple[list[Result], Exception | None]:
    """Claim the batch and try each claimed delivery: the results, and the error that stopped the batch if any."""
    results = []
    for job in claim_batch(engine, ids):
        try:
            results.append(_try(engine, job))
        except Exception as e:  # a bug or an outage outside the channel's typed errors: stop the batch, but
            return results, e   # record what was done; the rest stay claimed until their lease, then in doubt
    return results, None


def _record_now(engine: Engine, results: list[Result]) -> dict[int, Outcome]:
    """The results recorded (this thread waits for it), then followed up."""
    return _recorded(engine, results, record_batch(engine, results) if results else [])


def _recorded(engine: Engine, results: list[Result], outcomes: list[Outcome]) -> dict[int, Outcome]:
    """The outcomes by delivery, once recorded; a publication's follow-up done (a take-down, a link back)."""
    by_id = {o.delivery_id: o for o in outcomes}
    published = [r for r in results if by_id[r.job.delivery.id].status == D.PUBLISHED]
    # read back before the follow-ups: an interpretation's link back rewrites its document's page (the page the
    # approved revision makes now, which gongkai verify compares with), not the page this batch sent
    _verify(engine, [r for r in published if not r.job.withdrawn])
    for result in published:
        _after_publication(engine, result.job)
    return by_id


def _verify(engine: Engine, published: list[Result]) -> None:
    """Read the batch's publications back and compare them with what was sent (pipeline/engine/verify.py)."""
    sent = [Sent(r.job.delivery.id, r.job.delivery.item_id, r.job.delivery.channel, r.job.message, r.receipt)
            for r in published if r.job.message is not None and r.receipt is not None]
    if not sent:
        return
    try:
        verify_sent(engine, sent)
    except Exception:  # the publications are recorded; reading them back must not turn them into errors
        log.exception("deliveries %s: reading the publications back failed", [s.delivery_id for s in sent])


def claim_batch(engine: Engine, ids: list[int]) -> list[Job]:
    """The batch's claimed deliveries, in id order, with their messages rendered (with the other threads'
    requests)."""
    return engine.group.claim(ids)


def record_batch(engine: Engine, results: list[Result]) -> list[Outcome]:
    """The batch's results written, one outcome each, in order (with the other threads' requests)."""
    return engine.group.record(results).result()


def _try(engine: Engine, job: Job) -> Result:
    """One delivery's try; every path ends in a Result (recorded with the rest of the batch)."""
    delivery = job.delivery
    if job.channel_unavailable:
        log.warning("delivery %s not sent: %s", delivery.id, job.channel_unavailable)
        if job.in_doubt:  # an earlier try may have reached it: the retry looks it up first
            return Result(job, D.UNKNOWN, A.UNKNOWN, job.channel_unavailable, action=job.channel_unavailable)
        return Result(job, D.DEAD, A.REFUSED, job.channel_unavailable)
    if job.stale_reason and not job.in_doubt:
        log.warning("delivery %s not sent: %s", delivery.id, job.stale_reason)
        return Result(job, D.CANCELLED, A.REFUSED, job.stale_reason)
    if job.channel_paused and (waiting := health.wait_while_paused(engine, job)) is not None:
        return waiting  # its channel failed a check: nothing is sent to it, nothing given up, until one passes
    if job.message is None:
        if job.in_doubt:
            return _in_doubt(engine, job, A.LOOKUP_FAILED, f"not looked up: {job.render_error}")
        return Result(job, D.DEAD, A.PERMANENT, job.render_error)
    adapter = engine.channels.get(delivery.channel)
    if job.stale_reason:  # withdrawn or superseded, but an earlier try may have reached the channel: ask it
        return _settle(engine, adapter, job)
    if delivery.lease_until - engine.clock() < timedelta(seconds=engine.settings.queue.lease_seconds / 2):
        # the sends before it in the batch used half its lease: the call might outlast it and another worker
        # take the delivery over, so it is not started
        return Result(job, D.RETRY_WAIT, A.DEFERRED, "its lease ran out while the batch was being sent", retry_in=0)
    wait = engine.limiter.acquire(delivery.channel)
    if 0 < wait <= 1.0:  # a short wait is held in the thread; then the slot is asked for again, never assumed
        time.sleep(wait)
        wait = engine.limiter.acquire(delivery.channel)
    if wait > 0:  # a long wait is not held in a worker thread: back to the queue, due when the limit allows
        return Result(job, D.RETRY_WAIT, A.DEFERRED, f"rate limit: wait {wait:.1f}s", retry_in=wait)
    started = time.monotonic()
    try:
        receipt = _send(adapter, job.message, look_first=job.in_doubt)
    except ChannelError as error:
        return _failed(engine, job, error, time.monotonic() - started)
    return Result(job, D.PUBLISHED, A.PUBLISHED, receipt=receipt, duration=time.monotonic() - started)


def _settle(engine: Engine, adapter: Channel, job: Job) -> Result:
    """A stale delivery whose earlier try may have landed: published if the channel has it (then taken down
    if withdrawn), else cancelled; unknown if the channel cannot be asked now (asked again later)."""
    if adapter.resend_is_idempotent and not adapter.supports_lookup:
        # sending again is how such a channel is asked, and a stale item must not be sent: a person decides
        ask = f"{job.stale_reason}, and the receiver may have it from an earlier try: ask its operator"
        return _in_doubt(engine, job, A.UNKNOWN, ask, ask=ask)
    try:
        found = _look_up(adapter, job.message)
    except ChannelError as e:
        return _in_doubt(engine, job, A.UNKNOWN, f"{job.stale_reason}, and an earlier try may have published it: "
                                                 f"{e.message}", ask=_ask_if_unaskable(e, job),
                         handle=e.handle if isinstance(e, OutcomeUnknown) else None)
    if found is None:
        return Result(job, D.CANCELLED, A.REFUSED, job.stale_reason)
    return Result(job, D.PUBLISHED, A.PUBLISHED, receipt=found)


def _after_publication(engine: Engine, job: Job) -> None:
    """Withdrawn while it was being sent: take it down now. A 政策解读 on a static site: link it back."""
    delivery = job.delivery
    try:
        adapter = engine.channels.get(delivery.channel)
        if job.withdrawn:  # taken down as recorded (job.delivery is the row as it was claimed)
            with session_scope(engine.db) as session:
                recorded = session.get(Delivery, delivery.id)
            take_down_one(engine, recorded)
        elif adapter.index_templates and job.revision is not None and job.revision.interprets:
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


class _LookupFailed(ChannelError):
    """Asking the channel whether it has the publication failed, whatever the error: still in doubt, asked again
    later (after the wait a rate limit asked for, if it was one), about the same handle."""

    def __init__(self, message: str, *, detail: str = "", handle: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, detail=detail)
        self.handle, self.retry_after = handle, retry_after


class _CannotLookUp(OutcomeUnknown):
    """The channel may have it and has no way to be asked: a person checks by hand."""


def _send(adapter: Channel, message: Message, *, look_first: bool) -> Receipt:
    if look_first:  # the last try may have reached the channel: ask before sending again
        found = _look_up_or_retry(adapter, message, handle=message.handle)
        if found is not None:
            return found
        message = replace(message, handle="")  # the channel says it has nothing: what it was asked about is over
    try:
        return adapter.publish(message)
    except AlreadyPublished as e:
        return e.receipt
    except OutcomeUnknown as e:
        found = _look_up_or_retry(adapter, replace(message, handle=e.handle), handle=e.handle)
        if found is not None:
            return found
        raise TransientChannelError(f"{adapter.name}: the channel does not have it after an unanswered call; "
                                    "safe to send again") from None


def _look_up_or_retry(adapter: Channel, message: Message, *, handle: str) -> Receipt | None:
    """The lookup; any error but a still-unknown answer becomes _LookupFailed (a token error, a refusal, a
    quota: none of them says the channel does not have it). Either keeps the channel's handle for the next one."""
    try:
        return _look_up(adapter, message)
    except OutcomeUnknown as e:
        e.handle = e.handle or handle
        raise
    except AlreadyPublished:
        raise
    except ChannelError as e:
        raise _LookupFailed(f"{adapter.name}: could not ask whether it has the publication: {e.message}",
                            detail=e.detail, handle=handle,
                            retry_after=e.retry_after if isinstance(e, RateLimited) else None) from e


def _look_up(adapter: Channel, message: Message) -> Receipt | None:
    if adapter.resend_is_idempotent and not adapter.supports_lookup:
        return None  # the receiver dedupes on the idempotency key: sending again is the lookup
    if not adapter.supports_lookup:
        raise _CannotLookUp(f"{adapter.name}: the channel may have it and cannot be asked")
    return adapter.lookup(message)


def _failed(engine: Engine, job: Job, error: ChannelError, duration: float) -> Result:
    queue = engine.settings.queue
    detail = f"{error.message}{' | ' + error.detail if error.detail else ''}"
    if isinstance(error, (OutcomeUnknown, _LookupFailed)):
        outcome = A.LOOKUP_FAILED if isinstance(error, _LookupFailed) else A.UNKNOWN
        return _in_doubt(engine, job, outcome, detail, duration=duration, ask=_ask_if_unaskable(error, job),
                         wait=getattr(error, "retry_after", None), handle=error.handle)
    if isinstance(error, PermanentChannelError):
        if (waiting := health.pause_if_unhealthy(engine, job, error)) is not None:
            return waiting  # the channel's setup, not this item: the channel is paused, the delivery waits
        return Result(job, D.DEAD, A.PERMANENT, detail, duration=duration)
    if isinstance(error, RateLimited):
        engine.limiter.pause(job.delivery.channel, error.retry_after)
        return Result(job, D.RETRY_WAIT, A.RATE_LIMITED, detail, retry_in=error.retry_after + random.uniform(0, 1),
                      duration=duration)
    failures = _recent_failures(engine, job) + 1
    if failures >= queue.max_attempts:
        return Result(job, D.DEAD, A.TRANSIENT, f"gave up after {failures} failed tries: {detail}", duration=duration)
    backoff = min(queue.retry_cap * 4, queue.retry_base * 2 ** (failures - 1))
    retry_in = random.uniform(backoff / 2, backoff)  # jitter: workers that failed together retry apart
    return Result(job, D.RETRY_WAIT, A.TRANSIENT, detail, retry_in=retry_in, duration=duration)


def _ask_if_unaskable(error: ChannelError, job: Job) -> str:
    if not isinstance(error, _CannotLookUp):
        return ""
    return (f"{job.delivery.channel} cannot be asked whether it has this publication: confirm by hand on the "
            f"channel; if it is not there, gongkai retry {job.delivery.id} --absent sends it")


def _in_doubt(engine: Engine, job: Job, outcome: A, detail: str, *, duration: float | None = None,
              wait: float | None = None, ask: str = "", handle: str | None = None) -> Result:
    """The result of a try after which the channel may have the publication (docs/engine.md, "Doubt"): unknown,
    looked up again after a backoff (or the wait a rate limit asked for); a person is asked only when the channel
    cannot be asked (`ask`) or the doubt has lasted queue.doubt_horizon, and is told what was tried. `handle`: the
    channel's id for the work in doubt, kept as the delivery's remote_id for the next lookup (None: unchanged)."""
    queue = engine.settings.queue
    kept = Receipt(handle) if handle is not None else None
    tries, since = _doubt_so_far(engine, job)
    lasted = (engine.clock() - since).total_seconds()
    if not ask and lasted >= queue.doubt_horizon:
        ask = (f"outcome still unknown after {tries} tries over {lasted / 3600:.1f} h since "
               f"{since:%Y-%m-%d %H:%M} UTC (last: {detail[:500]}); check on {job.delivery.channel} whether it has "
               f"the publication, then gongkai retry {job.delivery.id}, which looks it up again before any send")
    if ask:
        return Result(job, D.UNKNOWN, outcome, detail, receipt=kept, duration=duration, action=ask)
    backoff = min(queue.lookup_cap, queue.lookup_base * 2 ** (tries - 1))
    retry_in = wait if wait is not None else random.uniform(backoff / 2, backoff)
    return Result(job, D.UNKNOWN, outcome, detail, receipt=kept, retry_in=retry_in, duration=duration)


def _doubt_so_far(engine: Engine, job: Job) -> tuple[int, datetime]:
    """How many tries this doubt has had, this one included, and when the first of them started: the tries since
    the last one that settled something (a replay starts the count afresh)."""
    with session_scope(engine.db) as session:
        rows = session.exec(select(Attempt.outcome, Attempt.started_at)
                            .where(Attempt.delivery_id == job.delivery.id, Attempt.id < job.attempt_id)
                            .order_by(Attempt.id.desc()).limit(200)).all()
    tries, since = 1, job.delivery.updated_at or engine.clock()
    for outcome, started in rows:
        if outcome in AMBIGUOUS:
            tries, since = tries + 1, started or since
        elif outcome != A.DEFERRED:
            break
    return tries, since


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
        elif outcome != A.DEFERRED:
            break
    return count


def batches(delivery_ids: list[int], size: int) -> list[list[int]]:
    """Batches of ids, in order (a message's, or a dispatcher thread's): an approval's deliveries go together."""
    return [delivery_ids[i:i + size] for i in range(0, len(delivery_ids), size)]


def due_deliveries(session: Session, *, now: datetime, grace: float, limit: int = 1000) -> list[int]:
    """Deliveries that should be in flight but may not be: due and not enqueued lately, or past their lease."""
    recent = now - timedelta(seconds=grace)
    query = select(Delivery.id).where(sa.or_(
        sa.and_(Delivery.status.in_(DUE), Delivery.next_attempt_at <= now,
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


def replay_delivery(session: Session, *, delivery_id: int, now: datetime, actor: Actor,
                    absent: bool = False) -> Delivery:
    """gongkai retry: a dead or unknown delivery becomes due again (a new attempt on record); needs the role
    operator in the item's agency. An unknown one is looked up before anything is sent, unless `absent`: the
    operator checked on the channel by hand that it does not have it (for a channel that cannot be asked)."""
    row = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    agency = session.get(Agency, session.get(Item, row.item_id).agency_id)
    require(session, actor, Role.OPERATOR, agency_code=agency.code, doing=f"retry delivery {delivery_id}")
    if row.status not in (D.DEAD, D.UNKNOWN):
        raise WorkflowRefused(f"delivery {delivery_id} is {row.status}; only dead or unknown deliveries are retried")
    if absent and row.status != D.UNKNOWN:
        raise WorkflowRefused(f"delivery {delivery_id} is {row.status}: --absent is for an unknown outcome")
    move_delivery(row, D.PENDING)
    row.next_attempt_at, row.enqueued_at, row.manual_action = now, None, None
    session.add(row)
    outcome, detail = ((A.CHECKED, f"{actor.label} checked by hand: the channel does not have it")
                       if absent else (A.REPLAY, "replayed with gongkai retry"))
    session.add(Attempt(delivery_id=row.id, number=row.attempts, outcome=outcome, finished_at=now, detail=detail))
    record_event(session, actor=actor.label, action="retry", subject=f"delivery:{row.id}",
                 details={"item": row.item_id, "channel": row.channel, "last_error": row.last_error,
                          "checked_absent": absent}, now=now)
    return row
