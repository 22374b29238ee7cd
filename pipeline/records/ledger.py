"""The ledger: rows written with their content hash, and net publication counts by agency, year, channel,
主题分类, 第二十条 kind and month.

A reversal (withdrawal) counts -1 on the day it happened, so every count is net. Years and months are
the Asia/Shanghai calendar (LedgerEntry.year and local_date are already local).
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from channels import REGISTRY
from pipeline.core.config import Settings
from pipeline.core.db import reserve_ids
from pipeline.core.models import Agency, EntryType, Item, LedgerEntry
from pipeline.records.audit import CONTENT_NAMES, content_hash

DIMENSIONS = ("channel", "category", "kind", "month", "department")

# what the narrative calls each kind of channel
CHANNEL_KIND_NAMES = {"portal": "门户网站", "wordpress": "门户网站", "disclosure": "政府信息公开目录",
                      "wechat": "微信公众号", "weibo": "政务微博", "webhook": "合作媒体"}


def net() -> Any:
    """+1 per publication, -1 per reversal: sum it for a net count."""
    return sa.case((LedgerEntry.entry_type == EntryType.REVERSAL, -1), else_=1)


def month_of() -> Any:
    return sa.extract("month", LedgerEntry.local_date)


def department_of() -> Any:
    """The 处室 of the item's author ("" for imported history, which names no author)."""
    return sa.func.coalesce(Item.department, sa.literal_column("''", sa.String))  # a literal: GROUP BY repeats it


# an imported row that the import merged into another row's publication keeps its own import key (the 47
# characters "import:" + 40 hex digits) and appends "~" and that publication's item key (ledger_merge.py)
OWN_KEY_LENGTH = 47
SAME_AS = "~"


def item_key() -> Any:
    """One publication across channels and revisions: the item, else its 索引号, else the publication an import
    merged the row into, else the imported row itself."""
    def tag(letter: str) -> Any:  # a literal, not a bound parameter: GROUP BY must repeat the same text
        return sa.literal_column(f"'{letter}'", sa.String)

    merged = LedgerEntry.import_key.like(sa.literal_column(f"'%{SAME_AS}%'", sa.String))
    return sa.case(
        (LedgerEntry.item_id.is_not(None), tag("i") + sa.cast(LedgerEntry.item_id, sa.String)),
        (LedgerEntry.index_no.is_not(None), tag("n") + LedgerEntry.index_no),
        (merged, sa.func.substr(LedgerEntry.import_key, sa.literal_column(str(OWN_KEY_LENGTH + 2), sa.Integer))),
        else_=tag("k") + sa.func.coalesce(LedgerEntry.import_key, sa.cast(LedgerEntry.id, sa.String)),
    )


def row_key(*, item_id: int | None, index_no: str | None, import_key: str | None, entry_id: int) -> str:
    """item_key() of one row, in Python."""
    if item_id is not None:
        return f"i{item_id}"
    if index_no is not None:
        return f"n{index_no}"
    if import_key is not None and SAME_AS in import_key:
        return import_key[OWN_KEY_LENGTH + 1:]
    return f"k{import_key if import_key is not None else entry_id}"


def count_ledger(session: Session, *, agency_ids: list[int], by: str,
                 year: int | None = None) -> list[dict[str, Any]]:
    """Net counts per (agency, year, `by`) in one grouped query; rows whose net is 0 are kept."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {DIMENSIONS}")
    dimension = {"month": month_of(), "department": department_of()}.get(by, getattr(LedgerEntry, by, None))
    query = (select(Agency.code, LedgerEntry.year, dimension.label(by), sa.func.sum(net()).label("count"))
             .join(Agency, Agency.id == LedgerEntry.agency_id)
             .where(LedgerEntry.agency_id.in_(agency_ids))
             .group_by(Agency.code, LedgerEntry.year, dimension)
             .order_by(Agency.code, LedgerEntry.year, dimension))
    if by == "department":
        query = query.outerjoin(Item, Item.id == LedgerEntry.item_id)
    if year is not None:
        query = query.where(LedgerEntry.year == year)
    return [{"agency": code, "year": y, by: int(value) if by == "month" else value, "count": int(count)}
            for code, y, value, count in session.exec(query).all()]


def channel_kind(settings: Settings, name: str) -> str:
    """The adapter kind of a channel: from its section, or the name itself for a channel no longer configured."""
    if name in settings.channels:
        return settings.channels[name].kind
    return name if name in REGISTRY else ""


def channel_label(settings: Settings, name: str) -> str:
    return CHANNEL_KIND_NAMES.get(channel_kind(settings, name), name)


def ledger_rows(session: Session, *, agency_id: int, year: int, where: Any = None) -> list[dict[str, Any]]:
    """The entries behind a number, for --explain: oldest first."""
    query = select(LedgerEntry).where(LedgerEntry.agency_id == agency_id, LedgerEntry.year == year)
    if where is not None:
        query = query.where(where)
    entries = session.exec(query.order_by(LedgerEntry.local_date, LedgerEntry.id)).all()
    return [{"entry": e.id, "type": str(e.entry_type), "date": e.local_date.isoformat(), "channel": e.channel,
             "category": e.category, "kind": e.kind, "index_no": e.index_no, "title": e.title,
             "item_id": e.item_id, "source": e.source} for e in entries]


def hashed(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger row to insert, with its content hash: every content column must be given (a default filled
    in by the INSERT would not be in the hash)."""
    try:
        values = [row[name] for name in CONTENT_NAMES]
    except KeyError as e:
        raise ValueError(f"ledger row without {e.args[0]}: every column must be given to hash it") from e
    return {**row, "content_hash": content_hash(values)}


def insert_ledger_entries(session: Session, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Insert ledger rows (each with its content hash) in order; returns their [id, content hash] for an event's
    details["ledger"]. Bulk imports COPY rows made by hashed() instead."""
    ledger = LedgerEntry.__table__
    rows = [hashed(row) for row in rows]
    for row, entry_id in zip(rows, reserve_ids(session, ledger, len(rows)), strict=True):
        row["id"] = entry_id
    session.execute(sa.insert(ledger), rows)
    return [[row["id"], row["content_hash"]] for row in rows]


def ledger_state_hashes(session: Session, *, agency_ids: list[int], year: int) -> dict[int, str]:
    """Per agency, the hash of its ledger rows of one year in id order, each as "id:content hash\n" with the
    content hash stored in the row: what an annual report was built from. Streamed in (agency_id, id) order,
    so that PostgreSQL walks the (agency_id, year) index."""
    digests = {agency_id: hashlib.sha256() for agency_id in agency_ids}
    ledger = LedgerEntry.__table__
    query = (select(ledger.c.agency_id, ledger.c.id, ledger.c.content_hash)
             .where(ledger.c.agency_id.in_(agency_ids), ledger.c.year == year)
             .order_by(ledger.c.agency_id, ledger.c.id).execution_options(yield_per=10_000))
    for agency_id, entry_id, digest in session.execute(query):
        digests[agency_id].update(f"{entry_id}:{digest}\n".encode())
    return {agency_id: digest.hexdigest() for agency_id, digest in digests.items()}
