"""Webhook adapter against a Standard Webhooks receiver that verifies, dedupes and can be scripted."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from datetime import date

import pytest
import requests
from doubles.server import DoubleServer, Response
from doubles.webhook import WebhookReceiver
from pydantic import ValidationError

from channels.errors import (
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Message, Receipt
from channels.webhook import Webhook

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
KEY = "41:webhook"


def make_message(**changes: object) -> Message:
    fields: dict = dict(
        idempotency_key=KEY, title="关于开展年度报告编制工作的通知", index_no="000014349/2025-00001",
        canonical_url="https://www.example.gov.cn/art/2025/1/2/art_1_1.html", published_on=date(2025, 1, 2),
        category="综合政务", kind="通知", parts={"payload.html": "<p>现将方案印发给你们。</p>"},
        metadata={"发布机构": "某市人民政府办公室", "文号": "某府办发〔2025〕1号"},
        summary="年度报告编制安排",
    )
    return Message(**{**fields, **changes})


@pytest.fixture(scope="module")
def server() -> Iterator[DoubleServer]:
    shared = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    yield shared
    shared.stop()


@pytest.fixture
def receiver(server: DoubleServer) -> WebhookReceiver:
    return WebhookReceiver(secrets=[SECRET], server=server)


def make_channel(url: str, secret: str = SECRET) -> Webhook:
    return Webhook("webhook", Webhook.Config(kind="webhook", url=url, secret=secret, timeout=0.5))


@pytest.fixture
def channel(receiver: WebhookReceiver) -> Webhook:
    return make_channel(receiver.url)


def test_success_is_signed_verified_and_accepted_once(receiver: WebhookReceiver, channel: Webhook) -> None:
    assert channel.publish(make_message()) == Receipt(KEY)
    [event] = receiver.accepted
    assert event["type"] == "content.published" and event["timestamp"] == "2025-01-02T00:00:00+08:00"
    assert event["data"]["index_no"] == "000014349/2025-00001"
    headers = receiver.server.requests[0].headers
    assert headers["webhook-id"] == KEY and headers["idempotency-key"] == f'"{KEY}"'
    assert headers["webhook-signature"].startswith("v1,")


def test_non_ascii_round_trip(receiver: WebhookReceiver, channel: Webhook) -> None:
    channel.publish(make_message())
    data = receiver.accepted[0]["data"]
    assert (data["title"], data["metadata"]["文号"], data["html"]) == (
        "关于开展年度报告编制工作的通知", "某府办发〔2025〕1号", "<p>现将方案印发给你们。</p>")
    assert "关于".encode() in receiver.server.requests[0].body       # UTF-8 on the wire, not \\u escapes


def test_receiver_id_becomes_the_remote_id(server: DoubleServer) -> None:
    receiver = WebhookReceiver(secrets=[SECRET], server=server, return_ids=True)
    assert make_channel(receiver.url).publish(make_message()) == Receipt("evt_1")


def problem(status: int, **headers: str) -> Response:
    return Response(status, b'{"title":"scripted"}', {"Content-Type": "application/problem+json", **headers})


CASES: list[tuple[str, Callable[[WebhookReceiver], None], type[Exception], str]] = [
    ("409 still processing", lambda r: r.script.append(problem(409)), TransientChannelError, "409"),
    ("410 endpoint gone", lambda r: r.script.append(problem(410)), PermanentChannelError, "410"),
    ("422 key reused", lambda r: r.script.append(problem(422)), PermanentChannelError, "422"),
    ("429 with Retry-After", lambda r: r.script.append(problem(429, **{"Retry-After": "60"})),
     RateLimited, "429"),
    ("504 without Retry-After", lambda r: r.script.append(problem(504)), TransientChannelError, "504"),
    ("500", lambda r: r.script.append(problem(500)), TransientChannelError, "500"),
    ("400", lambda r: r.script.append(problem(400)), PermanentChannelError, "400"),
    ("302 not followed", lambda r: r.script.append(Response(302, b"", {"Location": "/hooks/elsewhere"})),
     PermanentChannelError, "not followed"),
    ("secret rotated away (expired credential)", lambda r: setattr(r, "secrets", [OTHER_SECRET]),
     PermanentChannelError, "401"),
    ("receiver clock 6 min ahead", lambda r: r.clock.advance(360), PermanentChannelError, "400"),
    ("timeout", lambda r: r.server.faults.append("hang"), OutcomeUnknown, "no answer"),
    ("connection dropped", lambda r: r.server.faults.append("drop"), OutcomeUnknown, "no answer"),
]


@pytest.mark.parametrize(("arrange", "error", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_publish_errors(
    receiver: WebhookReceiver, channel: Webhook, arrange: Callable[[WebhookReceiver], None],
    error: type, text: str,
) -> None:
    arrange(receiver)
    with pytest.raises(error) as caught:
        channel.publish(make_message())
    assert type(caught.value) is error
    assert text in caught.value.message
    assert receiver.accepted == []


def test_retry_after_is_honoured(receiver: WebhookReceiver, channel: Webhook) -> None:
    receiver.script.append(problem(429, **{"Retry-After": "60"}))
    with pytest.raises(RateLimited) as caught:
        channel.publish(make_message())
    assert caught.value.retry_after == 60.0


def test_redirect_is_not_followed(receiver: WebhookReceiver, channel: Webhook) -> None:
    receiver.script.append(Response(307, b"", {"Location": receiver.url}))
    with pytest.raises(PermanentChannelError):
        channel.publish(make_message())
    assert len(receiver.server.requests) == 1


def test_signature_is_checked_by_the_receiver(receiver: WebhookReceiver) -> None:
    with pytest.raises(PermanentChannelError):
        make_channel(receiver.url, OTHER_SECRET).publish(make_message())
    assert ["No matching signature found" in r for r in receiver.rejections] == [True]
    assert receiver.accepted == []


def test_rotation_accepts_either_secret(receiver: WebhookReceiver, channel: Webhook) -> None:
    receiver.secrets = [OTHER_SECRET, SECRET]
    channel.publish(make_message())
    assert len(receiver.accepted) == 1


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientChannelError) as caught:
        make_channel(f"http://127.0.0.1:{port}/hooks").publish(make_message())
    assert type(caught.value) is TransientChannelError
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


@pytest.mark.parametrize(("arrange", "error"), [
    (lambda r: r.server.faults.append("commit-drop"), OutcomeUnknown),
    (lambda r: r.script.append("commit-500"), TransientChannelError),
], ids=["answer lost", "500 after processing"])
def test_ambiguous_commit_resend_is_deduped(
    receiver: WebhookReceiver, channel: Webhook, arrange: Callable[[WebhookReceiver], None], error: type,
) -> None:
    arrange(receiver)
    with pytest.raises(error) as caught:
        channel.publish(make_message())
    assert type(caught.value) is error
    assert Webhook.resend_is_idempotent and not Webhook.supports_lookup
    assert channel.publish(make_message()) == Receipt(KEY)      # same webhook-id, same bytes: not a 422
    first, second = receiver.server.requests
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"]
    assert len(receiver.accepted) == 1


def test_duplicate_publish_is_accepted_once(receiver: WebhookReceiver, channel: Webhook) -> None:
    channel.publish(make_message())
    channel.publish(make_message())
    assert len(receiver.accepted) == 1


def test_changed_body_under_the_same_key_is_422(receiver: WebhookReceiver, channel: Webhook) -> None:
    channel.publish(make_message())
    with pytest.raises(PermanentChannelError) as caught:
        channel.publish(make_message(title="改过的标题"))
    assert "422" in caught.value.message


def test_lookup_is_not_offered(channel: Webhook) -> None:
    with pytest.raises(OutcomeUnknown):
        channel.lookup(make_message())


def test_non_ascii_key_is_refused_before_any_request(receiver: WebhookReceiver, channel: Webhook) -> None:
    with pytest.raises(ContentRejected):
        channel.publish(make_message(idempotency_key="41:网站"))
    assert receiver.server.requests == []


@pytest.mark.parametrize("secret", ["abc", "whsec_", "whsec_not base64!"])
def test_config_rejects_a_malformed_secret(secret: str) -> None:
    with pytest.raises(ValidationError):
        make_channel("http://127.0.0.1:9/", secret)
