"""The audit trail: every action appended to one hash chain; `gongkai audit verify` names an edited row."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from doubles.scripted import PERMANENT, Scripted, Undeletable
from helpers import PEOPLE, acting, approval, approve_fully, submit
from report_helpers import beijing, publish, write_history
from sqlmodel import select

import channels
from pipeline.core.agencies import agency_row
from pipeline.core.errors import WorkflowRefused
from pipeline.core.models import AuditEvent, Decision, Delivery, LedgerEntry, utcnow
from pipeline.engine.delivery import deliver_one, replay_delivery
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down
from pipeline.items import workflow
from pipeline.records import appeals, register
from pipeline.records.audit import (
    CONTENT_NAMES,
    GENESIS,
    content_hash,
    record_event,
    verify_trail,
)
from pipeline.records.deadlines import EventKind
from pipeline.records.ledger import insert_ledger_entries, ledger_state_hashes
from pipeline.records.ledger_import import import_ledger

CHANNELS = "\n[channels.scripted]\nkind = \"scripted\"\n"


@pytest.fixture
def scripted_env(make_env, monkeypatch):
    monkeypatch.setitem(channels.REGISTRY, "scripted", Scripted)
    Scripted.reset()
    built = make_env(CHANNELS)
    built.settings.agencies["tjj"].channels += ["scripted"]
    return built


def events(env) -> list[AuditEvent]:
    """The events after the test's people were set up (added, and logged in by the CLI runner)."""
    with env.session() as session:
        query = select(AuditEvent).where(AuditEvent.action.not_in(["user_add", "login"])).order_by(AuditEvent.id)
        return list(session.exec(query))


def execute(env, statement: str) -> None:
    with env.engine.begin() as connection:
        connection.exec_driver_sql(statement)


def test_every_wired_action_appends_to_one_valid_chain(scripted_env):
    env = scripted_env
    engine = Engine.build(env.settings, env.engine)
    Scripted.reset(PERMANENT)
    item_id = submit(env, channels=["scripted"])
    approve_fully(env, item_id)
    with env.session() as session:
        delivery_id = session.exec(select(Delivery.id).where(Delivery.item_id == item_id)).one()
    assert deliver_one(engine, delivery_id).status == "dead"
    with env.session() as session:
        replay_delivery(session, delivery_id=delivery_id, now=utcnow(), actor=acting(session, "qianqi"))
    assert deliver_one(engine, delivery_id).status == "published"
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"),
                               reason="数据有误")
    assert [t.result for t in take_down(engine, item_id=item_id)] == ["withdrawn"]
    csv = write_history(env.directory / "history.csv", [["", "旧通知", "portal", "通知公告", "notice", "2019-05-06"]])
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        import_ledger(session, settings=env.settings, agency_code="tjj", agency_id=agency_id, path=csv,
                      today=date(2021, 1, 1), actor=acting(session, "qianqi"))
        request = register.add_request(session, agency_id=agency_id, received_on=date(2021, 3, 1), channel="online",
                                       applicant_type="natural_person",
                                       actor=acting(session, "qianqi"), today=date(2021, 3, 2))
        register.record_event(session, agency_id=agency_id, request_id=request.id, kind=EventKind.CLOSED,
                              on=date(2021, 3, 10),
                              actor=acting(session, "qianqi"), today=date(2021, 3, 10), outcome="disclosed")
        appeal = appeals.add_appeal(session, agency_id=agency_id, kind="reconsideration", filed_on=date(2021, 4, 1),
                                    actor=acting(session, "qianqi"), today=date(2021, 4, 2))
        appeals.close_appeal(session, agency_id=agency_id, appeal_id=appeal.id, result="upheld",
                             closed_on=date(2021, 5, 1), actor=acting(session, "qianqi"), today=date(2021, 5, 2))

    trail = events(env)
    assert [(e.action, e.actor) for e in trail] == [
        ("submit", "zhangsan"), ("review", "lisi"), ("review", "wangwu"), ("review", "zhaoliu"),
        ("approve", "zhaoliu"), ("retry", "qianqi"), ("publish", "system"), ("withdraw", "zhaoliu"),
        ("take_down", "system"), ("import", "qianqi"), ("request_add", "qianqi"), ("request_closed", "qianqi"),
        ("appeal_add", "qianqi"), ("appeal_close", "qianqi")]
    assert trail[0].subject == f"item:{item_id}" and trail[6].subject == f"delivery:{delivery_id}"
    with env.session() as session:
        assert session.exec(select(AuditEvent).order_by(AuditEvent.id)).first().prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(trail, trail[1:], strict=False))
    assert all(e.os_user for e in trail)
    with env.session() as session:
        verdict = verify_trail(session)
        ledger_ids = set(session.exec(select(LedgerEntry.id)).all())
    assert verdict.ok and verdict.events == len(trail) + len(PEOPLE) and verdict.ledger_entries == 3
    covered = {ref[0] for e in trail for ref in e.details.get("ledger", [])}
    assert covered == ledger_ids  # publication, reversal, import: each ledger row is in some event


def test_a_refused_action_leaves_no_event(scripted_env):
    item_id = submit(scripted_env, channels=["scripted"])
    with pytest.raises(WorkflowRefused, match="awaits 处室审核 of revision 1"), scripted_env.session() as session:
        workflow.review_item(session, settings=scripted_env.settings, agency_code="tjj", item_id=item_id,
                             actor=acting(session, "lisi"), decision=Decision.APPROVE, level="保密审查", revision=1)
    assert [e.action for e in events(scripted_env)] == ["submit"]


def published_env(env) -> None:
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")


def test_audit_verify_passes_on_an_untouched_trail(env, run):
    published_env(env)
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 0, result.err
    count = len(events(env)) + len(PEOPLE)  # and the people added before
    assert f"chain intact ({count} events, 2 ledger entries)" in result.out
    data = json.loads(run(["audit", "verify", "--json"], cwd=env.directory).out)
    assert data == {"ok": True, "events": count, "ledger_entries": 2, "rows": 4, "unkeyed_events": 0, "anchors": 0,
                    "table": None, "id": None, "problem": None}  # rows: the revision and the three decisions


def test_editing_or_removing_an_audit_row_fails_verify_naming_the_row(env, run):
    published_env(env)
    trail = events(env)
    execute(env, f"UPDATE audit_event SET actor = 'nobody' WHERE id = {trail[2].id}")
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1
    assert f"audit_event id {trail[2].id}: its content does not match its hash" in result.err
    execute(env, f"UPDATE audit_event SET actor = '{trail[2].actor}' WHERE id = {trail[2].id}")
    assert run(["audit", "verify"], cwd=env.directory).code == 0
    execute(env, f"DELETE FROM audit_event WHERE id = {trail[1].id}")
    data = json.loads(run(["audit", "verify", "--json"], cwd=env.directory).out)
    assert (data["ok"], data["table"], data["id"]) == (False, "audit_event", trail[2].id)
    assert f"does not follow audit event {trail[0].id}" in data["problem"]


def test_adding_editing_or_deleting_a_ledger_row_fails_verify_naming_the_row(env, run):
    published_env(env)
    with env.session() as session:
        first, second = session.exec(select(LedgerEntry.id).order_by(LedgerEntry.id)).all()
    # a forged row with a valid content hash, written without an audit event
    with env.session() as session:
        original = session.get(LedgerEntry, first)
        insert_ledger_entries(session, [{**{name: getattr(original, name) for name in CONTENT_NAMES},
                                         "delivery_id": None}])
    with env.session() as session:
        forged = session.exec(select(sa.func.max(LedgerEntry.id))).one()
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and f"ledger_entry id {forged}: is not recorded in the audit trail" in result.err
    execute(env, f"DELETE FROM ledger_entry WHERE id = {forged}")
    execute(env, f"UPDATE ledger_entry SET title = '篡改' WHERE id = {second}")
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and f"ledger_entry id {second}: its content differs" in result.err, result.err
    execute(env, f"DELETE FROM ledger_entry WHERE id = {second}")
    result = run(["audit", "verify"], cwd=env.directory)
    assert result.code == 1 and f"ledger_entry id {second}: was recorded by audit event" in result.err


def test_concurrent_appends_keep_one_valid_chain(make_env):
    env = make_env(people=False)
    errors = []

    def append(worker: int) -> None:
        try:
            for n in range(15):
                with env.session() as session:
                    record_event(session, actor="system", action="retry", subject=f"delivery:{worker}",
                                 details={"n": n}, now=utcnow())
        except Exception as e:  # reported below: a thread's exception would otherwise vanish
            errors.append(e)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with env.session() as session:
        verdict = verify_trail(session)
    assert verdict.ok, verdict
    assert verdict.events == 90


def test_the_annual_report_records_the_hash_of_the_ledger_it_was_built_from(env, run):
    published_env(env)
    data = json.loads(run(["report", "2021", "--format", "json"], cwd=env.directory).out)
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        expected = ledger_state_hashes(session, agency_ids=[agency_id], year=2021)[agency_id]
    assert data["metadata"]["ledger_hash"] == expected
    assert f"台账校验值：{expected}" in run(["report", "2021", "--format", "md"], cwd=env.directory).out
    # the hash is built from the rows' stored content hashes: an edit that keeps them is what audit verify finds,
    # an edit that rewrites them too changes the report's hash
    execute(env, "UPDATE ledger_entry SET title = '篡改'")
    assert "its content differs from its stored content hash" in run(["audit", "verify"], cwd=env.directory).err
    with env.session() as session:
        for entry in session.exec(select(LedgerEntry)):
            entry.content_hash = content_hash([getattr(entry, name) for name in CONTENT_NAMES])
            session.add(entry)
    changed = json.loads(run(["report", "2021", "--format", "json"], cwd=env.directory).out)
    assert changed["metadata"]["ledger_hash"] != expected


def test_the_commands_record_the_acting_user(make_env, monkeypatch, run):
    """retry and withdraw --deleted-by-hand through the CLI: the --as user is the actor, not "system"."""
    monkeypatch.setitem(channels.REGISTRY, "scripted", Scripted)
    monkeypatch.setitem(channels.REGISTRY, "undeletable", Undeletable)
    Scripted.reset(PERMANENT)
    env = make_env(CHANNELS + "[channels.undeletable]\nkind = \"undeletable\"\n")
    text = env.config.read_text(encoding="utf-8")
    env.config.write_text(text.replace('channels = ["portal", "disclosure"]',
                                       'channels = ["portal", "disclosure", "scripted", "undeletable"]', 1),
                          encoding="utf-8")
    env.settings.agencies["tjj"].channels += ["scripted", "undeletable"]
    item_id = submit(env, channels=["scripted", "undeletable"])
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        assert run(approval(item_id, reviewer), as_=reviewer, cwd=env.directory).code == 0
    with env.session() as session:
        dead = session.exec(select(Delivery.id).where(Delivery.item_id == item_id,
                                                      Delivery.channel == "scripted")).one()
    assert run(["retry", str(dead)], as_="qianqi", cwd=env.directory).code == 0
    result = run(["withdraw", str(item_id), "--reason", "数据有误"], as_="zhaoliu", cwd=env.directory)
    assert result.code == 0 and "undeletable: manual" in result.out, result.out
    result = run(["withdraw", str(item_id), "--deleted-by-hand", "undeletable"], as_="zhaoliu", cwd=env.directory)
    assert result.code == 0, result.err
    actions = [(e.action, e.actor, e.details.get("by_hand")) for e in events(env)]
    assert ("retry", "qianqi", None) in actions and ("withdraw", "zhaoliu", None) in actions
    assert ("take_down", "zhaoliu", True) in actions and ("take_down", "system", False) in actions
    assert run(["audit", "verify"], cwd=env.directory).code == 0


def test_an_events_hash_is_the_hmac_of_the_previous_hash_and_the_canonical_json_of_its_fields(env):
    """The definition in pipeline/records/audit.py's docstring, computed here the long way (json.dumps of a dict,
    the key read from the workspace's key file) for events whose details hold what an action may record: text in
    Chinese, quotes, nesting, dates, None."""
    key = (env.directory / "audit.key").read_text(encoding="utf-8").strip().encode()
    details = [{"title": "关于\"十四五\"规划的通知", "ledger": [[1, "ab" * 32]], "on": date(2026, 3, 1)},
               {"n": 0, "none": None, "nested": {"b": [1, 2], "a": "\\"}}, {}]
    with env.session() as session:
        for n, detail in enumerate(details):
            record_event(session, actor=f"审核员{n}", action="review", subject=f"item:{n}", details=detail,
                         now=utcnow())
    stored = events(env)[-3:]
    for event, detail in zip(stored, details, strict=True):
        fields = {"at": event.at, "actor": event.actor, "os_user": event.os_user, "action": event.action,
                  "subject": event.subject, "details": detail}
        text = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=lambda v: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v.isoformat())
        assert event.hash == hmac.new(key, (event.prev_hash + text).encode(), hashlib.sha256).hexdigest()
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
