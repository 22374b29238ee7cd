"""The attacks of issue 18 on the audit trail, as someone with write access to the database (but not the audit key)
would run them: each must make `gongkai audit verify` fail naming the row (with --anchors where the attack
removes the tail). On SQLite and, with --tier postgres, on PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from audit_helpers import events, execute, rewrite, workspace_key
from helpers import acting, approve_fully, submit
from report_helpers import beijing, publish
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.models import AuditEvent, LedgerEntry, ReviewDecision
from pipeline.records import appeals
from pipeline.records.audit import CONTENT_NAMES, event_hash
from pipeline.records.ledger import insert_ledger_entries


def verify(run, env, *args: str) -> Any:
    return run(["audit", "verify", *args], cwd=env.directory)


def test_an_actor_forged_and_re_chained_with_the_projects_hash_code_fails_verify(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    trail = events(env)
    first = next(index for index, event in enumerate(trail) if (event.action, event.actor) == ("review", "wangwu"))
    trail[first].actor = "nobody"
    rewrite(env, trail[first:])
    result = verify(run, env)
    assert result.code == 1
    assert (f"audit_event id {trail[first].id}: is chained with the plain sha256, not the audit key, after keyed "
            "events: re-chained with the project's hash code (forged)") in result.err, result.err


def test_a_forged_ledger_row_with_a_forged_event_chained_with_the_projects_hash_code_fails_verify(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    with env.session() as session:
        original = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).first()
        refs = insert_ledger_entries(session, [{**{name: getattr(original, name) for name in CONTENT_NAMES},
                                                "delivery_id": None, "title": "伪造的公开记录"}])
    with env.session() as session:
        last = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        event = AuditEvent(at=last.at, actor="system", os_user="gongkai", action="publish", subject="delivery:1",
                           details={"ledger": refs}, prev_hash=last.hash, hash="")
        event.hash = event_hash(event)  # the project's own function, without the key
        session.add(event)
        session.flush()
        event_id = event.id
    result = verify(run, env)
    assert result.code == 1
    assert f"audit_event id {event_id}: is chained with the plain sha256" in result.err, result.err


def _anchor(run, env, path) -> str:
    result = run(["audit", "anchor", "--file", str(path)], cwd=env.directory)
    assert result.code == 0, result.err
    return result.out


def _appeal(env, on: date) -> None:
    with env.session() as session:
        appeals.add_appeal(session, agency_id=agency_row(session, "tjj").id, kind="reconsideration", filed_on=on,
                           actor=acting(session, "qianqi"), today=on)


def test_deleting_the_newest_events_is_found_with_the_anchors_naming_what_is_missing(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    anchors = env.directory / "anchors.txt"
    _anchor(run, env, anchors)
    _appeal(env, date(2021, 4, 1))
    _appeal(env, date(2021, 4, 2))
    out = _anchor(run, env, anchors)
    trail = events(env)
    assert f"anchored {len(trail)} events, head {trail[-1].hash}" in out and f"{anchors}:2" in out
    first, second = anchors.read_text(encoding="utf-8").splitlines()
    assert first.split("\t")[:2] == [str(len(trail) - 2), trail[-3].hash]
    assert second.split("\t")[:2] == [str(len(trail)), trail[-1].hash]
    assert verify(run, env, "--anchors", str(anchors)).code == 0
    # the newest two events go, with the rows they wrote: the chain that is left is whole
    execute(env, f"DELETE FROM audit_event WHERE id >= {trail[-2].id}")
    execute(env, "DELETE FROM appeal")
    assert verify(run, env).code == 0
    result = verify(run, env, "--anchors", str(anchors))
    assert result.code == 1
    assert (f"error: audit_event: the trail ends at event {len(trail) - 2} (id {trail[-3].id}), but {anchors}:2 "
            f"anchored {len(trail)} events at ") in result.err, result.err
    assert "the 2 newest are missing (deleted)" in result.err
    data = json.loads(verify(run, env, "--anchors", str(anchors), "--json").out)
    assert (data["ok"], data["table"], data["id"], data["events"]) == (False, "audit_event", None, len(trail) - 2)


def test_a_trail_rewritten_with_a_stolen_key_is_found_with_the_anchors(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    anchors = env.directory / "anchors.txt"
    _anchor(run, env, anchors)
    trail = events(env)
    trail[1].actor = "nobody"
    rewrite(env, trail[1:], key=workspace_key(env))
    assert verify(run, env).code == 0  # the key opens everything: only what was kept outside can tell
    result = verify(run, env, "--anchors", str(anchors))
    assert result.code == 1
    assert (f"audit_event id {trail[-1].id}: event {len(trail)} of the chain differs from the head anchored at "
            in result.err), result.err


def test_a_bad_anchor_line_is_refused_naming_file_and_line(env, run):
    anchors = env.directory / "anchors.txt"
    anchors.write_text("# kept by the office\n3\tnot-a-hash\t2021-01-01T00:00:00+08:00\n", encoding="utf-8")
    result = verify(run, env, "--anchors", str(anchors))
    assert result.code == 1 and f"{anchors}:2: not an anchor" in result.err, result.err
    assert verify(run, env, "--anchors", str(env.directory / "missing.txt")).code == 1


def test_anchor_refuses_a_broken_trail(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    trail = events(env)
    execute(env, f"UPDATE audit_event SET actor = 'nobody' WHERE id = {trail[1].id}")
    anchors = env.directory / "anchors.txt"
    result = run(["audit", "anchor", "--file", str(anchors)], cwd=env.directory)
    assert result.code == 1 and f"not anchored: audit_event id {trail[1].id}" in result.err
    assert not anchors.exists()


def test_editing_deleting_or_forging_a_review_decision_fails_verify_naming_it(env, run):
    item_id = submit(env)
    approve_fully(env, item_id)
    with env.session() as session:
        decisions = session.exec(select(ReviewDecision.id).order_by(ReviewDecision.id)).all()
    assert verify(run, env).code == 0
    execute(env, f"UPDATE review_decision SET reviewer = 'wangwu' WHERE id = {decisions[0]}")
    result = verify(run, env)
    assert result.code == 1
    assert f"review_decision id {decisions[0]}: its content differs from what audit event" in result.err
    execute(env, f"UPDATE review_decision SET reviewer = 'lisi' WHERE id = {decisions[0]}")
    assert verify(run, env).code == 0
    execute(env, f"DELETE FROM review_decision WHERE id = {decisions[1]}")
    result = verify(run, env)
    assert result.code == 1 and f"review_decision id {decisions[1]}: was recorded by audit event" in result.err
    assert "gone (deleted)" in result.err
    execute(env, "INSERT INTO review_decision (item_id, revision, level, level_name, reviewer, decision, comment, "
                 f"decided_at) VALUES ({item_id}, 1, 1, '保密审查', 'wangwu', 'approve', '', '2021-03-01 01:00:00')")
    result = verify(run, env)
    assert result.code == 1 and "review_decision id" in result.err and "not recorded in the audit trail" in result.err


def test_editing_an_item_revision_fails_verify_naming_it(env, run):
    item_id = submit(env)
    execute(env, f"UPDATE item_revision SET title = '篡改的标题' WHERE item_id = {item_id}")
    result = verify(run, env)
    assert result.code == 1 and "item_revision id 1: its content differs" in result.err, result.err


def test_editing_or_forging_a_figure_fails_verify_naming_it(env, run):
    result = run(["figures", "set", "2021", "fee.amount", "12.5"], cwd=env.directory, as_="qianqi")
    assert result.code == 0, result.err
    trail = events(env)
    assert (trail[-1].action, trail[-1].actor, trail[-1].subject) == ("figure_set", "qianqi",
                                                                      "figure:1/2021/fee.amount")
    assert trail[-1].details["audit_rows"]["annual_figure"][0][0] == 1
    assert verify(run, env).code == 0
    execute(env, "UPDATE annual_figure SET value = '99' WHERE id = 1")
    result = verify(run, env)
    assert result.code == 1
    assert f"annual_figure id 1: its content differs from what audit event {trail[-1].id} recorded" in result.err
    execute(env, "UPDATE annual_figure SET value = '12.5' WHERE id = 1")
    assert run(["figures", "unset", "2021", "fee.amount"], cwd=env.directory, as_="qianqi").code == 0
    assert events(env)[-1].action == "figure_unset"
    assert verify(run, env).code == 0
    execute(env, "INSERT INTO annual_figure (agency_id, year, key, value, note, set_by, updated_at) "
                 "VALUES (1, 2021, 'fee.amount', '99', '', 'qianqi', '2021-03-01 01:00:00')")
    result = verify(run, env)
    assert result.code == 1 and "annual_figure id" in result.err, result.err


def test_editing_a_closed_requests_outcome_fails_verify_naming_it(env, run):
    assert run(["request", "add", "--received", "2021-03-01", "--applicant-type", "natural_person"],
               cwd=env.directory, as_="qianqi").code == 0
    result = run(["request", "close", "1", "--on", "2021-03-10", "--outcome", "disclosed"], cwd=env.directory,
                 as_="qianqi")
    assert result.code == 0, result.err
    assert verify(run, env).code == 0
    execute(env, "UPDATE disclosure_request SET outcome = 'other' WHERE id = 1")
    result = verify(run, env)
    assert result.code == 1
    closing = events(env)[-1]
    assert closing.action == "request_closed"
    assert f"disclosure_request id 1: its content differs from what audit event {closing.id} recorded" in result.err


def test_a_published_reports_json_is_an_anchor(env, run):
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    _appeal(env, date(2021, 4, 1))
    report = env.directory / "report.json"
    assert run(["report", "2021", "--format", "json", "--draft", "--out", str(report)], cwd=env.directory).code == 0
    assert verify(run, env, "--anchors", str(report)).code == 0
    trail = events(env)
    execute(env, f"DELETE FROM audit_event WHERE id = {trail[-1].id}")
    execute(env, "DELETE FROM appeal")
    assert verify(run, env).code == 0
    result = verify(run, env, "--anchors", str(report))
    assert result.code == 1 and f"{report} (tjj 2021) anchored {len(trail)} events at the report of 2021" in result.err
    report.write_text('{"year": 2021}', encoding="utf-8")
    result = verify(run, env, "--anchors", str(report))
    assert result.code == 1 and "not an annual report's JSON with metadata.audit_head" in result.err


def test_editing_a_closed_appeals_result_fails_verify_naming_it(env, run):
    _appeal(env, date(2021, 4, 1))
    with env.session() as session:
        appeals.close_appeal(session, agency_id=agency_row(session, "tjj").id, appeal_id=1, result="upheld",
                             closed_on=date(2021, 5, 1), actor=acting(session, "qianqi"),
                             today=date(2021, 5, 2))
    assert verify(run, env).code == 0
    execute(env, "UPDATE appeal SET result = 'corrected' WHERE id = 1")
    result = verify(run, env)
    assert result.code == 1 and "appeal id 1: its content differs from what audit event" in result.err, result.err
