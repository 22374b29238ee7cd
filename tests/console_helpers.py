"""The console in-process (Starlette's TestClient) for the fast tier; tests/test_console_browser.py drives it in
Chromium."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from helpers import PASSWORD
from starlette.testclient import TestClient

from pipeline.core.clock import beijing_today
from pipeline.web.app import create_app


def console(env: Any) -> TestClient:
    """A browser of its own (cookies) on the console of `env`, whose people the env fixture added."""
    return TestClient(create_app(env.settings, env.engine), follow_redirects=False)


def log_in(client: TestClient, login: str, password: str = PASSWORD) -> Any:
    form = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"login": login, "password": password, "nonce": nonce, "next": "/"})


def csrf(client: TestClient, path: str = "/") -> str:
    """The CSRF token a page of this session carries in its forms."""
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get(path).text).group(1)


ITEM = {"title": "关于开展统计执法检查的通知", "category": "通知公告", "kind": "notice", "created_on": "2026-12-01",
        "channels": ["portal", "disclosure"], "body": "为规范统计工作，现开展执法检查。\n"}


def write(client: TestClient, **fields: Any) -> Any:
    """Submit ITEM (with `fields` changed) through the 撰写 form, formed today (Beijing): not yet late."""
    data = {**ITEM, "created_on": beijing_today().isoformat(), **fields}
    return client.post("/items/new", data={"csrf": csrf(client), **data})


def with_channels(make_env: Any, extra: str, channels: list[str]) -> Any:
    """An env whose agency publishes to `channels`, with `extra` channel sections."""
    from pipeline.core.config import load_settings

    env = make_env(extra)
    text = env.config.read_text(encoding="utf-8")
    env.config.write_text(text.replace('channels = ["portal", "disclosure"]', f"channels = {channels!r}".replace(
        "'", '"'), 1), encoding="utf-8")
    env.settings = load_settings(env.config)
    return env


@contextmanager
def serving(env: Any) -> Iterator[str]:
    """The console served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(env.settings, env.engine), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
