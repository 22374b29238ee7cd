"""Faults around a real broker: a worker SIGKILLed mid-run, Redis SIGKILLed and restarted, a receiver that
fails 30% of calls. The claim in the database, the sweep and the receiver's dedupe on webhook-id must
together give one publication per delivery: nothing lost, nothing twice."""

from __future__ import annotations

import base64
import time
from collections import Counter

import pytest
from harness import HOOKS, wait_for

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
PNG = base64.b64decode(  # a 1x1 PNG: the articles' cover
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def assert_published_once(platform, sink, total: int) -> dict[str, int]:
    """Every delivery published with one ledger entry, and accepted once by the sink; returns POSTs per id."""
    deliveries = platform.deliveries()
    keys = {d.idempotency_key for d in deliveries}
    assert len(deliveries) == total and {str(d.status) for d in deliveries} == {"published"}
    assert sink.accepted() == keys
    ledger = platform.ledger()
    assert len(ledger) == total and {e.delivery_id for e in ledger} == {d.id for d in deliveries}
    assert {d.remote_id for d in deliveries} == sink.event_ids()
    assert sink.verdicts()["bad-signature"] == 0
    return dict(sink.posts_per_id())


@pytest.mark.timeout(240)
def test_a_worker_sigkilled_three_times_mid_run_loses_nothing_and_publishes_each_once(make_platform, sink):
    platform = make_platform()
    sink.latency = 0.05  # the answer leaves 50 ms after the commit: a kill finds calls in flight
    platform.approve(200)
    total = 600
    platform.enqueue_due()
    platform.processes.beat()
    worker = platform.processes.worker()
    started, in_flight = time.monotonic(), []
    for share in (0.2, 0.45, 0.7):
        wait_for(lambda: len(sink.accepted()) >= share * total, timeout=60,  # noqa: B023
                 what=f"{share:.0%} of the publications", explain=platform.explain)
        platform.processes.kill(worker)
        in_flight.append(platform.statuses()["sending"])
        worker = platform.processes.worker()
    platform.wait_published(total, timeout=180)  # a delivery cut mid-call waits out its lease (60 s)
    took = time.monotonic() - started

    posts = assert_published_once(platform, sink, total)
    attempts = platform.attempts()
    cut = {d.idempotency_key: attempts[d.id].count("sending") for d in platform.deliveries()  # tries never finished
           if "sending" in attempts[d.id]}
    assert cut, "no kill caught a delivery in flight"
    queue = platform.settings.queue  # at most one kill's worth each time: every thread's batch
    assert sum(cut.values()) <= 3 * queue.threads * queue.batch_size
    for key, count in posts.items():  # a POST more only where a killed worker's call may have reached the sink
        assert count - 1 <= cut.get(key, 0), (key, count)
    for key, count in sink.confirmed_per_id().items():
        assert count - 1 <= cut.get(key, 0), (key, count)
    resent = [key for key, count in posts.items() if count > 1]
    print(f"\nworker killed 3x (in 'sending' just after each kill: {in_flight}); {total} published in "
          f"{took:.1f}s; {len(cut)} deliveries had a try cut by a kill, {len(resent)} of them were POSTed "
          f"again and deduped by webhook-id; raw POSTs {sum(posts.values())} for {total} publications "
          f"({sink.verdicts()['truncated']} cut off mid-request)")


@pytest.mark.timeout(180)
def test_redis_sigkilled_mid_run_and_restarted_loses_nothing_doubles_nothing(make_platform, sink, redis_server):
    platform = make_platform()
    sink.latency = 0.02
    platform.approve(200)
    total = 600
    platform.enqueue_due()
    platform.processes.beat()
    worker = platform.processes.worker()
    started = time.monotonic()
    wait_for(lambda: len(sink.accepted()) >= 0.3 * total, timeout=60, what="30% of the publications",
             explain=platform.explain)
    redis_server.kill()
    before = len(sink.accepted())
    time.sleep(3)
    redis_server.start()  # same port, same directory: the AOF brings the queue back
    restarted = time.time()
    backlog = redis_server.client().llen("celery")
    wait_for(lambda: not worker.alive() or platform.statuses()["published"] == total, timeout=120,
             what=f"{total} published deliveries", explain=platform.explain)
    assert worker.alive(), f"the worker exited instead of reconnecting:\n{worker.tail(12)}"
    took = time.monotonic() - started

    posts = assert_published_once(platform, sink, total)
    assert set(posts.values()) == {1}  # no receiver dedupe needed: nothing was sent twice
    assert backlog > 0  # the queued messages survived the kill
    after = [t for t in sink.arrivals() if t > restarted]
    queue = platform.settings.queue  # the worker reconnected and kept consuming (what was in flight aside)
    assert len(after) >= total - before - queue.threads * 2 * queue.batch_size
    print(f"\nRedis killed after {before} of {total} publications, down 3s; {backlog} messages in the queue "
          f"after the restart; {len(after)} publications after it; all {total} in {took:.1f}s, one POST each")


@pytest.mark.timeout(240)
def test_a_receiver_failing_30_percent_of_calls_still_gets_each_publication_once(make_platform, sink):
    platform = make_platform(channels={name: {"timeout": 1.0} for name in HOOKS})
    sink.fail_rate, sink.hang_seconds = 0.3, 1.5  # a hang outlasts the client's 1 s timeout
    platform.approve(100)
    total = 300
    platform.enqueue_due()
    platform.processes.beat()
    platform.processes.worker()
    took = platform.wait_published(total, timeout=180)

    posts = assert_published_once(platform, sink, total)
    verdicts = sink.verdicts()
    assert min(verdicts["5xx"], verdicts["hang"], verdicts["commit-drop"]) > 0, verdicts
    faults = verdicts["5xx"] + verdicts["hang"] + verdicts["commit-drop"]
    assert 0.2 < faults / sum(verdicts.values()) < 0.4
    assert verdicts["duplicate"] > 0  # resends after a dropped answer, deduped by webhook-id
    assert set(sink.confirmed_per_id().values()) == {1}  # never sent again after a clean 2xx
    attempts = platform.attempts()
    for delivery in platform.deliveries():  # one POST per try, and the last try published
        assert len(attempts[delivery.id]) == posts[delivery.idempotency_key]
        assert attempts[delivery.id][-1] == "published"
    print(f"\n30% faults: {total} publications in {took:.1f}s with {sum(posts.values())} raw POSTs; "
          f"verdicts {dict(verdicts)}; accepted once each")


@pytest.mark.timeout(300)
def test_wechat_slow_jobs_failed_polls_lost_answers_and_killed_workers_end_published_once_unattended(
        make_platform, tmp_path):
    """WeChat through real workers: some publish jobs outlast the adapter's polls, some first polls answer -1,
    some submit answers are lost after WeChat accepted them, and the worker is SIGKILLed twice. Every delivery
    ends published by itself (no retry, no operator), with one article at WeChat and one ledger entry each."""
    from doubles.wechat import WeChatDouble

    double = WeChatDouble(app_id="wx0000000000c4a051", hang_seconds=3.0).start()
    try:
        double.daily_quotas = {path: 10**6 for path in double.daily_quotas}
        double.slow_jobs, double.first_poll_errors = 0.3, 0.3
        double.job_seconds = 5.0  # a job also ends by itself, polled or not (one whose publish_id was lost)
        double.server.lost_answers["freepublish/submit"] = 0.1
        (tmp_path / "cover.png").write_bytes(PNG)
        platform = make_platform(
            queue={"lookup_base": 0.5, "lookup_cap": 2.0},
            channels={"wechat": {"kind": "wechat", "base_url": double.base_url, "app_id": double.app_id,
                                 "app_secret": double.app_secret, "cover": str(tmp_path / "cover.png"),
                                 "poll_attempts": 2, "poll_interval": 0.1}})
        total = 60
        platform.approve(total)
        platform.enqueue_due()
        platform.processes.beat()
        worker = platform.processes.worker()
        for share in (0.3, 0.6):
            wait_for(lambda: platform.statuses()["published"] >= share * total, timeout=90,  # noqa: B023
                     what=f"{share:.0%} published", explain=platform.explain)
            platform.processes.kill(worker)
            worker = platform.processes.worker()
        platform.wait_published(total, timeout=180)

        deliveries = platform.deliveries()
        assert {str(d.status) for d in deliveries} == {"published"} and len(deliveries) == total
        assert all(d.manual_action is None for d in deliveries)
        articles = Counter(a.news[0]["content_source_url"] for a in double.articles.values())
        assert len(articles) == total and set(articles.values()) == {1}, "an article published twice"
        assert {d.remote_id for d in deliveries} == set(double.articles)
        ledger = platform.ledger()
        assert len(ledger) == total and {e.delivery_id for e in ledger} == {d.id for d in deliveries}
        attempts = platform.attempts()
        in_doubt = [d.id for d in deliveries if {"unknown", "lookup_failed"} & set(attempts[d.id])]
        assert in_doubt, "no delivery was ever in doubt: the faults did not bite"
        print(f"\nWeChat, worker killed 2x: {total} published once each; {len(in_doubt)} were unknown on the way; "
              f"{len(double.requests_to('freepublish/get'))} freepublish/get calls")
    finally:
        double.stop()
