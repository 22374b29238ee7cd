"""WordPress REST posts and media API double (channel-apis.md §3.3–3.5): no dedupe, just like WordPress.

Media (developer.wordpress.org/rest-api/reference/media/): POST /wp/v2/media takes the raw bytes with a
Content-Disposition file name; the attachment's slug is the file name without its extension (made unique,
as every attachment slug is), its source_url under /wp-content/uploads/YYYY/MM/. A post's featured_media must
name an attachment. OPTIONS /wp/v2/posts answers the route's schema, whose meta properties are the keys
registered with show_in_rest; GET /wp/v2/users/me?context=edit the user's capabilities.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from .server import Clock, DoubleServer, Request, Response

STATUSES = ("publish", "future", "draft", "pending", "private")
POST = re.compile(r"^/wp-json/wp/v2/posts/(\d+)$")
MEDIA = re.compile(r"^/wp-json/wp/v2/media/(\d+)$")
FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
UPLOADABLE = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
EDITOR = {"edit_posts": True, "publish_posts": True, "delete_posts": True, "upload_files": True,
          "unfiltered_html": True}


class WordPressDouble:
    """Application-password auth, schema checks, slug uniquifying, trash and scripted failures."""

    def __init__(
        self, *, users: dict[str, str] | None = None, clock: Clock | None = None, hang_seconds: float = 1.0,
        server: DoubleServer | None = None,
    ) -> None:
        self.clock = clock or Clock()
        users = users or {"editor": "abcd EFGH 1234 ijkl MNOP 6789"}
        self.passwords = {user: {pw.replace(" ", "")} for user, pw in users.items()}
        self.posts: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}          # source_url → the bytes uploaded
        self.capabilities = dict(EDITOR)           # the user's; unfiltered_html: markup is stored as sent
        self.strip_auth = False         # the web server drops Authorization: every caller is anonymous
        self.trash_supported = True     # False: DELETE without force=true → 501 rest_trash_not_supported
        self.commit_then_500 = 0        # the next N creates persist the post, then answer 500
        # Meta keys registered with show_in_rest; others are dropped, registered ones read back "".
        self.registered_meta: set[str] | None = None       # None: every key is registered
        self.script: list[Response] = []   # answered before any work (429 + Retry-After, 503 …)
        self._next_id = 100
        # A running `server` may be adopted: one listener per test module, since stopping one takes
        # the harness's 0.5 s poll interval.
        self.server = server or DoubleServer(self.handle, hang_seconds=hang_seconds)
        self.server.handle = self.handle
        self.server.faults.clear()
        self.server.requests.clear()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self) -> WordPressDouble:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def with_index_no(self, index_no: str) -> list[dict[str, Any]]:
        """Every post, trashed or not, carrying this 索引号: a publication must appear exactly once."""
        return [p for p in self.posts.values() if p["meta"].get("gov_index_no") == index_no]

    def handle(self, request: Request) -> Response:
        if self.script:
            return self.script.pop(0)
        user = self._user(request)
        if isinstance(user, Response):
            return user
        match = POST.match(request.path)
        if request.path == "/wp-json/wp/v2/posts" and request.method == "OPTIONS":
            return self._schema()
        if request.path == "/wp-json/wp/v2/users/me" and request.method == "GET":
            return self._me(user)
        if request.path == "/wp-json/wp/v2/media" and request.method == "GET":
            return self._list_media(request)
        if request.path == "/wp-json/wp/v2/media" and request.method == "POST":
            return self._upload(request, user)
        if match and request.method == "GET":
            post = self.posts.get(int(match.group(1)))
            if post is None or (not user and post["status"] != "publish"):
                return _error(404, "rest_post_invalid_id", "Invalid post ID.")
            return Response.json(self._shown(post))
        if request.path == "/wp-json/wp/v2/posts" and request.method == "GET":
            return self._list(request, user)
        if request.path == "/wp-json/wp/v2/posts" and request.method == "POST":
            return self._create(request, user)
        if match and request.method == "DELETE":
            return self._delete(int(match.group(1)), request, user)
        if match and request.method in ("POST", "PUT", "PATCH"):
            return self._update(int(match.group(1)), request, user)
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _user(self, request: Request) -> str | Response:
        """The logged-in user, "" when anonymous, or the 401 WordPress gives for bad credentials."""
        header = request.headers.get("authorization", "")
        if self.strip_auth or not header.startswith("Basic "):
            return ""
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _error(401, "rest_not_logged_in", "You are not currently logged in.")
        if user not in self.passwords:
            return _error(401, "invalid_username", "Unknown username.")
        if password.replace(" ", "") not in self.passwords[user]:
            return _error(401, "incorrect_password",
                          "The provided password is an invalid application password.")
        return user

    def _list(self, request: Request, user: str) -> Response:
        q = {k: ",".join(v) for k, v in request.query.items()}
        statuses = q.get("status", "publish").split(",")
        if statuses != ["publish"] and not user:
            return _error(401, "rest_forbidden_status", "Status is forbidden.")
        if not 1 <= int(q.get("per_page", "10")) <= 100:
            return _invalid("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        slugs = q["slug"].split(",") if q.get("slug") else None
        found = [
            p for p in self.posts.values()
            if (slugs is None or p["slug"] in slugs)
            and (p["status"] in statuses or ("any" in statuses and p["status"] != "trash"))
        ]
        return Response.json([self._shown(p) for p in found[: int(q.get("per_page", "10"))]])

    def _create(self, request: Request, user: str) -> Response:
        if not user:
            return _error(401, "rest_cannot_create",
                          "Sorry, you are not allowed to create posts as this user.")
        body = request.json()
        if "id" in body:
            return _error(400, "rest_post_exists", "Cannot create existing post.")
        status = body.get("status", "draft")
        if status not in STATUSES:
            return _invalid("status", f"status is not one of {', '.join(STATUSES)}.")
        for name in ("title", "content", "excerpt", "slug"):
            if not isinstance(body.get(name, ""), str):
                return _invalid(name, f"{name} is not of type string.")
        if not all(isinstance(c, int) for c in body.get("categories", [])):
            return _invalid("categories", "categories[0] is not of type integer.")
        if not (body.get("title") or body.get("content") or body.get("excerpt")):
            return _error(400, "empty_content", "Content, title, and excerpt are empty.")
        if (refused := self._featured(body)) is not None:
            return refused
        self._next_id += 1
        post_id = self._next_id
        when = datetime.fromtimestamp(self.clock.now(), UTC)
        slug = self._unique(body.get("slug") or f"post-{post_id}", status)
        link = f"{self.base_url}/?p={post_id}"
        if status == "publish":
            link = f"{self.base_url}/{when:%Y/%m/%d}/{slug}/"
        self.posts[post_id] = {
            "id": post_id, "date_gmt": f"{when:%Y-%m-%dT%H:%M:%S}", "slug": slug, "status": status,
            "type": "post", "link": link, "author": user,
            "title": self._text(body.get("title", "")), "content": {"raw": body.get("content", "")},
            "excerpt": self._text(body.get("excerpt", "")), "categories": body.get("categories", []),
            "featured_media": body.get("featured_media", 0), "meta": self._meta(body.get("meta", {})),
        }
        if self.commit_then_500:
            self.commit_then_500 -= 1
            return _error(500, "db_insert_error", "Could not insert post into the database.")
        location = f"{self.base_url}/wp-json/wp/v2/posts/{post_id}"
        return Response.json(self.posts[post_id], 201, Location=location)

    def _shown(self, post: dict[str, Any]) -> dict[str, Any]:
        """A post as the REST API shows it: only meta registered (now) with show_in_rest."""
        if self.registered_meta is None:
            return post
        return {**post, "meta": {k: v for k, v in post["meta"].items() if k in self.registered_meta}}

    def _meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        if self.registered_meta is None:
            return dict(meta)
        return {key: meta.get(key, "") for key in self.registered_meta}

    def _unique(self, slug: str, status: str) -> str:
        """wp_unique_post_slug: drafts and pending posts keep their slug, others get -2, -3 …"""
        if status in ("draft", "pending"):
            return slug
        taken = {p["slug"] for p in self.posts.values()}
        candidate, n = slug, 2
        while candidate in taken:
            candidate, n = f"{slug}-{n}", n + 1
        return candidate

    def _update(self, post_id: int, request: Request, user: str) -> Response:
        if post_id not in self.posts:
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        if not user:
            return _error(401, "rest_cannot_edit", "Sorry, you are not allowed to edit this post.")
        body = request.json()
        if "status" in body and body["status"] not in STATUSES:
            return _invalid("status", f"status is not one of {', '.join(STATUSES)}.")
        if (refused := self._featured(body)) is not None:
            return refused
        post = self.posts[post_id]
        for key, value in body.items():
            if key in ("title", "excerpt"):
                post[key] = self._text(value)
            elif key != "meta":
                post[key] = {"raw": value} if key == "content" else value
        if "meta" in body:
            post["meta"].update(self._meta(body["meta"]))
        return Response.json(post)

    def _text(self, raw: str) -> dict[str, str]:
        """A title or excerpt as stored: without unfiltered_html, kses strips the tags it does not allow (here:
        every tag but <p>, <a>); with it, markup is kept as sent."""
        if not self.capabilities.get("unfiltered_html"):
            raw = re.sub(r"<(?!/?(?:p|a)\b)[^>]*>", "", raw)
        return {"raw": raw, "rendered": raw}

    def _featured(self, body: dict[str, Any]) -> Response | None:
        media = body.get("featured_media", 0)
        if media and media not in self.media:
            return _invalid("featured_media", "Invalid featured media ID.")
        return None

    def _schema(self) -> Response:
        """The route's OPTIONS answer: only meta registered with show_in_rest appears under meta."""
        keys = self.registered_meta
        if keys is None:
            keys = {"gov_index_no", "gov_delivery_key"} | {k for p in self.posts.values() for k in p["meta"]}
        meta = {key: {"type": "string", "description": "", "default": ""} for key in sorted(keys)}
        properties = {"title": {"type": "object"}, "content": {"type": "object"}, "featured_media": {"type": "integer"},
                      "meta": {"type": "object", "properties": meta}}
        return Response.json({"namespace": "wp/v2", "methods": ["GET", "POST"],
                              "schema": {"title": "post", "type": "object", "properties": properties}})

    def _me(self, user: str) -> Response:
        if not user:
            return _error(401, "rest_not_logged_in", "You are not currently logged in.")
        return Response.json({"id": 1, "name": user, "slug": user, "capabilities": dict(self.capabilities)})

    def _list_media(self, request: Request) -> Response:
        slugs = request.query.get("slug", [""])[0].split(",")
        return Response.json([m for m in self.media.values() if not slugs[0] or m["slug"] in slugs])

    def _upload(self, request: Request, user: str) -> Response:
        """POST /wp/v2/media with the file's bytes as the body (wp_handle_sideload)."""
        if not user or not self.capabilities.get("upload_files"):
            return _error(401 if not user else 403, "rest_cannot_create",
                          "Sorry, you are not allowed to upload media on this site.")
        if not request.body:
            return _error(400, "rest_upload_no_data", "No data supplied.")
        found = FILENAME.search(request.headers.get("content-disposition", ""))
        if found is None:
            return _error(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in UPLOADABLE:
            return _error(500, "rest_upload_sideload_error", "Sorry, you are not allowed to upload this file type.")
        self._next_id += 1
        media_id = self._next_id
        name = found.group(1).rsplit("/", 1)[-1]
        stem, dot, suffix = name.rpartition(".")
        when = datetime.fromtimestamp(self.clock.now(), UTC)
        url, n = f"{self.base_url}/wp-content/uploads/{when:%Y/%m}/{name}", 1
        while url in self.files:    # wp_unique_filename
            url, n = f"{self.base_url}/wp-content/uploads/{when:%Y/%m}/{stem}-{n}{dot}{suffix}", n + 1
        taken = {p["slug"] for p in [*self.posts.values(), *self.media.values()]}
        slug, n = stem.lower(), 2
        while slug in taken:        # attachment slugs are always unique
            slug, n = f"{stem.lower()}-{n}", n + 1
        self.files[url] = request.body
        self.media[media_id] = {"id": media_id, "slug": slug, "type": "attachment", "status": "inherit",
                                "media_type": "image", "mime_type": kind, "source_url": url,
                                "title": {"raw": stem, "rendered": stem}}
        location = f"{self.base_url}/wp-json/wp/v2/media/{media_id}"
        return Response.json(self.media[media_id], 201, Location=location)

    def _delete(self, post_id: int, request: Request, user: str) -> Response:
        if post_id not in self.posts:
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        if not user:
            return _error(401, "rest_cannot_delete", "Sorry, you are not allowed to delete this post.")
        post = self.posts[post_id]
        if request.query.get("force", ["false"])[0] in ("true", "1"):
            del self.posts[post_id]
            return Response.json({"deleted": True, "previous": post})
        if not self.trash_supported:
            return _error(501, "rest_trash_not_supported",
                          "The post does not support trashing. Set 'force=true' to delete.")
        if post["status"] == "trash":
            return _error(410, "rest_already_trashed", "The post has already been deleted.")
        post.update(status="trash", slug=f"{post['slug']}__trashed")
        return Response.json(post)


def _error(status: int, code: str, message: str, **data: Any) -> Response:
    return Response.json({"code": code, "message": message, "data": {"status": status, **data}}, status)


def _invalid(param: str, reason: str) -> Response:
    return _error(400, "rest_invalid_param", f"Invalid parameter(s): {param}", params={param: reason})
