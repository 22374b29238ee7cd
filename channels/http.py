"""The one written HTTP policy: every call has a timeout, redirects are not followed, library errors
become channel errors here, 429 and 5xx are transient, other 3xx/4xx are permanent.

Adapters handle their vendor's codes first (an error inside HTTP 200, 410 on a delete…) and hand
everything else to `raise_for_status`.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from channels.errors import OutcomeUnknown, PermanentChannelError, RateLimited, TransientChannelError

THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
_CONFIG_ERRORS = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def send(
    session: requests.Session, method: str, url: str, *, channel: str, timeout: float,
    creates: bool = False, **kwargs: Any,
) -> requests.Response:
    """Make one HTTP call; if it `creates` and may have reached the server, a failure is OutcomeUnknown."""
    where = f"{channel}: {method} {urlsplit(url).hostname}"    # no path or userinfo: they may hold secrets
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except _CONFIG_ERRORS as e:
        raise PermanentChannelError(f"{where}: invalid request ({type(e).__name__})") from e
    except requests.RequestException as e:
        # Messages name the exception, not str(e): that repeats the URL and any secret in it.
        if _never_sent(e):
            raise TransientChannelError(f"{where}: could not connect ({type(e).__name__})") from e
        if creates:
            # The request may have been read and committed before the answer was lost.
            raise OutcomeUnknown(f"{where}: no answer ({type(e).__name__}); look before sending again") from e
        raise TransientChannelError(f"{where}: no answer ({type(e).__name__})") from e


def _never_sent(e: requests.RequestException) -> bool:
    """True only when the connection itself failed, so the server cannot have seen the request."""
    if isinstance(e, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(e, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def retry_after(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as delta-seconds or HTTP-date), else None."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def raise_for_status(response: requests.Response, *, channel: str, what: str = "") -> None:
    """Return on 2xx; otherwise raise the error the HTTP policy names for this status."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{channel}: HTTP {status}" + (f" {what}" if what else "")
    detail = response.text
    if status in THROTTLE_STATUSES:
        delay = retry_after(response)
        if delay is not None:
            raise RateLimited(message, retry_after=delay, detail=detail)
        raise TransientChannelError(message, detail=detail)
    if status >= 500:
        raise TransientChannelError(message, detail=detail)
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        raise PermanentChannelError(
            f"{message}: redirect to {location!r} not followed; fix the URL", detail=detail
        )
    raise PermanentChannelError(message, detail=detail)


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
