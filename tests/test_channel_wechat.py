"""WeChat Official Account adapter against the stateful WeChat double: one row per way a publication can go."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests
from doubles.wechat import WeChatDouble, WeChatServer
from pydantic import SecretStr, ValidationError
from redis import Redis

from channels import REGISTRY
from channels.errors import (
    ChannelError,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Message, Receipt
from channels.wechat import WeChat, seconds_until_quota_reset
from channels.wechat_token import MemoryTokenStore, RedisTokenStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8      # every byte value, CR LF included
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 8
GIF = b"GIF89a" + bytes(200)
TITLE = "关于开展2025年度安全生产大检查的通知"
CANONICAL = "https://www.example.gov.cn/art/2025/1/2/art_1_1.html"
BODY = '<p>各区县人民政府：</p><p><img src="chart.png" alt="统计图"/></p><p>特此通知。</p>'


def make_message(directory: Path, **changes: object) -> Message:
    chart, cover = directory / "chart.png", directory / "cover.jpg"
    chart.write_bytes(PNG)
    cover.write_bytes(JPEG)
    fields: dict = dict(
        idempotency_key="41:wechat", title=TITLE, index_no="002668389/2025-00001", canonical_url=CANONICAL,
        published_on=date(2025, 1, 2), category="综合政务", kind="notice", parts={"content.html": BODY},
        summary="部署2025年度安全生产大检查工作。", images=(chart,), cover=cover,
    )
    return Message(**{**fields, **changes})


@pytest.fixture(scope="module")
def server() -> Iterator[WeChatServer]:
    listener = WeChatServer(hang_seconds=0.6).start()
    yield listener
    listener.stop()


@pytest.fixture
def double(server: WeChatServer) -> WeChatDouble:
    return WeChatDouble(app_id=f"wx{uuid.uuid4().hex[:16]}", server=server)   # fresh state, same listener


@pytest.fixture
def redis_client(double: WeChatDouble) -> Iterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379)
    yield client
    keys = list(client.scan_iter(f"gongkai:wechat:{double.app_id}:*"))   # the app id is unique per test
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def make_channel(double: WeChatDouble, redis_client: Redis) -> Callable[..., WeChat]:
    def make(store: str = "redis", **changes: object) -> WeChat:
        config = WeChat.Config(
            kind="wechat", base_url=double.base_url, app_id=double.app_id, app_secret=double.app_secret,
            author="市政府办公室", poll_attempts=3, poll_interval=0.01, timeout=0.3, **changes,
        )
        return WeChat("wechat", config, redis=redis_client if store == "redis" else None)
    return make


@pytest.fixture(params=["redis", "memory"])
def channel(request: pytest.FixtureRequest, make_channel: Callable[..., WeChat]) -> WeChat:
    return make_channel(request.param)


@pytest.fixture
def message(tmp_path: Path) -> Message:
    return make_message(tmp_path)


# ---- success ---------------------------------------------------------------------------------------

def test_success_uploads_the_inline_image_rewrites_its_src_and_sets_the_cover(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    receipt = channel.publish(message)
    [article] = double.articles.values()
    assert receipt == Receipt(article.article_id, article.url)
    [news] = article.news
    [(image_url, image)] = double.images.items()
    assert image == PNG                                   # the multipart upload arrived byte for byte
    assert f'<img src="{image_url}" alt="统计图"/>' in news["content"]
    assert double.dropped_images == []
    assert double.materials[news["thumb_media_id"]] == "image"
    assert (news["title"], news["author"], news["digest"], news["content_source_url"]) == (
        TITLE, "市政府办公室", message.summary, CANONICAL)
    assert double.answers == [("media/uploadimg", 0), ("material/add_material", 0), ("draft/add", 0),
                              ("freepublish/submit", 0), ("freepublish/get", 0), ("freepublish/get", 0)]
    assert double.token_fetches == {"stable": 1}


def test_non_ascii_is_sent_as_raw_utf8(double: WeChatDouble, channel: WeChat, message: Message) -> None:
    channel.publish(message)
    [request] = double.requests_to("draft/add")
    assert TITLE.encode("utf-8") in request.body
    assert b"\\u" not in request.body
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert double.escaped_bodies == []


def test_a_title_of_exactly_32_characters_is_published(
    double: WeChatDouble, channel: WeChat, tmp_path: Path
) -> None:
    channel.publish(make_message(tmp_path, title="通" * 32))
    assert [a.news[0]["title"] for a in double.articles.values()] == ["通" * 32]


REJECTED = [
    ("title of 33 characters", {"title": "通" * 33}, "title has 33 characters"),
    ("summary of 129 characters", {"summary": "摘" * 129}, "summary has 129 characters"),
    ("body of 20001 characters", {"parts": {"content.html": "字" * 20001}}, "body has 20001 characters"),
    ("no cover", {"cover": None}, "cover image is required"),
    ("image WeChat would drop", {"parts": {"content.html": '<img src="https://www.example.gov.cn/a.png">'}},
     "https://www.example.gov.cn/a.png"),
]


@pytest.mark.parametrize(("changes", "says"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_content_the_channel_cannot_carry_is_refused_before_any_request(
    double: WeChatDouble, channel: WeChat, tmp_path: Path, changes: dict, says: str
) -> None:
    with pytest.raises(ContentRejected, match=says):
        channel.publish(make_message(tmp_path, **changes))
    assert double.server.requests == []


# ---- failures: one row per way a call can go wrong -----------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    arrange: Callable[[WeChatDouble], None]
    raises: type[ChannelError]
    says: str
    retry_after: Callable[[], float] | None = None


def _set(**values: object) -> Callable[[WeChatDouble], None]:
    def arrange(double: WeChatDouble) -> None:
        for key, value in values.items():
            setattr(double, key, value)
    return arrange


CASES = [
    Case("busy -1 on draft/add", lambda d: d.script("draft/add", -1), TransientChannelError, "errcode -1"),
    Case("busy -1 on uploadimg", lambda d: d.script("media/uploadimg", -1), TransientChannelError, "errcode -1"),
    Case("minute quota 45011", lambda d: d.minute_quotas.update({"media/uploadimg": 0}), RateLimited,
         "errcode 45011", lambda: 60.0),
    Case("daily quota 45009", lambda d: d.daily_quotas.update({"draft/add": 0}), RateLimited,
         "errcode 45009", seconds_until_quota_reset),
    Case("publish requests too frequent 53501", lambda d: d.script("freepublish/submit", 53501), RateLimited,
         "errcode 53501", lambda: 300.0),
    Case("HTTP 502 on uploadimg", lambda d: d.fail("media/uploadimg", ("status", 502)), TransientChannelError,
         "HTTP 502"),
    Case("HTTP 503 on stable_token", lambda d: d.fail("stable_token", ("status", 503)), TransientChannelError,
         "HTTP 503"),
    Case("HTTP 502 on draft/add", lambda d: d.fail("draft/add", ("status", 502)), OutcomeUnknown, "HTTP 502"),
    Case("HTTP 504 on submit", lambda d: d.fail("freepublish/submit", ("status", 504)), OutcomeUnknown,
         "HTTP 504"),
    Case("HTTP 429", lambda d: d.fail("material/add_material", ("status", 429)), RateLimited, "HTTP 429",
         lambda: 60.0),
    Case("HTTP 404", lambda d: d.fail("material/add_material", ("status", 404)), PermanentChannelError,
         "HTTP 404"),
    Case("connection dropped on add_material", lambda d: d.fail("material/add_material", "drop"),
         TransientChannelError, "no answer"),
    Case("timeout on uploadimg", lambda d: d.fail("media/uploadimg", "hang"), TransientChannelError, "Timeout"),
    Case("timeout on stable_token", lambda d: d.fail("stable_token", "hang"), TransientChannelError, "Timeout"),
    Case("timeout on draft/add", lambda d: d.fail("draft/add", "hang"), OutcomeUnknown, "Timeout"),
    Case("connection dropped on submit", lambda d: d.fail("freepublish/submit", "drop"), OutcomeUnknown,
         "no answer"),
    Case("busy -1 while polling the job", lambda d: d.script("freepublish/get", -1), OutcomeUnknown,
         "publish_id="),
    Case("timeout while polling the job", lambda d: d.fail("freepublish/get", "hang"), OutcomeUnknown,
         "publish_id="),
    Case("job still publishing after the polls", _set(job_polls=10), OutcomeUnknown, "publish_id="),
    Case("job status 2", _set(job_outcome=2), PermanentChannelError, "publish_status 2: originality check"),
    Case("job status 3", _set(job_outcome=3), PermanentChannelError, "publish_status 3: general failure"),
    Case("job status 4", _set(job_outcome=4), PermanentChannelError, "publish_status 4: rejected by platform"),
    Case("draft failed the publish check 53503", lambda d: d.script("freepublish/submit", 53503),
         PermanentChannelError, "errcode 53503"),
    Case("api unauthorized 48001", lambda d: d.script("freepublish/submit", 48001), PermanentChannelError,
         "errcode 48001: api unauthorized rid: "),
    Case("invalid media_id 40007", lambda d: d.script("draft/add", 40007), PermanentChannelError, "errcode 40007"),
    Case("token refused again after a refresh", lambda d: d.script("draft/add", 40001, 40001),
         PermanentChannelError, "errcode 40001"),
    Case("wrong AppSecret", _set(app_secret="rotated-elsewhere"), PermanentChannelError,
         "stable_token failed: errcode 40001"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_failure_is_classified(case: Case, double: WeChatDouble, channel: WeChat, message: Message) -> None:
    case.arrange(double)
    with pytest.raises(ChannelError) as caught:
        channel.publish(message)
    error = caught.value
    assert type(error) is case.raises, error.message
    assert case.says in f"{error.message} {error.detail}"
    if case.retry_after is not None:
        assert isinstance(error, RateLimited)
        assert error.retry_after == pytest.approx(case.retry_after(), abs=5)
    assert double.articles == {}


def test_a_refused_token_is_refreshed_and_the_call_repeated_only_once(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    double.script("draft/add", 40001, 40001)
    with pytest.raises(PermanentChannelError):
        channel.publish(message)
    assert [a for a in double.answers if a[0] == "draft/add"] == [("draft/add", 40001)] * 2
    assert double.token_fetches == {"stable": 2}


def test_quota_reset_is_the_next_midnight_in_beijing() -> None:
    assert seconds_until_quota_reset(datetime(2025, 1, 1, 15, 30, tzinfo=UTC)) == 1800       # 23:30 CST
    assert seconds_until_quota_reset(datetime(2025, 1, 1, 16, 0, tzinfo=UTC)) == 86400      # 00:00 CST


def test_an_image_wechat_refuses_is_a_permanent_error(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    message.images[0].write_bytes(GIF)                    # named .png, but uploadimg takes jpg/png only
    with pytest.raises(PermanentChannelError, match="errcode 40005"):
        channel.publish(message)
    assert double.requests_to("draft/add") == []


# ---- access token ---------------------------------------------------------------------------------

def test_a_token_expiring_mid_run_is_refreshed_and_the_call_repeated(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    double.after("draft/add", lambda: double.clock.advance(7200))
    receipt = channel.publish(message)
    submits = [a for a in double.answers if a[0] == "freepublish/submit"]
    assert submits == [("freepublish/submit", 42001), ("freepublish/submit", 0)]
    assert double.token_fetches == {"stable": 2}
    assert [a.article_id for a in double.published(CANONICAL)] == [receipt.remote_id]


def test_an_unknown_token_in_redis_is_replaced(
    double: WeChatDouble, make_channel: Callable[..., WeChat], redis_client: Redis, message: Message
) -> None:
    redis_client.set(f"gongkai:wechat:{double.app_id}:access_token", "not-a-token")
    make_channel("redis").publish(message)
    assert double.answers[0] == ("media/uploadimg", 40014)
    assert double.token_fetches == {"stable": 1}


def test_instances_sharing_redis_share_one_token_and_one_refresh_after_another_holder_supersedes_it(
    double: WeChatDouble, make_channel: Callable[..., WeChat], tmp_path: Path
) -> None:
    first, second = make_channel("redis"), make_channel("redis")
    messages = [make_message(tmp_path, idempotency_key=f"{n}:wechat", canonical_url=f"{CANONICAL}?{n}")
                for n in range(4)]
    first.publish(messages[0])
    second.publish(messages[1])
    assert double.token_fetches == {"stable": 1}          # the second instance read the first one's token
    forced = requests.post(f"{double.base_url}/cgi-bin/stable_token", timeout=2, json={
        "grant_type": "client_credential", "appid": double.app_id, "secret": double.app_secret,
        "force_refresh": True}).json()                    # another holder: the old token is dead at once
    first.publish(messages[2])
    second.publish(messages[3])
    assert [a for a in double.answers if a[1]] == [("media/uploadimg", 40001)]   # only the first noticed
    assert double.token_fetches == {"stable": 3}          # initial, forced, and one refresh for both
    assert double.current["stable"] is not None and double.current["stable"].value == forced["access_token"]
    assert len(double.articles) == 4


@pytest.fixture
def token_key(redis_client: Redis) -> Iterator[str]:
    key = f"gongkai-test:{uuid.uuid4().hex}:access_token"
    yield key
    redis_client.delete(key, f"{key}:lock")


def counting_fetch(delay: float = 0.0) -> tuple[Callable[[], tuple[str, float]], list[str]]:
    issued: list[str] = []
    lock = threading.Lock()

    def fetch() -> tuple[str, float]:
        time.sleep(delay)
        with lock:
            issued.append(f"T{len(issued) + 1}")
            return issued[-1], 7200.0
    return fetch, issued


def test_a_stale_holder_invalidating_its_old_token_keeps_the_newer_one(redis_client: Redis, token_key: str) -> None:
    fetch, issued = counting_fetch()
    one, two = (RedisTokenStore(redis_client, token_key, fetch, margin=60, lock_seconds=2) for _ in range(2))
    assert one.get() == two.get() == "T1"
    one.invalidate("T1")
    assert two.get() == "T2"
    two.invalidate("T1")                                  # a late worker whose call failed with T1
    assert one.get() == "T2"
    assert issued == ["T1", "T2"]
    assert 7139_000 <= redis_client.pttl(token_key) <= 7140_000   # expires_in less the margin


def test_memory_store_invalidates_only_the_token_that_failed() -> None:
    fetch, issued = counting_fetch()
    store = MemoryTokenStore(fetch, margin=60)
    assert store.get() == "T1"
    store.invalidate("T1")
    assert store.get() == "T2"
    store.invalidate("T1")
    assert store.get() == "T2"
    assert issued == ["T1", "T2"]


class FirstReadMisses:
    """A Redis client whose first GET answers None: a worker that looked just before another stored."""

    def __init__(self, client: Redis) -> None:
        self.client, self.missed = client, False

    def get(self, key: str) -> bytes | None:
        if not self.missed:
            self.missed = True
            return None
        return self.client.get(key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


def test_a_worker_that_wins_the_lock_late_reads_again_before_fetching(redis_client: Redis, token_key: str) -> None:
    fetch, issued = counting_fetch()
    RedisTokenStore(redis_client, token_key, fetch, margin=60, lock_seconds=2).get()
    late = RedisTokenStore(FirstReadMisses(redis_client), token_key, fetch, margin=60, lock_seconds=2)  # type: ignore[arg-type]
    assert late.get() == "T1"
    assert issued == ["T1"]


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_one_fetch_for_many_concurrent_workers(redis_client: Redis, token_key: str, kind: str) -> None:
    fetch, issued = counting_fetch(delay=0.2)
    shared = MemoryTokenStore(fetch, margin=60)
    stores = [RedisTokenStore(redis_client, token_key, fetch, margin=60, lock_seconds=2, poll=0.01)
              if kind == "redis" else shared for _ in range(8)]
    barrier, results = threading.Barrier(len(stores)), []

    def work(store: RedisTokenStore | MemoryTokenStore) -> None:
        barrier.wait()
        results.append(store.get())
    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["T1"] * 8
    assert issued == ["T1"]


# ---- unknown outcomes and lookup ----------------------------------------------------------------

@pytest.mark.parametrize("fault", ["hang", "commit-drop"])
def test_lost_draft_add_then_lookup_finds_nothing_and_the_retry_publishes_once(
    fault: str, double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    double.fail("draft/add", fault)
    with pytest.raises(OutcomeUnknown):
        channel.publish(message)
    assert channel.lookup(message) is None                # a draft is not a publication
    receipt = channel.publish(message)
    assert [a.article_id for a in double.published(CANONICAL)] == [receipt.remote_id]


def test_lookup_after_lost_draft_add_finds_the_article_published_before(
    double: WeChatDouble, make_channel: Callable[..., WeChat], message: Message, tmp_path: Path
) -> None:
    receipt = make_channel("memory").publish(message)
    other_page = make_message(tmp_path, idempotency_key="42:wechat", canonical_url=CANONICAL + "?other")
    make_channel("memory").publish(other_page)           # same title, other page, listed first
    restarted = make_channel("memory")                    # remembers nothing of earlier attempts
    double.fail("draft/add", "hang")
    with pytest.raises(OutcomeUnknown):
        restarted.publish(message)
    assert restarted.lookup(message) == receipt
    assert double.requests_to("freepublish/batchget")[-1].json() == {"offset": 0, "count": 20, "no_content": 1}


def test_commit_then_drop_on_submit_then_lookup_returns_the_one_article(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    double.job_seconds = 60                               # nobody polls: the job finishes by time
    double.fail("freepublish/submit", "commit-drop")
    with pytest.raises(OutcomeUnknown):
        channel.publish(message)
    with pytest.raises(OutcomeUnknown, match="was submitted"):
        channel.lookup(message)                           # the draft left the draft box: it is publishing
    double.clock.advance(61)
    receipt = channel.lookup(message)
    [article] = double.published(CANONICAL)
    assert receipt == Receipt(article.article_id, article.url)
    assert len(double.requests_to("freepublish/submit")) == 1
    assert len(double.jobs) == 1


def test_a_submit_lost_on_its_way_is_fenced_off_by_deleting_its_draft_before_the_retry(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    double.fail("freepublish/submit", "drop")             # the request may still arrive late: not a proof
    with pytest.raises(OutcomeUnknown):
        channel.publish(message)
    assert channel.lookup(message) is None and double.drafts == {}  # a late submit now finds no draft
    receipt = channel.publish(message)
    assert [a.article_id for a in double.published(CANONICAL)] == [receipt.remote_id]


def test_a_lookup_after_a_success_whose_record_was_lost_answers_from_what_was_kept(
    double: WeChatDouble, channel: WeChat, message: Message
) -> None:
    receipt = channel.publish(message)                    # then the worker dies before the record commits
    assert channel.lookup(message) == receipt             # asked by its job, not searched for in the list
    assert double.requests_to("freepublish/batchget") == []


@pytest.mark.parametrize("int_publish_id", [False, True], ids=["str id", "int id"])
@pytest.mark.parametrize("outcome", [0, 4], ids=["published", "rejected"])
def test_a_job_still_running_after_the_polls_is_followed_up_by_its_publish_id(
    double: WeChatDouble, channel: WeChat, message: Message, int_publish_id: bool, outcome: int
) -> None:
    double.job_polls, double.job_outcome, double.int_publish_id = 4, outcome, int_publish_id
    with pytest.raises(OutcomeUnknown) as caught:
        channel.publish(message)                          # three polls, all "publishing"
    [job] = double.jobs.values()
    assert caught.value.detail == f"publish_id={job.publish_id}"
    with pytest.raises(OutcomeUnknown, match="still running"):
        channel.lookup(message)                           # fourth poll
    result = channel.lookup(message)
    if outcome == 0:
        [article] = double.articles.values()
        assert result == Receipt(article.article_id, article.url)
    else:
        assert result is None and double.articles == {}
    assert double.requests_to("freepublish/batchget") == []
    assert {r.json()["publish_id"] for r in double.requests_to("freepublish/get")} == {job.publish_id}


# ---- withdraw, configuration, registry ----------------------------------------------------------

def test_withdraw_deletes_the_article(double: WeChatDouble, channel: WeChat, message: Message) -> None:
    receipt = channel.publish(message)
    channel.withdraw(receipt)
    assert double.articles[receipt.remote_id].deleted
    [request] = double.requests_to("freepublish/delete")
    assert request.json() == {"article_id": receipt.remote_id, "index": 0}
    assert channel.lookup(message) is None                # a withdrawn article is no live publication


def test_withdrawing_an_unknown_article_is_permanent(double: WeChatDouble, channel: WeChat) -> None:
    with pytest.raises(PermanentChannelError, match="errcode 53600"):
        channel.withdraw(Receipt("ART_unknown"))


def test_configuration_needs_the_secret_and_keeps_it_out_of_sight() -> None:
    with pytest.raises(ValidationError, match="app_secret"):
        WeChat.Config(kind="wechat", app_id="wx1")
    with pytest.raises(ValidationError, match="author"):
        WeChat.Config(kind="wechat", app_id="wx1", app_secret=SecretStr("s"), author="作" * 17)
    config = WeChat.Config(kind="wechat", app_id="wx1", app_secret=SecretStr("very-secret"))
    assert "very-secret" not in repr(config)
    assert config.base_url == "https://api.weixin.qq.com"


def test_registered_as_wechat() -> None:
    assert REGISTRY["wechat"] is WeChat
    assert (WeChat.kind, WeChat.max_title_chars, WeChat.max_body_chars, WeChat.body_part) == (
        "wechat", 32, 20000, "content.html")
    assert WeChat.supports_withdraw and WeChat.supports_lookup and WeChat.needs_cover
    config = WeChat.Config(kind="wechat", app_id="wx1", app_secret=SecretStr("s"), cover="cover.jpg")
    adapter = REGISTRY["wechat"]("wechat", config, render=lambda template, context: "", redis=None)
    assert adapter.config.cover == Path("cover.jpg")    # the delivery engine passes every service by name


# ---- the double itself ----------------------------------------------------------------------------

def business_errcode(double: WeChatDouble, token: str) -> int:
    """errcode of a harmless call made with `token`: 40007 means the token itself was accepted."""
    answer = requests.post(f"{double.base_url}/cgi-bin/draft/get", params={"access_token": token},
                           json={"media_id": "none"}, timeout=2).json()
    return answer["errcode"]


def test_double_classic_token_supersedes_the_previous_one_after_the_grace(double: WeChatDouble) -> None:
    query = {"grant_type": "client_credential", "appid": double.app_id, "secret": double.app_secret}
    old, new = (requests.get(f"{double.base_url}/cgi-bin/token", params=query, timeout=2).json()["access_token"]
                for _ in range(2))
    assert business_errcode(double, old) == business_errcode(double, new) == 40007
    double.clock.advance(301)
    assert business_errcode(double, old) == 40001
    assert business_errcode(double, new) == 40007
    assert business_errcode(double, "forged") == 40014


def test_double_stable_token_is_reused_until_less_than_300_s_remain(double: WeChatDouble) -> None:
    body = {"grant_type": "client_credential", "appid": double.app_id, "secret": double.app_secret,
            "force_refresh": False}

    def fetch() -> dict:
        return requests.post(f"{double.base_url}/cgi-bin/stable_token", json=body, timeout=2).json()
    first = fetch()
    assert fetch()["access_token"] == first["access_token"]
    double.clock.advance(7200 - 299)
    rotated = fetch()
    assert rotated["access_token"] != first["access_token"] and rotated["expires_in"] == 7200
    assert business_errcode(double, first["access_token"]) == 40007     # still valid until it expires
    double.clock.advance(300)
    answer = requests.post(f"{double.base_url}/cgi-bin/draft/get", json={"media_id": "none"}, timeout=2,
                           params={"access_token": first["access_token"]}).json()
    assert answer["errcode"] == 42001 and " rid: " in answer["errmsg"]
