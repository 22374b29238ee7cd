"""The delivery engine through a real broker: celery worker subprocesses on a private Redis, PostgreSQL,
and a loopback webhook receiver that dedupes on webhook-id and records every POST."""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from collections import Counter
from datetime import timedelta

import pytest
from harness import HOOKS, wait_for
from helpers import acting, record

from pipeline.core.db import session_scope
from pipeline.core.models import Delivery, DeliveryStatus, utcnow
from pipeline.engine.queueing import enqueue
from pipeline.items import workflow

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.mark.timeout(150)
def test_500_items_on_3_channels_reach_the_sink_once_each_with_1500_ledger_entries(make_platform, sink):
    platform = make_platform()
    started = time.monotonic()
    items = platform.approve(500)
    approved = time.monotonic() - started
    queued = platform.enqueue_due()
    assert len(queued) == 1500
    platform.processes.worker()
    took = platform.wait_published(1500, timeout=100)

    deliveries = platform.deliveries()
    keys = {d.idempotency_key for d in deliveries}
    assert len(keys) == 1500 and {d.item_id for d in deliveries} == set(items)
    assert {str(d.status) for d in deliveries} == {"published"}
    assert sink.accepted() == keys                                   # nothing lost, nothing foreign
    assert set(sink.posts_per_id().values()) == {1}                  # no fault: one POST per publication
    assert set(sink.confirmed_per_id().values()) == {1}
    assert {d.remote_id for d in deliveries} == sink.event_ids()
    ledger = platform.ledger()
    assert len(ledger) == 1500 and len({e.delivery_id for e in ledger}) == 1500
    assert all(outcomes == ["published"] for outcomes in platform.attempts().values())
    arrivals = sink.arrivals()
    rate = 1499 / (arrivals[-1] - arrivals[0])
    print(f"\n500 items approved via workflow in {approved:.1f}s; 1500 deliveries published in {took:.1f}s "
          f"after the worker started; sink rate first->last {rate:.0f}/s; channels {HOOKS}")


@pytest.mark.timeout(120)
def test_a_4xx_is_a_dead_letter_with_the_receivers_message_and_gongkai_retry_publishes_it_once(make_platform, sink):
    platform = make_platform(channels={"hook_a": {}})
    platform.approve(3)
    first, second, fine = platform.deliveries()
    sink.refuse = {first.idempotency_key: (400, "data.category 不在接收方的主题分类表中"),
                   second.idempotency_key: (422, "Idempotency-Key reused with a different payload")}
    platform.enqueue_due()
    platform.processes.worker()
    wait_for(lambda: platform.statuses() == Counter(dead=2, published=1), timeout=60,
             what="two dead letters and one publication", explain=platform.explain)

    failed = json.loads(platform.gongkai("deliveries", "--failed", "--json").stdout)
    assert [(row["id"], row["status"]) for row in failed] == [(first.id, "dead"), (second.id, "dead")]
    assert "HTTP 400" in failed[0]["last_error"] and "不在接收方的主题分类表中" in failed[0]["last_error"]
    assert "HTTP 422" in failed[1]["last_error"] and "reused with a different payload" in failed[1]["last_error"]
    assert sink.accepted() == {fine.idempotency_key}

    sink.refuse.clear()  # the receiver's side is fixed
    assert "replaying 1 deliveries" in platform.gongkai("retry", str(first.id)).stdout
    wait_for(lambda: platform.delivery(first.id).status == "published", timeout=30, what="the replay",
             explain=platform.explain)
    assert platform.delivery(second.id).status == "dead"  # only the one named was replayed
    assert "replaying 1 deliveries" in platform.gongkai("retry", "--all-failed").stdout
    platform.wait_published(3, timeout=30)

    assert json.loads(platform.gongkai("deliveries", "--failed", "--json").stdout) == []
    keys = [d.idempotency_key for d in (first, second, fine)]
    assert sink.accepted() == set(keys)
    assert [sink.posts_per_id()[key] for key in keys] == [2, 2, 1]  # the refused call, then the replay
    assert set(sink.confirmed_per_id().values()) == {1}
    assert len(platform.ledger()) == 3
    for delivery in (first, second):
        shown = json.loads(platform.gongkai("show", str(delivery.item_id), "--json").stdout)
        [tries] = [d["tries"] for d in shown["deliveries"] if d["id"] == delivery.id]
        sends = [(t["number"], t["outcome"]) for t in tries if t["outcome"] != "replay"]  # not the marker row
        assert sends == [(1, "permanent"), (2, "published")]  # the replay went out as a new attempt


@pytest.mark.timeout(120)
def test_forged_messages_for_an_item_in_review_or_withdrawn_publish_nothing(make_platform, sink):
    platform = make_platform(channels={"hook_a": {}})
    platform.processes.worker()
    with session_scope(platform.engine) as session:
        [in_review] = workflow.submit_items(session, settings=platform.settings, agency_code="tjj",
                                            actor=acting(session, "zhangsan"), records=[record(title="尚在审核的稿件")])
        forged = Delivery(item_id=in_review.item_id, revision=1, channel="hook_a", status=DeliveryStatus.PENDING,
                          next_attempt_at=utcnow(), idempotency_key=f"{in_review.item_id}:1:hook_a")
        session.add(forged)
    withdrawn_item, _ = platform.approve(2)
    withdrawn, control = platform.deliveries()[1:]
    with session_scope(platform.engine) as session:  # withdrawn after approval, before any worker ran
        workflow.withdraw_item(session, settings=platform.settings, agency_code="tjj", item_id=withdrawn_item,
                               actor=acting(session, "zhaoliu"), reason="数据有误，撤回")
    platform.forge(forged.id)  # a message of one id, as before batches
    platform.forge([withdrawn.id, forged.id])  # a batch
    platform.forge("1; drop table delivery")  # not ids at all
    enqueue(platform.settings, platform.engine, [control.id])
    wait_for(lambda: platform.statuses() == Counter(cancelled=2, published=1) and platform.broker_idle(),
             timeout=60, what="the forged messages handled and the control published", explain=platform.explain)

    assert sink.posts_per_id() == Counter({control.idempotency_key: 1})  # nothing else reached the channel
    assert [e.delivery_id for e in platform.ledger()] == [control.id]
    forged_row, withdrawn_row = platform.delivery(forged.id), platform.delivery(withdrawn.id)
    assert f"revision 1 of item {in_review.item_id} is not approved" in forged_row.last_error
    assert withdrawn_row.last_error == "item withdrawn before publication"
    assert withdrawn_row.attempts == 0  # the worker found nothing to claim: the withdrawal had cancelled it
    log = platform.processes.started[0].log.read_text(encoding="utf-8")
    assert f"delivery {forged.id} not sent: revision 1 of item {in_review.item_id} is not approved" in log
    assert "message ignored: '1; drop table delivery' is not a list of delivery ids" in log


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any one-second window [t, t + 1), sliding over every arrival."""
    return max((bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals)), default=0)


@pytest.mark.timeout(120)
def test_a_channel_rate_limit_holds_across_two_worker_processes(make_platform, sink):
    platform = make_platform(channels={"hook_a": {"rate_limit": 5}, "hook_b": {}})
    platform.approve(40)
    platform.enqueue_due()
    platform.processes.worker("w1")
    platform.processes.worker("w2")
    took = platform.wait_published(80, timeout=90)

    limited, free = sink.arrivals("hook_a"), sink.arrivals("hook_b")
    assert len(limited) == len(free) == 40 and set(sink.posts_per_id().values()) == {1}
    assert busiest_second(limited) <= 5
    assert busiest_second(free) > 5  # the sink does see bursts: the unlimited channel shows one
    assert all(proc.alive() for proc in platform.processes.started)
    rate = 39 / (limited[-1] - limited[0])
    tightest = min(later - first for first, later in zip(limited, limited[5:], strict=False))
    print(f"\nrate_limit 5/s over two workers: hook_a busiest second {busiest_second(limited)}, {rate:.2f}/s "
          f"first->last, 6 arrivals spanned at least {tightest:.3f}s; unlimited hook_b busiest second "
          f"{busiest_second(free)}; all 80 in {took:.1f}s")


@pytest.mark.timeout(120)
def test_a_scheduled_item_goes_out_once_within_one_sweep_interval_after_its_time(make_platform, sink):
    platform = make_platform(queue={"sweep_interval": 2.0}, channels={"hook_a": {}})
    platform.processes.beat()
    platform.processes.worker()
    platform.approve(1)
    platform.enqueue_due()
    platform.wait_published(1, timeout=60)  # the worker is consuming
    publish_at = utcnow() + timedelta(seconds=5)
    [later] = platform.approve(1, publish_at=publish_at)
    assert platform.enqueue_due() == []  # not due: nothing is handed over at approval
    platform.wait_published(2, timeout=30)

    [delivery] = [d for d in platform.deliveries() if d.item_id == later]
    [post] = [p for p in sink.posts if p.webhook_id == delivery.idempotency_key]
    late = post.arrived - publish_at.timestamp()
    assert 0 <= late <= 2.0 + 0.5, f"arrived {late:+.2f}s after publish_at"
    assert [e.published_at >= publish_at for e in platform.ledger() if e.item_id == later] == [True]
    print(f"\nscheduled item reached the sink {late:.2f}s after publish_at (sweep interval 2s)")
