"""Weibo adapter against the stateful Weibo double: one row per way a post can go."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import date

import pytest
import requests
from doubles.server import DoubleServer, Response
from doubles.weibo import WeiboDouble

from channels.errors import (
    AlreadyPublished,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Message, Receipt
from channels.weibo import Weibo

TOKEN, UID = "2.00TestToken", "7654321098"
CANONICAL = "https://www.example.gov.cn/art/2025/1/2/art_1_1.html"
TEXT = f"【通知】关于开展2025年度政府信息公开工作年度报告编制工作的通知（〔2025〕1号）🏛 {CANONICAL}"


def make_message(text: str = TEXT, **changes: object) -> Message:
    fields: dict = dict(
        idempotency_key="41:weibo", title="关于开展年度报告编制工作的通知", index_no="000014349/2025-00001",
        canonical_url=CANONICAL, published_on=date(2025, 1, 2), category="综合政务", kind="通知",
        parts={"status.txt": text + "\n"},
    )
    return Message(**{**fields, **changes})


@pytest.fixture(scope="module")
def server() -> Iterator[DoubleServer]:
    shared = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    yield shared
    shared.stop()


@pytest.fixture
def weibo(server: DoubleServer) -> WeiboDouble:
    double = WeiboDouble(server=server)     # fresh state on the module's listener
    double.issue_token(TOKEN, UID, lifetime=3600)
    return double


def make_channel(base_url: str) -> Weibo:
    config = Weibo.Config(kind="weibo", base_url=base_url, access_token=TOKEN, rip="203.0.113.7", timeout=0.5)
    return Weibo("weibo", config)


@pytest.fixture
def channel(weibo: WeiboDouble) -> Weibo:
    return make_channel(weibo.base_url)


def test_success_records_idstr_and_url(weibo: WeiboDouble, channel: Weibo) -> None:
    receipt = channel.publish(make_message())
    [post] = weibo.posts
    assert receipt == Receipt(post.idstr, f"https://weibo.com/{UID}/{post.idstr}")
    assert int(receipt.remote_id) > 2**53      # `id` would have lost digits in a JS number; idstr did not
    form = weibo.server.requests[0].form()
    assert form == {"status": [TEXT], "rip": ["203.0.113.7"]}    # the token travels in the header only
    assert weibo.server.requests[0].headers["authorization"] == f"OAuth2 {TOKEN}"


def test_non_ascii_round_trip(weibo: WeiboDouble, channel: Weibo) -> None:
    receipt = channel.publish(make_message())
    assert weibo.posts[0].text == TEXT
    assert channel.lookup(make_message()) == receipt


CASES: list[tuple[str, Callable[[WeiboDouble], None], type[Exception], str]] = [
    ("system error 10001", lambda d: d.script.append(10001), TransientChannelError, "10001"),
    ("service paused 10002 as 503", lambda d: d.script.append((10002, 503)), TransientChannelError, "10002"),
    ("busy 10009", lambda d: d.script.append(10009), TransientChannelError, "10009"),
    ("bare HTTP 500", lambda d: d.server.faults.append(("status", 500)), TransientChannelError, "HTTP 500"),
    ("HTTP 502 without Retry-After", lambda d: d.server.faults.append(("status", 502)),
     TransientChannelError, "502"),
    ("user hourly quota 10024", lambda d: setattr(d, "hourly_posts", 0), RateLimited, "10024"),
    ("IP hourly limit 10022", lambda d: d.script.append(10022), RateLimited, "10022"),
    ("posting too often 20016", lambda d: d.script.append(20016), RateLimited, "20016"),
    ("429 with Retry-After", lambda d: d.script.append(Response(429, b"", {"Retry-After": "120"})),
     RateLimited, "429"),
    ("domain not bound 10017 (400)", lambda d: setattr(d, "safe_domains", ("other.gov.cn",)),
     PermanentChannelError, "10017"),
    ("server counts stricter: 20012", lambda d: setattr(d, "max_chars", 20), PermanentChannelError, "20012"),
    ("token expired 21327", lambda d: d.clock.advance(3601), PermanentChannelError, "re-authorise"),
    ("token revoked 21332", lambda d: d.revoke(TOKEN), PermanentChannelError, "re-authorise"),
    ("similar content 20017, not ours", lambda d: d.script.append(20017), PermanentChannelError, "20017"),
    ("timeout (blacklist silence)", lambda d: d.server.faults.append("hang"), OutcomeUnknown, "no answer"),
    ("connection dropped after sending", lambda d: d.server.faults.append("drop"),
     OutcomeUnknown, "no answer"),
]


@pytest.mark.parametrize(("arrange", "error", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_publish_errors(
    weibo: WeiboDouble, channel: Weibo, arrange: Callable[[WeiboDouble], None], error: type, text: str,
) -> None:
    arrange(weibo)
    with pytest.raises(error) as caught:
        channel.publish(make_message())
    assert type(caught.value) is error
    assert text in caught.value.message
    assert weibo.posts == []


@pytest.mark.parametrize(("arrange", "seconds"), [
    (lambda d: setattr(d, "hourly_posts", 0), 3600.0),
    (lambda d: d.script.append(20016), 300.0),
    (lambda d: d.script.append(Response(429, b"", {"Retry-After": "120"})), 120.0),
], ids=["hourly window", "burst minutes", "Retry-After honoured"])
def test_rate_limits_say_when_to_retry(
    weibo: WeiboDouble, channel: Weibo, arrange: Callable[[WeiboDouble], None], seconds: float,
) -> None:
    arrange(weibo)
    with pytest.raises(RateLimited) as caught:
        channel.publish(make_message())
    assert caught.value.retry_after == seconds


def test_connection_refused_is_transient_not_unknown() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientChannelError) as caught:
        make_channel(f"http://127.0.0.1:{port}").publish(make_message())
    assert type(caught.value) is TransientChannelError
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_ambiguous_commit_is_found_not_posted_twice(weibo: WeiboDouble, channel: Weibo) -> None:
    weibo.server.faults.append("commit-drop")
    with pytest.raises(OutcomeUnknown):
        channel.publish(make_message())
    receipt = channel.lookup(make_message())
    assert receipt == Receipt(weibo.posts[0].idstr, f"https://weibo.com/{UID}/{weibo.posts[0].idstr}")
    with pytest.raises(AlreadyPublished) as caught:      # a blind retry is reconciled through 20019
        channel.publish(make_message())
    assert caught.value.receipt == receipt
    assert len(weibo.posts_with(TEXT)) == 1


def test_lookup_after_lost_request_finds_nothing(weibo: WeiboDouble, channel: Weibo) -> None:
    weibo.server.faults.append("drop")
    with pytest.raises(OutcomeUnknown):
        channel.publish(make_message())
    assert channel.lookup(make_message()) is None
    assert channel.publish(make_message()).remote_id == weibo.posts[0].idstr
    assert len(weibo.posts_with(TEXT)) == 1


def test_duplicate_reuses_the_first_receipt(weibo: WeiboDouble, channel: Weibo) -> None:
    first = channel.publish(make_message())
    with pytest.raises(AlreadyPublished) as caught:
        channel.publish(make_message())
    assert caught.value.receipt == first
    assert len(weibo.posts) == 1


def test_duplicate_code_without_a_matching_status_is_permanent(weibo: WeiboDouble, channel: Weibo) -> None:
    weibo.script.append(20019)
    with pytest.raises(PermanentChannelError) as caught:
        channel.publish(make_message())
    assert type(caught.value) is PermanentChannelError
    assert "timeline" in caught.value.message


def test_delayed_20032_is_success_without_an_id(weibo: WeiboDouble, channel: Weibo) -> None:
    weibo.delayed = True
    receipt = channel.publish(make_message())
    assert receipt == Receipt("delayed:41:weibo", None)
    assert len(weibo.posts) == 1
    assert channel.lookup(make_message()) is None           # not visible for a minute or two
    weibo.clock.advance(120)
    assert channel.lookup(make_message()) == Receipt(weibo.posts[0].idstr, f"https://weibo.com/{UID}/{weibo.posts[0].idstr}")


def test_over_long_text_is_refused_before_any_request(weibo: WeiboDouble, channel: Weibo) -> None:
    text = "通" * (141 - len(CANONICAL) - 1) + " " + CANONICAL
    with pytest.raises(ContentRejected) as caught:
        channel.publish(make_message(text))
    assert "141" in caught.value.message
    assert weibo.server.requests == []


def test_exactly_140_characters_is_sent(weibo: WeiboDouble, channel: Weibo) -> None:
    text = "通" * (140 - len(CANONICAL) - 1) + " " + CANONICAL
    channel.publish(make_message(text))
    assert weibo.posts_with(text)


def test_status_without_the_canonical_link_is_refused(weibo: WeiboDouble, channel: Weibo) -> None:
    with pytest.raises(ContentRejected):
        channel.publish(make_message("关于开展年度报告编制工作的通知 https://www.example.gov.cn/"))
    assert weibo.server.requests == []


def test_lookup_timeout_is_transient(weibo: WeiboDouble, channel: Weibo) -> None:
    weibo.server.faults.append("hang")
    with pytest.raises(TransientChannelError) as caught:
        channel.lookup(make_message())
    assert type(caught.value) is TransientChannelError


def test_double_refuses_get_on_share(weibo: WeiboDouble) -> None:
    reply = requests.get(f"{weibo.base_url}/2/statuses/share.json", params={"access_token": TOKEN}, timeout=2)
    assert reply.json()["error_code"] == "10021"


def test_withdraw_is_not_supported(channel: Weibo) -> None:
    assert not Weibo.supports_withdraw
    with pytest.raises(PermanentChannelError):
        channel.withdraw(Receipt("1"))
