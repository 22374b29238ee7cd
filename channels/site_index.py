"""What a static site has published, and where each entry sits in each listing: an SQLite file of the site's own.

A listing (one per 主题分类, per 第二十条 kind, per year) is cut into pages of PAGE_SIZE. An entry gets a slot in
each of its listings when it first appears there, and keeps it: page n holds slots (n-1)*PAGE_SIZE … n*PAGE_SIZE-1,
counted from the oldest, so that a publication adds to the newest page only, and a withdrawal leaves a shorter
page instead of shifting every older one. That is what lets one publication rewrite a bounded number of files
however large the site grows. The file is the site's state, not the pipeline's database: channels know nothing
of that.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE_SIZE = 20
DIMENSIONS = ("category", "kind", "year")  # the listings an entry appears in

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    path TEXT PRIMARY KEY, seq INTEGER NOT NULL, key TEXT NOT NULL, url TEXT NOT NULL, title TEXT NOT NULL,
    index_no TEXT NOT NULL, doc_number TEXT NOT NULL, category TEXT NOT NULL, kind TEXT NOT NULL,
    kind_name TEXT NOT NULL, kind_clause TEXT NOT NULL, published_on TEXT NOT NULL, summary TEXT NOT NULL,
    metadata TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS entry_seq ON entry (seq);
CREATE INDEX IF NOT EXISTS entry_newest ON entry (published_on, seq);
CREATE INDEX IF NOT EXISTS entry_category ON entry (category, published_on, seq);
CREATE INDEX IF NOT EXISTS entry_kind ON entry (kind, published_on, seq);
CREATE TABLE IF NOT EXISTS slot (listing TEXT NOT NULL, slot INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (listing, slot));
CREATE INDEX IF NOT EXISTS slot_path ON slot (path);
CREATE TABLE IF NOT EXISTS listing (listing TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""
_COLUMNS = ("path", "seq", "key", "url", "title", "index_no", "doc_number", "category", "kind", "kind_name",
            "kind_clause", "published_on", "summary", "metadata")
_ORDER = "ORDER BY published_on DESC, seq DESC"


def listings_of(entry: dict[str, Any]) -> set[str]:
    return {f"category:{entry['category']}", f"kind:{entry['kind']}", f"year:{entry['published_on'][:4]}"}


@dataclass
class Changes:
    """What a change of the entry list touched: the pages to rewrite, and which search years and kinds."""

    pages: set[tuple[str, int]] = field(default_factory=set)   # (listing, page number from 1)
    years: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)

    def add(self, other: Changes) -> None:
        self.pages |= other.pages
        self.years |= other.years
        self.kinds |= other.kinds

    @property
    def listings(self) -> set[str]:
        return {listing for listing, _ in self.pages}


class SiteIndex:
    """The entry list and the listings' slots, in one transaction per `with` block of the caller."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(_SCHEMA)
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()

    # --- reading -----------------------------------------------------------------------------------------------
    @staticmethod
    def _entry(row: sqlite3.Row) -> dict[str, Any]:
        entry = dict(row)
        entry["metadata"] = json.loads(entry["metadata"])
        return entry

    def get(self, path: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM entry WHERE path = ?", (path,)).fetchone()
        return self._entry(row) if row else None

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM entry").fetchone()[0]

    def newest(self, limit: int, *, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM entry {'WHERE ' + where if where else ''} {_ORDER} LIMIT ?"  # noqa: S608 (fixed text)
        return [self._entry(r) for r in self.db.execute(sql, (*args, limit))]

    def counts(self, column: str) -> list[sqlite3.Row]:
        """(value, count) per category or kind (with its name and clause), in the order they first appeared
        (a stable order: a site knows nothing of the catalogue's configured order)."""
        assert column in ("category", "kind")
        extra = ", max(kind_name) AS name, max(kind_clause) AS clause" if column == "kind" else ""
        return self.db.execute(f"SELECT {column} AS value, count(*) AS count{extra} FROM entry "  # noqa: S608
                               f"GROUP BY {column} ORDER BY min(seq)").fetchall()

    def years(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT substr(published_on, 1, 4) AS value, count(*) AS count FROM entry "
                               "GROUP BY value ORDER BY value DESC").fetchall()

    def all_listings(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT listing FROM listing ORDER BY listing")]

    def top_page(self, listing: str) -> int:
        row = self.db.execute("SELECT next FROM listing WHERE listing = ?", (listing,)).fetchone()
        return max(1, -(-(row[0] if row else 0) // PAGE_SIZE))

    def page(self, listing: str, number: int) -> list[dict[str, Any]]:
        """The entries of one page, newest first."""
        rows = self.db.execute(
            f"SELECT e.* FROM slot s JOIN entry e ON e.path = s.path WHERE s.listing = ? AND s.slot >= ? "  # noqa: S608
            f"AND s.slot < ? {_ORDER.replace('published_on', 'e.published_on').replace('seq', 'e.seq')}",
            (listing, (number - 1) * PAGE_SIZE, number * PAGE_SIZE))
        return [self._entry(r) for r in rows]

    def directory(self, listing: str) -> list[sqlite3.Row]:
        """Per page of a listing: its number, count and first and last dates (pages emptied by withdrawals
        are left out)."""
        return self.db.execute(
            "SELECT s.slot / ? + 1 AS number, count(*) AS count, min(e.published_on) AS first, "
            "max(e.published_on) AS last FROM slot s JOIN entry e ON e.path = s.path WHERE s.listing = ? "
            "GROUP BY number ORDER BY number DESC", (PAGE_SIZE, listing)).fetchall()

    def year_entries(self, year: str) -> Iterator[sqlite3.Row]:
        return self.db.execute("SELECT path, title, doc_number, index_no, published_on, category FROM entry "
                               f"WHERE published_on >= ? AND published_on < ? {_ORDER}", (year, f"{int(year) + 1}"))

    # --- changing ----------------------------------------------------------------------------------------------
    def put(self, entry: dict[str, Any]) -> Changes:
        """Add or replace the entry at entry['path'] (a new revision, or the same one again)."""
        changes = Changes(kinds={entry["kind"]}, years={entry["published_on"][:4]})
        old = self.get(entry["path"])
        wanted = listings_of(entry)
        if old is None:
            seq = self.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM entry").fetchone()[0]
        else:
            seq = old["seq"]
            changes.kinds.add(old["kind"])
            changes.years.add(old["published_on"][:4])
        held = {r["listing"]: r["slot"] for r in
                self.db.execute("SELECT listing, slot FROM slot WHERE path = ?", (entry["path"],))}
        for listing, slot in held.items():
            changes.pages.add((listing, slot // PAGE_SIZE + 1))  # its line changes, or it leaves the page
            if listing not in wanted:
                self.db.execute("DELETE FROM slot WHERE listing = ? AND slot = ?", (listing, slot))
        for listing in wanted - held.keys():
            changes.pages |= self._append(listing, entry["path"])
        row = {**entry, "seq": seq, "metadata": json.dumps(entry["metadata"], ensure_ascii=False)}
        self.db.execute(f"INSERT OR REPLACE INTO entry ({', '.join(_COLUMNS)}) "  # noqa: S608 (fixed text)
                        f"VALUES ({', '.join('?' * len(_COLUMNS))})", [row[c] for c in _COLUMNS])
        return changes

    def _append(self, listing: str, path: str) -> set[tuple[str, int]]:
        row = self.db.execute("SELECT next FROM listing WHERE listing = ?", (listing,)).fetchone()
        slot = row[0] if row else 0
        self.db.execute("INSERT OR REPLACE INTO listing (listing, next) VALUES (?, ?)", (listing, slot + 1))
        self.db.execute("INSERT INTO slot (listing, slot, path) VALUES (?, ?, ?)", (listing, slot, path))
        number = slot // PAGE_SIZE + 1
        if slot % PAGE_SIZE or number == 1:
            return {(listing, number)}
        # a new page: the newest page until now gains its link to it, and the one before that, whose link to the
        # newer page pointed at the listing's address (the newest page's), now points at that page's own file
        return {(listing, n) for n in (number, number - 1, number - 2) if n >= 1}

    def remove(self, path: str) -> Changes:
        old = self.get(path)
        if old is None:
            return Changes()
        changes = Changes(kinds={old["kind"]}, years={old["published_on"][:4]})
        for r in self.db.execute("SELECT listing, slot FROM slot WHERE path = ?", (path,)).fetchall():
            changes.pages.add((r["listing"], r["slot"] // PAGE_SIZE + 1))
        self.db.execute("DELETE FROM slot WHERE path = ?", (path,))
        self.db.execute("DELETE FROM entry WHERE path = ?", (path,))
        return changes

    def import_entries(self, entries: Iterable[dict[str, Any]]) -> Changes:
        """Entries of the JSON list older versions kept (.gongkai-entries.json), oldest first."""
        changes = Changes()
        for entry in sorted(entries, key=lambda e: (e["published_on"], e["index_no"])):
            metadata = entry.get("metadata") or {}
            changes.add(self.put({
                "kind": "other", "kind_name": "", "kind_clause": "", "summary": "",
                "doc_number": _doc_number(metadata), **entry, "metadata": metadata}))
        return changes


def _doc_number(metadata: dict[str, str]) -> str:
    number = metadata.get("文号", "")
    return "" if number in ("", "无") else number
