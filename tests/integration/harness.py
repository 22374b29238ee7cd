"""The real parts of a queue test: a private redis-server, celery worker and beat processes, a platform.

Every process is started in its own session (process group) so that a kill takes the main process and
any child with it, and every one is killed when its test ends, whatever happened.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from celery import Celery
from helpers import CHEAP_AUTH, LEVEL_OF, LEVEL_REVIEWERS, acting, login_token, record
from sink import SECRET, Sink
from sqlmodel import select

from pipeline.core.audit_key import create_key_file
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.core.models import Attempt, Decision, Delivery, DeliveryStatus, LedgerEntry, utcnow
from pipeline.engine.queueing import DELIVER, enqueue
from pipeline.items import workflow

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "pipeline" / "cli" / "gongkai.example.toml"
HOOKS = ["hook_a", "hook_b", "hook_c"]
QUEUE = {  # short enough to watch recovery within a test; within config validation's bounds
    "visibility_timeout": 120, "lease_seconds": 60, "retry_base": 0.2, "retry_cap": 15.0,
    "sweep_interval": 1.0, "sweep_grace": 10.0, "max_attempts": 20, "threads": 8,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2,
             explain: Callable[[], str] = lambda: "") -> Any:
    """Poll until condition() is truthy; fail naming what did not happen (and why, if explain can say)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{explain()}")
        time.sleep(every)


class RedisServer:
    """redis-server on a free loopback port, AOF every second, in its own directory; killable, restartable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        log = open(self.directory / "redis.log", "ab")  # the child keeps its own descriptor
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
             "--appendfsync", "everysec", "--save", "", "--dir", str(self.directory),
             "--maxmemory-policy", "noeviction"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: self._answers(client), timeout=20, what=f"redis-server on port {self.port}")
        client.close()
        return self

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.BusyLoadingError):
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to clients."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Celery workers and beat for one test, with the test's configuration; all killed at the end."""

    def __init__(self, directory: Path, config: Path) -> None:
        self.directory = directory
        self.config = config
        self.started: list[Proc] = []

    def _start(self, name: str, argv: list[str]) -> Proc:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
        env.update(GONGKAI_CONFIG=str(self.config), PYTHONUNBUFFERED="1")
        log = self.directory / f"{name}-{len(self.started)}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker", *argv], cwd=ROOT, env=env,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log)
        self.started.append(proc)
        return proc

    def worker(self, name: str = "w1", concurrency: int = 8) -> Proc:
        return self._start(name, ["worker", "-P", "threads", "-c", str(concurrency), "-n", f"{name}@%h",
                                  "--without-mingle", "--without-gossip", "-l", "WARNING"])

    def beat(self) -> Proc:
        return self._start("beat", ["beat", "-l", "WARNING", "-s", str(self.directory / "beat-schedule")])

    @staticmethod
    def kill(proc: Proc) -> None:
        """SIGKILL the whole process group: the main process and every child."""
        if proc.alive():
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def close(self) -> None:
        for proc in self.started:
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.popen.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log.name}, {'alive' if p.alive() else 'ended'}):\n{p.tail()}"
                         for p in self.started)


def write_config(directory: Path, *, db_url: str, broker_url: str, sink: Sink,
                 queue: dict[str, Any], channels: dict[str, dict[str, Any]]) -> Path:
    """The example configuration with this test's database, broker, queue timings and webhook channels."""
    text = EXAMPLE.read_text(encoding="utf-8")
    settings = {"broker_url": broker_url, **QUEUE, **queue}
    names = list(channels)
    replacements = {
        'url = "sqlite:///gongkai.db"': f'url = "{db_url}"',
        'broker_url = ""': "\n".join(f"{key} = {_toml(value)}" for key, value in settings.items()),
        'output_dir = "site/': f'output_dir = "{directory}/site/',
        'channels = ["portal", "disclosure"]': f'channels = ["portal", "disclosure", {_names(names)}]\n'
                                               f'default_channels = [{_names(names)}]',
    }
    for old, new in replacements.items():
        assert old in text, f"the example configuration no longer has {old!r}"
        text = text.replace(old, new)
    for name, extra in channels.items():
        webhook = {"kind": "webhook", "url": sink.url(name), "secret": SECRET}  # unless another kind is given
        section = {**(webhook if extra.get("kind", "webhook") == "webhook" else {}), "timeout": 2.0, **extra}
        text += f"\n[channels.{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in section.items())
    path = directory / "gongkai.toml"
    path.write_text(text + "\n" + CHEAP_AUTH, encoding="utf-8")
    create_key_file(directory / "audit.key")  # what gongkai init does; the workers read it
    return path


def _toml(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _names(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


@dataclass
class Platform:
    """A migrated database, its configuration file, and the broker and sink the workers will use."""

    directory: Path
    config: Path
    settings: Settings
    engine: sa.Engine
    redis: RedisServer
    sink: Sink
    processes: Processes = field(init=False)

    def __post_init__(self) -> None:
        self.processes = Processes(self.directory, self.config)

    def approve(self, count: int, **fields: Any) -> list[int]:
        """Submit `count` items in one go and pass them through the three review levels, as the reviewers."""
        records = [record(title=f"2026年第{i + 1}期统计信息", **fields) for i in range(count)]
        with session_scope(self.engine) as session:
            done = workflow.submit_items(session, settings=self.settings, agency_code="tjj",
                                         actor=acting(session, "zhangsan"),
                                         records=records)
        ids = [d.item_id for d in done]
        for reviewer in LEVEL_REVIEWERS:
            with session_scope(self.engine) as session:
                for item_id in ids:
                    workflow.review_item(session, settings=self.settings, agency_code="tjj", item_id=item_id,
                                         actor=acting(session, reviewer), decision=Decision.APPROVE,
                                         level=LEVEL_OF[reviewer], revision=1)
        return ids

    def enqueue_due(self) -> list[int]:
        """What `gongkai review` does after the final approval commits: one message per due delivery."""
        with session_scope(self.engine) as session:
            due = list(session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING,
                                                              Delivery.next_attempt_at <= utcnow(),
                                                              Delivery.enqueued_at.is_(None))))
        assert enqueue(self.settings, self.engine, due) == len(due)
        return due

    def gongkai(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed `gongkai` command in the configuration's directory, as an operator would (qianqi,
        logged in)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
        env["GONGKAI_TOKEN"] = login_token(self.config, "qianqi")
        command = [str(Path(sys.executable).parent / "gongkai"), *args]
        done = subprocess.run(command, cwd=self.directory, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"gongkai {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done

    def forge(self, payload: object) -> None:
        """A deliver message from outside the pipeline: straight onto the broker, no enqueue(), no outbox."""
        with Celery("forger", broker=self.redis.url) as app:
            app.send_task(DELIVER, args=[payload])

    def broker_idle(self) -> bool:
        """Nothing waiting in the queue and nothing delivered but unacknowledged."""
        client = self.redis.client()
        try:
            return client.llen("celery") == 0 and client.hlen("unacked") == 0
        finally:
            client.close()

    def deliveries(self) -> list[Delivery]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(Delivery).order_by(Delivery.id)))

    def delivery(self, delivery_id: int) -> Delivery:
        with session_scope(self.engine) as session:
            found = session.get(Delivery, delivery_id)
            assert found is not None
            return found

    def statuses(self) -> Counter[str]:
        with session_scope(self.engine) as session:
            rows = session.execute(sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status))
            return Counter({str(status): count for status, count in rows})

    def ledger(self) -> list[LedgerEntry]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(LedgerEntry).order_by(LedgerEntry.id)))

    def attempts(self) -> dict[int, list[str]]:
        """Outcomes of every delivery's tries, in order."""
        found: dict[int, list[str]] = {}
        with session_scope(self.engine) as session:
            for attempt in session.exec(select(Attempt).order_by(Attempt.id)):
                found.setdefault(attempt.delivery_id, []).append(attempt.outcome)
        return found

    def wait_published(self, total: int, *, timeout: float) -> float:
        """Wait until `total` deliveries are published; return the seconds it took."""
        started = time.monotonic()
        wait_for(lambda: self.statuses()["published"] >= total, timeout=timeout, every=0.25,
                 what=f"{total} published deliveries", explain=self.explain)
        return time.monotonic() - started

    def explain(self) -> str:
        stuck = [f"  {d.id} {d.status}: {d.manual_action or d.last_error} (next {d.next_attempt_at})"
                 for d in self.deliveries() if str(d.status) in ("unknown", "dead")][:10]
        return (f"deliveries by status: {dict(self.statuses())}\n" + "".join(f"{line}\n" for line in stuck)
                + f"sink verdicts: {dict(self.sink.verdicts())}\n{self.processes.logs()}")
