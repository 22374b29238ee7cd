"""`gongkai ledger import FILE.csv`: backfill publications made before gongkai, all rows or none.

Columns (a header row; English or Chinese names, any order):
  index_no / 索引号 (may be empty, e.g. for WeChat posts), title / 标题, channel / 渠道,
  category / 主题分类, kind / 类别 (a kind key or its Chinese name), published_on / 公开日期
  (YYYY-MM-DD, or a date and time, Beijing time unless an offset is given); optionally formed_on / 成文日期
  (YYYY-MM-DD), which `gongkai timeliness` checks against 第二十六条 (kept outside the row's content hash, whose
  columns are frozen: pipeline.records.audit.CONTENT_NAMES, and outside its import key, so a file imported before
  without it is not imported again with it).
Each row gets an import key derived from its content (and its occurrence among identical rows), so
importing the same file again adds nothing. Rows of one publication on several channels are counted as one
item (pipeline.records.ledger_merge), and the result names the rows merged.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.catalogue import KINDS
from pipeline.core.clock import SHANGHAI
from pipeline.core.config import Settings
from pipeline.core.errors import InputRejected, Problem
from pipeline.core.models import EntryType, LedgerEntry, Role, utcnow
from pipeline.core.text import hidden_problem
from pipeline.records.audit import record_event
from pipeline.records.authority import require
from pipeline.records.ledger import OWN_KEY_LENGTH, SAME_AS, channel_kind, hashed
from pipeline.records.ledger_merge import Merge, merge_publications
from pipeline.records.people import Actor

COLUMNS = {
    "index_no": ("index_no", "索引号"),
    "title": ("title", "标题", "名称"),
    "channel": ("channel", "渠道"),
    "category": ("category", "主题分类"),
    "kind": ("kind", "类别"),
    "published_on": ("published_on", "公开日期", "发布日期"),
    "formed_on": ("formed_on", "成文日期"),
}
REQUIRED = ("title", "channel", "category", "kind", "published_on")
FIELDS = tuple(COLUMNS)  # the order of a row's values once read; "" where the file has no such column
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LOOKUP_ALL = 5000  # above this many rows, read the agency's keys and 索引号 whole rather than in IN lists


@dataclass(frozen=True)
class Imported:
    file: str
    imported: int
    already_present: int
    merged: list[Merge] = field(default_factory=list)  # rows counted as part of another row's publication


def import_ledger(session: Session, *, settings: Settings, agency_code: str, agency_id: int, path: Path,
                  today: date, actor: Actor) -> Imported:
    """Validate every row, then insert the rows not imported before; InputRejected names every bad row.
    Needs the role disclosure_office."""
    require(session, actor, Role.DISCLOSURE_OFFICE, agency_code=agency_code, doing="import a ledger")
    with _without_cycle_collection():
        return _import(session, settings=settings, agency_code=agency_code, agency_id=agency_id, path=path,
                       today=today, actor=actor.label)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A history is millions of small objects (fields, rows, hashes) that form no cycles: the cyclic collector
    would walk them again and again while they are made, for a tenth of the import's time (BENCHMARKS.md §4);
    reference counting frees them all the same. The pause is process-wide: the import runs in a CLI process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import(session: Session, *, settings: Settings, agency_code: str, agency_id: int, path: Path, today: date,
            actor: str) -> Imported:
    name = str(path)
    rows, problems = _read(path, name)
    entries, rules = [], _Rules.of(settings, agency_code, today)
    now = rules.now
    for line, row in rows:
        entry, found = _entry(row, line, name, rules)
        problems.extend(found)
        if entry is not None:
            entries.append((line, entry))
    problems.extend(_duplicates(session, agency_id, entries, name))
    if problems:
        raise InputRejected(sorted(problems, key=lambda p: p.line))
    keyed = _keys(agency_code, entries)
    present = _existing_keys(session, agency_id, list(keyed))
    fresh = [(line, key, dict(entry, agency_id=agency_id, import_key=key)) for key, (line, entry) in keyed.items()
             if key not in present]
    merged = merge_publications(session, agency_id=agency_id, rows=fresh)
    new = [hashed(entry) for _, _, entry in fresh]
    if new:
        before = session.exec(select(sa.func.max(LedgerEntry.id))).one() or 0
        _insert(session, new)
        _record_import(session, actor=actor, agency_code=agency_code, agency_id=agency_id, name=name, after_id=before,
                       rows=new, now=now)
    return Imported(name, len(new), len(keyed) - len(new), merged)


def _record_import(session: Session, *, actor: str, agency_code: str, agency_id: int, name: str, after_id: int,
                   rows: list[dict[str, Any]], now: datetime) -> None:
    """One audit event listing every imported row with its content hash, in id order: the ids the rows were
    given, read back by import key (unique), fetched whole (a streamed read of a million rows was 6 s)."""
    digests = {row["import_key"]: row["content_hash"] for row in rows}
    ledger = LedgerEntry.__table__
    query = (select(ledger.c.id, ledger.c.import_key)
             .where(ledger.c.id > after_id, ledger.c.agency_id == agency_id,
                    ledger.c.import_key.is_not(None)).order_by(ledger.c.id))
    refs = [[entry_id, digests[key]] for entry_id, key in session.execute(query).all() if key in digests]
    record_event(session, actor=actor, action="import", subject=f"agency:{agency_code}",
                 details={"file": name, "rows": len(refs), "ledger": refs}, now=now)


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the new entries: COPY on PostgreSQL (several times faster than executemany for a history of a
    million rows, BENCHMARKS.md), an executemany INSERT elsewhere. Either way in the session's transaction."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(sa.insert(LedgerEntry.__table__), rows)
        return
    columns = list(rows[0])
    with connection.connection.cursor() as cursor, \
            cursor.copy(f"COPY {LedgerEntry.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def _read(path: Path, name: str) -> tuple[list[tuple[int, list[str]]], list[Problem]]:
    if not path.is_file():
        return [], [Problem(name, 0, "", "no such file")]
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return [], [Problem(name, line, "", "not valid UTF-8; save the file as CSV UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        return [], [Problem(name, 1, "", "empty file: a header row is required")]
    columns, problems = _columns([h.strip() for h in header], name)
    if problems:  # with the columns wrong, every row would repeat the same complaint
        return [], problems
    rows: list[tuple[int, list[str]]] = []
    line = reader.line_num
    where = {key: i for i, key in columns.items()}
    positions = [where.get(key, -1) for key in FIELDS]
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(map(str.strip, values)):
            continue
        if len(values) != len(header):
            problems.append(Problem(name, start, "", f"{len(values)} fields; the header has {len(header)}"))
            continue
        rows.append((start, [values[i].strip() if i >= 0 else "" for i in positions]))
    if not rows and not problems:
        problems.append(Problem(name, 2, "", "the file holds no rows"))
    return rows, problems


def _columns(header: list[str], name: str) -> tuple[dict[int, str], list[Problem]]:
    aliases = {alias: key for key, names in COLUMNS.items() for alias in names}
    columns, problems = {}, []
    for i, title in enumerate(header):
        if title not in aliases:
            known = ", ".join("/".join(names) for names in COLUMNS.values())
            problems.append(Problem(name, 1, title, f"unknown column; known: {known}"))
        elif aliases[title] in columns.values():
            problems.append(Problem(name, 1, title, "column given twice"))
        else:
            columns[i] = aliases[title]
    missing = [key for key in REQUIRED if key not in columns.values()]
    if missing:
        problems.append(Problem(name, 1, "", f"missing column(s): {', '.join(missing)}"))
    return columns, problems


@dataclass
class _Rules:
    """What every row is checked against, worked out once for the file (a history is a million rows)."""

    settings: Settings
    categories: dict[str, None]            # in their configured order, for the message
    kinds: dict[str, str]                  # a key or Chinese name -> the key
    today: date
    now: datetime                          # created_at of every row: they are written in one transaction
    channels: dict[str, bool] = field(default_factory=dict)  # each channel name met so far -> valid

    @classmethod
    def of(cls, settings: Settings, agency_code: str, today: date) -> _Rules:
        categories = settings.agencies[agency_code].categories or settings.catalogue.categories
        return cls(settings, dict.fromkeys(categories), _kind_names(settings.catalogue.kinds), today, utcnow())

    def channel_ok(self, channel: str) -> bool:
        ok = self.channels.get(channel)
        if ok is None:
            ok = self.channels[channel] = bool(CHANNEL_NAME.match(channel) and channel_kind(self.settings, channel))
        return ok


def _entry(row: list[str], line: int, name: str, rules: _Rules) -> tuple[dict[str, Any] | None, list[Problem]]:
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(name, line, field, message))

    index_no, title, channel, category, kind_name, published_on, formed_text = row  # FIELDS, in that order
    if not title or len(title) > 500:
        bad("title", "is empty" if not title else "is longer than 500 characters")
    elif message := hidden_problem(title):
        bad("title", message)
    elif title[0] in "=+-@":  # a spreadsheet would run it as a formula when the ledger is exported again
        bad("title", f"starts with {title[0]!r}, which spreadsheets treat as a formula")
    if not rules.channel_ok(channel):
        bad("channel", f"unknown channel '{channel}'; a configured channel or a channel kind "
                       f"({', '.join(sorted(set(rules.settings.channels) | {'wechat', 'weibo'}))} …)")
    if category not in rules.categories:
        bad("category", f"unknown 主题分类 '{category}'; configured: {', '.join(rules.categories)}")
    kind = rules.kinds.get(kind_name)
    if kind is None:
        bad("kind", f"unknown kind '{kind_name}'; a key or Chinese name of: "
                    f"{', '.join(rules.settings.catalogue.kinds)}")
    published = _published(published_on)
    if published is None:
        bad("published_on", f"'{published_on}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)")
    elif published[1].date() > rules.today:
        bad("published_on", f"{published[0].date()} is in the future")
    if len(index_no) > 40:
        bad("index_no", "is longer than 40 characters")
    formed = _formed(formed_text)
    if formed_text and formed is None:
        bad("formed_on", f"'{formed_text}' is not a date (YYYY-MM-DD)")
    elif formed is not None and published is not None and formed > published[1].date():
        bad("formed_on", f"{formed} is after the publication on {published[1].date()}")
    elif formed is not None and formed < date(1949, 10, 1):
        bad("formed_on", f"{formed} is before 1949-10-01")
    if problems:
        return None, problems
    at, local = published
    return {"entry_type": EntryType.PUBLICATION.value, "channel": channel, "category": category, "kind": kind,
            "index_no": index_no or None, "title": title, "published_at": at, "local_date": local.date(),
            "year": local.year, "source": "import", "item_id": None, "revision": None, "delivery_id": None,
            "created_at": rules.now, "formed_on": formed}, []


def _kind_names(kinds: list[str]) -> dict[str, str]:
    """Key or Chinese name -> key, the first configured kind winning."""
    names: dict[str, str] = {}
    for key in kinds:
        names.setdefault(key, key)
        names.setdefault(KINDS[key][0], key)
    return names


@lru_cache(maxsize=4096)  # a history has a few thousand distinct dates; parsing was a tenth of the import
def _published(value: str) -> tuple[datetime, datetime] | None:
    """The time given and the same time in Beijing, whose date and year the ledger counts by."""
    try:
        parsed = datetime.fromisoformat(value) if len(value) > 10 else datetime.combine(date.fromisoformat(value),
                                                                                           time())
    except ValueError:
        return None
    at = parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)
    return at, at.astimezone(SHANGHAI)


@lru_cache(maxsize=4096)
def _formed(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _duplicates(session: Session, agency_id: int, entries: list[tuple[int, dict[str, Any]]],
                name: str) -> list[Problem]:
    """One 索引号 appears at most once per channel: in the file, and against the pipeline's own entries."""
    problems, seen = [], {}
    for line, entry in entries:
        pair = (entry["index_no"], entry["channel"])
        if entry["index_no"] and pair in seen:
            problems.append(Problem(name, line, "index_no", f"{pair[0]} on {pair[1]} also at line {seen[pair]}"))
        seen.setdefault(pair, line)
    numbers = sorted({e["index_no"] for _, e in entries if e["index_no"]})
    ours = (LedgerEntry.agency_id == agency_id, LedgerEntry.source == "pipeline")
    if len(numbers) > LOOKUP_ALL:  # a big file: every 索引号 the pipeline published for the agency, at once
        published = set(session.exec(select(LedgerEntry.index_no, LedgerEntry.channel).where(
            *ours, LedgerEntry.index_no.is_not(None))).all())
    else:
        published = set()
        for chunk in range(0, len(numbers), 500):
            published |= set(session.exec(select(LedgerEntry.index_no, LedgerEntry.channel).where(
                *ours, LedgerEntry.index_no.in_(numbers[chunk:chunk + 500]))).all())
    for line, entry in entries:
        if (entry["index_no"], entry["channel"]) in published:
            problems.append(Problem(name, line, "index_no", f"{entry['index_no']} is in the ledger already, "
                                                            f"published on {entry['channel']} by gongkai"))
    return problems


def _keys(agency_code: str, entries: list[tuple[int, dict[str, Any]]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Content-derived keys: the n-th of several identical rows gets the same key on every import."""
    seen: Counter[str] = Counter()
    keyed = {}
    for line, entry in entries:
        content = "\x1f".join([agency_code, entry["channel"], entry["index_no"] or "", entry["title"],
                               entry["category"], entry["kind"], entry["published_at"].isoformat()])
        seen[content] += 1
        digest = hashlib.sha256(f"{content}\x1f{seen[content]}".encode()).hexdigest()[:40]
        keyed[f"import:{digest}"] = (line, entry)
    return keyed


def _existing_keys(session: Session, agency_id: int, keys: list[str]) -> set[str]:
    """The keys imported before (a merged row's own key is the part before "~"). A key is derived from the
    agency's code, so only that agency's rows can hold it: for a big file, one query for all of them beats IN
    lists, which cost ~25 µs a key (BENCHMARKS.md)."""
    if len(keys) > LOOKUP_ALL:
        return {key[:OWN_KEY_LENGTH] for key in session.exec(select(LedgerEntry.import_key).where(
            LedgerEntry.agency_id == agency_id, LedgerEntry.import_key.is_not(None))).all()}.intersection(keys)
    found: set[str] = set()
    for chunk in range(0, len(keys), 500):
        found |= set(session.exec(select(LedgerEntry.import_key).where(
            LedgerEntry.import_key.in_(keys[chunk:chunk + 500]))).all())
    merged = session.exec(select(LedgerEntry.import_key).where(
        LedgerEntry.agency_id == agency_id, LedgerEntry.import_key.contains(SAME_AS))).all()
    return found | {key[:OWN_KEY_LENGTH] for key in merged}.intersection(keys)
