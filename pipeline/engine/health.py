"""Channel checks: a harmless live probe per channel, and a channel that fails it paused, its deliveries waiting.

`gongkai channels check` probes the configured channels (each adapter's probe(): credentials, site setup,
signatures …) and records the result: a failing channel is paused, a passing one resumed, and the deliveries
that waited for it are due at once. The engine does the same by itself when a send fails with what may be the
channel's setup rather than the item (a permanent error that is not a refusal of the content): it probes the
channel, and if the probe fails the delivery waits instead of becoming a dead letter, and so does every other
delivery to that channel; the engine probes a paused channel again every queue.channel_recheck seconds and
resumes it when the probe passes. A wait is a deferral (an attempt that settles nothing, counted as no failure),
so what a delivery was in doubt about stays in doubt.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import ChannelMisconfigured, ContentRejected, Finding, PermanentChannelError
from pipeline.core.db import session_scope
from pipeline.core.errors import NotFound
from pipeline.core.models import AttemptOutcome as A
from pipeline.core.models import ChannelState, Delivery, Role
from pipeline.core.models import DeliveryStatus as D
from pipeline.engine.claims import Job, Result
from pipeline.engine.runtime import Engine
from pipeline.records.audit import SYSTEM, record_event
from pipeline.records.authority import require
from pipeline.records.people import Actor

log = logging.getLogger("gongkai.health")
PROBE_REUSE = 30.0  # seconds a process reuses its last probe of a channel (a batch failing alike probes once)


@dataclass(frozen=True)
class ChannelCheck:
    """One channel's check: what was found, and the deliveries that were waiting and are now due."""

    channel: str
    kind: str
    findings: tuple[Finding, ...]
    resumed: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


def check_channels(engine: Engine, *, names: list[str], actor: Actor, agency_code: str) -> list[ChannelCheck]:
    """gongkai channels check [NAME]: probe the named channels (all configured ones when none is named), pause
    those that fail, resume those that pass. Needs the role operator; nothing is held open while probing."""
    settings = engine.settings
    for name in names:
        if name not in settings.channels:
            raise NotFound(f"no channel section [channels.{name}]; configured: {', '.join(settings.channels)}")
    with session_scope(engine.db) as session:
        require(session, actor, Role.OPERATOR, agency_code=agency_code, doing="check channels")
    checks = []
    for name in names or list(settings.channels):
        config = settings.channels[name]
        if not config.enabled:
            checks.append(ChannelCheck(name, config.kind, (Finding("enabled", True, "disabled: not checked"),)))
            continue
        findings = tuple(_probe(engine, name, reuse=False))
        resumed = _store(engine, name, findings, actor.label)
        checks.append(ChannelCheck(name, config.kind, findings, tuple(resumed)))
    return checks


def record_check(session: Session, *, channel: str, findings: tuple[Finding, ...], now: datetime, actor: str,
                 recheck: float) -> list[int]:
    """Record a check: pause the channel if a finding fails, else resume it; a change of state is audited. The
    ids of the deliveries that waited for it and are due now (none unless it was resumed)."""
    state = session.exec(select(ChannelState).where(ChannelState.name == channel).with_for_update()).first()
    state = state or ChannelState(name=channel)
    was_paused = state.paused
    failing = [f for f in findings if not f.ok]
    state.checked_at = now
    state.paused = bool(failing)
    state.reason = "; ".join(f"{f.what}: {f.detail}" + (f" (fix: {f.fix})" if f.fix else "") for f in failing)
    state.next_check_at = now + timedelta(seconds=recheck) if failing else None
    session.add(state)
    if was_paused != state.paused:
        record_event(session, actor=actor, action="channel_pause" if state.paused else "channel_resume",
                     subject=f"channel:{channel}", details={"reason": state.reason[:2000]}, now=now)
        log.warning("channel %s %s%s", channel, "paused: " if state.paused else "resumed", state.reason)
    if state.paused or not was_paused:
        return []
    waiting = list(session.exec(select(Delivery.id).where(
        Delivery.channel == channel, Delivery.status == D.RETRY_WAIT, Delivery.next_attempt_at > now)).all())
    if waiting:
        session.execute(sa.update(Delivery).where(Delivery.id.in_(waiting)).values(next_attempt_at=now))
    return waiting


def wait_while_paused(engine: Engine, job: Job) -> Result | None:
    """A delivery to a paused channel: it waits, unless the channel's recheck is due and passes (None: send)."""
    name = job.delivery.channel
    with session_scope(engine.db) as session:
        state = session.get(ChannelState, name)
    now = engine.clock()
    if state is None or not state.paused:
        return None
    if state.next_check_at is None or state.next_check_at <= now:
        findings = tuple(_probe(engine, name, reuse=False))
        _store(engine, name, findings, SYSTEM)
        if all(f.ok for f in findings):
            return None
        return _wait(engine, job, "; ".join(f"{f.what}: {f.detail}" for f in findings if not f.ok))
    return _wait(engine, job, state.reason, until=state.next_check_at)


def pause_if_unhealthy(engine: Engine, job: Job, error: PermanentChannelError) -> Result | None:
    """After a permanent error that may be the channel's setup (not a refusal of this content): probe the
    channel; if the probe fails, pause it and let the delivery wait (None: the error is this delivery's)."""
    if isinstance(error, ContentRejected):
        return None
    name = job.delivery.channel
    findings = tuple(_probe(engine, name))
    if all(f.ok for f in findings):
        if isinstance(error, ChannelMisconfigured):  # fixed since: try again soon
            return Result(job, D.RETRY_WAIT, A.DEFERRED, f"{error.message} (the channel's check passes now)",
                          retry_in=engine.settings.queue.retry_base)
        return None
    try:
        _store(engine, name, findings, SYSTEM)
    except sa.exc.DBAPIError:  # not recorded: this delivery waits all the same, the next failure pauses it
        log.exception("channel %s: its failed check could not be recorded", name)
    return _wait(engine, job, f"{error.message}; check: " +
                 "; ".join(f"{f.what}: {f.detail}" for f in findings if not f.ok))


def _store(engine: Engine, name: str, findings: tuple[Finding, ...], actor: str) -> list[int]:
    """record_check in its own transaction; two processes recording a channel's first check at once both
    insert its row, and the loser records again over the winner's."""
    for last in (False, True):
        try:
            with session_scope(engine.db) as session:
                return record_check(session, channel=name, findings=findings, now=engine.clock(), actor=actor,
                                    recheck=engine.settings.queue.channel_recheck)
        except sa.exc.IntegrityError:
            if last:
                raise
    return []


def _wait(engine: Engine, job: Job, reason: str, *, until: datetime | None = None) -> Result:
    recheck = engine.settings.queue.channel_recheck
    wait = max(1.0, (until - engine.clock()).total_seconds()) if until is not None else recheck
    return Result(job, D.RETRY_WAIT, A.DEFERRED,
                  f"channel {job.delivery.channel} is paused: {reason}; waiting for gongkai channels check "
                  f"{job.delivery.channel} to pass", retry_in=wait)


# per process and channel set: the last probe of each channel, when it was made
_recent: weakref.WeakKeyDictionary[object, dict[str, tuple[float, list[Finding]]]] = weakref.WeakKeyDictionary()
_recent_lock = threading.Lock()


def _probe(engine: Engine, name: str, *, reuse: bool = True) -> list[Finding]:
    """The channel's probe; a probe that raises (a bug in an adapter) is a failed finding, never an exception."""
    with _recent_lock:
        last = _recent.setdefault(engine.channels, {}).get(name)
    if reuse and last is not None and time.monotonic() - last[0] < PROBE_REUSE:
        return last[1]
    try:
        findings = engine.channels.get(name).probe()
    except Exception as e:  # noqa: BLE001  (an adapter's bug must not stop a check or a worker)
        log.exception("channel %s: probe failed", name)
        findings = [Finding("live check", False, f"the check itself failed: {e!r}", "report this as a bug")]
    with _recent_lock:
        _recent.setdefault(engine.channels, {})[name] = (time.monotonic(), findings)
    return findings
