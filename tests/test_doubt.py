"""Doubt is never dropped: after a call whose answer was lost, nothing is sent again before a lookup settles it.

Embedded mode (no broker) against the WeChat double, as an operator would meet it: the approval, then
`gongkai retry --all-failed` or the sweep (docs/engine.md, "Doubt").
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from doubles.wechat import WeChatDouble, WeChatServer
from helpers import approval
from sqlmodel import select

import channels
from pipeline.core.models import Attempt, Delivery, DeliveryStatus, LedgerEntry, utcnow
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
ITEM = """---
title: 2020年1月份全市规模以上工业生产情况
category: 统计数据
kind: statistics
channels: [wechat]
created_on: 2020-02-20
cover: cover.png
---
一月份，全市规模以上工业增加值同比增长。
"""


@pytest.fixture(scope="module")
def server():
    server = WeChatServer(hang_seconds=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def double(server):
    return WeChatDouble(app_id="wx00000000000d0b01", server=server)


@pytest.fixture
def env(make_env, double):
    env = make_env(f'[channels.wechat]\nkind = "wechat"\nbase_url = "{double.base_url}"\n'
                   f'app_id = "{double.app_id}"\napp_secret = "{double.app_secret}"\n'
                   'poll_attempts = 2\npoll_interval = 0.01\ntimeout = 2\n')
    config = env.config.read_text(encoding="utf-8").replace(
        'channels = ["portal", "disclosure"]', 'channels = ["portal", "disclosure", "wechat"]')
    env.config.write_text(config, encoding="utf-8")
    env.settings.agencies["tjj"].channels.append("wechat")
    (env.directory / "cover.png").write_bytes(PNG)
    (env.directory / "item.md").write_text(ITEM, encoding="utf-8")
    return env


def approve(env, run) -> None:
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        result = run(approval(1, reviewer), as_=reviewer, cwd=env.directory)
        assert result.code == 0, result.err


def the_delivery(env) -> Delivery:
    with env.session() as session:
        return session.exec(select(Delivery).where(Delivery.channel == "wechat")).one()


def ledger(env) -> list[LedgerEntry]:
    with env.session() as session:
        return list(session.exec(select(LedgerEntry)))


def attempts(env, delivery_id: int) -> list[str]:
    with env.session() as session:
        return [a.outcome for a in session.exec(select(Attempt).where(Attempt.delivery_id == delivery_id)
                                                .order_by(Attempt.id))]


def make_due(env) -> None:
    with env.session() as session:
        row = session.exec(select(Delivery).where(Delivery.channel == "wechat")).one()
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)


def lose_the_submit_answer_and_fail_the_lookup(double: WeChatDouble) -> None:
    """WeChat accepts freepublish/submit but the answer is lost; the listing that would show the article answers
    42001 to the call and to its repetition with a fresh token."""
    double.fail("freepublish/submit", "commit-drop")
    double.script("freepublish/batchget", 42001, 42001)
    double.job_seconds = 0.0  # the job is done by the next call


def test_a_lost_submit_answer_then_a_failed_lookup_then_retry_all_failed_publishes_once(env, double, run):
    lose_the_submit_answer_and_fail_the_lookup(double)
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN, delivery.last_error  # in doubt, not a dead letter
    assert len(double.articles) == 1 and ledger(env) == []
    listing = run("deliveries --failed", as_="qianqi", cwd=env.directory)
    assert "unknown" in listing.out and "42001" in listing.out
    result = run("retry --all-failed", as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    assert len(double.articles) == 1, "published twice"
    assert len(double.requests_to("freepublish/submit")) == 1
    assert the_delivery(env).status == DeliveryStatus.PUBLISHED
    [entry] = ledger(env)
    assert entry.delivery_id == delivery.id


def test_the_sweep_settles_an_unknown_outcome_by_itself_and_a_token_error_is_only_a_wait(env, double, run):
    lose_the_submit_answer_and_fail_the_lookup(double)
    double.script("freepublish/batchget", 40001, 40001)  # the second lookup meets token errors too
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN and delivery.next_attempt_at is not None
    assert delivery.manual_action is None  # nobody is asked yet
    engine = Engine.build(env.settings, env.engine)
    make_due(env)
    run_dispatcher(engine, until_idle=True)
    assert the_delivery(env).status == DeliveryStatus.UNKNOWN  # 40001 twice: still in doubt, looked up later
    make_due(env)
    run_dispatcher(engine, until_idle=True)
    assert the_delivery(env).status == DeliveryStatus.PUBLISHED
    assert len(double.articles) == 1 and len(ledger(env)) == 1
    assert len(double.requests_to("freepublish/submit")) == 1
    assert attempts(env, delivery.id) == ["lookup_failed", "lookup_failed", "published"]


def test_a_slow_publish_job_is_followed_up_until_it_ends(env, double, run):
    double.job_polls = 5  # longer than the adapter's two polls
    double.script("freepublish/get", -1)  # and the first poll answers "system error"
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN and delivery.manual_action is None
    engine = Engine.build(env.settings, env.engine)
    for _ in range(6):
        if the_delivery(env).status != DeliveryStatus.UNKNOWN:
            break
        make_due(env)
        run_dispatcher(engine, until_idle=True)
    assert the_delivery(env).status == DeliveryStatus.PUBLISHED
    assert len(double.articles) == 1 and len(ledger(env)) == 1
    assert len(double.requests_to("freepublish/submit")) == 1


def test_an_outcome_unknown_past_the_horizon_asks_a_person_with_what_was_tried(env, double, run, monkeypatch):
    monkeypatch.setenv("GONGKAI_QUEUE__DOUBT_HORIZON", "0")
    lose_the_submit_answer_and_fail_the_lookup(double)
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN and delivery.next_attempt_at is None  # not looked up again
    assert "still unknown" in delivery.manual_action and "42001" in delivery.manual_action
    assert "gongkai retry" in delivery.manual_action
    listing = run("deliveries", as_="qianqi", cwd=env.directory)
    assert "still unknown" in listing.out
    double.job_seconds = 0.0
    assert run("retry --all-failed", as_="qianqi", cwd=env.directory).code == 0  # looks up first: found
    assert len(double.articles) == 1 and len(ledger(env)) == 1
    assert the_delivery(env).manual_action is None


class Unaskable(channels.REGISTRY["wechat"]):  # type: ignore[misc,valid-type]
    kind = "unaskable"
    supports_lookup = False


def test_a_channel_that_cannot_be_asked_asks_the_operator_and_retry_never_resends(env, double, run, monkeypatch):
    monkeypatch.setitem(channels.REGISTRY, "wechat", Unaskable)
    double.fail("freepublish/submit", "commit-drop")
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN and delivery.next_attempt_at is None
    assert "confirm by hand" in delivery.manual_action
    assert run("retry --all-failed", as_="qianqi", cwd=env.directory).code == 0
    assert len(double.requests_to("freepublish/submit")) == 1  # asked the operator again, did not resend
    assert the_delivery(env).status == DeliveryStatus.UNKNOWN
    delivery_id = the_delivery(env).id
    result = run(f"retry {delivery_id} --absent", as_="qianqi", cwd=env.directory)  # the operator's word
    assert result.code == 0, result.err
    assert len(double.requests_to("freepublish/submit")) == 2
    assert the_delivery(env).status == DeliveryStatus.PUBLISHED
    assert "--absent needs" in run("retry --all-failed --absent", as_="qianqi", cwd=env.directory).err


def test_a_lookup_that_meets_the_daily_quota_waits_for_its_reset(env, double, run):
    from channels.wechat import seconds_until_quota_reset

    double.fail("freepublish/submit", "commit-drop")
    double.script("freepublish/batchget", 45009)
    approve(env, run)
    delivery = the_delivery(env)
    assert delivery.status == DeliveryStatus.UNKNOWN and delivery.manual_action is None
    wait = (delivery.next_attempt_at - utcnow()).total_seconds()
    assert abs(wait - seconds_until_quota_reset()) < 60
