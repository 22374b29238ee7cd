"""worker.py's process settings: what a Celery worker process sets for itself before its pool starts."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# 16 threads allocate at once, as a worker's pool does; then glibc prints one "Arena N:" block per arena
ARENAS = """
import ctypes, sys, threading
if sys.argv[1] == "worker":
    import worker
barrier = threading.Barrier(16)
def churn():
    barrier.wait()
    for _ in range(2000):
        kept = [bytearray(512) for _ in range(50)]
threads = [threading.Thread(target=churn) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX" and not k.startswith("GONGKAI_")}
    environ.update(GONGKAI_QUEUE__BROKER_URL="redis://127.0.0.1:6379/0", GONGKAI_AUDIT_KEY="0" * 64, **env)
    done = subprocess.run([sys.executable, "-c", ARENAS, mode], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stderr.count("Arena ")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_a_worker_process_caps_glibcs_malloc_arenas_at_two_unless_the_environment_sets_them():
    assert _arenas("bare") > 2  # without the cap, threads that allocate at once get arenas of their own
    assert _arenas("worker") <= 2
    assert _arenas("worker", MALLOC_ARENA_MAX="1") == 1  # the environment's own setting is left as it is


def test_a_worker_names_its_node(env, run, monkeypatch):
    """gongkai worker --node NAME starts Celery as NAME@host, so that two workers on one machine are told apart."""
    started: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> None:
        started.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setenv("GONGKAI_QUEUE__BROKER_URL", "redis://127.0.0.1:6379/0")
    assert run("worker --node east-1", cwd=env.directory).code == 0
    assert run("worker --node east-2@gk2 --concurrency 4", cwd=env.directory).code == 0
    assert run("worker", cwd=env.directory).code == 0
    assert [argv[argv.index("-n") + 1] if "-n" in argv else None for argv in started] == ["east-1@%h", "east-2@gk2",
                                                                                          None]
    bad = run(["worker", "--node", "east 1; rm -rf /"], cwd=env.directory)
    assert bad.code == 2 and len(started) == 3
