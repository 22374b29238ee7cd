"""Images in item bodies: checked at submission, stored once, published beside the page or uploaded."""

from __future__ import annotations

import base64
import json

import pytest
from helpers import approval
from sqlmodel import select

from pipeline.core.clock import beijing_today
from pipeline.core.config import load_settings

PNG = base64.b64decode(  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")

FRONT = """---
title: 2020年1月份全市规模以上工业生产情况
category: 统计数据
kind: statistics
channels: [portal, disclosure]
created_on: 2020-02-20
{extra}---
一月份，全市规模以上工业增加值同比增长。

{body}
"""


def item(directory, body: str, extra: str = "") -> None:
    (directory / "item.md").write_text(FRONT.format(body=body, extra=extra), encoding="utf-8")


BAD = {
    "path leaves the folder": ("![图](../secret.png)", "", 10, "the path leaves the item's folder"),
    "absolute path": ("![图](/etc/hosts.png)", "", 10, "use a path relative to the item file"),
    "remote image": ("![图](https://example.test/a.png)", "", 10, "a remote image is not copied"),
    "missing file": ("![图](nothere.png)", "", 10, "no such file"),
    "not an image": ("![图](notes.txt)", "", 10, "not an image file"),
    "no alt text": ("![](chart.png)", "", 10, "has no alt text"),
    "same name twice": ("![一](chart.png)\n\n![二](sub/chart.png)", "", 12, "two different images are named chart.png"),
    "cover outside": ("正文", "cover: ../cover.png\n", 7, "cover: image ../cover.png: the path leaves"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_image_reference_is_refused_by_line_and_writes_nothing(env, run, case):
    body, extra, line, expected = BAD[case]
    (env.directory / "chart.png").write_bytes(PNG)
    (env.directory / "sub").mkdir()
    (env.directory / "sub" / "chart.png").write_bytes(PNG + b"\0")
    (env.directory / "notes.txt").write_text("x", encoding="utf-8")
    (env.directory.parent / "secret.png").write_bytes(PNG)
    item(env.directory, body, extra)
    result = run("submit item.md", as_="zhangsan", cwd=env.directory)
    assert result.code == 1
    assert result.err.startswith(f"error: item.md:{line}: ") and expected in result.err, result.err
    assert not (env.directory / "attachments").exists()


def test_an_image_is_stored_once_and_published_beside_the_page_on_both_sites(env, run):
    (env.directory / "chart.png").write_bytes(PNG)
    item(env.directory, "![1月份工业增加值增速](chart.png)")
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        assert run(approval(1, reviewer), as_=reviewer, cwd=env.directory).code == 0
    stored = list((env.directory / "attachments").rglob("chart.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == PNG
    year = beijing_today().year
    for site in ("portal", "disclosure"):
        page = (env.directory / "site" / site / "art" / str(year) / "art_1.html").read_text(encoding="utf-8")
        assert '<img src="art_1/chart.png" alt="1月份工业增加值增速"' in page
        assert (env.directory / "site" / site / "art" / str(year) / "art_1" / "chart.png").read_bytes() == PNG
    assert run("withdraw 1 --reason 有误", as_="zhaoliu", cwd=env.directory).code == 0
    assert not (env.directory / "site" / "portal" / "art" / str(year) / "art_1").exists()


def test_a_changed_image_alone_makes_a_new_revision(env, run):
    (env.directory / "chart.png").write_bytes(PNG)
    item(env.directory, "![图](chart.png)", "id: with-image\n")
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 1  # unchanged
    (env.directory / "chart.png").write_bytes(PNG + b"\0")
    result = run("submit item.md", as_="zhangsan", cwd=env.directory)
    assert result.code == 0 and "revision 2" in result.out


def test_wechat_gets_the_image_uploaded_and_the_items_cover_through_the_engine(make_env, run):
    from doubles.wechat import WeChatDouble

    from pipeline.engine.dispatcher import run_dispatcher
    from pipeline.engine.runtime import Engine

    double = WeChatDouble(app_id="wx00000000000e2e01").start()
    try:
        env = make_env(f'[channels.wechat]\nkind = "wechat"\nbase_url = "{double.base_url}"\n'
                       f'app_id = "{double.app_id}"\napp_secret = "{double.app_secret}"\n'
                       'poll_attempts = 3\npoll_interval = 0.01\ntimeout = 2\n')
        config = env.config.read_text(encoding="utf-8").replace(
            'channels = ["portal", "disclosure"]', 'channels = ["portal", "disclosure", "wechat"]')
        env.config.write_text(config, encoding="utf-8")
        (env.directory / "chart.png").write_bytes(PNG)
        (env.directory / "cover.png").write_bytes(PNG + b"cover")
        text = FRONT.format(body="![增速图](chart.png)", extra="cover: cover.png\n")
        (env.directory / "item.md").write_text(text.replace("[portal, disclosure]", "[wechat]"), encoding="utf-8")
        assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
        for reviewer in ("lisi", "wangwu", "zhaoliu"):
            result = run(approval(1, reviewer), as_=reviewer, cwd=env.directory)
            assert result.code == 0, result.err
        assert "published" in result.out, result.out
        [article] = double.articles.values()
        [(image_url, image)] = double.images.items()
        assert image == PNG and f'src="{image_url}"' in article.news[0]["content"]
        assert double.dropped_images == []
        assert article.news[0]["content_source_url"].endswith(f"/portal/art/{beijing_today().year}/art_1.html")
        run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
        assert len(double.articles) == 1
    finally:
        double.stop()


def test_an_image_with_a_chinese_file_name_is_found_and_published(env, run):
    (env.directory / "图表.png").write_bytes(PNG)
    item(env.directory, "![增长图](图表.png)")
    result = run("submit item.md", as_="zhangsan", cwd=env.directory)
    assert result.code == 0, result.err
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        assert run(approval(1, reviewer), as_=reviewer, cwd=env.directory).code == 0
    folder = env.directory / "site" / "portal" / "art" / str(beijing_today().year) / "art_1"
    assert (folder / "图表.png").read_bytes() == PNG


def test_the_body_is_rendered_once_at_submission_and_every_channel_publishes_that_html(env, run, monkeypatch):
    """Reviewers approve the HTML stored with the revision; publishing does not render the Markdown again, so a
    change of the renderer after approval cannot change what was approved."""
    import pipeline.items.compose
    from pipeline.core.models import Revision

    (env.directory / "chart.png").write_bytes(PNG)
    item(env.directory, "![1月份工业增加值增速](chart.png)\n\n**附注**：数据来源于联网直报。")
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    with env.session() as session:
        stored = session.exec(select(Revision)).one().body_html
    assert '<img src="art_1/chart.png" alt="1月份工业增加值增速">' in stored and "<strong>附注</strong>" in stored
    monkeypatch.setattr(pipeline.items.compose, "markdown_to_html", lambda *args: pytest.fail("rendered again"))
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        assert run(approval(1, reviewer), as_=reviewer, cwd=env.directory).code == 0
    for site in ("portal", "disclosure"):
        page = (env.directory / "site" / site / "art" / str(beijing_today().year) / "art_1.html").read_text("utf-8")
        assert stored in page


def test_other_channels_point_at_the_portals_copy_and_a_revision_stored_without_html_is_shown_alike(env, run):
    """A channel that is not a static site gets the images at the portal's address; a revision submitted before
    the HTML was stored (body_html NULL, migration 0008) is rendered when shown, to the same HTML."""
    from pipeline.core.models import Item, Revision, utcnow
    from pipeline.core.render import markdown_to_html
    from pipeline.items.compose import item_view

    (env.directory / "chart.png").write_bytes(PNG)
    item(env.directory, "正文。\n\n![1月份工业增加值增速](chart.png)")
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
    with env.session() as session:
        row, revision = session.get(Item, 1), session.exec(select(Revision)).one()
        now = utcnow()
        views = {local: item_view(session, env.settings, row, revision, now, local_images=local).body_html
                 for local in (True, False)}
        portal = item_view(session, env.settings, row, revision, now).canonical_url.rsplit("/", 1)[0]
        assert portal and views[True] != views[False]
        assert views[False] == markdown_to_html(revision.body, {"chart.png": f"{portal}/art_1/chart.png"})
        revision.body_html = None
        assert {local: item_view(session, env.settings, row, revision, now, local_images=local).body_html
                for local in (True, False)} == views
        session.rollback()


def test_a_wordpress_portal_gets_images_in_its_media_library_once_and_gives_the_canonical_url(make_env, run):
    from doubles.wordpress import WordPressDouble

    from pipeline.core.models import Delivery
    from pipeline.items.compose import build_message

    wp = WordPressDouble().start()
    try:
        env = make_env(f'[channels.cms]\nkind = "wordpress"\nbase_url = "{wp.base_url}"\nusername = "editor"\n'
                       'app_password = "abcd EFGH 1234 ijkl MNOP 6789"\npermalink = "https://cms.example/{slug}/"\n')
        config = env.config.read_text(encoding="utf-8").replace('channels = ["portal", "disclosure"]',
                                                                'channels = ["cms"]')
        env.config.write_text(config, encoding="utf-8")
        (env.directory / "chart.png").write_bytes(PNG)
        (env.directory / "cover.png").write_bytes(PNG + b"cover")
        text = FRONT.format(body="![增速图](chart.png)", extra="id: cms-1\ncover: cover.png\n")
        (env.directory / "item.md").write_text(text.replace("[portal, disclosure]", "[cms]"), encoding="utf-8")
        for revision, body in ((1, "一月份"), (2, "一月份（修订）")):
            (env.directory / "item.md").write_text(
                (env.directory / "item.md").read_text(encoding="utf-8").replace("一月份", body, 1), encoding="utf-8")
            assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0
            for reviewer in ("lisi", "wangwu", "zhaoliu"):
                result = run(approval(1, reviewer, revision), as_=reviewer, cwd=env.directory)
                assert result.code == 0, result.err
            assert "published" in result.out, result.out
        [post] = wp.posts.values()
        assert "（修订）" in post["content"]["raw"]
        assert len(wp.media) == 2 and sorted(wp.files.values()) == [PNG, PNG + b"cover"]
        chart = next(m for m in wp.media.values() if wp.files[m["source_url"]] == PNG)
        assert f'src="{chart["source_url"]}"' in post["content"]["raw"]
        assert post["featured_media"] != chart["id"] and post["featured_media"] in wp.media
        with env.session() as session:
            delivery = session.exec(select(Delivery).where(Delivery.revision == 2)).one()
            assert build_message(session, load_settings(env.config), delivery).canonical_url == \
                "https://cms.example/art_1/"
    finally:
        wp.stop()


def test_preview_of_an_item_the_channel_would_refuse_says_why_and_shows_the_rest(make_env, run, tmp_path):
    env = make_env('[channels.wechat]\nkind = "wechat"\nbase_url = "http://127.0.0.1:9"\n'
                   'app_id = "wx0000000000000000"\napp_secret = "secret"\n')
    config = env.config.read_text(encoding="utf-8").replace(
        'channels = ["portal", "disclosure"]', 'channels = ["portal", "disclosure", "wechat"]')
    env.config.write_text(config, encoding="utf-8")
    (env.directory / "chart.png").write_bytes(PNG)
    text = FRONT.format(body="![增速图](chart.png)\n\n" + "全市规模以上工业增加值同比增长。" * 20, extra="")
    (env.directory / "item.md").write_text(text.replace("[portal, disclosure]", "[portal]"), encoding="utf-8")
    assert run("submit item.md", as_="zhangsan", cwd=env.directory).code == 0  # would it do for WeChat too?

    result = run(f"preview 1 --channel wechat --out {tmp_path}/w", cwd=env.directory)
    assert result.code == 0 and "Traceback" not in result.out + result.err, result.err
    assert "would refuse it: wechat: a cover image is required" in result.out
    assert not result.out.lstrip().startswith("{")                     # a summary, not one JSON string
    assert "articles[0].title" in result.out and "characters)" in result.out
    page = (tmp_path / "w" / "content.html").read_text(encoding="utf-8")
    assert 'src="art_1/chart.png"' in page and (tmp_path / "w" / "art_1" / "chart.png").read_bytes() == PNG

    raw = run(f"preview 1 --channel wechat --out {tmp_path}/j --json", cwd=env.directory)
    assert raw.code == 0 and "a cover image is required" in raw.err
    assert json.loads(raw.out)["articles"][0]["title"] == "2020年1月份全市规模以上工业生产情况"

    portal = run(f"preview 1 --channel portal --out {tmp_path}/p", cwd=env.directory)
    assert portal.code == 0 and "would accept it" in portal.out
    assert (tmp_path / "p" / "art_1" / "chart.png").read_bytes() == PNG
