"""pipeline.report.issue: the annual report built and judged, then frozen or submitted unless a rule stops it; a
refusal carries what was judged, for the command to show."""

from __future__ import annotations

from datetime import date

import pytest
from helpers import acting
from report_helpers import TEXTS_CONFIG, write_texts
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.models import FrozenReport, utcnow
from pipeline.records import register
from pipeline.report.issue import ReportStopped, explain_report_cell, issue_report

TODAY = date(2026, 1, 20)


@pytest.fixture
def texts_env(make_env, monkeypatch):
    env = make_env(TEXTS_CONFIG)
    write_texts(env.directory, 2025)
    monkeypatch.chdir(env.directory)  # the texts' paths are relative, as the CLI reads them
    return env


def _request(env, received: date) -> None:
    with env.session() as session:
        register.add_request(session, agency_id=agency_row(session, "tjj").id, received_on=received,
                             channel="online", applicant_type="natural_person",
                             actor=acting(session, "qianqi"), today=TODAY)


def _issue(env, asked: list[str], *, year: int = 2025, **flags):  # type: ignore[no-untyped-def]
    """Issue the 2025 report (final, written out) as qianqi, who is counted in `asked` each time asked for."""
    options = {"draft": False, "final": True, "freeze": True, "submit": False, **flags}
    with env.session() as session:
        def who():  # type: ignore[no-untyped-def]
            asked.append("qianqi")
            return acting(session, "qianqi")

        return issue_report(session, settings=env.settings, codes=["tjj"], year=year, version=None, today=TODAY,
                            now=utcnow(), actor=who, **options)


def frozen(env) -> list[FrozenReport]:
    with env.session() as session:
        return list(session.exec(select(FrozenReport)))


def test_a_final_report_without_its_sections_is_stopped_and_nothing_is_frozen(make_env, monkeypatch):
    env = make_env()
    monkeypatch.chdir(env.directory)
    asked: list[str] = []
    with pytest.raises(ReportStopped, match="lacks a required section") as stopped:
        _issue(env, asked)
    [checked] = stopped.value.issued.checks
    assert checked.blocking and all(not f.ok for f in checked.blocking)
    assert asked == [] and frozen(env) == []
    draft = _issue(env, asked, draft=True)  # a draft is not held to its sections, and is never frozen
    assert draft.checks[0].blocking == [] and asked == [] and frozen(env) == []


def test_a_final_report_written_out_is_frozen_and_a_changed_one_is_stopped(texts_env):
    asked: list[str] = []
    issued = _issue(texts_env, asked)
    assert [c.blocking for c in issued.checks] == [[]] and asked == ["qianqi"]
    assert [(f.year, f.how) for f in frozen(texts_env)] == [(2025, "out")]
    _request(texts_env, date(2025, 6, 1))  # entered after the report went out
    with pytest.raises(ReportStopped, match="the 2025 report of tjj was published on") as stopped:
        _issue(texts_env, asked)
    assert [c.doc.year for c in stopped.value.issued.checks] == [2025]


def test_a_year_not_ended_gives_a_draft_that_asks_nobody_and_freezes_nothing(texts_env):
    asked: list[str] = []
    issued = _issue(texts_env, asked, year=2026)
    assert [c.doc.draft for c in issued.checks] == [True] and asked == [] and frozen(texts_env) == []


def test_explaining_a_cell_lists_the_rows_behind_it(texts_env):
    _request(texts_env, date(2025, 5, 6))
    with texts_env.session() as session:
        found = explain_report_cell(session, settings=texts_env.settings, code="tjj", year=2025, version=None,
                                    today=TODAY, cell="t3.new.natural_person")
    assert found["value"] == "1" and len(found["rows"]) == 1


def test_the_website_form_is_made_from_the_year_s_annual_report_and_explained(texts_env):
    from pipeline.core.errors import GongkaiError
    from pipeline.report.issue import explain_website_cell, make_website_report

    with texts_env.session() as session:
        report = make_website_report(session, settings=texts_env.settings, code="tjj", year=2025, today=TODAY)
        found = explain_website_cell(session, settings=texts_env.settings, code="tjj", year=2025, today=TODAY,
                                     cell="w.info.total")
        with pytest.raises(GongkaiError, match="no cell 'w.nothing'"):
            explain_website_cell(session, settings=texts_env.settings, code="tjj", year=2025, today=TODAY,
                                 cell="w.nothing")
        with pytest.raises(GongkaiError, match="outside"):
            make_website_report(session, settings=texts_env.settings, code="tjj", year=2099, today=TODAY)
    assert (report.agency_code, report.year, report.draft) == ("tjj", 2025, False) and report.findings
    assert found["cell"] == "w.info.total" and found["value"] == str(report.cells["w.info.total"])
