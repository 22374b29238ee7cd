"""WeChat Official Account: upload images, add a draft, free-publish it and wait for the publish job."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import requests
from pydantic import Field, SecretStr
from redis import Redis

from channels.base import Channel, ChannelConfig, difference
from channels.errors import (
    ChannelError,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Finding, Message, Receipt
from channels.wechat_token import MemoryTokenStore, PendingPublications, RedisTokenStore, TokenStore

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # refresh the token and try the call once more
RETRY_AFTER = {45011: 60.0, 53501: 300.0}  # errcode -> seconds; 45009 waits for the daily reset
CREATES = frozenset({"draft/add", "freepublish/submit"})  # a lost answer may hide a success
NOT_PUBLISHED = {2: "originality check failed (原创失败)", 3: "general failure (常规失败)",
                 4: "rejected by platform review (平台审核不通过)"}
JOB_STATES = {**NOT_PUBLISHED, 5: "deleted by a user after success", 6: "banned by the system after success"}
UPLOAD_HOST = "http://mmbiz.qpic.cn/"  # the only image host an article body may use
UNSENDABLE = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
              requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)
CREDENTIAL_FIXES = {
    40013: "app_id is not the account's AppID (公众平台 → 设置与开发 → 基本配置)",
    40001: "app_secret is wrong or was reset: copy the current AppSecret from 公众平台 → 基本配置",
    40125: "app_secret is wrong or was reset: copy the current AppSecret from 公众平台 → 基本配置",
    40164: "add this server's public IP address to the account's IP whitelist (公众平台 → 基本配置 → IP白名单)",
    48001: "the account may not use the publishing API: it must be a verified account with 发布 permission",
}
SHANGHAI = timezone(timedelta(hours=8))  # no daylight saving in China since 1991
IMG_SRC = re.compile(r"""(<img\b[^>]*?(?<![\w-])src\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    """Seconds until the next midnight in Beijing, when daily quotas (45009) are assumed to reset."""
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _text(html: str) -> str:
    """The words of an HTML body, one paragraph a line: what WeChat keeps when it rewrites the markup."""
    lines = re.sub(r"<[^>]+>", "", re.sub(r"(?i)</p>|<br\s*/?>|</h\d>|</li>", "\n", html)).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def _file_name(src: str) -> str:
    return PurePosixPath(src.split("?", 1)[0]).name


class WeChat(Channel):
    """Free publication (发布) of one article through the draft box, as reference §1.12 describes."""

    class Config(ChannelConfig):
        base_url: str = Field("https://api.weixin.qq.com", description="API host (a staging host or a test double)")
        app_id: str = Field(description="the account's AppID (开发者ID)")
        app_secret: SecretStr = Field(description="the account's AppSecret; pass it through the environment")
        author: str = Field("", max_length=16, description="author line of every article (at most 16 characters)")
        cover: Path | None = Field(None, description="default cover image (jpg/png) of articles whose item has none")
        poll_attempts: int = Field(6, ge=0, description="freepublish/get polls before the outcome is reported unknown")
        poll_interval: float = Field(10.0, ge=0, description="seconds before each poll (freepublish/get: 100 a day)")
        token_refresh_margin: float = Field(60.0, ge=0, description="refresh the access token this early (seconds)")
        lookup_pages: int = Field(5, ge=1, description="pages of 20 published articles a lookup searches "
                                                       "(freepublish/batchget: 100 calls a day)")

    kind = "wechat"
    max_title_chars = 32
    max_body_chars = 20000
    max_summary_chars = 128  # the article's digest
    body_part = "content.html"
    required_parts = ("content.html",)
    supports_withdraw = True
    supports_lookup = True
    supports_verify = True
    needs_cover = True

    def __init__(self, name: str, config: WeChat.Config, *, redis: Redis | None = None, **services: Any) -> None:
        super().__init__(name, config, **services)  # other services (render, …) are not needed here
        self.config: WeChat.Config = config
        prefix = f"gongkai:wechat:{config.app_id}"  # the token belongs to the account, not to this channel
        self._tokens: TokenStore
        if redis is None:
            self._tokens = MemoryTokenStore(self._fetch_token, margin=config.token_refresh_margin)
        else:
            self._tokens = RedisTokenStore(redis, f"{prefix}:access_token", self._fetch_token,
                                           margin=config.token_refresh_margin, lock_seconds=config.timeout + 5)
        self._pending = PendingPublications(redis, f"{prefix}:pending")

    def check(self, message: Message) -> None:
        super().check(message)
        names = {path.name for path in message.images}
        stray = [m.group(3) for m in IMG_SRC.finditer(message.parts[self.body_part])
                 if _file_name(m.group(3)) not in names and not m.group(3).startswith(UPLOAD_HOST)]
        if stray:  # WeChat silently drops images from other hosts
            raise ContentRejected(f"{self.name}: image(s) not among the message's files: {', '.join(stray)}")
        for image in message.images:  # media/uploadimg: jpg/png under 1 MB (40005, 40009)
            if image.suffix.lower() not in (".jpg", ".jpeg", ".png") or image.stat().st_size >= 1_000_000:
                raise ContentRejected(f"{self.name}: {image.name}: inline images must be jpg or png under 1 MB")
        cover = message.cover
        if cover is not None and (cover.suffix.lower() not in (".jpg", ".jpeg", ".png", ".gif", ".bmp")
                                  or cover.stat().st_size > 10_000_000):
            raise ContentRejected(f"{self.name}: {cover.name}: the cover must be an image of at most 10 MB")

    def publish(self, message: Message) -> Receipt:
        self.check(message)
        self._pending.forget(message.idempotency_key)
        urls = {path.name: self._upload("media/uploadimg", path)["url"] for path in message.images}
        content = IMG_SRC.sub(lambda m: m.group(1) + m.group(2) + urls.get(_file_name(m.group(3)), m.group(3))
                              + m.group(2), message.parts[self.body_part])
        if len(content) > self.max_body_chars:
            raise ContentRejected(f"{self.name}: body has {len(content)} characters once image addresses "
                                  f"are rewritten, the channel allows {self.max_body_chars}")
        assert message.cover is not None  # check() refuses a message without one
        thumb = self._upload("material/add_material", message.cover, type="image")["media_id"]
        draft = self._expect(self._call("draft/add", self._draft(message, content, thumb)), "media_id", "draft/add")
        self._pending.remember(message.idempotency_key, draft=draft)
        submitted = self._call("freepublish/submit", {"media_id": draft})
        publish_id = self._expect(submitted, "publish_id", "freepublish/submit")
        self._pending.remember(message.idempotency_key, publish_id=publish_id)
        return self._await_job(message.idempotency_key, publish_id)

    def payload(self, message: Message) -> dict[str, Any]:
        """The draft/add body; image addresses and the cover id are filled in by the uploads."""
        return self._draft(message, message.parts[self.body_part], "<permanent media_id of the cover>")

    def _draft(self, message: Message, content: str, thumb: str) -> dict[str, Any]:
        article = {"article_type": "news", "title": message.title, "author": self.config.author,
                   "digest": message.summary, "content": content, "content_source_url": message.canonical_url,
                   "thumb_media_id": thumb, "need_open_comment": 0, "only_fans_can_comment": 0}
        return {"articles": [article]}

    def verify(self, message: Message, receipt: Receipt) -> str | None:
        """freepublish/getarticle (100 a day): title, digest, link and the body's text as published. WeChat
        rewrites the body's markup (images moved to its host, scripts dropped), so its text is compared."""
        found = self._call("freepublish/getarticle", {"article_id": receipt.remote_id}, accept=(53600,))
        news = (found.get("news_item") or [None])[0]
        if found.get("errcode") == 53600 or not isinstance(news, dict) or news.get("is_deleted"):
            return f"article {receipt.remote_id} is gone from the account"
        sent = self._draft(message, message.parts[self.body_part], "")["articles"][0]
        for field in ("title", "digest", "content_source_url"):
            if (live := news.get(field, "")) != sent[field]:
                return difference(f"the article's {field}", str(live), sent[field])
        return difference("the article's text", _text(news.get("content", "")), _text(sent["content"]))

    def probe(self) -> list[Finding]:
        """A token fetched from this machine (AppID, AppSecret, IP whitelist), then used for draft/count (1,000 a
        day, changes nothing); and the default cover that items without their own need."""
        findings = []
        for what, call in (("credentials and IP whitelist", self._fetch_token),
                           ("API access", lambda: self._call("draft/count"))):
            try:
                call()
            except ChannelError as e:
                code = re.search(r"errcode (-?\d+)", e.message)
                fix = CREDENTIAL_FIXES.get(int(code.group(1)) if code else 0, "check base_url and the network")
                return [*findings, Finding(what, False, e.message, fix)]
            findings.append(Finding(what, True, "token obtained" if not findings else "draft/count answered"))
        cover = self.config.cover
        if cover is None:
            findings.append(Finding("default cover", True, "none: an item without its own cover is refused",
                                    f"set channels.{self.name}.cover to send such items too"))
        elif not cover.is_file():
            findings.append(Finding("default cover", False, f"{cover} does not exist",
                                    f"point channels.{self.name}.cover at a jpg or png"))
        return findings

    def withdraw(self, receipt: Receipt) -> None:
        self._call("freepublish/delete", {"article_id": receipt.remote_id, "index": 0})

    def lookup(self, message: Message) -> Receipt | None:
        key = message.idempotency_key
        pending = self._pending.recall(key)
        # the job this process (or Redis) knows of, else the one the engine kept; a draft of a newer try here wins
        publish_id = pending.get("publish_id") or ("" if "draft" in pending else message.handle)
        if publish_id:
            job = self._call("freepublish/get", {"publish_id": publish_id})
            if job.get("publish_status") == 1:
                raise OutcomeUnknown(f"{self.name}: publish job {publish_id} is still running",
                                     detail=f"publish_id={publish_id}", handle=publish_id)
            if job.get("publish_status") != 0:  # failed, or deleted or banned since: not a live publication
                self._pending.forget(key)
                return None
            return self._job_receipt(job, publish_id)  # the job is kept: the record of this may be lost too
        if pending.get("article_id"):  # found in the list before, and its record may have been lost since
            return Receipt(remote_id=pending["article_id"], url=pending.get("article_url") or None)
        receipt = self._find_published(message)
        if receipt is not None:
            self._pending.remember(key, article_id=receipt.remote_id, article_url=receipt.url or "")
            return receipt
        if "draft" in pending:
            # deleted, not just looked at: a submit still on its way (its answer given up on, the request not yet
            # done) can then no longer publish it, so "not there" stays true
            gone = self._call("draft/delete", {"media_id": pending["draft"]}, accept=(40007,))
            if gone.get("errcode") == 40007:  # a draft leaves the draft box when it is submitted
                raise OutcomeUnknown(f"{self.name}: draft {pending['draft']} was submitted; "
                                     "no article is listed yet")
            self._pending.forget(key)
        return None

    def _await_job(self, key: str, publish_id: str) -> Receipt:
        for _ in range(self.config.poll_attempts):
            time.sleep(self.config.poll_interval)
            try:
                job = self._call("freepublish/get", {"publish_id": publish_id})
            except ChannelError as e:  # the job exists whatever went wrong here: never publish again blindly
                raise OutcomeUnknown(f"{self.name}: publish job {publish_id} submitted, status unknown: "
                                     f"{e.message}", detail=f"publish_id={publish_id}", handle=publish_id) from e
            if job.get("publish_status") != 1:  # finished; the job is kept (until the store's TTL), not forgotten:
                # if the worker dies before the publication is on record, the next lookup asks by its id,
                # however many articles were listed since
                if job.get("publish_status") in NOT_PUBLISHED:
                    self._pending.forget(key)
                return self._job_receipt(job, publish_id)
        raise OutcomeUnknown(f"{self.name}: publish job {publish_id} still running after "
                             f"{self.config.poll_attempts} polls", detail=f"publish_id={publish_id}",
                             handle=publish_id)

    def _job_receipt(self, job: dict[str, Any], publish_id: str) -> Receipt:
        """The receipt of a successful job; any other final state raises."""
        status = job.get("publish_status")
        if status == 0:
            items = (job.get("article_detail") or {}).get("item") or [{}]
            if not job.get("article_id"):
                raise OutcomeUnknown(f"{self.name}: publish job {publish_id} succeeded without an article_id",
                                     detail=f"publish_id={publish_id}", handle=publish_id)
            return Receipt(remote_id=str(job["article_id"]), url=items[0].get("article_url"))
        raise PermanentChannelError(
            f"{self.name}: publish job {publish_id} ended with publish_status {status}: "
            f"{JOB_STATES.get(status, 'unknown status')} (fail_idx {job.get('fail_idx')})",
            detail=json.dumps(job, ensure_ascii=False))

    def _find_published(self, message: Message) -> Receipt | None:
        """The article among the newest lookup_pages pages of 20 (freepublish/batchget, 100 calls a day)."""
        for page in range(self.config.lookup_pages):
            listing = self._call("freepublish/batchget", {"offset": page * 20, "count": 20, "no_content": 1})
            items = listing.get("item") or []
            for item in items:
                for news in (item.get("content") or {}).get("news_item") or []:
                    if (news.get("title") == message.title and not news.get("is_deleted")
                            and news.get("content_source_url") == message.canonical_url):
                        return Receipt(remote_id=str(item["article_id"]), url=news.get("url"))
            if len(items) < 20 or (page + 1) * 20 >= int(listing.get("total_count") or 0):
                break
        return None

    def _upload(self, path: str, image: Path, **params: str) -> dict[str, Any]:
        try:
            data = image.read_bytes()
        except OSError as e:
            raise PermanentChannelError(f"{self.name}: cannot read image {image}: {e}") from e
        body = self._call(path, files={"media": (image.name, data)}, params=params)
        self._expect(body, "url" if path == "media/uploadimg" else "media_id", path)
        return body

    def _call(self, path: str, payload: dict[str, Any] | None = None, *, files: dict[str, Any] | None = None,
              params: dict[str, str] | None = None, accept: tuple[int, ...] = ()) -> dict[str, Any]:
        """One business call; on a token error, refresh the token and try once more."""
        token = self._tokens.get()
        body = self._post(path, token, payload, files, params)
        if body.get("errcode") in TOKEN_ERRORS:  # rejected before anything was done: safe to repeat
            self._tokens.invalidate(token)
            body = self._post(path, self._tokens.get(), payload, files, params)
        if body.get("errcode") and body["errcode"] not in accept:
            raise self._error(path, body)
        return body

    def _post(self, path: str, token: str, payload: dict[str, Any] | None, files: dict[str, Any] | None,
              params: dict[str, str] | None) -> dict[str, Any]:
        return self._send(path, params={"access_token": token, **(params or {})}, payload=payload, files=files)

    def _fetch_token(self) -> tuple[str, float]:
        body = self._send("stable_token", payload={
            "grant_type": "client_credential", "appid": self.config.app_id,
            "secret": self.config.app_secret.get_secret_value(), "force_refresh": False})
        if body.get("errcode"):
            raise self._error("stable_token", body)
        return self._expect(body, "access_token", "stable_token"), float(body.get("expires_in", 7200))

    def _send(self, path: str, *, payload: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """POST to cgi-bin/<path>; HTTP and transport failures become channel errors here."""
        where = f"{self.name}: {path}"
        lost = OutcomeUnknown if path in CREATES else TransientChannelError
        if payload is not None:  # WeChat wants raw UTF-8, not \\uXXXX escapes
            kwargs["data"] = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = self.session.post(f"{self.config.base_url.rstrip('/')}/cgi-bin/{path}",
                                         timeout=self.config.timeout, allow_redirects=False, **kwargs)
        except UNSENDABLE as e:
            raise PermanentChannelError(f"{where}: bad request address: {e}") from e
        except requests.RequestException as e:
            text = re.sub(r"access_token=[^&\s'\"]+", "access_token=***", str(e))
            raise lost(f"{where}: no answer ({type(e).__name__}): {text}") from e
        detail = response.text[:2000]
        if response.status_code >= 500:
            raise lost(f"{where}: HTTP {response.status_code}", detail=detail)
        if response.status_code == 429:
            wait = response.headers.get("Retry-After", "")
            raise RateLimited(f"{where}: HTTP 429", retry_after=float(wait) if wait.isdigit() else 60.0,
                              detail=detail)
        if response.status_code >= 300:  # redirects are not followed: a wrong base_url is a config error
            raise PermanentChannelError(f"{where}: HTTP {response.status_code}", detail=detail)
        try:
            body = response.json()
        except requests.exceptions.JSONDecodeError as e:
            raise lost(f"{where}: answer is not JSON", detail=detail) from e
        if not isinstance(body, dict):
            raise lost(f"{where}: answer is not a JSON object", detail=detail)
        return body

    def _error(self, path: str, body: dict[str, Any]) -> ChannelError:
        """The exception for a non-zero errcode, classified as in reference §1.11 (never by errmsg)."""
        code = body.get("errcode")
        text = f"{self.name}: {path} failed: errcode {code}: {body.get('errmsg', '')}"
        detail = json.dumps(body, ensure_ascii=False)
        if code == -1:
            return TransientChannelError(text, detail=detail)
        if code == 45009:
            return RateLimited(text, retry_after=seconds_until_quota_reset(), detail=detail)
        if code in RETRY_AFTER:
            return RateLimited(text, retry_after=RETRY_AFTER[code], detail=detail)
        return PermanentChannelError(text, detail=detail)  # config, content, ban, or a refreshed token refused

    def _expect(self, body: dict[str, Any], key: str, path: str) -> str:
        if body.get(key) in (None, ""):
            lost = OutcomeUnknown if path in CREATES else TransientChannelError
            raise lost(f"{self.name}: {path}: answer lacks {key}", detail=json.dumps(body, ensure_ascii=False))
        return str(body[key])  # publish_id may come as an int
