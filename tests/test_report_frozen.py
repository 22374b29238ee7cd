"""Cross-year truth: a report published for a year is frozen (its cells and ledger hash kept), and the next year's
R9 (上年结转) and R10 (现行有效件数) compare with it rather than with last year recomputed from today's data."""

from __future__ import annotations

import json
from datetime import date

from helpers import acting
from report_helpers import TEXTS_CONFIG, beijing, publish, write_texts
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.models import AuditEvent
from pipeline.records import figures, register

TODAY = date(2026, 1, 20)


def _request(env, received: date) -> None:
    with env.session() as session:
        register.add_request(session, agency_id=agency_row(session, "tjj").id, received_on=received,
                             channel="online", applicant_type="natural_person",
                             actor=acting(session, "qianqi"), today=TODAY)


def _texts_env(make_env):
    env = make_env(TEXTS_CONFIG)
    for year in (2025, 2026):
        write_texts(env.directory, year)
    return env


def _findings(run, env, year: int) -> dict[tuple[str, str], str]:
    result = run(["report", str(year), "--check", "--format", "json"], cwd=env.directory)  # not ended: a draft
    return {(f["rule"], f["cell"]): f["message"] for f in json.loads(result.out)["tjj"] if not f["ok"]}


def test_r9_compares_with_the_published_report_of_last_year(make_env, run):
    env = _texts_env(make_env)
    _request(env, date(2025, 11, 3))  # still open at the end of 2025: 结转下年度 1
    published = run(["report", "2025", "--format", "json", "--out", str(env.directory / "2025.json")],
                    as_="qianqi", cwd=env.directory)
    assert published.code == 0, published.err
    # recomputed from the register, last year always agrees with this year: R9 cannot fire
    assert ("R9", "t3.carried_in.natural_person") not in _findings(run, env, 2026)
    _request(env, date(2025, 12, 20))  # entered late, after the 2025 report went out
    findings = _findings(run, env, 2026)
    assert findings[("R9", "t3.carried_in.natural_person")] == (
        "上年结转 2 but the 2025 report as published carried 1 over")
    assert findings[("R9", "t3.carried_in.total")].startswith("上年结转 2")


def test_r10_compares_with_the_published_report_not_a_later_correction(make_env, run):
    env = _texts_env(make_env)
    publish(env, beijing(2025, 3, 2, 9), kind="normative", category="政策文件", validity="有效",
            channels=["portal"])
    assert run(["report", "2025", "--out", str(env.directory / "2025.html")], as_="qianqi", cwd=env.directory).code == 0
    with env.session() as session:  # a figure changed after publication: the published report still says 1
        figures.set_figure(session, agency_id=agency_row(session, "tjj").id, year=2025, key="normative.in_force",
                           raw="5", actor=acting(session, "qianqi"))
    assert ("R10", "t2.normative.in_force") not in _findings(run, env, 2026)
    from pipeline.core.models import FrozenReport  # imported here: the test above runs on code without it

    with env.session() as session:
        session.delete(session.exec(select(FrozenReport)).one())
    assert "had 5" in _findings(run, env, 2026)[("R10", "t2.normative.in_force")]


def test_a_published_report_is_frozen_and_a_changed_one_is_refused(make_env, run):
    env = _texts_env(make_env)
    _request(env, date(2025, 5, 6))
    target = env.directory / "2025.html"
    assert run(["report", "2025", "--out", str(target)], as_="qianqi", cwd=env.directory).code == 0
    assert run(["report", "2025", "--out", str(target)],
               as_="qianqi", cwd=env.directory).code == 0  # the same report again
    from pipeline.core.models import FrozenReport

    with env.session() as session:
        frozen = session.exec(select(FrozenReport)).one()
        assert (frozen.year, frozen.version, frozen.how, frozen.cells["t3.new.natural_person"]) == (
            2025, "2021", "out", 1)
        assert len(frozen.ledger_hash) == 64
        assert [e.action for e in session.exec(select(AuditEvent))].count("report_freeze") == 1
    _request(env, date(2025, 6, 1))
    target.unlink()
    refused = run(["report", "2025", "--out", str(target)], as_="qianqi", cwd=env.directory)
    assert refused.code == 1 and not target.exists()
    assert "the 2025 report of tjj was published on" in refused.err
    assert "t3.new.natural_person (三/一、本年新收政府信息公开申请数量/自然人) 1 -> 2" in refused.err
    draft = run(["report", "2025", "--out", str(target), "--draft"], as_="qianqi", cwd=env.directory)
    assert draft.code == 0 and '<p class="draft">草稿</p>' in target.read_text(encoding="utf-8")
    assert run(["audit", "verify"], cwd=env.directory).code == 0
