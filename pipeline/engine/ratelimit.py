"""Per-channel rate limits shared by every worker: a sliding log in Redis (one Lua call), or in memory.

Why not Celery's rate_limit: it is per worker. Why not the `limits` package: a channel's 429 must push
the limit back by the time it asked for, and the window needs a guard for the time between the
limiter and the channel; both are a few lines here.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import redis

GUARD = 0.25  # seconds added to the one-second window: the request reaches the channel later, by more when
# the threads admitted together queue for the GIL (100 ms seen on 2 cores with two workers)

# KEYS[1] log (sorted set of start times), KEYS[2] pause-until; ARGV: limit, window seconds, member
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return tostring(paused - now) end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2000))
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local untilt = now + tonumber(ARGV[1])
if untilt > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(untilt), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class RateLimiter:
    """acquire(channel) -> seconds to wait (0 = go now); pause(channel, seconds) after a 429."""

    def __init__(self, limits: dict[str, float], *, redis_url: str = "", prefix: str = "gongkai:rate") -> None:
        self.limits = {name: rate for name, rate in limits.items() if rate}
        self.prefix = prefix
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._acquire = self._redis.register_script(_ACQUIRE) if self._redis else None
        self._pause = self._redis.register_script(_PAUSE) if self._redis else None
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._paused: dict[str, float] = {}
        self._count = 0

    def acquire(self, channel: str) -> float:
        rate = self.limits.get(channel)
        if rate is None:
            return 0.0
        # N per second becomes ceil-free: a window of 1 s admits `rate` starts (fractional rates widen it)
        limit, window = (int(rate), 1.0) if rate >= 1 else (1, 1.0 / rate)
        window += GUARD
        if self._acquire is not None:
            self._count += 1
            wait = self._acquire(keys=[f"{self.prefix}:{channel}", f"{self.prefix}:{channel}:pause"],
                                 args=[limit, window, f"{id(self)}:{self._count}:"])
            return max(0.0, float(wait))
        return self._acquire_locally(channel, limit, window)

    def pause(self, channel: str, seconds: float) -> None:
        """The channel asked us to wait (429 / Retry-After): nobody starts a call to it before then."""
        if self._pause is not None:
            self._pause(keys=[f"{self.prefix}:{channel}:pause"], args=[seconds])
            return
        with self._lock:
            self._paused[channel] = max(self._paused.get(channel, 0.0), time.monotonic() + seconds)

    def _acquire_locally(self, channel: str, limit: int, window: float) -> float:
        with self._lock:
            now = time.monotonic()
            if self._paused.get(channel, 0.0) > now:
                return self._paused[channel] - now
            log = self._logs.setdefault(channel, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return 0.0
            return log[0] + window - now
