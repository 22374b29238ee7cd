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
CREATE TABLE IF NOT EXISTS listing (listing TEXT PRIMARY KEY, next INTEGER NOT NULL, count INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '', clause TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS month (month TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS page (listing TEXT NOT NULL, number INTEGER NOT NULL, count INTEGER NOT NULL,
    first TEXT, last TEXT, PRIMARY KEY (listing, number));
"""
_COLUMNS = ("path", "seq", "key", "url", "title", "index_no", "doc_number", "category", "kind", "kind_name",
            "kind_clause", "published_on", "summary", "metadata")
_ORDER = "ORDER BY published_on DESC, seq DESC"


def listings_of(entry: dict[str, Any]) -> set[str]:
    return {f"category:{entry['category']}", f"kind:{entry['kind']}", f"year:{entry['published_on'][:4]}"}


@dataclass
class Changes:
    """What a change of the entry list touched: the pages to rewrite, the search files (by month), the kinds."""

    pages: set[tuple[str, int]] = field(default_factory=set)   # (listing, page number from 1)
    months: set[str] = field(default_factory=set)              # YYYY-MM
    kinds: set[str] = field(default_factory=set)

    def add(self, other: Changes) -> None:
        self.pages |= other.pages
        self.months |= other.months
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
        """Undo the block's changes (nothing to undo when the commit itself failed)."""
        if self.db.in_transaction:
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
        return self.db.execute("SELECT coalesce(sum(count), 0) FROM month").fetchone()[0]

    def newest(self, limit: int, *, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM entry {'WHERE ' + where if where else ''} {_ORDER} LIMIT ?"  # noqa: S608 (fixed text)
        return [self._entry(r) for r in self.db.execute(sql, (*args, limit))]

    def counts(self, dimension: str) -> list[sqlite3.Row]:
        """(value, count, name, clause) per non-empty listing of a dimension: categories and kinds in the order
        they first appeared (a site knows nothing of the catalogue's configured order), years newest first."""
        order = "listing DESC" if dimension == "year" else "rowid"
        return self.db.execute(f"SELECT substr(listing, ?) AS value, count, name, clause FROM listing "  # noqa: S608
                               f"WHERE listing >= ? AND listing < ? AND count > 0 ORDER BY {order}",
                               (len(dimension) + 2, f"{dimension}:", f"{dimension};")).fetchall()

    def months(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT month FROM month WHERE count > 0 ORDER BY month DESC")]

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
        """Per page of a listing, newest first: its number, count and first and last dates (pages emptied by
        withdrawals are left out). Kept by refresh_pages()."""
        return self.db.execute("SELECT number, count, first, last FROM page WHERE listing = ? AND count > 0 "
                               "ORDER BY number DESC", (listing,)).fetchall()

    def refresh_pages(self, pages: Iterable[tuple[str, int]]) -> None:
        """Recount the pages a change touched (at most PAGE_SIZE entries each)."""
        for listing, number in pages:
            self.db.execute(
                "INSERT OR REPLACE INTO page (listing, number, count, first, last) SELECT ?, ?, count(*), "
                "min(e.published_on), max(e.published_on) FROM slot s JOIN entry e ON e.path = s.path "
                "WHERE s.listing = ? AND s.slot >= ? AND s.slot < ?",
                (listing, number, listing, (number - 1) * PAGE_SIZE, number * PAGE_SIZE))

    def month_entries(self, month: str) -> Iterator[sqlite3.Row]:
        return self.db.execute("SELECT path, title, doc_number, index_no, published_on, category FROM entry "
                               f"WHERE published_on >= ? AND published_on < ? {_ORDER}", (month, f"{month}-~"))

    # --- changing ----------------------------------------------------------------------------------------------
    def put(self, entry: dict[str, Any]) -> Changes:
        """Add or replace the entry at entry['path'] (a new revision, or the same one again)."""
        changes = Changes(kinds={entry["kind"]}, months={entry["published_on"][:7]})
        old = self.get(entry["path"])
        wanted = listings_of(entry)
        if old is None:
            seq = self.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM entry").fetchone()[0]
        else:
            seq = old["seq"]
            changes.kinds.add(old["kind"])
            changes.months.add(old["published_on"][:7])
            self._count_month(old["published_on"][:7], -1)
        self._count_month(entry["published_on"][:7], +1)
        held = {r["listing"]: r["slot"] for r in
                self.db.execute("SELECT listing, slot FROM slot WHERE path = ?", (entry["path"],))}
        for listing, slot in held.items():
            changes.pages.add((listing, slot // PAGE_SIZE + 1))  # its line changes, or it leaves the page
            if listing not in wanted:
                self.db.execute("DELETE FROM slot WHERE listing = ? AND slot = ?", (listing, slot))
                self.db.execute("UPDATE listing SET count = count - 1 WHERE listing = ?", (listing,))
        for listing in wanted - held.keys():
            changes.pages |= self._append(listing, entry["path"])
        self.db.execute("UPDATE listing SET name = ?, clause = ? WHERE listing = ?",
                        (entry["kind_name"], entry["kind_clause"], f"kind:{entry['kind']}"))
        row = {**entry, "seq": seq, "metadata": json.dumps(entry["metadata"], ensure_ascii=False)}
        self.db.execute(f"INSERT OR REPLACE INTO entry ({', '.join(_COLUMNS)}) "  # noqa: S608 (fixed text)
                        f"VALUES ({', '.join('?' * len(_COLUMNS))})", [row[c] for c in _COLUMNS])
        return changes

    def _append(self, listing: str, path: str) -> set[tuple[str, int]]:
        row = self.db.execute("SELECT next FROM listing WHERE listing = ?", (listing,)).fetchone()
        slot = row[0] if row else 0
        self.db.execute("INSERT INTO listing (listing, next, count) VALUES (?, 1, 1) ON CONFLICT (listing) "
                        "DO UPDATE SET next = next + 1, count = count + 1", (listing,))
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
        changes = Changes(kinds={old["kind"]}, months={old["published_on"][:7]})
        self._count_month(old["published_on"][:7], -1)
        for r in self.db.execute("SELECT listing, slot FROM slot WHERE path = ?", (path,)).fetchall():
            changes.pages.add((r["listing"], r["slot"] // PAGE_SIZE + 1))
            self.db.execute("UPDATE listing SET count = count - 1 WHERE listing = ?", (r["listing"],))
        self.db.execute("DELETE FROM slot WHERE path = ?", (path,))
        self.db.execute("DELETE FROM entry WHERE path = ?", (path,))
        return changes

    def _count_month(self, month: str, step: int) -> None:
        self.db.execute("INSERT INTO month (month, count) VALUES (?, ?) ON CONFLICT (month) "
                        "DO UPDATE SET count = count + ?", (month, step, step))

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
