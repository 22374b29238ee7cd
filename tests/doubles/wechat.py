"""A stateful WeChat Official Account double (channel-apis.md §1.13), served on loopback."""

from __future__ import annotations

import itertools
import json
import random
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .server import Clock, DoubleServer, Fault, Request, Response

UPLOAD_HOST = "http://mmbiz.qpic.cn"
SHANGHAI = timezone(timedelta(hours=8))
MB = 1024 * 1024

# §1.10; "upload media" is taken to cover both image uploads.
DAILY_QUOTAS = {
    "token": 2000, "stable_token": 500_000, "media/uploadimg": 100_000, "material/add_material": 100_000,
    "draft/add": 1000, "draft/delete": 1000, "draft/update": 1000, "draft/count": 1000, "draft/batchget": 1000,
    "draft/get": 500, "freepublish/submit": 100, "freepublish/get": 100, "freepublish/delete": 10,
    "freepublish/getarticle": 100, "freepublish/batchget": 100,
}

ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type", 40004: "invalid media type", 40005: "invalid file type",
    40007: "invalid media_id", 40009: "invalid image size", 40013: "invalid appid",
    40014: "invalid access_token", 40164: "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40097: "invalid args", 41001: "access_token missing", 41002: "appid missing", 41004: "appsecret missing",
    41005: "media data missing", 42001: "access_token expired", 44003: "empty news data",
    45002: "content size out of limit", 45003: "title size out of limit",
    45004: "description size out of limit", 45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute", 45110: "author size out of limit",
    47001: "data format error", 48001: "api unauthorized",
    48006: "forbid to clear quota because of reaching the limit", 53500: "发布功能被封禁",
    53501: "频繁请求发布", 53502: "Publish ID 无效", 53503: "该草稿未通过发布检查", 53505: "请手动保存成功后再发表",
    53600: "Article ID 无效",
}

ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")
SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)
IMG = re.compile(r"""<img\b[^>]*?(?<![\w-])src\s*=\s*(["'])(.*?)\1[^>]*>""", re.IGNORECASE | re.DOTALL)


@dataclass
class Token:
    value: str
    pool: str                         # "classic" or "stable": the pools never mix
    expires: float
    superseded: float | None = None   # from this time on the token answers 40001


@dataclass
class Job:
    publish_id: str
    news: list[dict[str, Any]]
    submitted: float
    polls_left: int                   # answers publish_status 1 this many more times
    outcome: int                      # then this terminal state
    status: int = 1
    article_id: str | None = None
    first_poll_fails: bool = False    # the first freepublish/get answers -1 system error


@dataclass
class Article:
    article_id: str
    url: str
    news: list[dict[str, Any]]
    created: float
    deleted_idx: set[int] = field(default_factory=set)   # 1-based

    @property
    def deleted(self) -> bool:
        return len(self.deleted_idx) == len(self.news)


class WeChatServer(DoubleServer):
    """DoubleServer whose faults can also be aimed at one endpoint (assumes one request at a time)."""

    def __init__(self, handle: Callable[[Request], Response] | None = None, *, hang_seconds: float = 5.0) -> None:
        super().__init__(handle or (lambda request: Response(503)), hang_seconds=hang_seconds)
        self.path_faults: dict[str, list[Fault]] = {}
        self.lost_answers: dict[str, float] = {}  # path -> share of calls done, then answered by a cut connection
        self.random = random.Random(21)

    def next_fault(self, request: Request | None = None) -> Fault | None:
        fault = super().next_fault(request)
        if fault is not None:
            return fault
        with self.lock:
            path = (request or self.requests[-1]).path.removeprefix("/cgi-bin/")
            queue = self.path_faults.get(path)
            if queue:
                return queue.pop(0)
            return "commit-drop" if self.random.random() < self.lost_answers.get(path, 0.0) else None


class WeChatDouble:
    """One Official Account: token pools, quotas, media, drafts and publish jobs on a controllable clock."""

    def __init__(self, *, app_id: str = "wx0123456789abcdef", app_secret: str = "app-secret",
                 clock: Clock | None = None, hang_seconds: float = 5.0, server: WeChatServer | None = None) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.clock = clock or Clock()
        # Settings a test may change.
        self.expires_in = 7200
        self.grace = 300.0                      # classic: the previous token keeps working this long
        self.daily_quotas = dict(DAILY_QUOTAS)
        self.minute_quotas: dict[str, int] = {}
        self.job_polls = 1                      # a new job answers publish_status 1 this many times …
        self.job_seconds: float | None = None   # … or until this long after submit, whichever is first
        self.job_outcome = 0                    # … then 0, 2, 3 or 4
        self.slow_jobs = 0.0                    # share of jobs that answer 1 slow_polls times more
        self.slow_polls = 8
        self.first_poll_errors = 0.0            # share of jobs whose first freepublish/get answers -1
        self.random = random.Random(20261207)
        self.int_publish_id = False
        self.ip_allowed = True                  # False: this machine is not on the IP whitelist (40164 at token)
        self.reject_escapes = False             # answer 40033 to \uXXXX in a draft (else only record it)
        self.scripted: dict[str, list[int]] = {}
        self.hooks: dict[str, Callable[[], None]] = {}
        # What happened, for assertions.
        self.tokens: dict[str, Token] = {}
        self.current: dict[str, Token | None] = {"classic": None, "stable": None}
        self.token_fetches: Counter[str] = Counter()
        self.answers: list[tuple[str, int]] = []        # (endpoint, errcode) of every business answer
        self.images: dict[str, bytes] = {}              # uploadimg url -> bytes
        self.materials: dict[str, str] = {}             # permanent media_id -> type
        self.drafts: dict[str, list[dict[str, Any]]] = {}
        self.jobs: dict[str, Job] = {}
        self.articles: dict[str, Article] = {}          # every publication, in order
        self.dropped_images: list[str] = []             # img srcs filtered out of drafts
        self.escaped_bodies: list[str] = []             # raw draft bodies with literal \uXXXX
        self._calls: Counter[tuple[str, str]] = Counter()
        self._force_refreshes: list[float] = []
        self._quota_clears: list[float] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._endpoints: dict[str, Callable[[Request], dict[str, Any]]] = {
            "media/uploadimg": self._uploadimg, "material/add_material": self._add_material,
            "draft/add": self._draft_add, "draft/get": self._draft_get, "draft/delete": self._draft_delete,
            "freepublish/submit": self._submit, "freepublish/get": self._get,
            "freepublish/batchget": self._batchget, "freepublish/delete": self._delete,
            "clear_quota": self._clear_quota, "draft/count": self._draft_count,
            "freepublish/getarticle": self._getarticle,
        }
        # A running `server` may be adopted: one listener per test module, since stopping one takes 0.5 s.
        self.server = server or WeChatServer(self.handle, hang_seconds=hang_seconds)
        self.server.handle = self.handle
        self.server.faults.clear()
        self.server.path_faults.clear()
        self.server.requests.clear()

    # ---- test controls -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self) -> WeChatDouble:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def fail(self, path: str, *faults: Fault) -> None:
        """The next calls to `path` meet these harness faults ("drop", "commit-drop", "hang", ("status", N))."""
        self.server.path_faults.setdefault(path, []).extend(faults)

    def script(self, path: str, *errcodes: int) -> None:
        """The next calls to `path` (with a valid token) answer these errcodes without doing anything."""
        self.scripted.setdefault(path, []).extend(errcodes)

    def after(self, path: str, hook: Callable[[], None]) -> None:
        """Run `hook` once, right after the next call to `path` (e.g. move the clock mid-run)."""
        self.hooks[path] = hook

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.server.requests if r.path == f"/cgi-bin/{path}"]

    def published(self, source_url: str) -> list[Article]:
        return [a for a in self.articles.values() if a.news[0].get("content_source_url") == source_url]

    # ---- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.removeprefix("/cgi-bin/")
        with self._lock:
            self._settle_due_jobs()
            if path == "token":
                return Response.json(self._classic_token(request))
            if path == "stable_token":
                return Response.json(self._stable_token(request))
            endpoint = self._endpoints.get(path)
            if endpoint is None:
                return Response(404, b"<html>404 Not Found</html>", {"Content-Type": "text/html"})
            answer = self._business(path, request, endpoint)
            self.answers.append((path, answer.get("errcode", 0)))
            hook = self.hooks.pop(path, None)
        if hook is not None:
            hook()
        return Response.json(answer)

    def _business(self, path: str, request: Request, endpoint: Callable[[Request], dict[str, Any]]) -> dict:
        code = self._check_token(request.query.get("access_token", [""])[0])
        code = code or self._count(path)
        if not code and self.scripted.get(path):
            code = self.scripted[path].pop(0)
        return self._error(code) if code else endpoint(request)

    def _error(self, code: int) -> dict[str, Any]:
        rid = "-".join(secrets.token_hex(4) for _ in range(3))
        return {"errcode": code, "errmsg": f"{ERRMSG.get(code, 'error')} rid: {rid}"}

    def _count(self, path: str) -> int:
        """Count one call against the daily and minute quotas; 45009/45011 once a quota is used up."""
        now = self.clock.now()
        day = datetime.fromtimestamp(now, SHANGHAI).date().isoformat()
        minute = str(int(now // 60))
        if self._calls[(day, path)] >= self.daily_quotas.get(path, 10**9):
            return 45009
        if self._calls[(minute, path)] >= self.minute_quotas.get(path, 10**9):
            return 45011
        self._calls[(day, path)] += 1
        self._calls[(minute, path)] += 1
        return 0

    # ---- tokens --------------------------------------------------------------------------------

    def _credentials(self, grant_type: Any, appid: Any, secret: Any) -> int:
        if not self.ip_allowed:
            return 40164
        if grant_type != "client_credential":
            return 40002
        if not appid:
            return 41002
        if appid != self.app_id:
            return 40013
        if not secret:
            return 41004
        return 40001 if secret != self.app_secret else 0   # a wrong AppSecret at fetch time is 40001

    def _issue(self, pool: str, now: float) -> dict[str, Any]:
        token = Token(f"{pool[:1].upper()}{next(self._ids)}_{secrets.token_urlsafe(96)}", pool,
                      now + self.expires_in)
        self.tokens[token.value] = self.current[pool] = token
        self.token_fetches[pool] += 1
        return {"access_token": token.value, "expires_in": self.expires_in}

    def _classic_token(self, request: Request) -> dict[str, Any]:
        query = {k: v[0] for k, v in request.query.items()}
        code = self._credentials(query.get("grant_type"), query.get("appid"), query.get("secret"))
        if code or (code := self._count("token")):
            return self._error(code)
        now = self.clock.now()
        previous = self.current["classic"]
        if previous is not None and previous.superseded is None:
            previous.superseded = now + self.grace
        return self._issue("classic", now)

    def _stable_token(self, request: Request) -> dict[str, Any]:
        body = _json(request)
        if not isinstance(body, dict):
            return self._error(47001)
        code = self._credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        if code or (code := self._count("stable_token")):
            return self._error(code)
        now, current = self.clock.now(), self.current["stable"]
        if body.get("force_refresh") and not (self._force_refreshes and now - self._force_refreshes[-1] < 30):
            today = datetime.fromtimestamp(now, SHANGHAI).date()
            if sum(datetime.fromtimestamp(t, SHANGHAI).date() == today for t in self._force_refreshes) >= 20:
                return self._error(45009)
            self._force_refreshes.append(now)
            if current is not None:
                current.superseded = now            # force mode invalidates the previous token at once
            return self._issue("stable", now)
        if current is not None and current.superseded is None and current.expires - now >= 300:
            self.token_fetches["stable"] += 1
            return {"access_token": current.value, "expires_in": int(current.expires - now)}
        return self._issue("stable", now)           # rotation: the old token works until it expires

    def _check_token(self, value: str) -> int:
        token = self.tokens.get(value)
        if token is None:
            return 41001 if not value else 40014
        now = self.clock.now()
        if now >= token.expires:
            return 42001
        if token.superseded is not None and now >= token.superseded:
            return 40001
        return 0

    # ---- media ---------------------------------------------------------------------------------

    def _uploadimg(self, request: Request) -> dict[str, Any]:
        media = _multipart_file(request, "media")
        if media is None:
            return self._error(41005)
        kind = _image_kind(media)
        if kind not in ("jpg", "png"):
            return self._error(40005)
        if len(media) >= MB:
            return self._error(40009)
        url = f"{UPLOAD_HOST}/mmbiz_{kind}/{secrets.token_urlsafe(24)}/0?wx_fmt={kind}"
        self.images[url] = media
        return {"url": url}

    def _add_material(self, request: Request) -> dict[str, Any]:
        kind_of_material = request.query.get("type", [""])[0]
        limits = {"image": (10 * MB, {"bmp", "png", "jpg", "gif"}), "thumb": (64 * 1024, {"jpg"})}
        if kind_of_material not in limits:
            return self._error(40004)      # voice and video are not modelled
        media = _multipart_file(request, "media")
        if media is None:
            return self._error(41005)
        size, kinds = limits[kind_of_material]
        if _image_kind(media) not in kinds:
            return self._error(40005)
        if len(media) > size:
            return self._error(40009)
        media_id = f"PERM_{next(self._ids)}_{secrets.token_urlsafe(16)}"
        self.materials[media_id] = kind_of_material
        answer: dict[str, Any] = {"media_id": media_id}
        if kind_of_material == "image":
            answer["url"] = f"{UPLOAD_HOST}/mmbiz_{_image_kind(media)}/{secrets.token_urlsafe(24)}/0"
        return answer

    # ---- drafts --------------------------------------------------------------------------------

    def _draft_add(self, request: Request) -> dict[str, Any]:
        try:
            text = request.body.decode("utf-8")
            body = json.loads(text)
        except ValueError:
            return self._error(47001)
        if ESCAPE.search(text):
            self.escaped_bodies.append(text)
            if self.reject_escapes:
                return self._error(40033)
        articles = body.get("articles") if isinstance(body, dict) else None
        if not isinstance(articles, list) or not articles:
            return self._error(44003)
        for article in articles:
            if code := self._check_article(article):
                return self._error(code)
        media_id = f"DRAFT_{next(self._ids)}_{secrets.token_urlsafe(16)}"
        self.drafts[media_id] = [{**a, "content": self._clean(a["content"])} for a in articles]
        return {"media_id": media_id}

    def _check_article(self, article: Any) -> int:
        if not isinstance(article, dict) or not article.get("title") or not article.get("content"):
            return 44003
        if len(article["title"]) > 32:
            return 45003
        if len(article.get("author", "")) > 16:
            return 45110
        if len(article.get("digest", "")) > 128:
            return 45004
        if len(article["content"]) > 20000 or len(article["content"].encode("utf-8")) >= MB:
            return 45002
        if article.get("article_type", "news") == "news" and article.get("thumb_media_id") not in self.materials:
            return 40007                   # unknown, temporary or not an image
        return 0

    def _clean(self, content: str) -> str:
        """Strip scripts and drop images that are not on the uploadimg host, as WeChat does."""
        def keep(match: re.Match[str]) -> str:
            if match.group(2).startswith(UPLOAD_HOST + "/"):
                return match.group(0)
            self.dropped_images.append(match.group(2))
            return ""
        return IMG.sub(keep, SCRIPT.sub("", content))

    def _draft_delete(self, request: Request) -> dict[str, Any]:
        gone = self.drafts.pop(_field(request, "media_id"), None)
        return self._error(40007) if gone is None else {"errcode": 0, "errmsg": "ok"}

    def _draft_count(self, request: Request) -> dict[str, Any]:
        return {"total_count": len(self.drafts)}

    def _draft_get(self, request: Request) -> dict[str, Any]:
        news = self.drafts.get(_field(request, "media_id"))
        return self._error(40007) if news is None else {"news_item": news}

    # ---- free publish ---------------------------------------------------------------------------

    def _submit(self, request: Request) -> dict[str, Any]:
        news = self.drafts.pop(_field(request, "media_id"), None)
        if news is None:
            return self._error(40007)
        publish_id = str(100000000 + next(self._ids))
        polls = self.job_polls + (self.slow_polls if self.random.random() < self.slow_jobs else 0)
        self.jobs[publish_id] = Job(publish_id, news, self.clock.now(), polls, self.job_outcome,
                                    first_poll_fails=self.random.random() < self.first_poll_errors)
        return {"errcode": 0, "errmsg": "ok", "msg_data_id": str(2247483000 + next(self._ids)),
                "publish_id": int(publish_id) if self.int_publish_id else publish_id}

    def _settle(self, job: Job) -> None:
        job.status = job.outcome
        if job.outcome == 0:
            article = Article(f"ART_{secrets.token_urlsafe(24)}",
                              f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}", job.news, self.clock.now())
            self.articles[article.article_id] = article
            job.article_id = article.article_id

    def _settle_due_jobs(self) -> None:
        if self.job_seconds is None:
            return
        for job in self.jobs.values():
            if job.status == 1 and self.clock.now() - job.submitted >= self.job_seconds:
                self._settle(job)

    def _get(self, request: Request) -> dict[str, Any]:
        job = self.jobs.get(_field(request, "publish_id"))
        if job is None:
            return self._error(53502)
        if job.first_poll_fails:
            job.first_poll_fails = False
            return self._error(-1)
        if job.status == 1:
            if job.polls_left > 0:
                job.polls_left -= 1
            else:
                self._settle(job)
        answer: dict[str, Any] = {"publish_id": job.publish_id, "publish_status": job.status, "fail_idx": []}
        if job.status in (2, 4):
            answer["fail_idx"] = list(range(1, len(job.news) + 1))
        if job.article_id is not None:
            article = self.articles[job.article_id]
            answer["article_id"] = article.article_id
            answer["article_detail"] = {"count": len(article.news), "item": [
                {"idx": i, "article_url": article.url} for i in range(1, len(article.news) + 1)]}
        return answer

    def _batchget(self, request: Request) -> dict[str, Any]:
        body = _object(request)
        offset, count = body.get("offset", 0), body.get("count", 0)
        if not isinstance(offset, int) or not isinstance(count, int) or not 1 <= count <= 20 or offset < 0:
            return self._error(40097)
        newest_first = list(reversed(self.articles.values()))
        page = newest_first[offset:offset + count]
        return {"total_count": len(newest_first), "item_count": len(page), "item": [{
            "article_id": a.article_id, "update_time": int(a.created),
            "content": {"news_item": [
                {**news, "content": "" if body.get("no_content") else news["content"], "url": a.url,
                 "is_deleted": i in a.deleted_idx} for i, news in enumerate(a.news, start=1)]},
        } for a in page]}

    def _getarticle(self, request: Request) -> dict[str, Any]:
        """freepublish/getarticle: the published article's news items (53600 for an unknown id)."""
        article = self.articles.get(str(_object(request).get("article_id", "")))
        if article is None:
            return self._error(53600)
        return {"news_item": [{**news, "url": article.url, "is_deleted": i in article.deleted_idx}
                              for i, news in enumerate(article.news, start=1)]}

    def _delete(self, request: Request) -> dict[str, Any]:
        body = _object(request)
        article = self.articles.get(str(body.get("article_id", "")))
        if article is None:
            return self._error(53600)
        index = body.get("index") or 0
        if not isinstance(index, int) or not 0 <= index <= len(article.news):
            return self._error(40097)
        article.deleted_idx |= {index} if index else set(range(1, len(article.news) + 1))
        for job in self.jobs.values():
            if job.article_id == article.article_id and article.deleted:
                job.status = 5
        return {"errcode": 0, "errmsg": "ok"}

    def _clear_quota(self, request: Request) -> dict[str, Any]:
        if _field(request, "appid") != self.app_id:
            return self._error(40013)
        month = datetime.fromtimestamp(self.clock.now(), SHANGHAI).strftime("%Y-%m")
        if sum(datetime.fromtimestamp(t, SHANGHAI).strftime("%Y-%m") == month for t in self._quota_clears) >= 10:
            return self._error(48006)
        self._quota_clears.append(self.clock.now())
        self._calls.clear()
        return {"errcode": 0, "errmsg": "ok"}


def _json(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _object(request: Request) -> dict[str, Any]:
    body = _json(request)
    return body if isinstance(body, dict) else {}


def _field(request: Request, name: str) -> str:
    return str(_object(request).get(name, ""))


def _multipart_file(request: Request, name: str) -> bytes | None:
    """The bytes of form field `name` in a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', request.headers.get("content-type", ""))
    if match is None:
        return None
    for part in request.body.split(b"--" + match.group(1).encode()):
        head, _, data = part.partition(b"\r\n\r\n")
        if f'name="{name}"'.encode() in head:
            return data.removesuffix(b"\r\n")
    return None


def _image_kind(data: bytes) -> str:
    for magic, kind in ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp")):
        if data.startswith(magic):
            return kind
    return "unknown"
