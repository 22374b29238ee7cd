"""HTTP hardening of the console: security headers on every response, CSRF tokens bound to the session.

The session cookie holds a personal token (PersonToken, label "console"); the CSRF token of a form is derived
from it (sha256 of a fixed prefix and the token), so it needs no storage, changes with every login and cannot be
computed by a page that does not know the cookie. Every POST must carry it (checked in pipeline.web.deps).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "gongkai_session"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
# a channel preview is served alone inside an iframe of the review page: no script at all, and sandboxed
PREVIEW_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "frame-ancestors 'self'; sandbox allow-same-origin")  # no script runs: no allow-scripts
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware: adds HEADERS and a Content-Security-Policy unless the route set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in HEADERS if name not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"content-security-policy" in names and any(
                        name.lower() == b"content-security-policy" and b"frame-ancestors 'self'" in value
                        for name, value in headers):
                    headers = [(n, v) for n, v in headers if not (n == b"x-frame-options")]
                    headers.append((b"x-frame-options", b"SAMEORIGIN"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(f"gongkai-csrf:{session_token}".encode()).hexdigest()


def csrf_valid(session_token: str | None, presented: str | None) -> bool:
    if not session_token or not presented:
        return False
    return hmac.compare_digest(csrf_token(session_token), presented)
