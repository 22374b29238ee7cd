"""Review levels (先审后发), versioned per agency and optionally per item kind.

A change of levels is a new version; an item is reviewed under the set that was current when it was first
submitted (item.level_set_id), so a change applies to items submitted after it. An agency that never set its
levels has the default three (处室审核, 保密审查, 办公室审发), stored as version 1 on first use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.agencies import agency_row
from pipeline.core.catalogue import DEFAULT_LEVELS, KINDS
from pipeline.core.db import kept
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Item, ReviewLevelSet, Revision, Role
from pipeline.core.reader import reader_of
from pipeline.core.text import hidden_problem
from pipeline.records.audit import record_event
from pipeline.records.authority import require
from pipeline.records.level_sets import read_levels
from pipeline.records.people import Actor

REVIEW_ROLES = (Role.SECTION_HEAD, Role.SECRECY_OFFICER, Role.OFFICE_DIRECTOR, Role.LEGALITY_REVIEWER,
                Role.DISCLOSURE_OFFICE)


def _newest(session: Session, agency_id: int, kind: str | None) -> ReviewLevelSet | None:
    same_kind = ReviewLevelSet.kind.is_(None) if kind is None else ReviewLevelSet.kind == kind
    query = (select(ReviewLevelSet).where(ReviewLevelSet.agency_id == agency_id, same_kind)
             .order_by(ReviewLevelSet.version.desc()).limit(1))
    return session.exec(query).first()


def current_set(session: Session, *, agency_id: int, kind: str | None) -> ReviewLevelSet:
    """The set an item of `kind` submitted now is reviewed under (stores the default on first use)."""
    found = (_newest(session, agency_id, kind) if kind else None) or _newest(session, agency_id, None)
    if found is None:
        found = ReviewLevelSet(agency_id=agency_id, kind=None, version=1, levels=list(DEFAULT_LEVELS),
                               created_by="system")
        session.add(found)
        session.flush()
    return found


def levels_of(session: Session, item: Item) -> list[dict[str, str]]:
    """The levels an item passes, without writing (for views); a stored set is read once per unit of work."""
    def read() -> list[dict[str, str]]:
        return read_levels(reader_of(session), item_id=item.id, agency_id=item.agency_id,
                           level_set_id=item.level_set_id)

    if item.level_set_id is None:
        return read()
    return kept(session, ("levels", item.level_set_id), read)


def fix_set(session: Session, item: Item) -> ReviewLevelSet:
    """The item's set, fixed now when it has none yet (a new item, or one submitted before migration 0012)."""
    if item.level_set_id is None:
        item.level_set_id = current_set(session, agency_id=item.agency_id, kind=_kind(session, item)).id
        session.add(item)
    return session.get(ReviewLevelSet, item.level_set_id)


def _kind(session: Session, item: Item) -> str | None:
    return session.exec(select(Revision.kind).where(Revision.item_id == item.id).order_by(Revision.number)).first()


def parse_levels(specs: list[str]) -> list[dict[str, str]]:
    """NAME=ROLE, in order (e.g. 处室审核=section_head)."""
    levels = []
    for spec in specs:
        name, sep, role = spec.partition("=")
        if not sep or not name.strip() or not role.strip():
            raise GongkaiError(f"level '{spec}': write NAME=ROLE, e.g. 处室审核=section_head")
        if message := hidden_problem(name.strip()):
            raise GongkaiError(f"level name: {message}")
        levels.append({"name": name.strip(), "role": role.strip()})
    return levels


def check_levels(levels: list[dict[str, str]], *, kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise GongkaiError(f"unknown kind '{kind}'; known: {', '.join(KINDS)}")
    if not levels:
        raise GongkaiError("at least one review level is required (先审后发)")
    names = [level["name"] for level in levels]
    if len(set(names)) != len(names):
        raise GongkaiError("review level names must be unique")
    allowed = {r.value for r in REVIEW_ROLES}
    for level in levels:
        if level["role"] not in allowed:
            raise GongkaiError(f"level {level['name']}: role '{level['role']}' cannot pass a review level; "
                               f"roles: {', '.join(sorted(allowed))}")
        if len(level["name"]) > 64:
            raise GongkaiError(f"level {level['name'][:20]}…: a name has at most 64 characters")


def set_levels(session: Session, *, actor: Actor, agency_code: str, kind: str | None,
               levels: list[dict[str, str]], now: datetime) -> ReviewLevelSet:
    """A new version of the agency's levels (for `kind`, or for every kind); items already submitted keep theirs."""
    require(session, actor, Role.ADMIN, agency_code=agency_code, doing="change review levels")
    check_levels(levels, kind=kind)
    agency = agency_row(session, agency_code)
    if kind is None:
        current_set(session, agency_id=agency.id, kind=None)  # the default becomes version 1 of the history
    newest = _newest(session, agency.id, kind)
    row = ReviewLevelSet(agency_id=agency.id, kind=kind, version=(newest.version + 1) if newest else 1,
                         levels=[{"name": lv["name"], "role": lv["role"]} for lv in levels], created_at=now,
                         created_by=actor.label[:64])
    session.add(row)
    session.flush()
    record_event(session, actor=actor.label, action="levels_set", subject=f"level_set:{row.id}",
                 details={"agency": agency_code, "kind": kind, "version": row.version, "levels": row.levels},
                 now=now)
    return row


def show_levels(session: Session, *, agency_code: str) -> list[dict[str, Any]]:
    """The current set for every kind, plus each kind's own set where there is one, with its history size."""
    agency = agency_row(session, agency_code)
    kinds = sorted(set(session.exec(select(ReviewLevelSet.kind).where(ReviewLevelSet.agency_id == agency.id,
                                                                      ReviewLevelSet.kind.is_not(None)))))
    rows = []
    for kind in [None, *kinds]:
        found = _newest(session, agency.id, kind)
        versions = session.exec(select(sa.func.count()).select_from(ReviewLevelSet).where(
            ReviewLevelSet.agency_id == agency.id,
            ReviewLevelSet.kind.is_(None) if kind is None else ReviewLevelSet.kind == kind)).one()
        rows.append({"kind": kind, "version": found.version if found else 0,
                     "levels": found.levels if found else list(DEFAULT_LEVELS),
                     "created_by": found.created_by if found else "default",
                     "created_at": found.created_at.isoformat() if found else None, "versions": versions})
    return rows
