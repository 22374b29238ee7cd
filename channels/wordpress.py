"""WordPress REST posts API: the portal CMS and the disclosure catalogue in "wordpress" mode (§3)."""

from __future__ import annotations

import base64
from typing import Any, Literal

import requests
from pydantic import Field, SecretStr

from channels.base import Channel, ChannelConfig
from channels.errors import AlreadyPublished, ContentRejected, OutcomeUnknown, PermanentChannelError
from channels.http import json_body, raise_for_status, send
from channels.message import Message, Receipt

SLUG_SUFFIXES = 10      # WordPress renames a taken published slug to slug-2, slug-3 …; look that far


class WordPress(Channel):
    """Creates one post per message; `slug` plus the `gov_index_no` meta key identify it.

    WordPress has no idempotency: a retried POST makes a second post. So `publish` looks for the post
    first (slug, its `-N` variants, any status but trash, same 索引号) and answers AlreadyPublished when
    it exists; `lookup` is the same query.
    """

    kind = "wordpress"
    required_parts = ("article.html",)
    supports_withdraw = True
    supports_lookup = True

    class Config(ChannelConfig):
        base_url: str = Field(description="site origin, e.g. https://portal.example.gov.cn (no /wp-json)")
        username: str = Field(description="login of the WordPress user that owns the application password")
        app_password: SecretStr = Field(description="application password of that user (spaces are ignored)")
        category_ids: dict[str, int] = Field({}, description="主题分类 → WordPress category id; empty: none")
        status: Literal["publish", "future", "draft", "pending", "private"] = Field(
            "publish", description="status of created posts")

    config: Config

    def check(self, message: Message) -> None:
        """Also require the slug (the lookup key) and, when categories are mapped, this item's category."""
        super().check(message)
        if not message.slug:
            raise ContentRejected(f"{self.name}: a slug is required to find the post again")
        if message.images:  # the body points at the portal's copies, which a CMS portal does not have
            raise ContentRejected(f"{self.name}: items with images are not uploaded to WordPress media yet")
        if self.config.category_ids and message.category not in self.config.category_ids:
            raise ContentRejected(f"{self.name}: no category_ids entry for 主题分类 {message.category!r}")

    def publish(self, message: Message) -> Receipt:
        """Create the post; a new revision of an item updates the post of the earlier one (same 索引号)."""
        self.check(message)
        post = self._find(message)
        if post is not None and post["meta"].get("gov_delivery_key") == message.idempotency_key:
            raise AlreadyPublished(f"{self.name}: post {post['id']} has this revision", receipt=_receipt(post))
        if post is not None:
            response = self._call("POST", f"posts/{post['id']}", creates=True, json=self.payload(message))
        else:
            response = self._call("POST", "posts", creates=True, json=self.payload(message))
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

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of POST /wp/v2/posts."""
        category = self.config.category_ids.get(message.category)
        return {
            "title": message.title,
            "content": message.parts["article.html"],
            "excerpt": message.summary,
            "slug": message.slug,
            "status": self.config.status,
            "categories": [category] if category is not None else [],
            "meta": {**message.metadata, "gov_index_no": message.index_no,
                     "gov_delivery_key": message.idempotency_key},
        }

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

    def _call(self, method: str, path: str, *, creates: bool = False, **kwargs: Any) -> requests.Response:
        password = self.config.app_password.get_secret_value().replace(" ", "")
        # Encoded by hand: requests encodes Basic credentials as latin-1, WordPress reads UTF-8.
        token = base64.b64encode(f"{self.config.username}:{password}".encode()).decode("ascii")
        return send(
            self.session, method, f"{self.config.base_url.rstrip('/')}/wp-json/wp/v2/{path}",
            channel=self.name, timeout=self.config.timeout, creates=creates,
            headers={"Authorization": f"Basic {token}"}, **kwargs,
        )


def _receipt(post: dict[str, Any]) -> Receipt:
    return Receipt(str(post["id"]), post.get("link"))


def _error(response: requests.Response) -> str:
    """`code: message` from the WordPress error envelope, or ""."""
    body = json_body(response)
    if isinstance(body, dict) and "code" in body:
        return f"{body.get('code')}: {body.get('message', '')}"
    return ""
