"""The review levels an item passes, read with plain SQL (pipeline.core.reader) so that `gongkai list` and `show`
name the level an item waits at without a database library; pipeline.records.levels.levels_of reads them through
the same function inside a unit of work."""

from __future__ import annotations

from typing import Any

from pipeline.core.catalogue import DEFAULT_LEVELS
from pipeline.core.reader import Reader, json_value

_NEWEST = ("SELECT levels FROM review_level_set WHERE agency_id = :agency AND {kind} "
           "ORDER BY version DESC LIMIT 1")


def read_levels(db: Reader, *, item_id: int, agency_id: int, level_set_id: int | None) -> list[dict[str, str]]:
    """The levels of the set the item is reviewed under; an item submitted before migration 0012 has none fixed
    yet: the agency's newest set for the kind of its first revision, else its newest default set, else the
    default levels."""
    if level_set_id is not None:  # a set never changes once stored: a new version is a new row
        row: dict[str, Any] | None = db.first("SELECT levels FROM review_level_set WHERE id = :id", id=level_set_id)
    else:
        first = db.first("SELECT kind FROM item_revision WHERE item_id = :item ORDER BY number LIMIT 1", item=item_id)
        row = first and db.first(_NEWEST.format(kind="kind = :kind"), agency=agency_id, kind=first["kind"])
        row = row or db.first(_NEWEST.format(kind="kind IS NULL"), agency=agency_id)
    return json_value(row["levels"]) if row else list(DEFAULT_LEVELS)
