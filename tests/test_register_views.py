"""The register's functions that answer with the request as shown (request_view), for `gongkai request …` and the
console's 依申请公开 pages alike."""

from __future__ import annotations

from datetime import date

import pytest
from helpers import acting

from pipeline.core.agencies import agency_row
from pipeline.core.errors import NotFound, WorkflowRefused
from pipeline.records import register
from pipeline.records.deadlines import EventKind

TODAY = date(2021, 12, 31)


def receive(env, received: date, **extra) -> dict:
    with env.session() as session:
        return register.receive_request(session, agency_id=agency_row(session, "tjj").id, received_on=received,
                                        channel="online", applicant_type="natural_person",
                                        actor=acting(session, "qianqi"), today=TODAY, **extra)


def step(env, request_id: int, kind: EventKind, on: date, **extra) -> dict:
    with env.session() as session:
        return register.record_step(session, agency_id=agency_row(session, "tjj").id, request_id=request_id,
                                    kind=kind, on=on, actor=acting(session, "qianqi"), today=TODAY, **extra)


def test_a_request_received_and_stepped_is_shown_as_kept(env):
    added = receive(env, date(2021, 11, 1), ref="2021-001")
    assert (added["ref"], added["received_on"], added["closed_on"], added["events"]) == (
        "2021-001", "2021-11-01", None, [])
    extended = step(env, added["id"], EventKind.EXTENDED, date(2021, 11, 20), days=10, note="复杂")
    assert [e["kind"] for e in extended["events"]] == ["extended"]
    assert extended["due_on"] > added["due_on"]
    with env.session() as session:
        shown = register.show_request(session, agency_id=agency_row(session, "tjj").id, request_id=added["id"],
                                      today=TODAY)
    assert shown == extended


def test_a_refused_step_changes_nothing_and_another_agency_s_request_is_not_found(env):
    added = receive(env, date(2021, 11, 1))
    with pytest.raises(WorkflowRefused):
        step(env, added["id"], EventKind.CORRECTION_RECEIVED, date(2021, 11, 2))  # no 补正 was asked
    with env.session() as session:
        assert register.show_request(session, agency_id=agency_row(session, "tjj").id, request_id=added["id"],
                                     today=TODAY)["events"] == []
        with pytest.raises(NotFound):
            register.show_request(session, agency_id=agency_row(session, "tjj").id + 1, request_id=added["id"],
                                  today=TODAY)


def test_requests_are_listed_oldest_first_or_by_due_date(env):
    first = receive(env, date(2021, 10, 8))
    second = receive(env, date(2021, 11, 1))
    third = receive(env, date(2021, 9, 1))
    step(env, second["id"], EventKind.CLOSED, date(2021, 11, 5), outcome="disclosed")
    step(env, third["id"], EventKind.CONSULTATION_STARTED, date(2021, 9, 10))  # its clock stops: no due date
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        every = register.request_views(session, agency_id=agency_id, today=TODAY)
        due = register.request_views(session, agency_id=agency_id, today=TODAY, open_only=True, by_due=True)
        of_2020 = register.request_views(session, agency_id=agency_id, today=TODAY, year=2020)
    assert [v["id"] for v in every] == [third["id"], first["id"], second["id"]]
    assert [(v["id"], v["due_on"] is None) for v in due] == [(first["id"], False), (third["id"], True)]
    assert of_2020 == []


def test_appeals_are_shown_by_the_year_they_were_open_in(env):
    from pipeline.records import appeals

    with env.session() as session:
        agency_id, who = agency_row(session, "tjj").id, acting(session, "qianqi")
        old = appeals.add_appeal(session, agency_id=agency_id, kind="reconsideration", filed_on=date(2020, 3, 2),
                                 actor=who, today=TODAY, ref="复议2020-1")
        appeals.close_appeal(session, agency_id=agency_id, appeal_id=old.id, result="upheld",
                             closed_on=date(2020, 6, 1), actor=who, today=TODAY)
        new = appeals.add_appeal(session, agency_id=agency_id, kind="litigation", filed_on=date(2021, 4, 6),
                                 actor=who, today=TODAY)
    with env.session() as session:
        every = appeals.appeal_views(session, agency_id=agency_row(session, "tjj").id)
        of_2021 = appeals.appeal_views(session, agency_id=agency_row(session, "tjj").id, year=2021)
    assert [(v["id"], v["ref"], v["result"]) for v in every] == [(old.id, "复议2020-1", "upheld"),
                                                                 (new.id, None, "pending")]
    assert [v["id"] for v in of_2021] == [new.id]
