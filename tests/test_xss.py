"""Hostile titles and bodies come out inert in every HTML rendition, and in a real browser."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from helpers import approve_fully, submit
from sqlmodel import select

from pipeline.core.models import Delivery
from pipeline.items.compose import build_message

TITLES = [
    "<script>alert('t1')</script>通知",
    '"><img src=x onerror=alert("t2")>',
    "<svg onload=alert(3)>公告",
    "javascript:alert(4)",
    "</title><script>alert(5)</script>",
    "{{ 7*7 }} {% raw %}模板注入{% endraw %}",
]
BODIES = [
    "<script>alert('b1')</script>\n\n正文",
    '<img src="x" onerror="alert(\'b2\')">',
    "[点击查看](javascript:alert('b3'))",
    "[链接](JaVaScRiPt:alert('b4'))",
    "![图](javascript:alert('b5'))",
    '<a href="http://example.test" onclick="alert(6)">x</a>',
    "<iframe src=\"javascript:alert('b7')\"></iframe>",
    "<div style=\"background:url(javascript:alert('b8'))\">x</div>",
    "<<script>script>alert('b9')<</script>/script>",
    "<p>未闭合 <b>标签 <i>嵌套",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgnYjEwJyk8L3NjcmlwdD4=)",
    "<form action=\"javascript:alert('b11')\"><button>提交</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('b12')>",
    "```html\n<script>alert('b13')</script>\n```",
]
HTML_CHANNELS = """
[channels.cms]
kind = "wordpress"
base_url = "http://127.0.0.1:9"
username = "editor"
app_password = "abcd EFGH 1234 ijkl MNOP 6789"
[channels.partner]
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
[channels.wechat]
kind = "wechat"
base_url = "http://127.0.0.1:9"
app_id = "wx0000000000000000"
app_secret = "secret"
cover = "cover.png"
"""


class Inspector(HTMLParser):
    """Collects what would make HTML active: script/iframe/object elements, event handlers, script URLs."""

    ACTIVE = {"script", "iframe", "object", "embed", "form", "svg", "math", "style", "base", "meta-refresh"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.inspecting = "<body" not in html  # a whole page: only what follows <body> carries content

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.inspecting = True
        if not self.inspecting:
            return
        if tag in self.ACTIVE:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower().replace("\t", "").replace("\n", "")
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            scheme = value.split(":", 1)[0] if ":" in value else ""
            if name in ("href", "src", "action", "formaction") and scheme in ("javascript", "data", "vbscript"):
                self.found.append(f"{tag}[{name}={value[:20]}]")
            if name == "style" and "url(" in value:
                self.found.append(f"{tag}[style url]")


def active_parts(html: str) -> list[str]:
    inspector = Inspector(html)
    inspector.feed(html)
    return inspector.found


@pytest.fixture
def hostile(make_env, tmp_path):
    (tmp_path / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    env = make_env(HTML_CHANNELS)
    env.settings.agencies["tjj"].channels += ["cms", "partner", "wechat"]
    ids = []
    for i, (title, body) in enumerate(zip(TITLES * 3, BODIES, strict=False)):
        wechat = ["wechat"] if len(title) <= 32 else []  # WeChat refuses longer titles at submission
        item_id = submit(env, title=title, body=body, channels=["portal", "disclosure", "cms", "partner", *wechat],
                         id=f"x{i}")
        approve_fully(env, item_id)
        ids.append(item_id)
    return env, ids


def test_every_html_rendition_of_every_payload_is_inert(hostile):
    env, _ = hostile
    with env.session() as session:
        deliveries = session.exec(select(Delivery)).all()
        messages = [build_message(session, env.settings, d) for d in deliveries]
    checked = 0
    for message in messages:
        for name, html in message.parts.items():
            if name.endswith(".html"):
                assert active_parts(html) == [], (message.title, name)
                checked += 1
    assert checked == len(deliveries) >= len(BODIES) * 4


def test_titles_are_shown_as_text_not_markup(hostile):
    env, _ = hostile
    with env.session() as session:
        first = session.exec(select(Delivery).where(Delivery.channel == "portal").order_by(Delivery.id)).first()
        html = build_message(session, env.settings, first).parts["article.html"]
    assert "&lt;script&gt;alert(&#39;t1&#39;)&lt;/script&gt;通知" in html
    assert "<script>alert('t1')" not in html


def test_hostile_pages_run_no_script_in_a_real_browser(hostile, browser):
    from browser import serve, url_of, visit

    from channels.static import HOME_NEWEST
    from pipeline.core.clock import beijing_today
    from pipeline.engine.dispatcher import run_dispatcher
    from pipeline.engine.runtime import Engine

    env, ids = hostile
    env.settings.agencies["tjj"].channels = ["portal", "disclosure"]
    with env.session() as session:  # only the static sites are reachable here
        for d in session.exec(select(Delivery).where(Delivery.channel.not_in(["portal", "disclosure"]))):
            session.delete(d)
    outcomes = run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    assert {o.status for o in outcomes} == {"published"}
    server = serve(env.directory / "site")
    try:
        for site in ("portal", "disclosure"):
            for item_id in ids:
                path = f"{site}/art/{beijing_today().year}/art_{item_id}.html"
                page, problems = visit(browser, f"{url_of(server)}/{path}")
                assert problems == [], path
                page.close()
            page, problems = visit(browser, f"{url_of(server)}/{site}/index.html", f"xss-{site}-index.png")
            newest = page.locator("#content > ol.entries li, section[aria-labelledby=newest] tr:has(td)")
            assert problems == [] and newest.count() == min(len(ids), HOME_NEWEST)
            page.close()
            page, problems = visit(browser, f"{url_of(server)}/{site}/year/{beijing_today().year}.html")
            assert problems == [] and page.locator("ol.entries li, table.records tbody tr").count() == len(ids)
            page.close()
    finally:
        server.shutdown()
