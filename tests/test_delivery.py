"""The delivery engine without a broker: claim -> send -> record, every typed outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from doubles.scripted import (
    HAS_IT,
    LOST_ANSWER,
    LOST_REQUEST,
    OK,
    PERMANENT,
    THROTTLED,
    TRANSIENT,
    Scripted,
)
from helpers import acting, approve_fully, scripted_env, submit
from sqlmodel import select

import channels
from channels import ChannelConfig, Receipt, TransientChannelError
from pipeline.core.config import _channel_config
from pipeline.core.models import Attempt, Delivery, DeliveryStatus, EntryType, Item, ItemStatus, LedgerEntry, utcnow
from pipeline.core.models import AttemptOutcome as A
from pipeline.engine import claims as claims_module
from pipeline.engine import delivery as delivery_module
from pipeline.engine import dispatcher as dispatcher_module
from pipeline.engine.claims import claim
from pipeline.engine.delivery import deliver_batch, deliver_one, replay_delivery
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.ratelimit import RateLimiter
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down, take_down_owed
from pipeline.items import workflow
from pipeline.records.audit import verify_trail


@pytest.fixture
def env(make_env, monkeypatch):
    built = scripted_env(make_env, monkeypatch)
    built.settings.queue.max_attempts = 3
    return built


@pytest.fixture
def engine(env):
    return Engine.build(env.settings, env.engine)


def approved(env, channels_: list[str] = ["scripted"]) -> int:  # noqa: B006
    item_id = submit(env, channels=channels_)
    approve_fully(env, item_id)
    return item_id


def delivery_of(env, item_id: int, channel: str = "scripted") -> Delivery:
    with env.session() as session:
        return session.exec(select(Delivery).where(Delivery.item_id == item_id, Delivery.channel == channel)).one()


def make_due(env, delivery_id: int) -> None:
    with env.session() as session:
        row = session.get(Delivery, delivery_id)
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)


def ledger(env) -> list[LedgerEntry]:
    with env.session() as session:
        return list(session.exec(select(LedgerEntry).order_by(LedgerEntry.id)))


def attempts(env, delivery_id: int) -> list[str]:
    with env.session() as session:
        return [a.outcome for a in session.exec(select(Attempt).where(Attempt.delivery_id == delivery_id)
                                                .order_by(Attempt.id))]


def test_success_records_receipt_attempt_and_one_ledger_entry(env, engine):
    delivery = delivery_of(env, approved(env))
    assert deliver_one(engine, delivery.id).status == "published"
    row = delivery_of(env, delivery.item_id)
    assert (row.status, row.remote_id, row.url) == (DeliveryStatus.PUBLISHED, f"r-{row.idempotency_key}",
                                                    "https://example.test/art_1")
    [entry] = ledger(env)
    assert (entry.delivery_id, entry.channel, entry.entry_type) == (row.id, "scripted", EntryType.PUBLICATION)
    assert attempts(env, row.id) == ["published"]


def test_a_duplicate_message_finds_nothing_to_claim(env, engine):
    delivery = delivery_of(env, approved(env))
    results = []
    threads = [threading.Thread(target=lambda: results.append(deliver_one(engine, delivery.id).status))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["published", "skipped", "skipped", "skipped"]
    assert Scripted.calls == [("publish", delivery.idempotency_key)]
    assert len(ledger(env)) == 1


def test_transient_failures_back_off_then_dead_letter_after_max_attempts(env, engine):
    Scripted.reset(TRANSIENT, TRANSIENT, TRANSIENT)
    delivery = delivery_of(env, approved(env))
    first = deliver_one(engine, delivery.id)
    assert first.status == "retry_wait" and 1.0 <= first.retry_in <= 2.0
    assert deliver_one(engine, delivery.id).status == "skipped"  # not due yet
    make_due(env, delivery.id)
    second = deliver_one(engine, delivery.id)
    assert second.status == "retry_wait" and 2.0 <= second.retry_in <= 4.0
    make_due(env, delivery.id)
    third = deliver_one(engine, delivery.id)
    assert third.status == "dead" and "gave up after 3 failed tries" in third.detail
    assert attempts(env, delivery.id) == ["transient", "transient", "transient"]
    assert ledger(env) == []


def test_a_permanent_error_is_a_dead_letter_with_the_channels_message_and_retry_publishes_once(env, engine):
    Scripted.reset(PERMANENT)
    delivery = delivery_of(env, approved(env))
    assert deliver_one(engine, delivery.id).status == "dead"
    assert "HTTP 400 invalid field 'title'" in delivery_of(env, delivery.item_id).last_error
    with env.session() as session:
        replay_delivery(session, delivery_id=delivery.id, now=utcnow(), actor=acting(session, "qianqi"))
    assert deliver_one(engine, delivery.id).status == "published"
    assert attempts(env, delivery.id) == ["permanent", "replay", "published"]
    assert len(Scripted.published) == 1 and len(ledger(env)) == 1


def test_a_lost_answer_after_the_channel_committed_is_looked_up_not_resent(env, engine):
    Scripted.reset(LOST_ANSWER)
    delivery = delivery_of(env, approved(env))
    assert deliver_one(engine, delivery.id).status == "published"
    assert [op for op, _ in Scripted.calls] == ["publish", "lookup"]
    assert len(ledger(env)) == 1


def test_a_lost_request_is_looked_up_then_sent_again_once(env, engine):
    Scripted.reset(LOST_REQUEST)
    delivery = delivery_of(env, approved(env))
    assert deliver_one(engine, delivery.id).status == "retry_wait"
    make_due(env, delivery.id)
    assert deliver_one(engine, delivery.id).status == "published"
    assert [op for op, _ in Scripted.calls] == ["publish", "lookup", "publish"]


def test_already_published_records_the_channels_receipt(env, engine):
    Scripted.reset(HAS_IT)
    delivery = delivery_of(env, approved(env))
    assert deliver_one(engine, delivery.id).status == "published"
    assert delivery_of(env, delivery.item_id).remote_id == f"r-{delivery.idempotency_key}"


def test_a_worker_that_died_mid_call_is_followed_by_a_lookup_before_any_resend(env, engine):
    delivery = delivery_of(env, approved(env))
    with env.session() as session:  # a worker claims, starts the call, and dies: its lease runs out
        assert claim(session, delivery.id, token="dead-worker", now=utcnow(), lease=10) is not None
        session.add(Attempt(delivery_id=delivery.id, number=1, outcome="sending"))
    Scripted.published[delivery.idempotency_key] = channels.Receipt("r-earlier", None)  # its call got through
    assert deliver_one(engine, delivery.id).status == "skipped"  # the lease still holds
    with env.session() as session:
        row = session.get(Delivery, delivery.id)
        row.lease_until = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert deliver_one(engine, delivery.id).status == "published"
    assert [op for op, _ in Scripted.calls] == ["lookup"]
    assert delivery_of(env, delivery.item_id).remote_id == "r-earlier"


def test_a_rate_limited_answer_pauses_the_channel_and_waits_without_counting_as_a_failure(env, engine):
    Scripted.reset(THROTTLED)
    delivery = delivery_of(env, approved(env))
    outcome = deliver_one(engine, delivery.id)
    assert outcome.status == "retry_wait" and 30 <= outcome.retry_in <= 31
    assert engine.limiter.acquire("scripted") == 0.0  # no limit configured: pause applies to limited channels
    assert delivery_of(env, delivery.item_id).next_attempt_at > utcnow() + timedelta(seconds=29)


def test_a_forged_delivery_for_an_unapproved_item_publishes_nothing(env, engine):
    item_id = submit(env, channels=["scripted"])
    with env.session() as session:
        forged = Delivery(item_id=item_id, revision=1, channel="scripted", status=DeliveryStatus.PENDING,
                          next_attempt_at=utcnow(), idempotency_key="forged")
        session.add(forged)
    outcome = deliver_one(engine, forged.id)
    assert outcome.status == "cancelled" and "not approved" in outcome.detail
    assert Scripted.calls == [] and ledger(env) == []


def test_a_withdrawn_item_is_never_published_by_a_stale_message(env, engine):
    item_id = approved(env)
    delivery = delivery_of(env, item_id)
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"), reason="撤回")
    assert deliver_one(engine, delivery.id).status == "skipped"
    assert Scripted.calls == []


def test_withdrawal_takes_down_and_reverses_or_flags_a_channel_that_cannot_delete(env, engine):
    item_id = approved(env, ["scripted", "undeletable"])
    run_dispatcher(engine, until_idle=True)
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"), reason="数据有误")
    results = {r.channel: r.result for r in take_down(engine, item_id=item_id)}
    assert results == {"scripted": "withdrawn", "undeletable": "manual"}
    entries = [(e.channel, e.entry_type) for e in ledger(env)]
    assert sorted(entries) == [("scripted", EntryType.PUBLICATION), ("scripted", EntryType.REVERSAL),
                               ("undeletable", EntryType.PUBLICATION)]
    assert delivery_of(env, item_id, "scripted").status == DeliveryStatus.WITHDRAWN
    flagged = delivery_of(env, item_id, "undeletable")
    assert flagged.status == DeliveryStatus.PUBLISHED and "by hand" in flagged.manual_action
    assert take_down(engine, item_id=item_id)[0].result == "manual"  # running it again changes nothing
    assert len(ledger(env)) == 3


def test_the_dispatcher_publishes_what_is_due_and_holds_a_scheduled_item(env, engine):
    now_items = [approved(env) for _ in range(5)]
    later = submit(env, channels=["scripted"], publish_at=(utcnow() + timedelta(days=1)).isoformat())
    approve_fully(env, later)
    outcomes = run_dispatcher(engine, until_idle=True)
    assert sorted(o.status for o in outcomes) == ["published"] * 5
    assert delivery_of(env, later).status == DeliveryStatus.PENDING
    assert {delivery_of(env, i).status for i in now_items} == {DeliveryStatus.PUBLISHED}
    with env.session() as session:
        assert session.get(Item, later).status == ItemStatus.APPROVED


def test_the_local_rate_limiter_admits_n_per_second_and_honours_a_pause():
    limiter = RateLimiter({"x": 3})
    assert [limiter.acquire("x") == 0 for _ in range(4)] == [True, True, True, False]
    limiter.pause("y", 5)
    assert limiter.acquire("y") == 0  # y has no limit configured
    limiter.pause("x", 5)
    assert 4 < limiter.acquire("x") <= 5


# ---- races and stale states (each once a defect found in review) ---------------------------------


def expire_lease(env, delivery_id):
    with env.session() as session:
        row = session.get(Delivery, delivery_id)
        row.lease_until = utcnow() - timedelta(seconds=1)
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)


def withdraw(env, item_id):
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"), reason="涉密")


def test_a_failed_lookup_keeps_the_doubt_so_the_next_try_asks_again(env, engine, monkeypatch):
    delivery = delivery_of(env, approved(env))
    with env.session() as session:  # a worker claims, its call lands, it dies
        claim(session, delivery.id, token="dead", now=utcnow(), lease=10)
        session.add(Attempt(delivery_id=delivery.id, number=1, outcome="sending"))
    Scripted.published[delivery.idempotency_key] = Receipt("r-earlier", None)
    expire_lease(env, delivery.id)
    real_lookup, calls = Scripted.lookup, []

    def flaky_lookup(self, message):
        calls.append(1)
        if len(calls) == 1:
            raise TransientChannelError("scripted: lookup timed out")
        return real_lookup(self, message)

    monkeypatch.setattr(Scripted, "lookup", flaky_lookup)
    assert deliver_one(engine, delivery.id).status == "unknown"  # in doubt, looked up again later
    expire_lease(env, delivery.id)
    assert deliver_one(engine, delivery.id).status == "published"  # it asked again instead of sending blind
    assert [op for op, _ in Scripted.calls] == ["lookup"]
    assert delivery_of(env, delivery.item_id).remote_id == "r-earlier"


def test_a_publication_that_lands_after_the_withdrawal_is_taken_down_at_once(env, engine, monkeypatch):
    item_id = approved(env)
    delivery = delivery_of(env, item_id)
    real_publish = Scripted.publish

    def publish_while_withdrawn(self, message):
        withdraw(env, item_id)  # `gongkai withdraw` runs while the call is in flight
        assert take_down(engine, item_id=item_id) == []
        return real_publish(self, message)

    monkeypatch.setattr(Scripted, "publish", publish_while_withdrawn)
    assert deliver_one(engine, delivery.id).status == "published"
    assert delivery_of(env, item_id).status == DeliveryStatus.WITHDRAWN
    assert delivery.idempotency_key not in Scripted.published
    assert sorted(e.entry_type for e in ledger(env)) == [EntryType.PUBLICATION, EntryType.REVERSAL]


class NoLookup(Scripted):
    kind = "nolookup"
    supports_lookup = False


def test_an_unknown_outcome_of_a_withdrawn_item_stays_unknown_when_the_channel_cannot_be_asked(env, monkeypatch):
    monkeypatch.setitem(channels.REGISTRY, "nolookup", NoLookup)
    env.settings.channels["nolookup"] = _channel_config("nolookup", {"kind": "nolookup"})
    env.settings.agencies["tjj"].channels.append("nolookup")
    engine = Engine.build(env.settings, env.engine)
    Scripted.reset(LOST_ANSWER)
    item_id = approved(env, ["nolookup"])
    delivery = delivery_of(env, item_id, "nolookup")
    assert deliver_one(engine, delivery.id).status == "unknown"
    withdraw(env, item_id)  # an unknown delivery of a withdrawn item is put back to be settled
    assert delivery_of(env, item_id, "nolookup").status == DeliveryStatus.PENDING
    outcome = deliver_one(engine, delivery.id)
    assert outcome.status == "unknown" and "may have published it" in outcome.detail  # not silently cancelled


def test_an_unknown_outcome_of_a_withdrawn_item_is_looked_up_and_taken_down(env, engine):
    Scripted.reset(LOST_ANSWER)
    item_id = approved(env)
    delivery = delivery_of(env, item_id)
    with env.session() as session:  # the answer was lost and the worker died before it could look
        claim(session, delivery.id, token="dead", now=utcnow(), lease=10)
        session.add(Attempt(delivery_id=delivery.id, number=1, outcome="unknown"))
        row = session.get(Delivery, delivery.id)
        row.status = DeliveryStatus.UNKNOWN
        session.add(row)
    Scripted.published[delivery.idempotency_key] = Receipt(f"r-{delivery.idempotency_key}", None)
    withdraw(env, item_id)
    assert deliver_one(engine, delivery.id).status == "published"  # the truth: it had been published …
    assert delivery_of(env, item_id).status == DeliveryStatus.WITHDRAWN  # … and now it is down again
    assert delivery.idempotency_key not in Scripted.published


def test_a_disabled_channel_dead_letters_its_queued_deliveries_instead_of_crashing(make_env):
    env = make_env()
    item_id = submit(env, channels=["portal"])
    approve_fully(env, item_id)
    env.settings.channels["portal"] = ChannelConfig(kind="portal", enabled=False)
    engine = Engine.build(env.settings, env.engine)
    delivery = delivery_of(env, item_id, "portal")
    outcome = deliver_one(engine, delivery.id)
    assert outcome.status == "dead" and "disabled" in outcome.detail
    assert delivery_of(env, item_id, "portal").lease_until is None


def test_retries_after_a_replay_start_counting_afresh(env, engine):
    Scripted.reset("transient", "transient", "transient", "transient")
    delivery = delivery_of(env, approved(env))
    for _ in range(3):
        expire_lease(env, delivery.id)
        deliver_one(engine, delivery.id)
    assert delivery_of(env, delivery.item_id).status == DeliveryStatus.DEAD  # max_attempts = 3
    with env.session() as session:
        replay_delivery(session, delivery_id=delivery.id, now=utcnow(), actor=acting(session, "qianqi"))
    assert deliver_one(engine, delivery.id).status == "retry_wait"  # one more failure is not the end
    expire_lease(env, delivery.id)
    assert deliver_one(engine, delivery.id).status == "published"


# --- batches: one message, one claim and one record for several deliveries -------------------------------


def test_a_batch_publishes_each_of_its_deliveries_once_and_skips_what_it_cannot_claim(env, engine):
    ids = [delivery_of(env, approved(env)).id for _ in range(3)]
    outcomes = deliver_batch(engine, [*ids, ids[0], 999_999])  # a repeated id and one that does not exist
    assert [(o.delivery_id, o.status) for o in outcomes] == [*((i, "published") for i in ids), (999_999, "skipped")]
    assert [e.delivery_id for e in ledger(env)] == ids
    assert [op for op, _ in Scripted.calls] == ["publish"] * 3
    assert all(attempts(env, i) == ["published"] for i in ids)
    with env.session() as session:
        assert verify_trail(session).ok  # one publish event per delivery, chained in order


def test_each_delivery_of_a_batch_gets_its_own_outcome(env, engine):
    Scripted.reset(OK, TRANSIENT, PERMANENT)
    ids = [delivery_of(env, approved(env)).id for _ in range(3)]
    gone = approved(env)
    withdraw(env, gone)  # cancelled before any worker ran: nothing to claim
    outcomes = deliver_batch(engine, [*ids, delivery_of(env, gone).id])
    assert [o.status for o in outcomes] == ["published", "retry_wait", "dead", "skipped"]
    assert [e.delivery_id for e in ledger(env)] == ids[:1]
    assert [attempts(env, i) for i in ids] == [["published"], ["transient"], ["permanent"]]


def test_a_delivery_whose_lease_runs_out_while_its_batch_is_sent_is_not_sent(env, engine, monkeypatch):
    first, second = (delivery_of(env, approved(env)).id for _ in range(2))
    now = utcnow()
    engine.clock = lambda: now
    real_publish = Scripted.publish

    def slow_publish(self, message):  # the first call takes over half the lease
        nonlocal now
        receipt = real_publish(self, message)
        now += timedelta(seconds=env.settings.queue.lease_seconds / 2 + 1)
        return receipt

    monkeypatch.setattr(Scripted, "publish", slow_publish)
    outcomes = deliver_batch(engine, [first, second])
    assert [o.status for o in outcomes] == ["published", "retry_wait"]
    assert len(Scripted.calls) == 1  # another worker may take the second over: it was not sent
    assert attempts(env, second) == ["deferred"]
    assert delivery_of(env, approved_item_of(env, second)).claim_token is None


def test_a_batch_records_only_what_it_still_holds(env, engine, monkeypatch):
    first, second = (delivery_of(env, approved(env)).id for _ in range(2))
    real_publish = Scripted.publish

    def taken_over(self, message):  # meanwhile another worker takes the second over (its lease had expired)
        if len(Scripted.calls) == 0:
            expire_lease(env, second)
            with env.session() as session:
                assert claim(session, second, token="other", now=utcnow(), lease=60) is not None
        return real_publish(self, message)

    monkeypatch.setattr(Scripted, "publish", taken_over)
    outcomes = deliver_batch(engine, [first, second])
    assert [o.status for o in outcomes] == ["published", "lost-claim"]
    assert [e.delivery_id for e in ledger(env)] == [first]  # the second is the other worker's to record
    row = delivery_of(env, approved_item_of(env, second))
    assert (row.status, row.claim_token) == (DeliveryStatus.SENDING, "other")


def approved_item_of(env, delivery_id: int) -> int:
    with env.session() as session:
        return session.get(Delivery, delivery_id).item_id


def test_the_dispatcher_delivers_in_batches_of_queue_batch_size(env, engine, monkeypatch):
    env.settings.queue.batch_size = 2
    ids = [delivery_of(env, approved(env)).id for _ in range(5)]
    batches = []
    real = delivery_module.deliver_batch

    def recording(engine_, batch, **kwargs):
        batches.append(list(batch))
        return real(engine_, batch, **kwargs)

    monkeypatch.setattr(dispatcher_module, "deliver_batch", recording)
    outcomes = run_dispatcher(engine, until_idle=True)
    assert sorted(o.delivery_id for o in outcomes if o.status == "published") == ids
    assert sorted(batches) == [ids[0:2], ids[2:4], ids[4:5]]


def test_an_unexpected_error_in_a_batch_still_records_what_was_published_before_it(env, engine, monkeypatch):
    first, second, third = (delivery_of(env, approved(env)).id for _ in range(3))
    real_publish = Scripted.publish

    def broken_second(self, message):  # an adapter bug, not a typed channel error
        if len(Scripted.calls) == 1:
            raise ValueError("adapter bug")
        return real_publish(self, message)

    monkeypatch.setattr(Scripted, "publish", broken_second)
    with pytest.raises(ValueError, match="adapter bug"):
        deliver_batch(engine, [first, second, third])
    assert [e.delivery_id for e in ledger(env)] == [first]  # the publication before the error is on record
    assert attempts(env, first) == ["published"]
    for held in (second, third):  # left claimed: after the lease the next try asks the channel first
        assert delivery_of(env, approved_item_of(env, held)).status == DeliveryStatus.SENDING
        assert attempts(env, held) == ["sending"]


def test_the_sweep_takes_down_a_publication_of_a_withdrawn_item_that_nobody_took_down(env, engine):
    owed, fresh = approved(env), approved(env)
    for item_id in (owed, fresh):
        assert deliver_one(engine, delivery_of(env, item_id).id).status == "published"
        withdraw(env, item_id)  # and the process dies before take_down(): the publications stay up
    with env.session() as session:  # one was withdrawn long ago, the other just now (its command may be busy)
        row = session.get(Item, owed)
        row.updated_at = utcnow() - timedelta(seconds=env.settings.queue.sweep_grace + 1)
        session.add(row)
    done = take_down_owed(engine)
    assert [(t.delivery_id, t.result) for t in done] == [(delivery_of(env, owed).id, "withdrawn")]
    assert delivery_of(env, owed).status == DeliveryStatus.WITHDRAWN
    assert delivery_of(env, fresh).status == DeliveryStatus.PUBLISHED
    assert [e.entry_type for e in ledger(env)].count(EntryType.REVERSAL) == 1
    assert take_down_owed(engine) == []  # once


# --- group commit: the batches of a worker's threads claimed and recorded together ----------------------


def test_batches_asked_for_while_a_claim_runs_are_claimed_and_recorded_together_each_published_once(
        env, engine, monkeypatch):
    batches = [[delivery_of(env, approved(env)).id for _ in range(2)] for _ in range(5)]
    claimed, recorded, first_claim = [], [], threading.Event()
    real_claim, real_write = claims_module.claim_many, claims_module._write_results

    def claim_many(session, ids, **kwargs):
        claimed.append(sorted(ids))
        if len(claimed) == 1:  # the first claim is slow: the other four batches ask meanwhile
            first_claim.set()
            deadline = time.monotonic() + 10
            while engine.group.waiting() < 4 and time.monotonic() < deadline:
                time.sleep(0.005)
        return real_claim(session, ids, **kwargs)

    def write_results(session, now, results):
        recorded.append(sorted(r.job.delivery.id for r in results))
        return real_write(session, now, results)

    monkeypatch.setattr(claims_module, "claim_many", claim_many)
    monkeypatch.setattr(claims_module, "_write_results", write_results)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(deliver_batch, engine, batches[0])
        first_claim.wait(10)
        rest = [pool.submit(deliver_batch, engine, batch) for batch in batches[1:]]
        outcomes = [first.result(30)] + [f.result(30) for f in rest]
    assert claimed == [batches[0], sorted(i for batch in batches[1:] for i in batch)]  # one claim for four
    assert [[(o.delivery_id, o.status) for o in out] for out in outcomes] == \
        [[(i, "published") for i in batch] for batch in batches]  # each thread its own outcomes
    assert sorted(i for group in recorded for i in group) == sorted(i for batch in batches for i in batch)
    assert len(Scripted.calls) == 10 and len(ledger(env)) == 10
    assert all(attempts(env, i) == ["published"] for batch in batches for i in batch)
    with env.session() as session:
        assert verify_trail(session).ok
        assert {d.claim_token for d in session.exec(select(Delivery))} == {None}


def test_one_transaction_claims_some_threads_batches_and_records_the_results_of_others(env, engine, monkeypatch):
    a, b, c = ([delivery_of(env, approved(env)).id for _ in range(2)] for _ in range(3))
    b_sending, go, transactions = threading.Event(), threading.Event(), []
    real_commit, real_try = claims_module.commit_batch, delivery_module._try

    def commit_batch(db, settings, clock, batch):
        transactions.append({("claim", request.ids) if isinstance(request, claims_module.ClaimRequest) else
                             ("record", tuple(r.job.delivery.id for r in request.results)) for request in batch})
        if ("record", tuple(a)) in transactions[-1]:  # a's record is slow: b's record and c's claim ask meanwhile
            go.set()
            deadline = time.monotonic() + 10
            while engine.group.waiting() < 2 and time.monotonic() < deadline:
                time.sleep(0.005)
        return real_commit(db, settings, clock, batch)

    def try_(engine_, job):
        if job.delivery.id == b[0]:
            b_sending.set()
            go.wait(10)
        return real_try(engine_, job)

    monkeypatch.setattr(claims_module, "commit_batch", commit_batch)
    monkeypatch.setattr(delivery_module, "_try", try_)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(deliver_batch, engine, b)]
        b_sending.wait(10)
        futures.append(pool.submit(deliver_batch, engine, a))
        go.wait(10)
        futures.append(pool.submit(deliver_batch, engine, c))
        outcomes = [f.result(30) for f in futures]
    assert transactions == [{("claim", tuple(b))}, {("claim", tuple(a))}, {("record", tuple(a))},
                            {("record", tuple(b)), ("claim", tuple(c))}, {("record", tuple(c))}]
    assert [[o.status for o in out] for out in outcomes] == [["published"] * 2] * 3
    assert sorted(e.delivery_id for e in ledger(env)) == sorted(a + b + c)
    with env.session() as session:
        assert verify_trail(session).ok


def test_a_handed_off_batch_returns_once_sent_and_the_running_group_records_it_then_it_is_followed_up(
        env, engine, monkeypatch):
    ids = [delivery_of(env, approved(env)).id]
    hold, held = threading.Event(), threading.Event()
    real_commit, real_try = claims_module.commit_batch, delivery_module._try
    followed, done = [], threading.Event()

    def commit_batch(db, settings, clock, batch):
        if any(getattr(request, "ids", None) == () for request in batch):  # another thread's batch, kept a while
            held.set()
            hold.wait(10)
        return real_commit(db, settings, clock, batch)

    def try_(engine_, job):
        result = real_try(engine_, job)
        pool.submit(engine.group.claim, [])  # a batch starts while this one is being sent
        held.wait(10)
        return result

    monkeypatch.setattr(claims_module, "commit_batch", commit_batch)
    monkeypatch.setattr(delivery_module, "_try", try_)
    with ThreadPoolExecutor(1, thread_name_prefix="other") as pool:
        delivery_module.hand_off_batch(engine, ids, then=lambda outcomes: (followed.append(
            (outcomes, threading.current_thread().name, ledger(env))), done.set()))
        assert len(Scripted.calls) == 1 and not followed  # sent, and the task may end: nothing recorded yet
        with env.session() as session:
            assert session.get(Delivery, ids[0]).status == DeliveryStatus.SENDING
        assert ledger(env) == []
        hold.set()
    assert done.wait(10)
    (outcomes, thread, on_record), = followed  # recorded by the group that ran meanwhile, then followed up
    assert [(o.delivery_id, o.status) for o in outcomes] == [(ids[0], "published")] and thread == "callback"
    assert [e.delivery_id for e in on_record] == ids  # the follow-up came once the record had committed
    assert [e.delivery_id for e in ledger(env)] == ids and attempts(env, ids[0]) == ["published"]
    with env.session() as session:
        assert verify_trail(session).ok


def test_a_handed_off_failure_is_followed_up_with_its_retry_once_the_retry_wait_is_committed(env, engine):
    Scripted.reset(TRANSIENT)
    delivery_id = delivery_of(env, approved(env)).id
    seen, done = [], threading.Event()

    def then(outcomes):
        with env.session() as session:
            seen.append((outcomes, session.get(Delivery, delivery_id).status))
        done.set()

    delivery_module.hand_off_batch(engine, [delivery_id], then=then)
    assert done.wait(10)
    ([outcome], status), = seen
    assert (outcome.delivery_id, outcome.status, status) == (delivery_id, "retry_wait", DeliveryStatus.RETRY_WAIT)
    assert outcome.retry_in is not None and outcome.retry_in > 0  # what worker.py enqueues with a countdown


def test_a_handed_off_batch_stopped_by_a_bug_records_what_was_sent_follows_it_up_and_raises(env, engine, monkeypatch):
    ids = sorted(delivery_of(env, approved(env)).id for _ in range(2))
    real_try, followed = delivery_module._try, []

    def try_(engine_, job):
        if job.delivery.id == ids[1]:
            raise RuntimeError("a bug in the adapter")
        return real_try(engine_, job)

    monkeypatch.setattr(delivery_module, "_try", try_)
    with pytest.raises(RuntimeError, match="a bug in the adapter"):
        delivery_module.hand_off_batch(engine, ids, then=followed.append)
    assert [[(o.delivery_id, o.status) for o in outcomes] for outcomes in followed] == [[(ids[0], "published")]]
    assert [e.delivery_id for e in ledger(env)] == [ids[0]]  # recorded before the error was raised
    assert delivery_of(env, approved_item_of(env, ids[1])).status == DeliveryStatus.SENDING  # left to its lease


def test_a_batch_whose_results_cannot_be_written_fails_alone_not_the_batches_recorded_with_it(
        env, engine, monkeypatch):
    batches = [[delivery_of(env, approved(env)).id] for _ in range(4)]
    bad = batches[2][0]
    real_write, real_try = claims_module._write_results, delivery_module._try
    sending, first_write, writes = threading.Semaphore(0), threading.Event(), []

    def try_(engine_, job):
        if job.delivery.id != batches[0][0]:  # the others are sent once the first batch's record has begun
            sending.release()
            first_write.wait(10)
        return real_try(engine_, job)

    def write_results(session, now, results):
        ids = [r.job.delivery.id for r in results]
        if not ids:
            return real_write(session, now, results)
        writes.append(sorted(ids))
        if len(writes) == 1:  # the first record is slow: the other batches finish their sends meanwhile
            first_write.set()
            deadline = time.monotonic() + 10
            while engine.group.waiting() < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
        if bad in ids:
            raise ValueError("a bug in writing this delivery's result")
        return real_write(session, now, results)

    monkeypatch.setattr(delivery_module, "_try", try_)
    monkeypatch.setattr(claims_module, "_write_results", write_results)
    with ThreadPoolExecutor(4) as pool:
        rest = [pool.submit(deliver_batch, engine, batch) for batch in batches[1:]]
        for _ in rest:  # all three claimed and waiting to be sent
            assert sending.acquire(timeout=10)
        first = pool.submit(deliver_batch, engine, batches[0])
        assert first.result(30)[0].status == "published"
        assert [rest[0].result(30)[0].status, rest[2].result(30)[0].status] == ["published", "published"]
        with pytest.raises(ValueError, match="a bug"):
            rest[1].result(30)
    assert writes[0] == batches[0]
    assert writes[1] == sorted(i for batch in batches[1:] for i in batch)  # tried together, then one by one
    assert sorted(map(tuple, writes[2:])) == sorted((i,) for batch in batches[1:] for i in batch)
    assert sorted(e.delivery_id for e in ledger(env)) == sorted(i for batch in batches for i in batch if i != bad)
    assert delivery_of(env, approved_item_of(env, bad)).status == DeliveryStatus.SENDING  # its lease, then a lookup
    with env.session() as session:
        assert verify_trail(session).ok


def test_a_database_hiccup_reruns_a_groups_transaction_whole_claims_included_and_the_channel_is_called_once(
        env, engine, monkeypatch):
    ids = [delivery_of(env, approved(env)).id for _ in range(2)]
    real_claim, real_write, failed = claims_module.claim_many, claims_module._write_results, []

    def claim_many(session, wanted, **kwargs):
        claimed = real_claim(session, wanted, **kwargs)
        if "claim" not in failed:  # the server drops the connection after the claim's UPDATE
            failed.append("claim")
            raise sa.exc.OperationalError("...", {}, Exception("server closed the connection unexpectedly"))
        return claimed

    def write_results(session, now, results):
        outcomes = real_write(session, now, results)  # deliveries, attempts, ledger and audit rows written
        if results and "record" not in failed:  # ... then the connection drops before the commit
            failed.append("record")
            raise sa.exc.OperationalError("...", {}, Exception("server closed the connection unexpectedly"))
        return outcomes

    monkeypatch.setattr(claims_module, "claim_many", claim_many)
    monkeypatch.setattr(claims_module, "_write_results", write_results)
    assert [o.status for o in deliver_batch(engine, ids)] == ["published", "published"]
    assert failed == ["claim", "record"] and len(Scripted.calls) == 2
    assert sorted(e.delivery_id for e in ledger(env)) == sorted(ids)  # once each: the first write rolled back
    assert all(attempts(env, i) == ["published"] for i in ids)  # the first claim's attempts rolled back with it
    with env.session() as session:
        assert verify_trail(session).ok


def test_a_result_and_a_claim_of_one_delivery_in_one_group_the_result_counts_and_nothing_is_claimed(env, engine):
    """A delivery's lease ran out while it was sent, the sweep sent its message again, and the new claim and the
    late result meet in one group: the publication is recorded, not taken over."""
    delivery_id = delivery_of(env, approved(env)).id
    [job] = delivery_module.claim_batch(engine, [delivery_id])
    expire_lease(env, delivery_id)
    published = claims_module.Result(job, DeliveryStatus.PUBLISHED, A.PUBLISHED, receipt=Receipt("r-1", ""))
    claim_, record = claims_module.ClaimRequest((delivery_id,)), claims_module.RecordRequest((published,))
    committed = claims_module.commit_batch(engine.db, engine.settings, engine.clock, [claim_, record])
    assert committed.jobs == {claim_: []}
    assert [(o.delivery_id, o.status) for o in committed.outcomes[record]] == [(delivery_id, "published")]
    row = delivery_of(env, approved_item_of(env, delivery_id))
    assert (row.status, row.claim_token, row.attempts) == (DeliveryStatus.PUBLISHED, None, 1)
    assert [e.delivery_id for e in ledger(env)] == [delivery_id] and attempts(env, delivery_id) == ["published"]


def test_a_withdrawal_waiting_for_a_workers_claim_leaves_the_claimed_delivery_to_the_worker(env, engine):
    """The withdrawal read the delivery as pending while a claim was being committed: it must not overwrite the
    claim (the worker sends, and its result, finding the item withdrawn, takes the publication down)."""
    item_id = approved(env)
    delivery_id = delivery_of(env, item_id).id
    withdrawn = threading.Event()
    thread = threading.Thread(target=lambda: (withdraw(env, item_id), withdrawn.set()))
    with env.session() as session:
        [row] = claims_module.claim_many(session, [delivery_id], token="t", now=utcnow(), lease=60)
        thread.start()
        assert not withdrawn.wait(0.5)  # it waits for the claimed row (PostgreSQL) or the write lock (SQLite)
    thread.join(10)
    assert withdrawn.is_set()
    with env.session() as session:
        assert session.get(Item, item_id).status == ItemStatus.WITHDRAWN
        assert (session.get(Delivery, delivery_id).status, session.get(Delivery, delivery_id).claim_token) == \
            (DeliveryStatus.SENDING, "t")


def test_results_of_two_claims_of_one_delivery_recorded_together_count_only_for_the_claim_that_holds_it(env, engine):
    """A worker's claim ran out of lease while it sent; another thread of the same worker took the delivery over;
    both results reach one record group. Only the holder's result is written, in either order."""
    for first_is_holder in (False, True):
        delivery_id = delivery_of(env, approved(env)).id
        stale, = delivery_module.claim_batch(engine, [delivery_id])
        expire_lease(env, delivery_id)
        holder, = delivery_module.claim_batch(engine, [delivery_id])
        assert stale.token != holder.token
        published = claims_module.Result(stale, DeliveryStatus.PUBLISHED, A.PUBLISHED, receipt=Receipt("r-1", ""))
        waiting = claims_module.Result(holder, DeliveryStatus.RETRY_WAIT, A.TRANSIENT, "HTTP 503", retry_in=5)
        results = [waiting, published] if first_is_holder else [published, waiting]
        outcomes = delivery_module.record_batch(engine, results)
        assert [(o.delivery_id, o.status) for o in outcomes] == \
            [(delivery_id, "retry_wait" if r is waiting else "lost-claim") for r in results]
        row = delivery_of(env, approved_item_of(env, delivery_id))
        assert (row.status, row.claim_token, row.last_error) == (DeliveryStatus.RETRY_WAIT, None, "HTTP 503")
        assert delivery_id not in [e.delivery_id for e in ledger(env)]  # the stale publication is not recorded
        assert attempts(env, delivery_id) == ["sending", "transient"]  # the stale try stays in doubt
    with env.session() as session:
        assert verify_trail(session).ok


# --- doubt resolves itself (docs/engine.md, "Doubt") ------------------------------------------------------

def test_a_withdrawal_racing_an_unknown_outcome_is_looked_up_again_by_itself_then_taken_down(env, engine, monkeypatch):
    Scripted.reset(LOST_ANSWER)
    item_id = approved(env)
    delivery = delivery_of(env, item_id)
    real_lookup, calls = Scripted.lookup, []

    def lookup_failing_twice(self, message):
        calls.append(1)
        if len(calls) <= 2:  # the lookup right after the lost answer, and the first after the withdrawal
            raise TransientChannelError("scripted: lookup timed out")
        return real_lookup(self, message)

    monkeypatch.setattr(Scripted, "lookup", lookup_failing_twice)
    assert deliver_one(engine, delivery.id).status == "unknown"
    withdraw(env, item_id)
    outcome = deliver_one(engine, delivery.id)
    row = delivery_of(env, item_id)
    assert outcome.status == "unknown" and outcome.retry_in is not None  # asked again later, nobody is asked
    assert row.manual_action is None and row.next_attempt_at is not None
    make_due(env, delivery.id)
    assert deliver_one(engine, delivery.id).status == "published"  # it was there …
    assert delivery_of(env, item_id).status == DeliveryStatus.WITHDRAWN  # … and is taken down
    assert delivery.idempotency_key not in Scripted.published


def test_a_take_down_that_fails_for_now_is_tried_again_by_the_sweep_not_left_to_a_person(env, engine, monkeypatch):
    item_id = approved(env)
    assert deliver_one(engine, delivery_of(env, item_id).id).status == "published"
    real_withdraw, calls = Scripted.withdraw, []

    def withdraw_failing_once(self, receipt):
        calls.append(1)
        if len(calls) == 1:
            raise TransientChannelError("scripted: busy")
        return real_withdraw(self, receipt)

    monkeypatch.setattr(Scripted, "withdraw", withdraw_failing_once)
    withdraw(env, item_id)
    assert [t.result for t in take_down(engine, item_id=item_id)] == ["failed"]
    row = delivery_of(env, item_id)
    assert row.manual_action is None and "tried again by the sweep" in row.last_error
    with env.session() as session:  # the grace and the wait have passed
        item = session.get(Item, item_id)
        item.updated_at = utcnow() - timedelta(seconds=env.settings.queue.sweep_grace + 1)
        session.add(item)
    assert take_down_owed(engine) == []  # not due yet
    make_due(env, row.id)
    assert [t.result for t in take_down_owed(engine)] == ["withdrawn"]
    assert delivery_of(env, item_id).status == DeliveryStatus.WITHDRAWN
