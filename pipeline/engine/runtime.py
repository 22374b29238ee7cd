"""The engine of a process: settings, database, channel adapters, rate limits and the group commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis
import sqlalchemy as sa

from pipeline.core.adapters import ChannelSet
from pipeline.core.clock import utcnow
from pipeline.core.config import Settings
from pipeline.engine import claims
from pipeline.engine.grouping import GroupCommit
from pipeline.engine.ratelimit import RateLimiter


def _outage(error: BaseException) -> bool:
    """The database could not be reached or answer: a batch's every request fails alike, none is run alone."""
    return isinstance(error, sa.exc.OperationalError)


@dataclass
class Engine:
    """Everything deliver_one needs, built once per worker process. Its threads' claims and records are
    group-committed (pipeline/engine/grouping.py): under load, one transaction claims and records for many
    messages."""

    db: sa.Engine
    settings: Settings
    channels: ChannelSet
    limiter: RateLimiter
    clock: Callable[[], datetime] = utcnow
    group: GroupCommit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.group = GroupCommit(lambda batch: claims.commit_batch(self.db, self.settings, self.clock, batch),
                                 outage=_outage)

    @classmethod
    def build(cls, settings: Settings, db: sa.Engine) -> Engine:
        """The engine of this process: adapters, shared rate limits and the WeChat token store in Redis."""
        url = settings.queue.shared_redis_url
        client = redis.Redis.from_url(url) if url else None
        limits = {name: config.rate_limit for name, config in settings.channels.items() if config.rate_limit}
        return cls(db=db, settings=settings, channels=ChannelSet(settings, redis_client=client),
                   limiter=RateLimiter(limits, redis_url=url))
