"""A year's 放假安排 as a TOML file: the State Council's holiday notice, typed in by the office.

    year = 2027
    source = "国办发明电〔2026〕N号，2026年11月X日"
    [[holiday]]
    name = "春节"
    first = 2027-02-05
    last = 2027-02-13
    workdays = [2027-01-31, 2027-02-20]   # 调休上班: Saturdays and Sundays worked

Every date lies in the notice's year, except that the 元旦 break may start in the December before (the 2019
notice: 2018-12-30 to 2019-01-01, with Saturday 2018-12-29 worked), and so may the make-up days listed under
that 元旦 period. Every problem is reported with the file, the line and the key; nothing is stored unless the
whole notice is right (pipeline.records.calendar).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputRejected, Problem

FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
MAX_PERIOD_DAYS = 14      # the longest break so far is 10 days (春节 2020); more is a typo
MAX_MAKE_UP_GAP = 14      # a 调休 day lies within two weeks of its break (all notices since 2008)
KEYS = {"year", "source", "holiday"}
PERIOD_KEYS = {"name", "first", "last", "workdays"}


@dataclass(frozen=True)
class Period:
    name: str
    first: date
    last: date
    workdays: tuple[date, ...] = ()

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Notice:
    year: int
    source: str
    periods: tuple[Period, ...]
    text: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)


def read_notice(path: Path, *, year: int) -> Notice:
    """The notice in `path` for `year`, or InputRejected naming every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputRejected([Problem(str(path), 0, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputRejected([Problem(str(path), 0, "", f"cannot be read as UTF-8 text: {e}")]) from None
    return parse_notice(text, file=str(path), year=year)


def parse_notice(text: str, *, file: str, year: int) -> Notice:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"line (\d+)", str(e))
        raise InputRejected([Problem(file, int(line.group(1)) if line else 0, "", f"not TOML: {e}")]) from None
    check = _Checker(file, text, year)
    numbered = check.top(data)
    check.together(numbered)
    if check.problems:
        raise InputRejected(check.problems)
    periods = [p for _, p in numbered]
    named = {part for p in periods for part in p.name.split("、")}
    missing = [f for f in FESTIVALS if f not in named]
    warnings = (f"the notice names no {'、'.join(missing)}; every notice since 2008 names all seven festivals",) \
        if missing else ()
    return Notice(year, data["source"].strip(), tuple(sorted(periods, key=lambda p: p.first)), text, warnings)


class _Checker:
    """Collects problems with their line instead of stopping at the first."""

    def __init__(self, file: str, text: str, year: int) -> None:
        self.file, self.lines, self.year = file, text.splitlines(), year
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str, index: int | None = None) -> None:
        where = key if index is None else f"holiday[{index + 1}].{key}"
        self.problems.append(Problem(self.file, self._line(key, index), where, message))

    def top(self, data: dict[str, Any]) -> list[tuple[int, Period]]:
        for key in sorted(set(data) - KEYS):
            self.fail(key, f"unknown key; a notice has {', '.join(sorted(KEYS))}")
        if data.get("year") != self.year or isinstance(data.get("year"), bool):
            self.fail("year", f"must be {self.year}, the year given on the command line (is {data.get('year')!r})")
        if not isinstance(data.get("source"), str) or not data["source"].strip():
            self.fail("source", "name the notice: 文号 and date, e.g. \"国办发明电〔2025〕7号，2025年11月4日\"")
        elif len(data["source"]) > 200:
            self.fail("source", "at most 200 characters")
        holidays = data.get("holiday")
        if not isinstance(holidays, list) or not holidays or not all(isinstance(h, dict) for h in holidays):
            self.fail("holiday", "give each holiday period as a [[holiday]] table")
            return []
        return [(i, p) for i, h in enumerate(holidays) if (p := self.period(i, h)) is not None]

    def period(self, i: int, raw: dict[str, Any]) -> Period | None:
        before = len(self.problems)
        for key in sorted(set(raw) - PERIOD_KEYS):
            self.fail(key, f"unknown key; a [[holiday]] has {', '.join(sorted(PERIOD_KEYS))}", i)
        name = raw.get("name")
        parts = name.split("、") if isinstance(name, str) and name.strip() else []
        if not parts or any(part not in FESTIVALS for part in parts):
            self.fail("name", f"{name!r} is not one of {'、'.join(FESTIVALS)} (or two joined by 、)", i)
            parts = []
        first = self.date(raw.get("first"), "first", i, new_year="元旦" in parts)
        last = self.date(raw["last"], "last", i, new_year=False) if "last" in raw else first
        make_up = raw.get("workdays", [])
        if not isinstance(make_up, list):
            self.fail("workdays", "a list of dates: [2027-01-31, 2027-02-20]", i)
            make_up = []
        workdays = [d for value in make_up if (d := self.date(value, "workdays", i, new_year="元旦" in parts))]
        if len(self.problems) > before or first is None or last is None:
            return None
        self.shape(i, first, last, workdays)
        return Period("、".join(parts), first, last, tuple(workdays))

    def date(self, value: Any, key: str, i: int, *, new_year: bool) -> date | None:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, date) or hasattr(value, "hour"):
            self.fail(key, f"{value!r} is not a date (write 2027-02-05, without quotes)", i)
            return None
        december = new_year and value.year == self.year - 1 and value.month == 12
        if value.year != self.year and not december:
            self.fail(key, f"{value} is not in {self.year} (only the 元旦 break may start in the December "
                           "before)", i)
            return None
        return value

    def shape(self, i: int, first: date, last: date, workdays: list[date]) -> None:
        if last < first:
            self.fail("last", f"{last} is before first ({first})", i)
            return
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            self.fail("last", f"{first} to {last} is {(last - first).days + 1} days; no break is longer than "
                              f"{MAX_PERIOD_DAYS}", i)
        if last.year != self.year:
            self.fail("last", f"the break must end in {self.year}", i)
        if all(day.weekday() >= 5 for day in Period("", first, last).days()):
            self.fail("first", f"{first} to {last} holds only Saturdays and Sundays: a break frees at least one "
                               "weekday (is the year or month right?)", i)
        for day in workdays:
            if day.weekday() < 5:
                self.fail("workdays", f"{day} is a {day:%A}: a 调休 working day is a Saturday or Sunday", i)
            elif max((first - day).days, (day - last).days) > MAX_MAKE_UP_GAP:
                self.fail("workdays", f"{day} is more than {MAX_MAKE_UP_GAP} days from the break {first} to "
                                      f"{last}", i)

    def together(self, numbered: list[tuple[int, Period]]) -> None:
        """No two breaks share a day; no 调休 day lies in a break or is listed twice."""
        seen: dict[date, int] = {}
        for i, p in numbered:
            clash = next((day for day in p.days() if day in seen), None)
            if clash is not None:
                self.fail("first", f"{p.first} to {p.last} overlaps holiday[{seen[clash] + 1}] on {clash}", i)
            seen |= {day: i for day in p.days() if day not in seen}
        worked: set[date] = set()
        for i, p in numbered:
            for day in p.workdays:
                if day in seen:
                    self.fail("workdays", f"{day} is inside the break holiday[{seen[day] + 1}]", i)
                elif day in worked:
                    self.fail("workdays", f"{day} is listed twice", i)
                worked.add(day)

    def _line(self, key: str, index: int | None) -> int:
        """The line of `key` (in the index-th [[holiday]] table): tomllib reports no positions."""
        start, tables = 0, -1
        if index is not None:
            for n, line in enumerate(self.lines):
                if line.strip().startswith("[[holiday]]"):
                    tables += 1
                    if tables == index:
                        start = n
                        break
        for n in range(start, len(self.lines)):
            stripped = self.lines[n].strip()
            if n > start and index is not None and stripped.startswith("["):
                break
            if re.match(rf"{re.escape(key)}\s*=", stripped):
                return n + 1
        return start + 1 if index is not None else 0
