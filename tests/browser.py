"""Headless Chromium (Debian's) driven by Playwright, for the browser tests."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = Path(__file__).parents[1] / "test-output"
HEADER = ["索引号", "主题分类", "发布机构", "文号", "成文日期", "公开日期", "公开方式", "有效性"]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


def serve(directory: Path) -> ThreadingHTTPServer:
    """Serve a directory on loopback (stop it with .shutdown()); its URL is url_of(server)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def visit(browser, url: str, screenshot: str | None = None):
    """Open a page; return it with the console errors, page errors and dialogs it produced."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    if screenshot:
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / screenshot), full_page=True)
    return page, problems


