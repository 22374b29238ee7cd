"""What `gongkai list` and `gongkai show` print and the console's item pages show: plain dicts, ready for JSON,
read with plain SQL through a pipeline.core.reader.Reader, so that the two commands start without a database
library (issue 17) and the console shows the same views through its unit of work's connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pipeline.core.clock import beijing_today, utcnow
from pipeline.core.errors import ConfigError, NotFound
from pipeline.core.reader import Reader, day, instant, json_value
from pipeline.core.status import DeliveryStatus, ItemStatus
from pipeline.records.level_sets import read_levels
from pipeline.records.timeliness import revision_deadline
from pipeline.records.workdays import WorkCalendar, read_calendar

_ITEM = ("i.id, i.agency_id, i.ref, i.author, i.department, i.status, i.current_level, i.current_revision, "
         "i.approved_revision, i.index_no, i.level_set_id, i.withdrawn_at, i.withdraw_reason")
_DELIVERY = ("id, item_id, revision, channel, status, attempts, next_attempt_at, remote_id, url, last_error, "
             "manual_action")


@dataclass(frozen=True)
class _Formed:
    """What the 第二十六条 rule reads of a revision (pipeline.records.timeliness.Formed)."""

    number: int
    created_on: date
    submitted_at: datetime


def agency_id(db: Reader, code: str) -> int:
    """The database row of a configured agency (pipeline.core.agencies.agency_row, read without the ORM)."""
    row = db.first("SELECT id FROM agency WHERE code = :code", code=code)
    if row is None:
        raise ConfigError(f"agency '{code}' has no database row; run gongkai init")
    return int(row["id"])


def list_items(db: Reader, *, agency_id: int, status: ItemStatus | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """Newest first: id, title, state, next review level, 索引号, per-channel delivery states, deadline."""
    rows = db.all(f"SELECT {_ITEM}, r.number, r.title, r.created_on, r.submitted_at, r.publish_at "
                  "FROM item i JOIN item_revision r ON r.item_id = i.id AND r.number = i.current_revision "
                  "WHERE i.agency_id = :agency" + (" AND i.status = :status" if status else "")
                  + " ORDER BY i.id DESC LIMIT :limit", agency=agency_id, status=str(status), limit=limit)
    deliveries = _deliveries(db, [row["id"] for row in rows])
    now, calendar, today = utcnow(), read_calendar(db), beijing_today()
    levels: dict[int, list[dict[str, str]]] = {}
    result: list[dict[str, Any]] = []
    for row in rows:
        mine = [d for d in deliveries if d["item_id"] == row["id"] and d["revision"] == row["approved_revision"]]
        overdue = [d["channel"] for d in mine if d["status"] == DeliveryStatus.PENDING and d["next_attempt_at"]
                   and instant(d["next_attempt_at"]) < now and row["publish_at"]]
        result.append({
            "id": row["id"], "ref": row["ref"], "title": row["title"], "status": row["status"],
            "awaiting": _awaiting(db, row, levels), "revision": row["current_revision"], "author": row["author"],
            "index_no": row["index_no"], "publish_at": _iso(row["publish_at"]),
            "channels": {d["channel"]: d["status"] for d in mine}, "overdue": overdue,
            "deadline": _deadline(row, calendar, today),
        })
    return result


def show_item(db: Reader, *, item_id: int, agency_id: int) -> dict[str, Any]:
    """Everything about one item: revisions, every review decision, deliveries with their attempts."""
    item = db.first(f"SELECT {_ITEM} FROM item i WHERE i.id = :id", id=item_id)
    if item is None or item["agency_id"] != agency_id:
        raise NotFound(f"no item {item_id} in this agency")
    revisions = db.all("SELECT number, title, category, kind, channels, publisher, doc_number, created_on, "
                       "publish_at, submitted_by, submitted_at, source FROM item_revision WHERE item_id = :id "
                       "ORDER BY number", id=item_id)
    decisions = db.all("SELECT revision, level_name, reviewer, acted_by, decision, comment, late_reason, decided_at "
                       "FROM review_decision WHERE item_id = :id ORDER BY id", id=item_id)
    deliveries = _deliveries(db, [item_id])
    attempts = db.all("SELECT delivery_id, number, outcome, started_at, duration_ms, detail FROM attempt "
                      "WHERE delivery_id IN (:ids) ORDER BY id", ids=[d["id"] for d in deliveries])
    current = revisions[-1]
    return {
        "id": item["id"], "ref": item["ref"], "status": item["status"], "awaiting": _awaiting(db, item, {}),
        "levels": [level["name"] for level in _levels(db, item, {})],
        "author": item["author"], "department": item["department"], "index_no": item["index_no"],
        "revision": item["current_revision"], "approved_revision": item["approved_revision"],
        "title": current["title"], "category": current["category"], "kind": current["kind"],
        "channels": json_value(current["channels"]), "publisher": current["publisher"],
        "doc_number": current["doc_number"], "created_on": day(current["created_on"]).isoformat(),
        "publish_at": _iso(current["publish_at"]), "withdrawn_at": _iso(item["withdrawn_at"]),
        "withdraw_reason": item["withdraw_reason"],
        "deadline": _deadline({**item, **current}, read_calendar(db), beijing_today()),
        "revisions": [{"number": r["number"], "title": r["title"], "submitted_by": r["submitted_by"],
                       "submitted_at": _iso(r["submitted_at"]), "source": r["source"]} for r in revisions],
        "decisions": [{"revision": d["revision"], "level": d["level_name"], "reviewer": d["reviewer"],
                       "acted_by": d["acted_by"], "decision": d["decision"], "comment": d["comment"],
                       "late_reason": d["late_reason"], "at": _iso(d["decided_at"])} for d in decisions],
        "deliveries": [{
            "id": d["id"], "revision": d["revision"], "channel": d["channel"], "status": d["status"],
            "attempts": d["attempts"], "next_attempt_at": _iso(d["next_attempt_at"]), "remote_id": d["remote_id"],
            "url": d["url"], "last_error": d["last_error"], "manual_action": d["manual_action"],
            "tries": [{"number": a["number"], "outcome": a["outcome"], "at": _iso(a["started_at"]),
                       "duration_ms": a["duration_ms"], "detail": a["detail"]}
                      for a in attempts if a["delivery_id"] == d["id"]],
        } for d in deliveries],
    }


def _deliveries(db: Reader, item_ids: list[int]) -> list[dict[str, Any]]:
    if not item_ids:
        return []
    return db.all(f"SELECT {_DELIVERY} FROM delivery WHERE item_id IN (:ids) ORDER BY item_id, revision, id",
                  ids=item_ids)


def _levels(db: Reader, item: dict[str, Any], cache: dict[int, list[dict[str, str]]]) -> list[dict[str, str]]:
    """The levels of the set the item is reviewed under, each stored set read once."""
    set_id = item["level_set_id"]
    if set_id is not None and set_id in cache:
        return cache[set_id]
    found = read_levels(db, item_id=item["id"], agency_id=item["agency_id"], level_set_id=set_id)
    if set_id is not None:
        cache[set_id] = found
    return found


def _awaiting(db: Reader, item: dict[str, Any], cache: dict[int, list[dict[str, str]]]) -> str | None:
    """The level the item waits for (None unless it is in review)."""
    if item["status"] != ItemStatus.SUBMITTED:
        return None
    levels = _levels(db, item, cache)
    return levels[min(item["current_level"], len(levels) - 1)]["name"]


def _deadline(row: dict[str, Any], calendar: WorkCalendar, today: date) -> dict[str, Any] | None:
    """第二十六条 for an item not yet published (None once approved or withdrawn, or when the calendar cannot tell)."""
    if row["status"] not in (ItemStatus.SUBMITTED, ItemStatus.REJECTED):
        return None
    formed = _Formed(row["number"], day(row["created_on"]), instant(row["submitted_at"]))
    found = revision_deadline(formed, on=today, calendar=calendar)
    return None if found is None else found.view()


def _iso(value: datetime | str | None) -> str | None:
    found = instant(value)
    return found.isoformat() if found else None
