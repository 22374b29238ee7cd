"""`gongkai ledger import FILE.csv`: backfill publications made before gongkai, all rows or none.

Columns (a header row; English or Chinese names, any order):
  index_no / 索引号 (may be empty, e.g. for WeChat posts), title / 标题, channel / 渠道,
  category / 主题分类, kind / 类别 (a kind key or its Chinese name), published_on / 公开日期
  (YYYY-MM-DD, or a date and time, Beijing time unless an offset is given).
Each row gets an import key derived from its content (and its occurrence among identical rows), so
importing the same file again adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.audit import SYSTEM, hashed, record_event
from pipeline.catalogue import KINDS
from pipeline.config import Settings
from pipeline.errors import InputRejected, Problem
from pipeline.itemfile import SHANGHAI
from pipeline.ledger import channel_kind
from pipeline.models import EntryType, LedgerEntry, utcnow

COLUMNS = {
    "index_no": ("index_no", "索引号"),
    "title": ("title", "标题", "名称"),
    "channel": ("channel", "渠道"),
    "category": ("category", "主题分类"),
    "kind": ("kind", "类别"),
    "published_on": ("published_on", "公开日期", "发布日期"),
}
REQUIRED = ("title", "channel", "category", "kind", "published_on")
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LOOKUP_ALL = 5000  # above this many rows, read the agency's keys and 索引号 whole rather than in IN lists


@dataclass(frozen=True)
class Imported:
    file: str
    imported: int
    already_present: int


def import_ledger(session: Session, *, settings: Settings, agency_code: str, agency_id: int, path: Path,
                  today: date, actor: str = SYSTEM) -> Imported:
    """Validate every row, then insert the rows not imported before; InputRejected names every bad row."""
    name = str(path)
    rows, problems = _read(path, name)
    entries, now = [], utcnow()
    for line, row in rows:
        entry, found = _entry(row, line, name, settings, agency_code, today, now)
        problems.extend(found)
        if entry is not None:
            entries.append((line, entry))
    problems.extend(_duplicates(session, agency_id, entries, name))
    if problems:
        raise InputRejected(sorted(problems, key=lambda p: p.line))
    keyed = _keys(agency_code, [entry for _, entry in entries])
    present = _existing_keys(session, agency_id, list(keyed))
    new = [hashed(dict(entry, agency_id=agency_id, import_key=key)) for key, entry in keyed.items()
           if key not in present]
    if new:
        before = session.exec(select(sa.func.max(LedgerEntry.id))).one() or 0
        _insert(session, new)
        _record_import(session, actor=actor, agency_code=agency_code, agency_id=agency_id, name=name, after_id=before,
                       keys={entry["import_key"] for entry in new}, now=now)
    return Imported(name, len(new), len(keyed) - len(new))


def _record_import(session: Session, *, actor: str, agency_code: str, agency_id: int, name: str, after_id: int,
                   keys: set[str], now: datetime) -> None:
    """One audit event listing every imported row with its content hash (stored in the row as it was written)."""
    ledger = LedgerEntry.__table__
    query = (select(ledger.c.id, ledger.c.content_hash, ledger.c.import_key)
             .where(ledger.c.id > after_id, ledger.c.agency_id == agency_id, ledger.c.import_key.is_not(None))
             .order_by(ledger.c.id).execution_options(yield_per=10_000))
    refs = [[row.id, row.content_hash] for row in session.execute(query) if row.import_key in keys]
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


def _read(path: Path, name: str) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
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
    rows: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num
    pairs = sorted(columns.items())  # (position, key): cheaper per row than testing every position
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(Problem(name, start, "", f"{len(values)} fields; the header has {len(header)}"))
            continue
        rows.append((start, {key: values[i].strip() for i, key in pairs}))
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


def _entry(row: dict[str, str], line: int, name: str, settings: Settings, agency_code: str, today: date,
           now: datetime) -> tuple[dict[str, Any] | None, list[Problem]]:
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(name, line, field, message))

    title, channel, category = row.get("title", ""), row.get("channel", ""), row.get("category", "")
    if not title or len(title) > 500:
        bad("title", "is empty" if not title else "is longer than 500 characters")
    elif re.search(r"[\x00-\x1f\x7f]", title):
        bad("title", "contains a control character")
    elif title[0] in "=+-@":  # a spreadsheet would run it as a formula when the ledger is exported again
        bad("title", f"starts with {title[0]!r}, which spreadsheets treat as a formula")
    if not CHANNEL_NAME.match(channel) or not channel_kind(settings, channel):
        bad("channel", f"unknown channel '{channel}'; a configured channel or a channel kind "
                       f"({', '.join(sorted(set(settings.channels) | {'wechat', 'weibo'}))} …)")
    categories = settings.agencies[agency_code].categories or settings.catalogue.categories
    if category not in categories:
        bad("category", f"unknown 主题分类 '{category}'; configured: {', '.join(categories)}")
    kind = _kind(row.get("kind", ""), settings)
    if kind is None:
        bad("kind", f"unknown kind '{row.get('kind', '')}'; a key or Chinese name of: "
                    f"{', '.join(settings.catalogue.kinds)}")
    published = _published(row.get("published_on", ""))
    if published is None:
        bad("published_on", f"'{row.get('published_on', '')}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)")
    elif published.astimezone(SHANGHAI).date() > today:
        bad("published_on", f"{published.date()} is in the future")
    index_no = row.get("index_no") or None
    if index_no and len(index_no) > 40:
        bad("index_no", "is longer than 40 characters")
    if problems:
        return None, problems
    local = published.astimezone(SHANGHAI)
    return {"entry_type": EntryType.PUBLICATION.value, "channel": channel, "category": category, "kind": kind,
            "index_no": index_no, "title": title, "published_at": published, "local_date": local.date(),
            "year": local.year, "source": "import", "item_id": None, "revision": None, "delivery_id": None,
            "created_at": now}, []


def _kind(value: str, settings: Settings) -> str | None:
    return _kind_names(tuple(settings.catalogue.kinds)).get(value)


@lru_cache(maxsize=8)
def _kind_names(kinds: tuple[str, ...]) -> dict[str, str]:
    """Key or Chinese name -> key, the first configured kind winning (looked up once a row)."""
    names: dict[str, str] = {}
    for key in kinds:
        names.setdefault(key, key)
        names.setdefault(KINDS[key][0], key)
    return names


@lru_cache(maxsize=4096)  # a history has a few thousand distinct dates; parsing was a tenth of the import
def _published(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if len(value) > 10 else datetime.combine(date.fromisoformat(value),
                                                                                           time())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


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


def _keys(agency_code: str, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Content-derived keys: the n-th of several identical rows gets the same key on every import."""
    seen: Counter[str] = Counter()
    keyed = {}
    for entry in entries:
        content = "\x1f".join([agency_code, entry["channel"], entry["index_no"] or "", entry["title"],
                               entry["category"], entry["kind"], entry["published_at"].isoformat()])
        seen[content] += 1
        digest = hashlib.sha256(f"{content}\x1f{seen[content]}".encode()).hexdigest()[:40]
        keyed[f"import:{digest}"] = entry
    return keyed


def _existing_keys(session: Session, agency_id: int, keys: list[str]) -> set[str]:
    """The keys imported before. A key is derived from the agency's code, so only that agency's rows can hold
    it: for a big file, one query for all of them beats IN lists, which cost ~25 µs a key (BENCHMARKS.md)."""
    if len(keys) > LOOKUP_ALL:
        return set(session.exec(select(LedgerEntry.import_key).where(
            LedgerEntry.agency_id == agency_id, LedgerEntry.import_key.is_not(None))).all()).intersection(keys)
    found: set[str] = set()
    for chunk in range(0, len(keys), 500):
        found |= set(session.exec(select(LedgerEntry.import_key).where(
            LedgerEntry.import_key.in_(keys[chunk:chunk + 500]))).all())
    return found
