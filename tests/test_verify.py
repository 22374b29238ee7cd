"""Verified publications: after a channel confirms, the live copy is read back and compared with the approved
revision; a live page edited after publication is reported, by `gongkai verify`, in `deliveries` and the console."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from console_helpers import console, log_in, with_channels
from doubles.webhook import WebhookReceiver
from doubles.wechat import WeChatDouble
from doubles.wordpress import WordPressDouble
from helpers import approve_fully, submit
from sqlmodel import select

from pipeline.core.clock import beijing_today
from pipeline.core.models import AuditEvent, Delivery, DeliveryStatus
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
COVER = base64.b64decode(  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


@pytest.fixture
def doubles() -> Iterator[tuple[WordPressDouble, WeChatDouble, WebhookReceiver]]:
    wp, wechat, receiver = (WordPressDouble().start(), WeChatDouble(app_id="wx000000000000ver1").start(),
                            WebhookReceiver(secrets=[SECRET]).start())
    wechat.job_polls = 0
    yield wp, wechat, receiver
    for double in (wp, wechat, receiver):
        double.stop()


@pytest.fixture
def env(make_env, doubles, tmp_path):
    wp, wechat, receiver = doubles
    (tmp_path / "cover.png").write_bytes(COVER)
    extra = (f'[channels.cms]\nkind = "wordpress"\nbase_url = "{wp.base_url}"\nusername = "editor"\n'
             'app_password = "abcd EFGH 1234 ijkl MNOP 6789"\ntimeout = 2\n'
             f'[channels.partner]\nkind = "webhook"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\ntimeout = 2\n'
             f'[channels.wechat]\nkind = "wechat"\nbase_url = "{wechat.base_url}"\napp_id = "{wechat.app_id}"\n'
             f'app_secret = "{wechat.app_secret}"\ntimeout = 2\npoll_interval = 0\n'
             f'cover = "{tmp_path / "cover.png"}"\n')
    env = with_channels(make_env, extra, ["portal", "disclosure", "cms", "partner", "wechat"])
    approve_fully(env, submit(env, title="关于开展统计执法检查的通知", body="为规范统计工作，现开展执法检查。\n",
                              channels=["portal", "cms", "partner", "wechat"], id="v1"))
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    return env


def by_channel(env) -> dict[str, Delivery]:
    with env.session() as session:
        return {d.channel: d for d in session.exec(select(Delivery))}


def test_every_publication_is_read_back_after_it_is_confirmed(env) -> None:
    rows = by_channel(env)
    assert {c: (d.status, d.verification) for c, d in rows.items()} == {
        "portal": (DeliveryStatus.PUBLISHED, "verified"), "cms": (DeliveryStatus.PUBLISHED, "verified"),
        "wechat": (DeliveryStatus.PUBLISHED, "verified"), "partner": (DeliveryStatus.PUBLISHED, "unverifiable")}
    assert "no way to read a publication back" in rows["partner"].verification_detail


def test_a_live_page_edited_after_publication_is_reported(env, run) -> None:
    page = env.directory / "site" / "portal" / "art" / str(beijing_today().year) / "art_1.html"
    page.write_text(page.read_text(encoding="utf-8").replace("现开展执法检查", "现暂停执法检查"), encoding="utf-8")
    result = run("verify", cwd=env.directory, as_="qianqi")
    assert result.code == 1
    assert "differs" in result.out and "现暂停执法检查" in result.out and "现开展执法检查" in result.out
    portal = by_channel(env)["portal"]
    assert portal.verification == "differs" and "art_1.html" in portal.verification_detail
    with env.session() as session:
        [alert] = session.exec(select(AuditEvent).where(AuditEvent.action == "verify_differs")).all()
        assert alert.subject == f"delivery:{portal.id}"
    assert run("verify", cwd=env.directory, as_="qianqi").code == 1      # still differs; alerted once
    with env.session() as session:
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "verify_differs")).all()) == 1
    listed = run("deliveries", cwd=env.directory, as_="qianqi")
    assert "2 verified, 1 differs, 1 unverifiable, 0 not yet" in listed.out, listed.out
    assert "differ from their approved revision" in listed.out and "现暂停执法检查" in listed.out  # which, and how
    client = console(env)
    log_in(client, "qianqi")
    ops = client.get("/ops").text
    assert "与批准稿不一致 1 条" in ops and "现暂停执法检查" in ops


def test_a_wordpress_post_edited_on_the_site_is_reported(env, run, doubles) -> None:
    wp, _, _ = doubles
    [post] = wp.posts.values()
    post["title"]["raw"] = "关于取消统计执法检查的通知"
    result = run("verify 1 --json", cwd=env.directory, as_="qianqi")
    assert result.code == 1
    found = {v["channel"]: v for v in json.loads(result.out)}
    assert found["cms"]["result"] == "differs" and "title" in found["cms"]["detail"]
    assert found["portal"]["result"] == "verified" and found["wechat"]["result"] == "verified"


def test_a_wechat_article_deleted_on_the_platform_is_reported(env, run, doubles) -> None:
    _, wechat, _ = doubles
    [article] = wechat.articles.values()
    article.deleted_idx.add(1)
    result = run("verify 1 --json", cwd=env.directory, as_="qianqi")
    found = {v["channel"]: v for v in json.loads(result.out)}
    assert found["wechat"]["result"] == "differs" and "gone" in found["wechat"]["detail"]


def test_a_reviewer_may_not_run_verify(env, run) -> None:
    assert run("verify", cwd=env.directory, as_="lisi").code == 1


def test_a_new_revision_replaces_the_page_and_only_it_is_verified(env, run) -> None:
    from helpers import acting, record

    from pipeline.items import workflow

    with env.session() as session:
        workflow.submit_items(session, settings=env.settings, agency_code="tjj", actor=acting(session, "zhangsan"),
                              records=[record(title="关于开展统计执法检查的通知", body="现开展执法检查（修订）。\n",
                                              channels=["portal"], id="v1")])
    approve_fully(env, 1)
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    result = run("verify 1 --json", cwd=env.directory, as_="qianqi")
    assert result.code == 0, result.out
    assert [(v["channel"], v["result"]) for v in json.loads(result.out)] == [("portal", "verified")]


def test_a_document_and_its_interpretation_published_together_are_both_verified(make_env) -> None:
    """The interpretation's publication rewrites its document's page with a link back (相关解读): the page the
    approved revision makes now. Reading the batch back must not report gongkai's own rewrite as an edit."""
    env = make_env()
    document = submit(env, title="2026年统计公报", id="gb-2026", body="全年增长。\n")
    interpretation = submit(env, title="《2026年统计公报》解读", kind="interpretation", interprets="gb-2026",
                            body="解读正文。\n")
    for item_id in (document, interpretation):
        approve_fully(env, item_id)
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    with env.session() as session:
        deliveries = session.exec(select(Delivery)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "verify_differs")).all()
    assert [d.status for d in deliveries] == [DeliveryStatus.PUBLISHED] * 4
    page = (env.directory / "site" / "portal").rglob(f"art_{document}.html")
    assert "相关解读" in next(page).read_text(encoding="utf-8")
    assert [(d.item_id, d.channel, d.verification) for d in deliveries if d.verification != "verified"] == []
    assert events == []


def test_verify_of_an_item_that_does_not_exist_says_so_and_exits_1(env, run) -> None:
    result = run(["verify", "99"], as_="qianqi", cwd=env.directory)
    assert result.code == 1 and "no item 99 in tjj" in result.err
