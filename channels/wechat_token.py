"""What the WeChat adapter keeps between calls: the access token, and the ids of unfinished publications."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from redis import Redis, RedisError

from channels.errors import TransientChannelError

log = logging.getLogger(__name__)

Fetch = Callable[[], tuple[str, float]]  # asks WeChat for a token: (token, expires_in seconds)

# Delete a key only while it still holds the value the caller saw, so a worker holding a stale token
# never throws away the fresh one another worker has just stored.
_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class TokenStore(Protocol):
    def get(self) -> str:
        """The current token, fetched (by one holder only) when there is none."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget `token` if it is still the current one; a newer token is kept."""
        ...


class MemoryTokenStore:
    """Embedded single-process mode: the token in memory, refreshed by one thread at a time."""

    def __init__(self, fetch: Fetch, *, margin: float) -> None:
        self._fetch = fetch
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def get(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                token, expires_in = self._fetch()
                self._token = token
                self._expires = time.monotonic() + max(expires_in - self._margin, 1.0)
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


class RedisTokenStore:
    """The token in Redis; a refresher holds a SET NX PX lock, the others wait briefly and re-read."""

    def __init__(
        self, client: Redis, key: str, fetch: Fetch, *, margin: float, lock_seconds: float, poll: float = 0.05
    ) -> None:
        self._redis = client
        self._key = key
        self._lock_key = f"{key}:lock"
        self._fetch = fetch
        self._margin = margin
        self._lock_ms = int(lock_seconds * 1000)
        self._poll = poll
        self._compare_and_delete = client.register_script(_COMPARE_AND_DELETE)

    def get(self) -> str:
        # Wait a little longer than a lock lives: a crashed holder's lock expires and we take over.
        deadline = time.monotonic() + self._lock_ms / 1000 + 1.0
        try:
            while True:
                token = self._read()
                if token is not None:
                    return token
                owner = uuid.uuid4().hex
                if self._redis.set(self._lock_key, owner, nx=True, px=self._lock_ms):
                    try:
                        return self._refresh()
                    finally:
                        self._compare_and_delete(keys=[self._lock_key], args=[owner])
                if time.monotonic() >= deadline:
                    raise TransientChannelError("wechat: another worker holds the token lock and has not finished")
                time.sleep(self._poll)
        except RedisError as e:
            raise TransientChannelError(f"wechat: token store unavailable: {e}") from e

    def invalidate(self, token: str) -> None:
        try:
            self._compare_and_delete(keys=[self._key], args=[token])
        except RedisError as e:
            raise TransientChannelError(f"wechat: token store unavailable: {e}") from e

    def _refresh(self) -> str:
        token = self._read()  # another holder may have stored one between our read and our lock
        if token is not None:
            return token
        token, expires_in = self._fetch()
        self._redis.set(self._key, token, px=int(max(expires_in - self._margin, 1.0) * 1000))
        return token

    def _read(self) -> str | None:
        value = self._redis.get(self._key)
        return None if value is None else _text(value)


class PendingPublications:
    """Draft and publish-job ids per message, so lookup() can follow an unknown outcome up.

    Best effort on write: losing them only makes lookup() fall back to listing published articles.
    """

    def __init__(self, client: Redis | None, prefix: str, *, ttl_seconds: int = 30 * 86400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._memory: dict[str, dict[str, str]] = {}  # without Redis (one process)
        self._lock = threading.Lock()

    def remember(self, key: str, **ids: str) -> None:
        name = f"{self._prefix}:{key}"
        if self._redis is None:
            with self._lock:
                self._memory.setdefault(name, {}).update(ids)
            return
        try:
            self._redis.pipeline().hset(name, mapping=ids).expire(name, self._ttl).execute()
        except RedisError:
            log.warning("wechat: could not record %s for %s", ids, key, exc_info=True)

    def recall(self, key: str) -> dict[str, str]:
        name = f"{self._prefix}:{key}"
        if self._redis is None:
            with self._lock:
                return dict(self._memory.get(name, {}))
        try:
            stored = self._redis.hgetall(name)
        except RedisError as e:
            raise TransientChannelError(f"wechat: state store unavailable: {e}") from e
        return {_text(k): _text(v) for k, v in stored.items()}

    def forget(self, key: str) -> None:
        name = f"{self._prefix}:{key}"
        if self._redis is None:
            with self._lock:
                self._memory.pop(name, None)
            return
        try:
            self._redis.delete(name)
        except RedisError:
            log.warning("wechat: could not clear the state of %s", key, exc_info=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
