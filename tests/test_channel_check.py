"""`gongkai channels check` and the engine's pause: a channel whose setup is wrong is caught once, paused, and its
deliveries wait (none becomes a dead letter) until a check passes; then they go out."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from console_helpers import console, csrf, log_in, with_channels
from doubles.webhook import WebhookReceiver
from doubles.wechat import WeChatDouble
from doubles.wordpress import WordPressDouble
from helpers import approve_fully, submit
from sqlmodel import select

from pipeline.core.models import Attempt, AttemptOutcome, AuditEvent, ChannelState, Delivery, DeliveryStatus
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture
def wp() -> Iterator[WordPressDouble]:
    double = WordPressDouble().start()
    yield double
    double.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    double = WebhookReceiver(secrets=[SECRET]).start()
    yield double
    double.stop()


@pytest.fixture
def wechat() -> Iterator[WeChatDouble]:
    double = WeChatDouble(app_id="wx00000000000c4ec1").start()
    yield double
    double.stop()


@pytest.fixture
def env(make_env, wp: WordPressDouble, receiver: WebhookReceiver, wechat: WeChatDouble):
    extra = (f'[channels.cms]\nkind = "wordpress"\nbase_url = "{wp.base_url}"\nusername = "editor"\n'
             'app_password = "abcd EFGH 1234 ijkl MNOP 6789"\ntimeout = 2\n'
             f'[channels.partner]\nkind = "webhook"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\ntimeout = 2\n'
             f'[channels.wechat]\nkind = "wechat"\nbase_url = "{wechat.base_url}"\napp_id = "{wechat.app_id}"\n'
             f'app_secret = "{wechat.app_secret}"\ntimeout = 2\n')
    env = with_channels(make_env, extra, ["portal", "disclosure", "cms", "partner", "wechat"])
    return env


def publish(env, count: int, channels: list[str]) -> None:
    for n in range(count):
        approve_fully(env, submit(env, title=f"关于第{n}次统计执法检查的通知", channels=["portal", *channels],
                                  id=f"c{n}"))
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)


def deliveries(env, channel: str) -> list[Delivery]:
    with env.session() as session:
        return list(session.exec(select(Delivery).where(Delivery.channel == channel).order_by(Delivery.id)))


def test_every_channel_healthy(env, run) -> None:
    result = run("channels check --json", cwd=env.directory, as_="qianqi")
    assert result.code == 0, result.out + result.err
    checks = {c["channel"]: c for c in json.loads(result.out)}
    assert set(checks) == {"portal", "disclosure", "cms", "partner", "wechat"}
    assert all(c["ok"] for c in checks.values())


def test_a_reviewer_may_not_check_channels(env, run) -> None:
    assert run("channels check", cwd=env.directory, as_="lisi").code == 1


def test_wordpress_without_meta_keys_pauses_the_channel_and_nothing_is_dead_lettered(env, run, wp) -> None:
    wp.registered_meta = {"索引号"}
    publish(env, 3, ["cms"])
    waiting = deliveries(env, "cms")
    assert [d.status for d in waiting] == [DeliveryStatus.RETRY_WAIT] * 3 and wp.posts == {}
    assert all("channel cms is paused" in d.last_error and "show_in_rest" in d.last_error for d in waiting)
    assert [d.status for d in deliveries(env, "portal")] == [DeliveryStatus.PUBLISHED] * 3
    with env.session() as session:
        assert session.get(ChannelState, "cms").paused
        assert [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.subject == "channel:cms"))] \
            == ["channel_pause"]
    listed = run("deliveries", cwd=env.directory, as_="qianqi")
    assert "channel cms is paused" in listed.out and "show_in_rest" in listed.out
    client = console(env)
    log_in(client, "qianqi")
    ops = client.get("/ops").text
    assert "已暂停" in ops and "gongkai channels check cms" in ops and "show_in_rest" in ops

    checked = run("channels check cms", cwd=env.directory, as_="qianqi")
    assert checked.code == 1 and "FAILED" in checked.out and "register gov_index_no" in checked.out
    assert [d.status for d in deliveries(env, "cms")] == [DeliveryStatus.RETRY_WAIT] * 3

    from_console = client.post("/ops/channels/cms/check", data={"csrf": csrf(client, "/ops")})
    assert from_console.headers["location"] == "/ops?done=check-failed"

    wp.registered_meta = None                       # the site's plugin is activated
    checked = run("channels check cms", cwd=env.directory, as_="qianqi")
    assert checked.code == 0 and "3 waiting deliveries resumed" in checked.out, checked.out
    assert [d.status for d in deliveries(env, "cms")] == [DeliveryStatus.PUBLISHED] * 3
    assert len(wp.posts) == 3 and all(p["meta"]["gov_delivery_key"] for p in wp.posts.values())


def test_receiver_with_the_wrong_secret_pauses_the_channel_and_deliveries_wait(env, run, receiver) -> None:
    receiver.secrets = [OTHER]                      # the partner was given another secret
    publish(env, 2, ["partner"])
    waiting = deliveries(env, "partner")
    assert [d.status for d in waiting] == [DeliveryStatus.RETRY_WAIT] * 2 and receiver.accepted == []
    with env.session() as session:
        outcomes = [a.outcome for a in session.exec(select(Attempt).where(Attempt.delivery_id.in_(
            [d.id for d in waiting])))]
    assert AttemptOutcome.DEFERRED in outcomes and AttemptOutcome.PERMANENT not in outcomes
    checked = run("channels check partner", cwd=env.directory, as_="qianqi")
    assert checked.code == 1 and "same whsec_ secret as channels.partner.secret" in checked.out
    receiver.secrets = [SECRET]                     # the partner fixes its secret
    assert run("channels check partner", cwd=env.directory, as_="qianqi").code == 0
    assert [d.status for d in deliveries(env, "partner")] == [DeliveryStatus.PUBLISHED] * 2
    assert len(receiver.accepted) == 2


def test_wechat_wrong_secret_is_named_with_its_fix(env, run, wechat) -> None:
    wechat.app_secret = "reset-on-the-platform"
    checked = run("channels check wechat", cwd=env.directory, as_="qianqi")
    assert checked.code == 1 and "AppSecret" in checked.out
    with env.session() as session:
        assert session.get(ChannelState, "wechat").paused


def test_a_paused_channel_resumes_by_itself_once_its_recheck_passes(env, wp) -> None:
    wp.registered_meta = {"索引号"}
    publish(env, 1, ["cms"])
    [waiting] = deliveries(env, "cms")
    assert waiting.status == DeliveryStatus.RETRY_WAIT
    wp.registered_meta = None
    with env.session() as session:                  # the recheck and the delivery's wait are due
        state = session.get(ChannelState, "cms")
        state.next_check_at = waiting.next_attempt_at = waiting.created_at
        session.add(state)
        session.add(session.get(Delivery, waiting.id).sqlmodel_update({"next_attempt_at": waiting.created_at}))
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    [done] = deliveries(env, "cms")
    assert done.status == DeliveryStatus.PUBLISHED
    with env.session() as session:
        assert not session.get(ChannelState, "cms").paused


def test_the_console_checks_a_paused_channel_and_sends_what_waited(env, receiver) -> None:
    receiver.secrets = [OTHER]
    publish(env, 1, ["partner"])
    assert [d.status for d in deliveries(env, "partner")] == [DeliveryStatus.RETRY_WAIT]
    receiver.secrets = [SECRET]
    client = console(env)
    log_in(client, "qianqi")
    done = client.post("/ops/channels/partner/check", data={"csrf": csrf(client, "/ops")})
    assert done.headers["location"] == "/ops?done=checked"
    assert [d.status for d in deliveries(env, "partner")] == [DeliveryStatus.PUBLISHED]
    reviewer = console(env)
    log_in(reviewer, "lisi")
    assert reviewer.post("/ops/channels/partner/check", data={"csrf": csrf(reviewer, "/ops")}).status_code == 403
