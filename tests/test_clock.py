"""One clock: the product reads the time only through pipeline/core/clock.py, and no test or benchmark reads the
machine's date, so that a pinned instant (time-machine, TEST_NOW) moves everything (docs/time.md)."""

from __future__ import annotations

import ast
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from pipeline.core.clock import beijing_now, beijing_today, utcnow

ROOT = Path(__file__).parents[1]
CLOCK = ROOT / "pipeline" / "core" / "clock.py"
DATE_READS = {"now", "today", "utcnow"}                # datetime.now(), date.today(), datetime.utcnow()
TIME_READS = {"localtime", "gmtime", "ctime", "asctime"}  # time.localtime() and friends: the machine's calendar


def time_reads(source: str, *, timestamps: bool = False) -> list[str]:
    """Each direct read of the current date or time in `source`, as `line: call` (time.time() too with
    `timestamps`: the product has no use for it but durations, which take time.monotonic())."""
    time_calls = TIME_READS | ({"time", "time_ns"} if timestamps else set())
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{node.lineno}: from time import {a.name}" for a in node.names if a.name in time_calls]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = ast.unparse(node.func.value).rsplit(".", 1)[-1]
        if (owner in ("datetime", "date") and node.func.attr in DATE_READS) or \
                (owner == "time" and node.func.attr in time_calls):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}()")
    return sorted(found, key=lambda read: int(read.split(":")[0]))


@pytest.mark.parametrize(("source", "found"), [
    ("from datetime import date\ndate.today()\n", ["2: date.today()"]),
    ("import datetime\nx = datetime.datetime.now(datetime.UTC).year\n", ["2: datetime.datetime.now()"]),
    ("from datetime import datetime\ndatetime.today()\ndatetime.utcnow()\n", ["2: datetime.today()",
                                                                              "3: datetime.utcnow()"]),
    ("import time\ntime.localtime()\n", ["2: time.localtime()"]),
    ("from time import gmtime\n", ["1: from time import gmtime"]),
    ("from pipeline.core.clock import utcnow, beijing_today\nutcnow()\nbeijing_today().year\n", []),
    ("import time\ntime.monotonic()\ntime.time()\n", []),
])
def test_the_check_finds_direct_reads_and_lets_the_clock_pass(source, found):
    assert time_reads(source) == found


def test_the_product_reads_the_time_only_through_its_clock():
    files = [*(ROOT / "pipeline").rglob("*.py"), ROOT / "worker.py"]
    reads = {str(f.relative_to(ROOT)): found for f in files if f != CLOCK
             if (found := time_reads(f.read_text(encoding="utf-8"), timestamps=True))}
    assert reads == {}, "read the time through pipeline.core.clock (utcnow, beijing_today, beijing_now)"


def test_no_test_or_benchmark_reads_the_machine_date():
    files = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    reads = {str(f.relative_to(ROOT)): found for f in files
             if (found := time_reads(f.read_text(encoding="utf-8")))}
    assert reads == {}, "take today from pipeline.core.clock (beijing_today) or pin the instant with time_machine"


@pytest.fixture(params=["UTC", "America/Los_Angeles", "Asia/Shanghai"])
def machine_zone(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The machine's local time zone (TZ), put back afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize(("instant", "today"), [
    ("2026-12-31T15:59:59+00:00", date(2026, 12, 31)),
    ("2026-12-31T16:00:00+00:00", date(2027, 1, 1)),
    ("2027-06-30T23:59:00-05:00", date(2027, 7, 1)),  # an offset is an instant like any other
])
def test_today_is_beijing_s_whatever_the_machine_s_time_zone(machine_zone, instant, today):
    with time_machine.travel(datetime.fromisoformat(instant), tick=False):
        assert beijing_today() == today
        assert utcnow() == datetime.fromisoformat(instant).astimezone(UTC)
        assert beijing_now().utcoffset() == timedelta(hours=8)
