"""Property-based tests: the item parser, the 索引号 allocator and the working-day calculator."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from pipeline.core.catalogue import KINDS, VALIDITY
from pipeline.core.config import DatabaseSettings
from pipeline.core.db import make_engine, migrate, session_scope
from pipeline.core.errors import Problem
from pipeline.core.models import Agency
from pipeline.items import workflow
from pipeline.items.itemfile import CONTROL, ItemRecord, Limits, read_item_files
from pipeline.records.workdays import WorkCalendar, add_workdays, is_workday, known_years

settings.register_profile("gongkai", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("gongkai")

LIMITS = Limits(max_title_chars=200, max_body_bytes=1_000_000)
SUFFIXES = [".md", ".json", ".jsonl"]


def parse(name: str, data: bytes) -> tuple[list[ItemRecord], list[Problem]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_item_files([path], limits=LIMITS)


def parsed_cleanly(name: str, data: bytes) -> None:
    records, problems = parse(name, data)
    assert all(isinstance(r, ItemRecord) for r in records)
    assert all(isinstance(p, Problem) and p.message for p in problems)
    assert records or problems


FRONT_LIKE = st.one_of(
    st.text(),
    st.builds(lambda front, body: f"---\n{front}\n---\n{body}", st.text(), st.text()),
    st.builds(lambda d: "---\n" + yaml.safe_dump(d, allow_unicode=True) + "---\n正文\n",
              st.dictionaries(st.sampled_from(["title", "kind", "category", "created_on", "channels", "x"]),
                              st.one_of(st.text(), st.integers(), st.lists(st.text()), st.none()))),
)
JSON_LIKE = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                         max_leaves=20).map(lambda v: json.dumps(v, ensure_ascii=False))


@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=400))
def test_arbitrary_bytes_give_records_or_problems_never_an_exception(suffix, data):
    parsed_cleanly(f"f{suffix}", data)


@given(text=FRONT_LIKE)
def test_arbitrary_markdown_gives_records_or_problems_never_an_exception(text):
    parsed_cleanly("f.md", text.encode("utf-8", "surrogatepass"))


@given(suffix=st.sampled_from([".json", ".jsonl"]), text=JSON_LIKE)
def test_arbitrary_json_gives_records_or_problems_never_an_exception(suffix, text):
    parsed_cleanly(f"f{suffix}", text.encode("utf-8", "surrogatepass"))


# inputs the parser crashes on today (a product bug, reported): each must become a Problem
CRASHERS = {
    "unhashable YAML key": ("f.md", b"---\n? [a, b]\n: c\n---\nbody\n"),
    "deeply nested JSON": ("f.json", b"[" * 100_000 + b"]" * 100_000),
    "deeply nested JSON line": ("f.jsonl", b"[" * 100_000 + b"]" * 100_000),
    "deeply nested YAML": ("f.md", b"---\nx: " + b"[" * 10_000 + b"]" * 10_000 + b"\n---\nbody\n"),
}


@pytest.mark.parametrize("case", list(CRASHERS), ids=list(CRASHERS))
def test_hostile_item_files_give_a_problem_not_an_exception(case):
    parsed_cleanly(*CRASHERS[case])


# a valid single-line field: no control, format (U+00AD, U+202E…) or separator character (pipeline.core.text)
PRINTABLE = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=60) \
    .map(str.strip).filter(lambda t: t and not CONTROL.search(t))
ITEM = st.fixed_dictionaries(
    {"title": PRINTABLE, "category": PRINTABLE, "kind": st.sampled_from(sorted(KINDS)),
     "created_on": st.dates(date(2000, 1, 1), date(2024, 12, 31)),
     "body": PRINTABLE.map(lambda t: t + "\n")},
    optional={"channels": st.lists(st.sampled_from(["portal", "disclosure", "wechat"]), min_size=1, max_size=3,
                                   unique=True),
              "doc_number": PRINTABLE, "summary": PRINTABLE, "validity": st.sampled_from(VALIDITY),
              "id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")},
)


def as_markdown(item: dict) -> bytes:
    front = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in item.items() if k != "body"}
    return f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\n{item['body']}".encode()


def as_json_line(item: dict) -> bytes:
    return json.dumps({k: (v.isoformat() if isinstance(v, date) else v) for k, v in item.items()},
                      ensure_ascii=False).encode()


@given(item=ITEM, form=st.sampled_from(["f.md", "f.jsonl", "f.json"]))
def test_a_valid_item_round_trips_with_its_fields(item, form):
    data = as_markdown(item) if form == "f.md" else as_json_line(item)
    [record], problems = parse(form, data)
    assert problems == []
    spec = record.spec.model_dump(exclude_none=True, exclude={"body"})
    assert spec == {"summary": "", **{k: v for k, v in item.items() if k != "body"}}
    assert record.body == item["body"].strip() + "\n"


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    engine = make_engine(DatabaseSettings(url=f"sqlite:///{tmp_path_factory.mktemp('idx')}/gongkai.db"))
    migrate(engine)
    with session_scope(engine) as session:
        for code, org in [("tjj", "002668389"), ("czj", "91331000MA2XXXXX1Y"), ("fgw", "002668400")]:
            session.add(Agency(code=code, name=code, org_code=org))
    yield engine
    engine.dispose()


@given(allocations=st.lists(st.tuples(st.sampled_from(["tjj", "czj", "fgw"]), st.integers(2018, 2026)),
                            max_size=40))
def test_index_numbers_are_consecutive_per_agency_and_year(sqlite_engine, allocations):
    with session_scope(sqlite_engine) as session:
        agencies = {a.code: a for a in session.exec(select(Agency)).all()}
        orgs = {code: agency.org_code for code, agency in agencies.items()}
        issued = [(code, year, workflow.allocate_index_no(session, agency=agencies[code], year=year))
                  for code, year in allocations]
        session.rollback()  # every example starts from empty counters
    for (code, year), count in Counter(allocations).items():
        numbers = [number for c, y, number in issued if (c, y) == (code, year)]
        assert numbers == [f"{orgs[code]}/{year}-{serial:05d}" for serial in range(1, count + 1)]


FIRST, LAST = known_years()
KNOWN_DAYS = st.dates(date(FIRST, 1, 1), date(LAST, 10, 31))


@given(start=KNOWN_DAYS, count=st.integers(1, 40))
def test_adding_working_days_lands_on_a_working_day_counting_only_working_days(start, count):
    end = add_workdays(start, count)
    assert is_workday(end) and chinese_calendar.is_workday(end)
    assert not chinese_calendar.is_holiday(end)
    days = [start + timedelta(days=n) for n in range(1, (end - start).days + 1)]
    assert sum(chinese_calendar.is_workday(d) for d in days) == count
    assert all(is_workday(d) == chinese_calendar.is_workday(d) for d in days)


@given(start=KNOWN_DAYS, count=st.integers(1, 39))
def test_adding_working_days_is_strictly_monotone(start, count):
    assert add_workdays(start, count) < add_workdays(start, count + 1)


@given(start=st.dates(date(FIRST, 1, 1), date(LAST + 2, 12, 31)), count=st.integers(1, 60),
       office=st.dictionaries(st.dates(date(LAST - 1, 1, 1), date(LAST + 2, 12, 31)), st.booleans(), max_size=30))
def test_the_counted_deadline_is_the_day_by_day_one_across_years_office_days_and_provisional_years(start, count,
                                                                                                   office):
    """add_workdays reads the per-year running counts; counted day by day it must land on the same day, in the
    package's years, over office-entered days and in provisional years beyond both."""
    calendar = WorkCalendar(office_years=[LAST + 1], days=office)
    day, counted = start, 0
    while counted < count:
        day += timedelta(days=1)
        counted += calendar.is_workday(day)
    assert calendar.add_workdays(start, count) == day
