"""The whole office path through the browser only (Debian's Chromium driven by Playwright): an author writes an
item with an image and submits it; three reviewers each approve at their level; the item is on the static
portal and 公开目录 with its 索引号; the author sees it published with links; an operator retries a dead letter.
Screenshots of every page at 1280 px go to test-output/console-*.png."""

from __future__ import annotations

import base64
import struct
import zlib

import docx
import pytest
from browser import OUTPUT
from console_helpers import serving, with_channels
from doubles.server import DoubleServer, Response
from doubles.webhook import WebhookReceiver
from helpers import PASSWORD, add_people

from pipeline.core.clock import utcnow
from pipeline.core.models import Item

pytestmark = pytest.mark.browser
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def png(width: int = 240, height: int = 90, rgb: tuple[int, int, int] = (183, 28, 28)) -> bytes:
    row = b"\0" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


class Office:
    """One browser context per person, as if each sat at their own desk."""

    def __init__(self, browser, base: str) -> None:
        self.browser, self.base, self.problems = browser, base, []

    def desk(self, login: str):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.on("pageerror", lambda e: self.problems.append(f"{login}: page error: {e}"))
        page.on("dialog", lambda d: (self.problems.append(f"{login}: dialog {d.message}"), d.dismiss()))
        page.on("console", lambda m: self.problems.append(f"{login}: console {m.text}") if m.type == "error" else None)
        page.goto(self.base + "/")
        assert page.url.startswith(self.base + "/login")
        page.get_by_label("用户名").fill(login)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(self.base + "/")
        return page


def shot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"console-{name}.png"), full_page=True)


def test_the_office_path_in_the_browser(make_env, browser, tmp_path):
    server = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    receiver = WebhookReceiver(secrets=[SECRET], server=server)
    receiver.script = [Response(400)]                         # the partner refuses once: a dead letter
    try:
        env = with_channels(make_env, f'[channels.partner]\nkind = "webhook"\nurl = "{receiver.url}"\n'
                                      f'secret = "{SECRET}"\ntimeout = 2\n', ["portal", "disclosure", "partner"])
        (tmp_path / "chart.png").write_bytes(png())
        with serving(env) as base:
            office = Office(browser, base)
            _write_and_submit(office, tmp_path / "chart.png")
            item_id = int(office.author.url.split("/items/")[1].split("?")[0])
            for login in ("lisi", "wangwu", "zhaoliu"):
                _approve(office, login, item_id)
            _author_sees_it_published(office, item_id, env)
            _operator_retries_the_dead_letter(office, item_id, receiver)
            _officer_registers_and_closes_a_request_and_downloads_the_report(office, tmp_path)
        assert office.problems == [], "\n".join(office.problems)
    finally:
        server.stop()


def _write_and_submit(office: Office, image) -> None:
    page = office.author = office.desk("zhangsan")
    shot(page, "01-todo-author")
    page.get_by_role("link", name="撰写", exact=True).click()
    page.get_by_label("标题").fill("2026年11月全市规模以上工业生产情况")
    page.get_by_label("主题分类").select_option("统计数据")
    page.get_by_label("信息类别（第二十条）").select_option("statistics")
    page.get_by_label("文号").fill("台统〔2026〕12号")
    page.get_by_label("正文（Markdown", exact=False).fill(
        "11月，全市规模以上工业增加值同比增长6.1%。\n\n![增速图](chart.png)\n\n## 主要特点\n\n- 高技术制造业增长较快\n")
    page.get_by_label("正文图片").set_input_files(str(image))
    assert "200 字" not in page.locator("#title-count").inner_text()
    shot(page, "02-compose")
    page.get_by_role("button", name="提交审核").click()
    page.wait_for_load_state()
    assert page.locator(".field-error").all_inner_texts() == []
    page.wait_for_url("**/items/*?done=submitted")
    assert "已提交审核" in page.content()
    shot(page, "03-submitted")


def _approve(office: Office, login: str, item_id: int) -> None:
    page = office.desk(login)
    page.get_by_role("link", name="2026年11月全市规模以上工业生产情况").click()
    page.wait_for_url(f"**/items/{item_id}")
    frame = page.frame_locator("iframe[title='portal article.html']")
    image = frame.locator("img[alt='增速图']")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 240, image.get_attribute("src")  # it shows
    shot(page, f"04-review-{login}")
    page.get_by_label("审核意见", exact=False).fill("同意。")
    page.get_by_role("button", name="通过").click()
    page.wait_for_url(f"**/items/{item_id}?done=approved")
    page.context.close()


def _author_sees_it_published(office: Office, item_id: int, env) -> None:
    page = office.author
    page.goto(f"{office.base}/items/{item_id}")
    text = page.content()
    assert "已发布" in text and "002668389/2026-" in text
    links = page.locator("a[href$='.html']")
    assert links.count() >= 2
    shot(page, "05-published")
    portal = next((env.directory / "site" / "portal").rglob(f"art_{item_id}.html"))
    assert "002668389/2026-" in portal.read_text(encoding="utf-8")
    disclosure = next((env.directory / "site" / "disclosure").rglob(f"art_{item_id}.html"))
    assert "002668389/2026-" in disclosure.read_text(encoding="utf-8")


def _operator_retries_the_dead_letter(office: Office, item_id: int, receiver: WebhookReceiver) -> None:
    page = office.desk("qianqi")
    page.get_by_role("link", name="运维", exact=True).click()
    row = page.locator("tr", has_text="partner")
    assert "发送失败" in row.last.inner_text()
    shot(page, "06-ops-dead-letter")
    row.last.get_by_role("button", name="重新发送").click()
    page.wait_for_url("**/ops?done=retried")
    [event] = receiver.accepted
    assert event["data"]["title"] == "2026年11月全市规模以上工业生产情况"
    page.goto(f"{office.base}/items/{item_id}")
    assert page.locator("tr", has_text="partner").last.inner_text().count("已发布") == 1
    shot(page, "07-after-retry")


def _officer_registers_and_closes_a_request_and_downloads_the_report(office: Office, tmp_path) -> None:
    page = office.desk("qianqi")
    page.get_by_role("link", name="依申请公开", exact=True).click()
    page.get_by_label("申请人", exact=True).fill("王某")
    page.get_by_label("申请内容").fill("2025年统计公报原始数据")
    page.get_by_role("button", name="登记").click()
    page.wait_for_url("**/requests/*?done=registered")
    assert "答复期限" in page.content()
    shot(page, "08-request-registered")
    page.get_by_label("步骤").select_option("closed")
    page.get_by_label("处理结果（办结时）").select_option("disclosed")
    page.get_by_role("button", name="记录").click()
    page.wait_for_url("**/requests/*?done=recorded")
    assert "予以公开" in page.locator("table.meta").inner_text()
    shot(page, "09-request-closed")
    page.get_by_role("link", name="台账与年报", exact=True).click()
    shot(page, "10-ledger")
    page.get_by_role("link", name="2026年政府信息公开工作年度报告（核对）").click()
    shot(page, "11-report")
    with page.expect_download() as info:
        page.get_by_role("link", name="Word（DOCX）").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "tjj-2026-report-draft.docx" and len(docx.Document(str(saved)).tables) == 3


HOSTILE = '<script>window.hacked=1</script><img src=x onerror="window.hacked=2">[/]\x1b[31m'
UNLABELLED = ("() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
              ".filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name)")
PAGES = ["/", "/items", "/items/new", "/items/1", "/ops", "/requests", "/requests/1", "/appeals", "/ledger",
         "/report/2026", "/admin/people", "/admin/levels", "/audit"]


def test_hostile_text_is_shown_as_text_on_every_page_and_pages_are_accessible(make_env, browser):
    env = make_env(people=False)
    add_people(env, {"root": ("管理员", "办公室", ["admin"]),
                     "zhangsan": ("张三" + HOSTILE[:60].replace("\x1b", ""), "综合处",
                                  ["admin", "author", "disclosure_office", "operator"])})
    title = "关于<script>window.hacked=1</script>的通知"
    body = 'x <img src=x onerror="window.hacked=2"> <a href="javascript:window.hacked=3">链接</a>\n'
    with serving(env) as base:
        office = Office(browser, base)
        page = office.desk("zhangsan")
        page.goto(base + "/items/new")
        page.get_by_label("标题").fill(title)
        page.get_by_label("正文（Markdown", exact=False).fill(body)
        page.get_by_label("摘要").fill(HOSTILE.replace("\x1b", ""))
        page.get_by_role("button", name="提交审核").click()
        page.wait_for_load_state()
        assert page.locator(".field-error").all_inner_texts() == []
        page.wait_for_url("**/items/1?done=submitted")
        page.goto(base + "/requests")
        page.get_by_label("申请人", exact=True).fill("<b onmouseover=alert(1)>王某</b>")
        page.get_by_label("申请内容").fill(title)
        page.get_by_role("button", name="登记").click()
        page.wait_for_url("**/requests/1?done=registered")
        for path in PAGES:
            response = page.goto(base + path)
            assert response.status == 200, path
            assert page.evaluate("() => window.hacked") is None, path
            assert page.locator("html").get_attribute("lang") == "zh-CN", path
            assert page.locator("h1").count() == 1, path
            unlabelled = page.evaluate(UNLABELLED)
            assert unlabelled == [], (path, unlabelled)
            if path in ("/", "/items/1", "/requests/1"):
                shot(page, "hostile" + path.replace("/", "-"))
        page.goto(base + "/items/1")
        assert page.get_by_role("heading", name=title).count() == 1       # the title, literally
        page.goto(base + "/requests/1")
        assert "<b onmouseover=alert(1)>王某</b>" in page.locator("table.meta").inner_text()
    assert office.problems == [], "\n".join(office.problems)


def test_the_compose_form_is_reachable_by_keyboard(make_env, browser):
    env = make_env()
    with serving(env) as base:
        page = Office(browser, base).desk("zhangsan")
        page.goto(base + "/items/new")
        page.locator("#title").focus()
        reached = []
        for _ in range(40):
            reached.append(page.evaluate("() => document.activeElement.id || document.activeElement.name || "
                                         "document.activeElement.textContent"))
            page.keyboard.press("Tab")
        for field in ("title", "category", "kind", "doc_number", "created_on", "publish_at", "summary", "body",
                      "images", "提交审核"):
            assert field in reached, (field, reached)


def test_a_phone_width_shows_every_room_and_the_logout_without_scrolling_sideways(make_env, browser):
    from helpers import submit

    env = make_env()
    item_id = submit(env, title="关于征集2027年度统计调查项目意见的通知（手机端检查用标题）")
    with serving(env) as base:
        page = Office(browser, base).desk("qianqi")  # the most rooms: requests, ledger, operations
        page.set_viewport_size({"width": 390, "height": 844})
        for path, name in (("/", "todo"), (f"/items/{item_id}", "item"), ("/ops", "ops"), ("/ledger", "ledger")):
            page.goto(base + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            logout = page.get_by_role("button", name="退出").bounding_box()
            assert logout is not None and logout["x"] + logout["width"] <= 390, (path, logout)
            for room in page.locator("header nav a").all():
                box = room.bounding_box()
                assert box is not None and box["x"] + box["width"] <= 390, (path, room.text_content())
            shot(page, f"{name}-390")


def test_refusals_in_the_browser(make_env, browser, time_machine):
    """Self-review (no button; a forged post is a 403 and changes nothing), a stale level, a post without the
    CSRF token, a wrong password until the lockout, and a session that idled out."""
    time_machine.move_to(utcnow())
    env = make_env()
    with serving(env) as base:
        office = Office(browser, base)
        author = office.desk("zhangsan")
        author.goto(base + "/items/new")
        author.get_by_label("标题").fill("关于开展统计执法检查的通知")
        author.get_by_label("正文（Markdown", exact=False).fill("正文。\n")
        author.get_by_role("button", name="提交审核").click()
        author.wait_for_url("**/items/1?done=submitted")
        assert author.get_by_role("button", name="通过").count() == 0               # no button for the author
        token = author.locator("input[name=csrf]").first.get_attribute("value")
        forged = author.request.post(base + "/items/1/review", form={
            "csrf": token, "level": "处室审核", "revision": "1", "decision": "approve"})
        assert forged.status == 403 and "does not hold the role section_head" in forged.text()
        no_token = author.request.post(base + "/items/1/withdraw", form={"reason": "x"})
        assert no_token.status == 403 and "校验码" in no_token.text()
        first, second = office.desk("lisi"), office.desk("lisi")
        for page in (first, second):
            page.goto(base + "/items/1")
        first.get_by_role("button", name="通过").click()
        first.wait_for_url("**/items/1?done=approved")
        second.get_by_label("审核意见", exact=False).fill("退回重写")
        second.get_by_role("button", name="退回").click()                             # the stale form
        assert "awaits 保密审查 of revision 1, not 处室审核 of revision 1" in second.content()
        shot(second, "refused-stale-level")
        with env.session() as session:
            item = session.get(Item, 1)
            assert (item.status, item.current_level) == ("submitted", 1)
        stranger = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        stranger.goto(base + "/login")
        for _ in range(5):
            stranger.get_by_label("用户名").fill("wangwu")
            stranger.get_by_label("密码").fill("not the password at all")
            stranger.get_by_role("button", name="登录").click()
        assert "账号已暂时锁定" in stranger.content()
        shot(stranger, "refused-locked")
        time_machine.shift((env.settings.web.idle_minutes + 1) * 60)
        first.goto(base + "/items/1")
        assert "/login?next=/items/1" in first.url                                   # the idle session ended
    # the only error a browser saw is the stale form's answer (403 is what it is meant to get)
    assert office.problems == ["lisi: console Failed to load resource: the server responded with a status of 403 "
                               "(Forbidden)"], "\n".join(office.problems)
