"""The whole office path through the browser only (Debian's Chromium driven by Playwright): an author writes an
item with an image and submits it; three reviewers each approve at their level; the item is on the static
portal and 公开目录 with its 索引号; the author sees it published with links; an operator retries a dead letter.
Screenshots of every page at 1280 px go to test-output/console-*.png."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
from browser import OUTPUT
from console_helpers import serving, with_channels
from doubles.server import DoubleServer, Response
from doubles.webhook import WebhookReceiver
from helpers import PASSWORD, add_people

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
