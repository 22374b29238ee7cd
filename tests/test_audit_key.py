"""The audit key held outside the database, and trails written before it (docs/audit.md)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import events, execute, rewrite, workspace_key
from helpers import approve_fully, login_token, submit
from sqlmodel import select

from pipeline.core.models import AnnualFigure, AuditEvent, ReviewDecision
from pipeline.records.audit import GENESIS, ROWS, SEAL

ROOT = Path(__file__).resolve().parents[1]
SET_FIGURE = ["figures", "set", "2021", "fee.amount", "12.5"]  # as qianqi, of the disclosure office


def test_init_creates_the_key_readable_by_its_owner_only_and_says_so(tmp_path, run):
    result = run(["init"], cwd=tmp_path)
    assert result.code == 0, result.err
    key = tmp_path / "audit.key"
    assert f"wrote {key} (the audit key, mode 0600, readable by you only" in result.out
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text(encoding="utf-8").strip()) == 64
    text = key.read_text(encoding="utf-8")
    again = run(["init"], cwd=tmp_path)
    assert again.code == 0 and "audit key" not in again.out and key.read_text(encoding="utf-8") == text
    assert "sealed" not in again.out  # a new workspace's trail is keyed from its first event


def test_init_writes_no_key_file_when_the_environment_holds_the_key(tmp_path, run, monkeypatch):
    monkeypatch.setenv("GONGKAI_AUDIT_KEY", secrets.token_hex(32))
    assert run(["init"], cwd=tmp_path).code == 0
    assert not (tmp_path / "audit.key").exists()


def _spoil(key, how: str) -> None:
    if how == "missing":
        key.unlink()
    elif how == "too open":
        key.chmod(0o644)
    elif how == "unreadable":  # tests run as root, which reads any mode: a directory is what root cannot read
        key.unlink()
        key.mkdir(mode=0o700)
    else:
        key.write_text("short\n", encoding="utf-8")


@pytest.mark.parametrize(("how", "message"), [
    ("missing", "audit.key does not exist; `gongkai init` creates it (or set GONGKAI_AUDIT_KEY)"),
    ("too open", "audit.key is open to group or others (mode 0644); it must be readable by the service user only: "
                 "chmod 600"),
    ("unreadable", "audit key: cannot read"),
    ("too short", "audit.key holds 5 characters; at least 32 are needed"),
])
def test_a_bad_key_stops_a_command_with_one_message_and_nothing_written(env, run, how, message):
    token = login_token(env.config, "qianqi")  # logging in needs the key too: before it is spoiled
    before = events(env)
    _spoil(env.directory / "audit.key", how)
    for args in (SET_FIGURE, ["audit", "verify"], ["retry", "--all-failed"]):
        result = run(args, cwd=env.directory, token=token)
        assert result.code == 1, (args, result.out)
        assert result.err.startswith("error: audit key: ") and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert run(["list"], cwd=env.directory, token=token).code == 0  # reads no keyed row: it needs no key
    with env.session() as session:
        assert session.exec(select(AnnualFigure)).all() == []
    assert [event.id for event in events(env)] == [event.id for event in before]  # no new audit event


def test_the_key_may_come_from_the_environment_and_another_key_fails_verify(env, run, monkeypatch):
    key = workspace_key(env).decode()
    (env.directory / "audit.key").unlink()
    monkeypatch.setenv("GONGKAI_AUDIT_KEY", key)
    assert run(SET_FIGURE, cwd=env.directory, as_="qianqi").code == 0
    assert run(["audit", "verify"], cwd=env.directory).code == 0
    monkeypatch.setenv("GONGKAI_AUDIT_KEY", secrets.token_hex(32))
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1
    assert "its content does not match its hash (edited, or written under another audit key)" in result.err
    count = len(events(env))
    # appending under another key is refused: the trail would break (the token of the first login is reused)
    result = run(SET_FIGURE, cwd=env.directory, as_="qianqi")
    assert result.code == 1 and "the trail's newest event (audit_event id" in result.err
    assert "does not verify under this key" in result.err and "nothing was written" in result.err
    assert len(events(env)) == count


def _unkeyed(env) -> list[AuditEvent]:
    """The trail as a workspace written before the key holds it: plain sha256, no covered rows listed."""
    trail = events(env)
    for event in trail:
        event.details = {key: value for key, value in event.details.items() if key != ROWS}
    rewrite(env, trail)
    return trail


def test_a_trail_written_before_the_key_keeps_verifying_once_init_sealed_it(env, run):
    item_id = submit(env)
    approve_fully(env, item_id)
    old = _unkeyed(env)
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and "no event of the trail is keyed with the audit key" in result.err
    assert "`gongkai init` seals it" in result.err
    result = run(["init"], cwd=env.directory)
    assert result.code == 0, result.err
    assert f"sealed the audit trail: its {len(old)} events written before the audit key verify as they were" in \
        result.out
    seal = events(env)[-1]
    assert (seal.action, seal.prev_hash, seal.details["unkeyed_head"]) == (SEAL, old[-1].hash, old[-1].hash)
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 0 and f"{len(old)} written before the audit key" in result.out, result.err
    assert "sealed" not in run(["init"], cwd=env.directory).out  # once
    # the decisions written before the key are covered from the seal on
    with env.session() as session:
        decision = session.exec(select(ReviewDecision.id)).first()
    execute(env, f"UPDATE review_decision SET comment = '篡改' WHERE id = {decision}")
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and f"review_decision id {decision}: its content differs from what audit event " \
                                f"{seal.id} recorded" in result.err
    execute(env, f"UPDATE review_decision SET comment = '' WHERE id = {decision}")
    # an unkeyed event before the seal is still checked; after it, one is a forgery
    execute(env, f"UPDATE audit_event SET actor = 'nobody' WHERE id = {old[1].id}")
    assert f"audit_event id {old[1].id}: its content does not match" in run(["audit", "verify"],
                                                                           cwd=env.directory).err
    execute(env, f"UPDATE audit_event SET actor = '{old[1].actor}' WHERE id = {old[1].id}")
    assert run(SET_FIGURE, cwd=env.directory, as_="qianqi").code == 0
    trail = events(env)
    trail[-1].actor = "nobody"
    rewrite(env, trail[-1:])
    assert "is chained with the plain sha256" in run(["audit", "verify"], cwd=env.directory).err


def test_the_first_append_with_the_key_seals_an_unkeyed_trail(env, run):
    submit(env)
    token = login_token(env.config, "qianqi")  # its login event is written before the key too
    old = _unkeyed(env)
    assert run(SET_FIGURE, cwd=env.directory, token=token).code == 0
    seal, figure = events(env)[-2:]
    assert (seal.action, seal.actor, seal.prev_hash) == (SEAL, "system", old[-1].hash)
    assert seal.details[ROWS]["item_revision"][0][0] == 1  # the revision submitted before the key
    assert figure.action == "figure_set" and figure.prev_hash == seal.hash
    assert run(["audit", "verify"], cwd=env.directory).code == 0


def test_a_trail_re_chained_entirely_without_the_key_fails_verify(env, run):
    """An attacker who rewrites every event with the plain hash (turning the trail into one 'written before the
    key') is found: a trail with events and no keyed one is refused."""
    submit(env)
    trail = events(env)
    assert trail[0].prev_hash == GENESIS and SEAL not in [event.action for event in trail]  # a new trail needs none
    assert trail[-1].action == "submit"
    trail[0].actor = "nobody"
    rewrite(env, trail)
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and f"audit_event id {trail[-1].id}: no event of the trail is keyed" in result.err


def test_a_celery_worker_without_a_key_stops_at_start_with_the_message(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    environ.update(GONGKAI_QUEUE__BROKER_URL="redis://127.0.0.1:6379/0", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", "import worker"], cwd=tmp_path, env=environ, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"audit key: {tmp_path / 'audit.key'} does not exist; `gongkai init` creates it "
                                   "(or set GONGKAI_AUDIT_KEY); see docs/audit.md")
