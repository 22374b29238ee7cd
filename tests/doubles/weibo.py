"""Weibo API v2 double: `statuses/share` and `statuses/user_timeline` (channel-apis.md §2.5).

Multipart and `pic` are not modelled: the adapter posts text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit

from .server import Clock, DoubleServer, Request, Response

ERRORS = {
    10001: "System error", 10002: "Service unavailable", 10009: "Too many pending tasks, system is busy",
    10016: "Miss required parameter (%s) , see doc for more info.", 10017: "appkey not bind domain!",
    10020: "Request api not found!", 10021: "HTTP method not supported!",
    10022: "IP requests out of rate limit!", 10023: "User requests out of rate limit!",
    10024: "User requests for (/2/statuses/share) out of rate limit!",
    20012: "Text too long, please input text less than 140 characters!", 20016: "Out of limit!",
    20019: "Repeat conetnt!", 20021: "Content is illegal!",
    20032: "Update success, while server slow now, please wait 1-2 minutes",
    21327: "expired_token", 21332: "invalid_access_token",
}
URL = re.compile(r"https?://[^\s]+")


@dataclass
class Post:
    idstr: str
    uid: str
    text: str
    rip: str
    at: float           # clock time of the post
    visible_at: float   # a 20032 post shows up in the timeline a little later


class WeiboDouble:
    """Token registry, posting quota, duplicate detection and scripted vendor errors on a Clock."""

    def __init__(
        self, *, clock: Clock | None = None, safe_domains: tuple[str, ...] = ("www.example.gov.cn",),
        max_chars: int = 140, hourly_posts: int = 30, duplicate_window: float = 86400.0,
        require_rip: bool = True, reject_topics: bool = False, token_status: int = 403,
        hang_seconds: float = 1.0, server: DoubleServer | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.safe_domains = safe_domains
        self.max_chars = max_chars
        self.hourly_posts = hourly_posts
        self.duplicate_window = duplicate_window
        self.require_rip = require_rip
        self.reject_topics = reject_topics
        self.token_status = token_status        # HTTP status of token errors (401 or 403 seen)
        self.tokens: dict[str, tuple[str, float]] = {}   # token -> (uid, expires at)
        self.posts: list[Post] = []             # every status stored, in order
        # Share calls answered, before any work, with a code, (code, HTTP status) or a whole Response.
        self.script: list[int | tuple[int, int] | Response] = []
        self.delayed = False                    # 20032 mode: store the post, answer with the error body
        self._next_id = 5_012_345_678_901_234_567      # beyond 2**53: `id` loses precision in JS
        # A running `server` may be adopted: one listener per test module, since stopping one takes
        # the harness's 0.5 s poll interval.
        self.server = server or DoubleServer(self.handle, hang_seconds=hang_seconds)
        self.server.handle = self.handle
        self.server.faults.clear()
        self.server.requests.clear()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self) -> WeiboDouble:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def issue_token(self, token: str, uid: str, *, lifetime: float = 3600.0) -> None:
        self.tokens[token] = (uid, self.clock.now() + lifetime)

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def posts_with(self, text: str) -> list[Post]:
        return [p for p in self.posts if p.text == text]

    def handle(self, request: Request) -> Response:
        if request.path == "/2/statuses/share.json":
            return self._share(request) if request.method == "POST" else _error(request, 10021)
        if request.path == "/2/statuses/user_timeline.json":
            return self._timeline(request) if request.method == "GET" else _error(request, 10021)
        return _error(request, 10020, 404)

    def _uid(self, request: Request, params: dict[str, list[str]]) -> str | Response:
        header = request.headers.get("authorization", "")
        token = params.get("access_token", [""])[0]
        if header.startswith("OAuth2 "):
            token = header.removeprefix("OAuth2 ")
        uid, expires_at = self.tokens.get(token, ("", 0.0))
        if not uid:
            return _error(request, 21332, self.token_status)
        if self.clock.now() >= expires_at:
            return _error(request, 21327, self.token_status)
        return uid

    def _share(self, request: Request) -> Response:
        form = request.form() if "urlencoded" in request.headers.get("content-type", "") else {}
        uid = self._uid(request, form)
        if isinstance(uid, Response):
            return uid
        if self.script:
            scripted = self.script.pop(0)
            if isinstance(scripted, Response):
                return scripted
            return _error(request, *scripted) if isinstance(scripted, tuple) else _error(request, scripted)
        text, rip = form.get("status", [""])[0], form.get("rip", [""])[0]
        if not text or (self.require_rip and not rip):
            return _error(request, 10016, args="status" if not text else "rip")
        if len(text) > self.max_chars:
            return _error(request, 20012)
        if not any(urlsplit(u).hostname in self.safe_domains for u in URL.findall(text)):
            return _error(request, 10017)
        if self.reject_topics and re.search(r"#[^#]+#", text):
            return _error(request, 20021)
        now = self.clock.now()
        mine = [p for p in self.posts if p.uid == uid]
        if len([p for p in mine if now - p.at < 3600]) >= self.hourly_posts:
            return _error(request, 10024)
        if any(p.text == text and now - p.at < self.duplicate_window for p in mine):
            return _error(request, 20019)
        self._next_id += 1
        post = Post(str(self._next_id), uid, text, rip, now, now + (90 if self.delayed else 0))
        self.posts.append(post)
        if self.delayed:
            return _error(request, 20032, 200)
        return Response.json(self._status(post))

    def _timeline(self, request: Request) -> Response:
        uid = self._uid(request, request.query)
        if isinstance(uid, Response):
            return uid
        count = min(int(request.query.get("count", ["20"])[0]), 100)
        now = self.clock.now()
        mine = [self._status(p) for p in reversed(self.posts) if p.uid == uid and p.visible_at <= now]
        return Response.json({"statuses": mine[:count], "total_number": len(mine)})

    def _status(self, post: Post) -> dict:
        return {
            "created_at": formatdate(post.at, localtime=False), "id": int(post.idstr), "idstr": post.idstr,
            "mid": post.idstr, "text": post.text, "source": "gongkai", "truncated": False,
            "user": {"id": int(post.uid), "idstr": post.uid, "screen_name": "政务发布"},
        }


def _error(request: Request, code: int, status: int = 400, *, args: str = "") -> Response:
    text = ERRORS.get(code, "error")
    return Response.json(
        {"request": request.path, "error_code": str(code), "error": text.replace("%s", args)}, status
    )
