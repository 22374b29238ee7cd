"""WordPress REST posts API: the portal CMS and the disclosure catalogue in "wordpress" mode (§3)."""

from __future__ import annotations

import base64
import hashlib
import html
import mimetypes
import re
from pathlib import Path
from typing import Any, Literal

import requests
from pydantic import Field, SecretStr

from channels.base import Channel, ChannelConfig, difference
from channels.errors import (
    AlreadyPublished,
    ChannelError,
    ChannelMisconfigured,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
)
from channels.http import json_body, raise_for_status, send
from channels.message import Finding, Message, Receipt

SLUG_SUFFIXES = 10      # WordPress renames a taken published slug to slug-2, slug-3 …; look that far
META_KEYS = ("gov_index_no", "gov_delivery_key")    # what finds a post again; the site registers them
CAPABILITIES = ("edit_posts", "publish_posts", "upload_files")
REGISTER_FIX = "register gov_index_no and gov_delivery_key with show_in_rest (README: the plugin's few lines)"
MEDIA_PREFIX = "gk-"    # a media item's slug is gk-<sha256 of its bytes>: uploaded once per content


class WordPress(Channel):
    """Creates one post per message; `slug` plus the `gov_index_no` meta key identify it.

    WordPress has no idempotency: a retried POST makes a second post. So `publish` looks for the post
    first (slug, its `-N` variants, any status but trash, same 索引号) and answers AlreadyPublished when
    it exists; `lookup` is the same query.

    Images (the body's and the cover) go to the media library first, once per content: a media item is
    named gk-<sha256>, found by that slug before any upload, and the body points at its `source_url`; the
    cover becomes the post's featured image. Title and excerpt are sent as escaped text, so that an account
    allowed raw HTML (unfiltered_html) cannot store markup from them.
    """

    kind = "wordpress"
    required_parts = ("article.html",)
    supports_withdraw = True
    supports_lookup = True
    supports_verify = True

    class Config(ChannelConfig):
        base_url: str = Field(description="site origin, e.g. https://portal.example.gov.cn (no /wp-json)")
        username: str = Field(description="login of the WordPress user that owns the application password")
        app_password: SecretStr = Field(description="application password of that user (spaces are ignored)")
        category_ids: dict[str, int] = Field({}, description="主题分类 → WordPress category id; empty: none")
        status: Literal["publish", "future", "draft", "pending", "private"] = Field(
            "publish", description="status of created posts")
        permalink: str = Field(
            "", description="when this site is the agency's portal, an item's address with {slug}, e.g. "
            "https://portal.example.gov.cn/{slug}/ (permalinks /%postname%/); empty: not the portal")

    config: Config

    def __init__(self, name: str, config: ChannelConfig, **services: Any) -> None:
        super().__init__(name, config, **services)
        self._known_media: dict[str, dict[str, Any]] = {}  # media items found or uploaded, by slug
        self._meta_registered = False                        # seen in the posts route's schema

    def check(self, message: Message) -> None:
        """Also require the slug (the lookup key) and, when categories are mapped, this item's category."""
        super().check(message)
        if not message.slug:
            raise ContentRejected(f"{self.name}: a slug is required to find the post again")
        for image in [*message.images, *([message.cover] if message.cover else [])]:
            if not image.is_file():
                raise ContentRejected(f"{self.name}: image file {image.name} is missing")
        if self.config.category_ids and message.category not in self.config.category_ids:
            raise ContentRejected(f"{self.name}: no category_ids entry for 主题分类 {message.category!r}")

    def publish(self, message: Message) -> Receipt:
        """Create the post; a new revision of an item updates the post of the earlier one (same 索引号)."""
        self.check(message)
        self._require_meta()
        post = self._find(message)
        if post is not None and post["meta"].get("gov_delivery_key") == message.idempotency_key:
            raise AlreadyPublished(f"{self.name}: post {post['id']} has this revision", receipt=_receipt(post))
        media = {path: self._media(path) for path in dict.fromkeys([*message.images, *filter(None, [message.cover])])}
        fields = self.payload(message, media)
        if post is not None:
            response = self._call("POST", f"posts/{post['id']}", creates=True, json=fields)
        else:
            response = self._call("POST", "posts", creates=True, json=fields)
        if response.status_code == 500:
            # db_insert_error and friends can follow a committed insert.
            raise OutcomeUnknown(f"{self.name}: HTTP 500 {_error(response)}", detail=response.text)
        raise_for_status(response, channel=self.name, what=_error(response))
        body = json_body(response)
        if not isinstance(body, dict) or "id" not in body:
            raise OutcomeUnknown(
                f"{self.name}: HTTP {response.status_code} without a post id", detail=response.text
            )
        return Receipt(str(body["id"]), body.get("link"))

    def payload(self, message: Message, media: dict[Path, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The JSON body of POST /wp/v2/posts; `media`: each image's media item (without: the preview's
        placeholders)."""
        media = media if media is not None else {
            path: {"id": f"<media id of {path.name}>", "source_url": f"<media URL of {path.name}>"}
            for path in [*message.images, *filter(None, [message.cover])]}
        category = self.config.category_ids.get(message.category)
        body = {
            "title": html.escape(message.title, quote=False),
            "content": body_with_media(message, {p.name: m["source_url"] for p, m in media.items()}),
            "excerpt": html.escape(message.summary, quote=False),
            "slug": message.slug,
            "status": self.config.status,
            "categories": [category] if category is not None else [],
            "meta": {**message.metadata, "gov_index_no": message.index_no,
                     "gov_delivery_key": message.idempotency_key},
        }
        if message.cover is not None:
            body["featured_media"] = media[message.cover]["id"]
        return body

    def verify(self, message: Message, receipt: Receipt) -> str | None:
        """The post as stored (context=edit), against the title, excerpt, body and cover this message sends."""
        response = self._call("GET", f"posts/{receipt.remote_id}", params={"context": "edit"})
        if response.status_code == 404:
            return f"post {receipt.remote_id} is gone from the site"
        raise_for_status(response, channel=self.name, what=_error(response))
        post = json_body(response)
        if not isinstance(post, dict):
            raise OutcomeUnknown(f"{self.name}: post {receipt.remote_id} answered without a post")
        if post.get("status") == "trash":
            return f"post {receipt.remote_id} is in the trash"
        media = {path: self._media(path, upload=False) for path in
                 dict.fromkeys([*message.images, *filter(None, [message.cover])])}
        sent = self.payload(message, media)
        for field in ("title", "excerpt", "content"):
            live = post.get(field) or {}
            found = difference(f"the post's {field}", live.get("raw", "") if isinstance(live, dict) else "",
                               sent[field])
            if found:
                return found
        if message.cover is not None and post.get("featured_media") != sent["featured_media"]:
            return f"the post's featured image is media {post.get('featured_media')}, not the item's cover"
        return None

    def _media(self, path: Path, *, upload: bool = True) -> dict[str, Any]:
        """The media item holding this file's bytes: found by its gk-<sha256> slug, else uploaded now."""
        data = path.read_bytes()
        slug = MEDIA_PREFIX + hashlib.sha256(data).hexdigest()
        cached = self._known_media.get(slug)
        if cached is not None:
            return cached
        response = self._call("GET", "media", params={"slug": slug, "context": "edit"})
        raise_for_status(response, channel=self.name, what=_error(response))
        found = [m for m in json_body(response) or [] if isinstance(m, dict) and m.get("slug") == slug]
        if found:
            item = found[0]
        elif not upload:
            return {"id": 0, "source_url": f"<{path.name}: not in the media library>"}
        else:  # a lost answer may leave an unnamed copy behind; the next try finds the one that landed
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            response = self._call("POST", "media", data=data, headers={
                "Content-Type": kind, "Content-Disposition": f'attachment; filename="{slug}{path.suffix.lower()}"'})
            raise_for_status(response, channel=self.name, what=_error(response))
            item = json_body(response)
            if not isinstance(item, dict) or "id" not in item or "source_url" not in item:
                raise OutcomeUnknown(f"{self.name}: media upload of {path.name} answered without an id")
        self._known_media[slug] = {"id": item["id"], "source_url": item["source_url"]}
        return self._known_media[slug]

    def _require_meta(self) -> None:
        """Before this process's first post: the site must keep the meta that finds a post again, else every
        retry could make a second post. Nothing is sent when it does not."""
        if self._meta_registered:
            return
        missing = self._unregistered_meta()
        if missing:
            raise ChannelMisconfigured(f"{self.name}: the site does not register {', '.join(missing)}; "
                                       f"{REGISTER_FIX}")
        self._meta_registered = True

    def _unregistered_meta(self) -> list[str]:
        """The meta keys this adapter needs that the posts route's schema (OPTIONS) does not list."""
        response = self._call("OPTIONS", "posts")
        raise_for_status(response, channel=self.name, what=_error(response))
        schema = json_body(response)
        meta = ((schema or {}).get("schema") or {}).get("properties", {}).get("meta", {}).get("properties", {}) \
            if isinstance(schema, dict) else {}
        return [key for key in META_KEYS if key not in (meta or {})]

    def probe(self) -> list[Finding]:
        """Credentials and capabilities (users/me), the meta keys registered (the schema) and writable (a draft
        written, read back and deleted at once)."""
        try:
            response = self._call("GET", "users/me", params={"context": "edit"})
        except ChannelError as e:
            return [Finding("site", False, e.message, "check base_url and that this machine can reach the site")]
        if response.status_code == 404:
            return [Finding("site", False, f"HTTP 404 {_error(response)}", "base_url must be the site's origin "
                            "(no /wp-json) and the REST API reachable (any permalink structure but plain)")]
        if response.status_code in (401, 403):
            return [Finding("credentials", False, f"HTTP {response.status_code} {_error(response)}",
                            f"create an application password for {self.config.username} (Users → Profile) and set "
                            f"channels.{self.name}.app_password; if every password is refused, the web server "
                            "drops the Authorization header (Apache: CGIPassAuth On)")]
        me = json_body(response)
        if response.status_code != 200 or not isinstance(me, dict):
            return [Finding("site", False, f"HTTP {response.status_code} {_error(response)}",
                            "check base_url: it does not answer as a WordPress site")]
        findings = [Finding("credentials", True, f"logged in as {self.config.username}")]
        caps = me.get("capabilities") or {}
        lacking = [c for c in CAPABILITIES if not caps.get(c)]
        findings.append(Finding("capabilities", not lacking, f"lacks {', '.join(lacking)}" if lacking else
                                "may post and upload", f"give {self.config.username} the Editor role" if lacking
                                else ""))
        try:
            missing = self._unregistered_meta()
        except ChannelError as e:
            return [*findings, Finding("meta keys", False, e.message, "check the site's REST API")]
        if missing:
            return [*findings, Finding("meta keys", False, f"not registered: {', '.join(missing)}", REGISTER_FIX)]
        return [*findings, self._probe_write()]

    def _probe_write(self) -> Finding:
        """A draft carrying the meta, read back from the answer and deleted for good at once."""
        meta = {"gov_index_no": "gongkai-channel-check", "gov_delivery_key": "gongkai-channel-check"}
        draft = {"title": "gongkai channel check", "status": "draft", "content": "", "meta": meta}
        try:
            response = self._call("POST", "posts", json=draft)
            raise_for_status(response, channel=self.name, what=_error(response))
            post = json_body(response) or {}
            if post.get("id"):
                self._call("DELETE", f"posts/{post['id']}", params={"force": "true"})
        except ChannelError as e:
            return Finding("meta keys", False, f"writing a draft failed: {e.message}",
                           f"{self.config.username} must be allowed to create posts")
        kept = {k: (post.get("meta") or {}).get(k) for k in meta}
        if kept != meta:
            return Finding("meta keys", False, "registered, but a draft's meta did not keep them",
                           "the meta's auth_callback must allow the user (current_user_can('edit_posts'))")
        return Finding("meta keys", True, "registered and writable")

    def lookup(self, message: Message) -> Receipt | None:
        """The post of exactly this revision (slug or a -N variant, our 索引号 and our delivery key)."""
        post = self._find(message)
        if post is None or post["meta"].get("gov_delivery_key") != message.idempotency_key:
            return None
        return _receipt(post)

    def _find(self, message: Message) -> dict[str, Any] | None:
        """The post of this item, whatever its revision: slug or a -N variant, and our 索引号 in its meta."""
        slugs = [message.slug] + [f"{message.slug}-{n}" for n in range(2, SLUG_SUFFIXES + 1)]
        query = {"slug": ",".join(slugs), "status": "any", "context": "edit", "per_page": 100}
        response = self._call("GET", "posts", params=query)
        raise_for_status(response, channel=self.name, what=_error(response))
        posts = json_body(response)
        for post in posts if isinstance(posts, list) else []:
            meta = post.get("meta") if isinstance(post, dict) else None
            if not isinstance(meta, dict) or "gov_index_no" not in meta or "gov_delivery_key" not in meta:
                # WordPress drops meta keys not registered with show_in_rest; without these
                # nothing can be found again, and every retry would be a second post.
                raise PermanentChannelError(
                    f"{self.name}: post {post.get('id') if isinstance(post, dict) else '?'} lacks the "
                    "gov_index_no or gov_delivery_key meta; register both with show_in_rest on the site"
                )
            if meta["gov_index_no"] == message.index_no and post.get("status") != "trash":
                return post
        return None

    def withdraw(self, receipt: Receipt) -> None:
        """Move the post to the trash; if trash is disabled (501), delete it for good."""
        response = self._call("DELETE", f"posts/{receipt.remote_id}")
        if response.status_code == 501:
            response = self._call("DELETE", f"posts/{receipt.remote_id}", params={"force": "true"})
        gone = response.status_code == 410 or _error(response).startswith("rest_post_invalid_id")
        if gone:    # already trashed / already deleted; a 404 rest_no_route is a wrong base_url, not this
            return
        raise_for_status(response, channel=self.name, what=_error(response))

    def _call(self, method: str, path: str, *, creates: bool = False, headers: dict[str, str] | None = None,
              **kwargs: Any) -> requests.Response:
        password = self.config.app_password.get_secret_value().replace(" ", "")
        # Encoded by hand: requests encodes Basic credentials as latin-1, WordPress reads UTF-8.
        token = base64.b64encode(f"{self.config.username}:{password}".encode()).decode("ascii")
        return send(
            self.session, method, f"{self.config.base_url.rstrip('/')}/wp-json/wp/v2/{path}",
            channel=self.name, timeout=self.config.timeout, creates=creates,
            headers={"Authorization": f"Basic {token}", **(headers or {})}, **kwargs,
        )


def body_with_media(message: Message, urls: dict[str, str]) -> str:
    """The article body with each of the item's images (src/href ending in <slug>/<file name>, wherever the
    portal keeps them) pointing at its copy in the media library."""
    text = message.parts["article.html"]
    if not urls or not message.slug:
        return text
    names = "|".join(re.escape(name) for name in urls)
    pattern = re.compile(rf'((?:src|href)=")[^"]*?{re.escape(message.slug)}/({names})"')
    return pattern.sub(lambda m: m.group(1) + html.escape(urls[m.group(2)]) + '"', text)


def _receipt(post: dict[str, Any]) -> Receipt:
    return Receipt(str(post["id"]), post.get("link"))


def _error(response: requests.Response) -> str:
    """`code: message` from the WordPress error envelope, or ""."""
    body = json_body(response)
    if isinstance(body, dict) and "code" in body:
        return f"{body.get('code')}: {body.get('message', '')}"
    return ""
