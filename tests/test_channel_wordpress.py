"""WordPress adapter against the WordPress REST double, which, like WordPress, never dedupes."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import date

import pytest
import requests
from doubles.server import DoubleServer, Response
from doubles.wordpress import WordPressDouble
from pydantic import ValidationError

from channels.errors import (
    AlreadyPublished,
    ChannelMisconfigured,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Message, Receipt
from channels.wordpress import WordPress

PASSWORD = "abcd EFGH 1234 ijkl MNOP 6789"
INDEX_NO = "000014349/2025-00001"
HTML = "<p>各区人民政府、市政府各部门：现将《年度报告编制工作方案》印发给你们，请认真贯彻执行。</p>"


def make_message(**changes: object) -> Message:
    fields: dict = dict(
        idempotency_key="41:wordpress", title="关于开展年度报告编制工作的通知", index_no=INDEX_NO,
        canonical_url="https://www.example.gov.cn/art/2025/1/2/art_1_1.html", published_on=date(2025, 1, 2),
        category="综合政务", kind="通知", parts={"article.html": HTML}, summary="年度报告编制安排",
        metadata={"索引号": INDEX_NO, "发布机构": "某市人民政府办公室", "文号": "某府办发〔2025〕1号"},
        slug="notice-2025-0001",
    )
    return Message(**{**fields, **changes})


@pytest.fixture(scope="module")
def server() -> Iterator[DoubleServer]:
    shared = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    yield shared
    shared.stop()


@pytest.fixture
def wp(server: DoubleServer) -> WordPressDouble:
    return WordPressDouble(users={"editor": PASSWORD, "编辑": PASSWORD}, server=server)


def make_channel(base_url: str, **changes: object) -> WordPress:
    settings: dict = dict(kind="wordpress", base_url=base_url, username="editor", app_password=PASSWORD,
                          category_ids={"综合政务": 3}, timeout=0.5)
    return WordPress("wordpress", WordPress.Config(**{**settings, **changes}))


@pytest.fixture
def channel(wp: WordPressDouble) -> WordPress:
    return make_channel(wp.base_url)


def test_success_creates_one_post_with_the_disclosure_header(wp: WordPressDouble, channel: WordPress) -> None:
    receipt = channel.publish(make_message())
    [post] = wp.with_index_no(INDEX_NO)
    assert receipt == Receipt(str(post["id"]), post["link"])
    assert post["link"].endswith("/notice-2025-0001/")
    assert post["status"] == "publish" and post["categories"] == [3]
    assert post["meta"] == {**make_message().metadata, "gov_index_no": INDEX_NO, "gov_delivery_key": "41:wordpress"}


def test_a_new_revision_updates_the_post_of_the_earlier_one(wp: WordPressDouble, channel: WordPress) -> None:
    first = channel.publish(make_message())
    revised = make_message(idempotency_key="41:2:wordpress", parts={"article.html": "<p>修订后的正文</p>"})
    assert channel.lookup(revised) is None  # the site has the item, not this revision
    second = channel.publish(revised)
    [post] = wp.with_index_no(INDEX_NO)
    assert second.remote_id == first.remote_id and "修订后的正文" in post["content"]["raw"]
    assert channel.lookup(revised) == second


def test_non_ascii_round_trip(wp: WordPressDouble) -> None:
    channel = make_channel(wp.base_url, username="编辑", app_password=PASSWORD.replace(" ", ""))
    channel.publish(make_message())
    [post] = wp.with_index_no(INDEX_NO)
    assert (post["title"]["raw"], post["content"]["raw"], post["excerpt"]["raw"]) == (
        "关于开展年度报告编制工作的通知", HTML, "年度报告编制安排")
    assert post["author"] == "编辑"


CASES: list[tuple[str, Callable[[WordPressDouble], None], type[Exception], str]] = [
    ("429 with Retry-After", lambda d: d.script.append(Response(429, b"", {"Retry-After": "30"})),
     RateLimited, "429"),
    ("503 with Retry-After", lambda d: d.script.append(Response(503, b"", {"Retry-After": "7"})),
     RateLimited, "503"),
    ("502 without Retry-After", lambda d: d.server.faults.append(("status", 502)),
     TransientChannelError, "502"),
    ("500 db_insert_error after insert", lambda d: setattr(d, "commit_then_500", 1), OutcomeUnknown,
     "db_insert_error"),
    ("wrong application password", lambda d: d.passwords.update(editor={"revoked"}), PermanentChannelError,
     "incorrect_password"),
    ("unknown user", lambda d: d.passwords.pop("editor"), PermanentChannelError, "invalid_username"),
    ("Authorization header stripped", lambda d: setattr(d, "strip_auth", True), PermanentChannelError, "401"),
    ("403 forbidden", lambda d: d.script.append(Response.json(
        {"code": "rest_cannot_create", "message": "Sorry", "data": {"status": 403}}, 403)),
     PermanentChannelError, "rest_cannot_create"),
    ("404 no route (wrong base)", lambda d: d.script.append(Response.json(
        {"code": "rest_no_route", "message": "No route", "data": {"status": 404}}, 404)),
     PermanentChannelError, "rest_no_route"),
    ("301 not followed", lambda d: d.script.append(Response(301, b"", {"Location": "https://elsewhere/"})),
     PermanentChannelError, "not followed"),
    # the first call asks the site's schema for the meta keys (once per adapter), the second looks for the post
    ("create times out", lambda d: d.server.faults.extend([None, None, "hang"]), OutcomeUnknown, "no answer"),
    ("create connection dropped", lambda d: d.server.faults.extend([None, None, "drop"]),
     OutcomeUnknown, "no answer"),
    ("lookup times out", lambda d: d.server.faults.extend([None, "hang"]), TransientChannelError, "no answer"),
]


@pytest.mark.parametrize(("arrange", "error", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_publish_errors(
    wp: WordPressDouble, channel: WordPress, arrange: Callable[[WordPressDouble], None],
    error: type, text: str,
) -> None:
    arrange(wp)
    with pytest.raises(error) as caught:
        channel.publish(make_message())
    assert type(caught.value) is error
    assert text in caught.value.message


def test_retry_after_is_honoured(wp: WordPressDouble, channel: WordPress) -> None:
    wp.script.append(Response(429, b"", {"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        channel.publish(make_message())
    assert caught.value.retry_after == 30.0
    assert wp.posts == {}


def test_400_carries_code_and_message(wp: WordPressDouble, channel: WordPress) -> None:
    message = make_message(title="", summary="", parts={"article.html": ""})
    with pytest.raises(PermanentChannelError) as caught:
        channel.publish(message)
    assert "HTTP 400 empty_content: Content, title, and excerpt are empty." in caught.value.message
    assert wp.posts == {}


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientChannelError) as caught:
        make_channel(f"http://127.0.0.1:{port}").publish(make_message())
    assert type(caught.value) is TransientChannelError
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_ambiguous_500_is_reconciled_to_one_post(wp: WordPressDouble, channel: WordPress) -> None:
    wp.commit_then_500 = 1
    with pytest.raises(OutcomeUnknown):
        channel.publish(make_message())
    receipt = channel.lookup(make_message())
    [post] = wp.with_index_no(INDEX_NO)
    assert receipt == Receipt(str(post["id"]), post["link"])
    with pytest.raises(AlreadyPublished) as caught:      # a blind retry finds it before posting
        channel.publish(make_message())
    assert caught.value.receipt == receipt
    assert len(wp.with_index_no(INDEX_NO)) == 1


def test_commit_drop_is_reconciled_to_one_post(wp: WordPressDouble, channel: WordPress) -> None:
    wp.server.faults.extend([None, None, "commit-drop"])  # schema, slug lookup answer; the create's answer is lost
    with pytest.raises(OutcomeUnknown):
        channel.publish(make_message())
    with pytest.raises(AlreadyPublished):
        channel.publish(make_message())
    assert len(wp.with_index_no(INDEX_NO)) == 1


def test_double_has_no_dedupe(wp: WordPressDouble) -> None:
    post, auth = {"title": "t", "status": "publish", "slug": "s"}, ("editor", PASSWORD)
    for _ in range(2):
        reply = requests.post(f"{wp.base_url}/wp-json/wp/v2/posts", json=post, auth=auth, timeout=2)
        assert reply.status_code == 201
    assert sorted(p["slug"] for p in wp.posts.values()) == ["s", "s-2"]


def test_duplicate_publish_reuses_the_receipt(wp: WordPressDouble, channel: WordPress) -> None:
    first = channel.publish(make_message())
    with pytest.raises(AlreadyPublished) as caught:
        channel.publish(make_message())
    assert caught.value.receipt == first
    assert len(wp.with_index_no(INDEX_NO)) == 1


def test_slug_taken_by_another_item_is_found_by_suffix(wp: WordPressDouble, channel: WordPress) -> None:
    channel.publish(make_message(index_no="000014349/2024-00009"))   # an older item with the same slug
    receipt = channel.publish(make_message())
    assert receipt.url and receipt.url.endswith("/notice-2025-0001-2/")
    assert channel.lookup(make_message()) == receipt
    with pytest.raises(AlreadyPublished):
        channel.publish(make_message())
    assert len(wp.with_index_no(INDEX_NO)) == 1


def test_unregistered_index_meta_stops_a_second_post(wp: WordPressDouble, channel: WordPress) -> None:
    wp.registered_meta = {"索引号", "gov_index_no", "gov_delivery_key"}
    channel.publish(make_message())
    wp.registered_meta = {"索引号"}    # the plugin was switched off since this worker looked at the schema
    with pytest.raises(PermanentChannelError) as caught:
        channel.publish(make_message())
    assert "register both with show_in_rest" in caught.value.message
    assert len(wp.posts) == 1


def test_a_site_without_the_meta_keys_gets_nothing_and_is_named_misconfigured(
        wp: WordPressDouble, channel: WordPress) -> None:
    wp.registered_meta = {"索引号"}                      # the site never registered gov_index_no
    with pytest.raises(ChannelMisconfigured) as caught:
        channel.publish(make_message())
    assert "gov_index_no, gov_delivery_key" in caught.value.message and "show_in_rest" in caught.value.message
    assert wp.posts == {} and [r.method for r in wp.server.requests] == ["OPTIONS"]
    wp.registered_meta = None                            # the plugin is activated: the next try goes
    channel.publish(make_message())
    assert len(wp.posts) == 1


def test_lookup_finds_nothing_before_publishing(channel: WordPress) -> None:
    assert channel.lookup(make_message()) is None


def test_withdraw_trashes_then_repeats_are_success(wp: WordPressDouble, channel: WordPress) -> None:
    receipt = channel.publish(make_message())
    channel.withdraw(receipt)
    assert wp.posts[int(receipt.remote_id)]["status"] == "trash"
    channel.withdraw(receipt)                               # 410 rest_already_trashed
    assert [r.method for r in wp.server.requests[-2:]] == ["DELETE", "DELETE"]
    assert channel.lookup(make_message()) is None


def test_withdraw_forces_when_trash_is_disabled(wp: WordPressDouble, channel: WordPress) -> None:
    receipt = channel.publish(make_message())
    wp.trash_supported = False
    channel.withdraw(receipt)
    assert wp.posts == {}
    assert wp.server.requests[-1].query == {"force": ["true"]}
    channel.withdraw(receipt)                               # 404 rest_post_invalid_id: already gone


def test_withdraw_on_a_wrong_route_is_not_success(wp: WordPressDouble) -> None:
    channel = make_channel(wp.base_url + "/blog")
    with pytest.raises(PermanentChannelError) as caught:
        channel.withdraw(Receipt("101"))
    assert "rest_no_route" in caught.value.message


def test_missing_slug_or_category_is_refused_before_sending(wp: WordPressDouble, channel: WordPress) -> None:
    with pytest.raises(ContentRejected):
        channel.publish(make_message(slug=""))
    with pytest.raises(ContentRejected):
        channel.publish(make_message(category="未映射分类"))
    assert wp.server.requests == []


def test_config_rejects_an_unknown_status() -> None:
    with pytest.raises(ValidationError):
        make_channel("http://127.0.0.1:9", status="published")


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cf000000030001a0f7c1f30000000049454e44ae426082")
HOSTILE = "<img src=x onerror=alert(1)>关于<b>通知</b>"


def image_message(tmp_path, **changes: object) -> Message:
    """A body with one image where the portal keeps it (…/art_7/chart.png) and a cover."""
    (tmp_path / "chart.png").write_bytes(PNG)
    (tmp_path / "cover.png").write_bytes(PNG + b"cover")
    body = ('<p>正文</p><p><img src="https://www.example.gov.cn/art/2025/art_7/chart.png" alt="增速图"></p>'
            '<p><a href="art_7/chart.png">原图</a></p>')
    return make_message(slug="art_7", parts={"article.html": body}, images=(tmp_path / "chart.png",),
                        cover=tmp_path / "cover.png", **changes)


def test_images_and_cover_go_to_the_media_library_and_the_post_shows_them(
        wp: WordPressDouble, channel: WordPress, tmp_path) -> None:
    channel.publish(image_message(tmp_path))
    [post] = wp.with_index_no(INDEX_NO)
    by_bytes = {wp.files[m["source_url"]]: m for m in wp.media.values()}
    assert set(by_bytes) == {PNG, PNG + b"cover"}
    chart, cover = by_bytes[PNG], by_bytes[PNG + b"cover"]
    content = post["content"]["raw"]
    assert f'<img src="{chart["source_url"]}" alt="增速图">' in content
    assert f'<a href="{chart["source_url"]}">' in content and "art_7/chart.png" not in content
    assert post["featured_media"] == cover["id"]


def test_media_is_uploaded_once_per_content_and_reused_by_a_new_revision(
        wp: WordPressDouble, channel: WordPress, tmp_path) -> None:
    channel.publish(image_message(tmp_path))
    revised = image_message(tmp_path, idempotency_key="41:2:wordpress")
    fresh = make_channel(wp.base_url)  # another worker process: it knows nothing, the library does
    fresh.publish(revised)
    assert len(wp.media) == 2
    assert [r.method for r in wp.server.requests if r.path.endswith("/media")].count("POST") == 2
    [post] = wp.with_index_no(INDEX_NO)
    assert post["meta"]["gov_delivery_key"] == "41:2:wordpress"
    assert all(m["source_url"] in post["content"]["raw"] or m["id"] == post["featured_media"]
               for m in wp.media.values())


def test_a_missing_image_file_is_refused_before_sending(wp: WordPressDouble, channel: WordPress, tmp_path) -> None:
    with pytest.raises(ContentRejected) as caught:
        channel.publish(make_message(images=(tmp_path / "gone.png",)))
    assert "gone.png" in caught.value.message and wp.server.requests == []


def test_a_hostile_title_and_summary_are_stored_as_text(wp: WordPressDouble, channel: WordPress) -> None:
    assert wp.capabilities["unfiltered_html"]  # an editor or administrator: WordPress keeps markup as sent
    channel.publish(make_message(title=HOSTILE, summary=HOSTILE))
    [post] = wp.with_index_no(INDEX_NO)
    for field in ("title", "excerpt"):
        assert "<" not in post[field]["raw"] and ">" not in post[field]["raw"]
        assert post[field]["raw"] == "&lt;img src=x onerror=alert(1)&gt;关于&lt;b&gt;通知&lt;/b&gt;"
