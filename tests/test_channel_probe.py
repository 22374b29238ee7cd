"""`gongkai channels check` at the adapter: each double healthy and misconfigured, each failure naming its fix."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.server import DoubleServer, Response
from doubles.webhook import WebhookReceiver
from doubles.wechat import WeChatDouble, WeChatServer
from doubles.weibo import WeiboDouble
from doubles.wordpress import WordPressDouble

from channels import Finding
from channels.static import StaticSite
from channels.webhook import Webhook
from channels.wechat import WeChat
from channels.weibo import Weibo
from channels.wordpress import WordPress

PASSWORD = "abcd EFGH 1234 ijkl MNOP 6789"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture(scope="module")
def server() -> Iterator[DoubleServer]:
    shared = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    yield shared
    shared.stop()


def failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def wordpress(base_url: str, password: str = PASSWORD) -> WordPress:
    return WordPress("cms", WordPress.Config(kind="wordpress", base_url=base_url, username="editor",
                                             app_password=password, timeout=0.5))


def test_wordpress_healthy_leaves_nothing_behind(server: DoubleServer) -> None:
    wp = WordPressDouble(server=server)
    findings = wordpress(wp.base_url).probe()
    assert failed(findings) == [] and [f.what for f in findings] == ["credentials", "capabilities", "meta keys"]
    assert wp.posts == {}  # the draft that proved the meta writable is deleted


def test_wordpress_wrong_password_names_the_application_password(server: DoubleServer) -> None:
    wp = WordPressDouble(server=server)
    [finding] = failed(wordpress(wp.base_url, password="wrong").probe())
    assert finding.what == "credentials" and "incorrect_password" in finding.detail
    assert "application password" in finding.fix and "channels.cms.app_password" in finding.fix


def test_wordpress_without_the_meta_keys_names_the_plugin(server: DoubleServer) -> None:
    wp = WordPressDouble(server=server)
    wp.registered_meta = {"索引号"}
    [finding] = failed(wordpress(wp.base_url).probe())
    assert finding.what == "meta keys" and "gov_index_no, gov_delivery_key" in finding.detail
    assert "show_in_rest" in finding.fix and wp.posts == {}


def test_wordpress_a_user_who_may_not_upload(server: DoubleServer) -> None:
    wp = WordPressDouble(server=server)
    wp.capabilities["upload_files"] = False
    [finding] = failed(wordpress(wp.base_url).probe())
    assert finding.what == "capabilities" and "upload_files" in finding.detail and "Editor" in finding.fix


def webhook(url: str, secret: str = SECRET) -> Webhook:
    return Webhook("partner", Webhook.Config(kind="webhook", url=url, secret=secret, timeout=0.5))


def test_webhook_healthy_receiver_acts_on_nothing(server: DoubleServer) -> None:
    receiver = WebhookReceiver(secrets=[SECRET], server=server)
    findings = webhook(receiver.url).probe()
    assert failed(findings) == [] and len(receiver.checks) == 1 and receiver.accepted == []


def test_webhook_receiver_with_another_secret(server: DoubleServer) -> None:
    receiver = WebhookReceiver(secrets=[OTHER], server=server)
    [finding] = failed(webhook(receiver.url).probe())
    assert finding.what == "signature" and "refused" in finding.detail
    assert "same whsec_ secret as channels.partner.secret" in finding.fix


def test_webhook_receiver_that_verifies_nothing(server: DoubleServer) -> None:
    server.handle = lambda request: Response(204)
    [finding] = failed(webhook(server.base_url + "/hook").probe())
    assert finding.what == "signature" and "verify webhook-signature" in finding.fix


def test_webhook_receiver_unreachable() -> None:
    [finding] = failed(webhook("http://127.0.0.1:9/hook").probe())
    assert finding.what == "receiver" and "reach" in finding.fix


@pytest.fixture(scope="module")
def wechat_server() -> Iterator[WeChatServer]:
    listener = WeChatServer(hang_seconds=0.6).start()
    yield listener
    listener.stop()


@pytest.fixture
def wechat_double(wechat_server: WeChatServer) -> WeChatDouble:
    return WeChatDouble(server=wechat_server)


def wechat(double: WeChatDouble, **changes: object) -> WeChat:
    config = dict(kind="wechat", base_url=double.base_url, app_id=double.app_id, app_secret=double.app_secret,
                  timeout=0.5)
    return WeChat("wechat", WeChat.Config(**{**config, **changes}))


def test_wechat_healthy_says_what_happens_without_a_default_cover(wechat_double: WeChatDouble) -> None:
    findings = wechat(wechat_double).probe()
    assert failed(findings) == []
    [cover] = [f for f in findings if f.what == "default cover"]
    assert "refused" in cover.detail and "channels.wechat.cover" in cover.fix
    assert wechat_double.drafts == {} and wechat_double.articles == {}


@pytest.mark.parametrize(("arrange", "fix"), [
    (lambda d: setattr(d, "app_secret", "reset-since"), "AppSecret"),
    (lambda d: setattr(d, "ip_allowed", False), "IP whitelist"),
    (lambda d: setattr(d, "app_id", "wx0000000000000000"), "AppID"),
], ids=["wrong secret", "ip not whitelisted", "wrong appid"])
def test_wechat_misconfigured(wechat_double: WeChatDouble, arrange, fix: str) -> None:
    channel = wechat(wechat_double)
    arrange(wechat_double)
    [finding] = failed(channel.probe())
    assert finding.what == "credentials and IP whitelist" and fix in finding.fix


def test_wechat_cover_that_does_not_exist(wechat_double: WeChatDouble, tmp_path: Path) -> None:
    [finding] = failed(wechat(wechat_double, cover=tmp_path / "gone.jpg").probe())
    assert finding.what == "default cover" and "gone.jpg" in finding.detail


def test_weibo_healthy_and_expired(server: DoubleServer) -> None:
    double = WeiboDouble(server=server)
    double.issue_token("t0ken", "1234567890", lifetime=3600)
    channel = Weibo("weibo", Weibo.Config(kind="weibo", base_url=double.base_url, access_token="t0ken",
                                          rip="203.0.113.7", timeout=0.5))
    assert failed(channel.probe()) == []
    double.clock.advance(7200)
    [finding] = failed(channel.probe())
    assert finding.what == "access token" and "re-authorise" in finding.fix


def test_static_site_unwritable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    config = StaticSite.Config(kind="portal", output_dir=tmp_path / "file" / "site", public_url="http://x/")
    [finding] = failed(StaticSite("portal", config, render=lambda t, c: "").probe())
    assert finding.what == "output directory" and "write" in finding.fix
    config = StaticSite.Config(kind="portal", output_dir=tmp_path / "site", public_url="http://x/")
    assert failed(StaticSite("portal", config, render=lambda t, c: "").probe()) == []
