"""Imported history counted once: the rows of one publication on several channels become one item.

A history file lists each channel's publications separately, and a WeChat or Weibo post carries no 索引号
although the portal's page of the same document has one. Rows without a 索引号 are matched to the other rows
of their publication by title, Beijing date and kind:

1. Rows with the same title, date and kind are lined up per channel in file order; the n-th row of each
   channel is one publication (two identical rows on one channel are two publications, as the import keys
   say).
2. If the publication's rows carry one 索引号, the rows without one join it; if they carry two or more, they
   are different documents with the same title and nothing is merged.
3. If they carry none, the first row in the file leads, unless the ledger already holds the publication on
   another channel (an earlier import, or gongkai's own publication): then the rows join that one.
4. A joined row keeps its own import key (so a second import still finds it) and appends "~" and the item
   key of the publication it joined (ledger.item_key), inside the row's content hash.

Rows imported earlier are never changed: a 索引号 row imported after its WeChat twin is not merged with it
(import the rows with a 索引号 first, or in the same file).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, select

from pipeline.core.models import EntryType, LedgerEntry
from pipeline.records.ledger import SAME_AS, row_key

Match = tuple[str, str, date]  # title, kind, Beijing date


@dataclass(frozen=True)
class Merge:
    """One imported row counted as part of another row's publication."""

    line: int
    channel: str
    into: str        # "line N" of the file, or "entry N" of the ledger
    publication: str  # the item key they share (ledger.item_key)


@dataclass(slots=True)
class _Row:
    line: int
    key: str
    entry: dict[str, Any]


def merge_publications(session: Session, *, agency_id: int, rows: list[tuple[int, str, dict[str, Any]]]
                       ) -> list[Merge]:
    """Set the import key of each row that joins another row's publication; `rows` are (line, own import key,
    entry) of the rows about to be inserted, in file order. Only a row without a 索引号 can join, so only the
    titles, dates and kinds of such rows are looked at (a history of a million rows with 索引号 costs one pass)."""
    loose = {(e["title"], e["kind"], e["local_date"]) for _, _, e in rows if not e["index_no"]}
    if not loose:
        return []
    groups: dict[Match, dict[str, list[_Row]]] = {}
    for line, key, entry in rows:
        match = (entry["title"], entry["kind"], entry["local_date"])
        if match in loose:
            groups.setdefault(match, {}).setdefault(entry["channel"], []).append(_Row(line, key, entry))
    publications = [(match, _nth(by_channel, n)) for match, by_channel in groups.items()
                    for n in range(max(map(len, by_channel.values())))]
    unnumbered = {match for match, members in publications if not any(m.entry["index_no"] for m in members)}
    earlier = _ledger_publications(session, agency_id, unnumbered)
    merges: list[Merge] = []
    for match, members in publications:
        merges += _join(members, earlier.get(match, []))
    return sorted(merges, key=lambda m: m.line)


def _nth(by_channel: dict[str, list[_Row]], n: int) -> list[_Row]:
    """The n-th row of each channel, in file order."""
    members = [rows[n] for rows in by_channel.values() if n < len(rows)]
    return members if len(members) == 1 else sorted(members, key=lambda row: row.line)


def _join(members: list[_Row], earlier: list[tuple[int, str, str]]) -> list[Merge]:
    """Point the rows without a 索引号 at their publication (rule 2 or 3 of the module's docstring)."""
    numbers = {m.entry["index_no"] for m in members if m.entry["index_no"]}
    if len(numbers) > 1:
        return []
    if numbers:
        lead = next(m for m in members if m.entry["index_no"])
        into, publication = f"line {lead.line}", f"n{lead.entry['index_no']}"
    else:
        channels = {m.entry["channel"] for m in members}
        others = {(entry_id, key) for entry_id, channel, key in earlier if channel not in channels}
        if len({key for _, key in others}) == 1:
            entry_id, publication = min(others)
            lead, into = None, f"entry {entry_id}"
        elif len(members) > 1:
            lead = members[0]
            into, publication = f"line {lead.line}", f"k{lead.key}"
        else:
            return []
    merges = []
    for member in members:
        if member is lead or member.entry["index_no"]:
            continue
        member.entry["import_key"] = f"{member.key}{SAME_AS}{publication}"
        merges.append(Merge(member.line, member.entry["channel"], into, publication))
    return merges


def _ledger_publications(session: Session, agency_id: int,
                         matches: set[Match]) -> dict[Match, list[tuple[int, str, str]]]:
    """(entry id, channel, item key) of the ledger's publications with a title, date and kind in `matches`:
    one query over the years and kinds concerned (an empty ledger answers at once)."""
    if not matches:
        return {}
    years = sorted({day.year for _, _, day in matches})
    kinds = sorted({kind for _, kind, _ in matches})
    e = LedgerEntry
    query = (select(e.id, e.channel, e.title, e.kind, e.local_date, e.item_id, e.index_no, e.import_key)
             .where(e.agency_id == agency_id, e.year.in_(years), e.kind.in_(kinds),
                    e.entry_type == EntryType.PUBLICATION).order_by(e.id))
    found: dict[Match, list[tuple[int, str, str]]] = {}
    for entry_id, channel, title, kind, day, item_id, index_no, import_key in session.exec(query):
        if (title, kind, day) in matches:
            key = row_key(item_id=item_id, index_no=index_no, import_key=import_key, entry_id=entry_id)
            found.setdefault((title, kind, day), []).append((entry_id, channel, key))
    return found
