"""Read-only views through the ORM: the review queue, deliveries, channel health (item lists and pages: reading)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from pipeline.core.clock import beijing_today
from pipeline.core.errors import NotFound
from pipeline.core.models import (
    Attempt,
    AttemptOutcome,
    ChannelState,
    Delivery,
    DeliveryStatus,
    Item,
    ItemStatus,
    Person,
    ReviewLevelSet,
    Revision,
)
from pipeline.records.office_calendar import load_calendar
from pipeline.records.timeliness import revision_deadline
from pipeline.records.workdays import WorkCalendar


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def list_deliveries(session: Session, *, agency_id: int, failed_only: bool, limit: int = 500) -> list[dict[str, Any]]:
    """Unpublished deliveries of an agency (or only dead letters and unknown outcomes), oldest first."""
    wanted = [DeliveryStatus.DEAD, DeliveryStatus.UNKNOWN]
    if not failed_only:
        wanted += [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRY_WAIT]
    query = (select(Delivery).join(Item, Item.id == Delivery.item_id)
             .where(Item.agency_id == agency_id, Delivery.status.in_(wanted)).order_by(Delivery.id).limit(limit))
    flagged = select(Delivery).join(Item, Item.id == Delivery.item_id).where(
        Item.agency_id == agency_id, Delivery.manual_action.is_not(None))
    rows = {d.id: d for d in session.exec(query)} | {d.id: d for d in session.exec(flagged)}
    return [_delivery_row(d) for d in sorted(rows.values(), key=lambda d: d.id)]


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "item_id": d.item_id, "revision": d.revision, "channel": d.channel, "status": str(d.status),
            "attempts": d.attempts, "next_attempt_at": _iso(d.next_attempt_at), "last_error": d.last_error,
            "manual_action": d.manual_action}


# tries that may have reached the channel (not deferrals, replays, refusals before sending or rate-limit waits)
SENDING_TRIES = (AttemptOutcome.SENDING, AttemptOutcome.PUBLISHED, AttemptOutcome.PERMANENT,
                 AttemptOutcome.TRANSIENT, AttemptOutcome.UNKNOWN, AttemptOutcome.LOOKUP_FAILED)


def list_resent(session: Session, *, agency_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """Deliveries of an agency tried more than once in a way that may have reached the channel: a receiver may
    have had them more than once (a webhook partner deduplicates on the webhook-id), newest first."""
    tries = (select(Attempt.delivery_id, sa.func.count().label("tries")).where(Attempt.outcome.in_(SENDING_TRIES))
             .group_by(Attempt.delivery_id).having(sa.func.count() > 1).subquery())
    query = (select(Delivery).join(tries, tries.c.delivery_id == Delivery.id).join(Item, Item.id == Delivery.item_id)
             .where(Item.agency_id == agency_id).order_by(Delivery.id.desc()).limit(limit))
    return [_delivery_row(d) for d in session.exec(query)]


def check_delivery_agency(session: Session, *, delivery_id: int, agency_id: int) -> None:
    found = session.exec(select(Item.agency_id).join(Delivery, Delivery.item_id == Item.id)
                         .where(Delivery.id == delivery_id)).first()
    if found != agency_id:
        raise NotFound(f"no delivery {delivery_id} in this agency")


@dataclass(frozen=True)
class Waiting:
    """An item waiting for a review decision, or one of the person's own items."""

    id: int
    title: str
    status: str
    level: str | None              # the level it waits at
    revision: int
    author: str
    since: datetime                # when the current revision was submitted
    index_no: str | None
    days_left: int | None = None   # 第二十六条 working days left (negative: late) while unpublished; None: unknown
    provisional: bool = False      # days_left counted without 调休 somewhere (workdays.provisional_note)


# what a to-do row shows: columns, not whole rows (a revision's body can be a megabyte)
_WAITING = (Item.id, Revision.title, Item.status, Item.level_set_id, Item.current_level, Item.current_revision,
            Item.author, Revision.submitted_at, Item.index_no, Revision.number, Revision.created_on)


def review_queue(session: Session, *, agency_id: int, roles: frozenset[str], login: str,
                 limit: int = 200) -> list[Waiting]:
    """Items waiting at a level whose role the person holds (by the level set each item is reviewed under),
    oldest item first (in the order of first submission: its 第二十六条 clock runs from before that, whatever
    revision it is at); not those they wrote. Whether they may decide is still checked by review_item. Read in
    the order of the index ix_item_review_queue, so a page costs the same at a million items."""
    sets = session.exec(select(ReviewLevelSet).where(ReviewLevelSet.agency_id == agency_id)
                        .order_by(ReviewLevelSet.version)).all()
    default = next((s for s in reversed(sets) if s.kind is None), None)
    wanted = []
    for level_set in sets:
        mine = [number for number, level in enumerate(level_set.levels) if level["role"] in roles]
        if mine:
            same_set = Item.level_set_id == level_set.id
            if level_set is default:  # items submitted before migration 0012 have no set yet: the default's
                same_set = same_set | Item.level_set_id.is_(None)
            wanted.append(same_set & Item.current_level.in_(mine))
    if not wanted:
        return []
    query = (select(*_WAITING).join(Revision, (Revision.item_id == Item.id)
                                     & (Revision.number == Item.current_revision))
             .where(Item.agency_id == agency_id, Item.status == ItemStatus.SUBMITTED, Item.author != login,
                    sa.or_(*wanted))
             .order_by(Item.id).limit(limit))
    levels = {s.id: s.levels for s in sets} | {None: default.levels if default else []}
    calendar, today = load_calendar(session), beijing_today()
    return [_waiting(row, levels, calendar, today) for row in session.exec(query).all()]


def authored(session: Session, *, agency_id: int, login: str, limit: int = 50) -> list[Waiting]:
    """The person's own items, newest first."""
    query = (select(*_WAITING).join(Revision, (Revision.item_id == Item.id)
                                     & (Revision.number == Item.current_revision))
             .where(Item.agency_id == agency_id, Item.author == login).order_by(Item.id.desc()).limit(limit))
    rows = session.exec(query).all()
    sets = {row.level_set_id for row in rows}
    levels = {s.id: s.levels for s in session.exec(select(ReviewLevelSet).where(ReviewLevelSet.id.in_(
        [i for i in sets if i is not None])))} if sets - {None} else {}
    if None in sets:  # before migration 0012: the agency's current default set
        default = session.exec(select(ReviewLevelSet).where(ReviewLevelSet.agency_id == agency_id,
                                                            ReviewLevelSet.kind.is_(None))
                               .order_by(ReviewLevelSet.version.desc())).first()
        levels[None] = default.levels if default else []
    calendar, today = load_calendar(session), beijing_today()
    return [_waiting(row, levels, calendar, today) for row in rows]


def _waiting(row: Any, levels: dict[int | None, list[dict[str, str]]], calendar: WorkCalendar | None = None,
             today: date | None = None) -> Waiting:
    level, deadline = None, None
    if row.status == ItemStatus.SUBMITTED and levels.get(row.level_set_id):
        steps = levels[row.level_set_id]
        level = steps[min(row.current_level, len(steps) - 1)]["name"]
    if calendar is not None and today is not None and row.status in (ItemStatus.SUBMITTED, ItemStatus.REJECTED):
        found = revision_deadline(row, on=today, calendar=calendar)  # the row has the revision's dates
        deadline = None if found is None else found.view()
    return Waiting(row.id, row.title, str(row.status), level, row.current_revision, row.author, row.submitted_at,
                   row.index_no, deadline["days_left"] if deadline else None,
                   bool(deadline and deadline["provisional"]))


@dataclass(frozen=True)
class ChannelHealth:
    channel: str
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str
    waiting: int                   # pending, sending, waiting to retry, or in doubt and being looked up
    failed: int                    # dead letters, and unknown outcomes a person is asked to settle
    paused: str = ""               # why the channel is paused after a failed check ('' if it is not)


def paused_channels(session: Session) -> dict[str, str]:
    """The channels paused after a failed check (gongkai channels check, or the engine's), and why."""
    return dict(session.exec(select(ChannelState.name, ChannelState.reason).where(ChannelState.paused)
                             .order_by(ChannelState.name)).all())


FAILED_TRIES = (AttemptOutcome.PERMANENT, AttemptOutcome.TRANSIENT, AttemptOutcome.RATE_LIMITED,
                AttemptOutcome.LOOKUP_FAILED, AttemptOutcome.UNKNOWN)


def channel_health(session: Session, *, agency_id: int) -> list[ChannelHealth]:
    """Per channel the agency's deliveries went to: when it last confirmed one, its last failed try, and how
    many deliveries wait or failed (the queue's depth as this agency sees it)."""
    join = (Attempt.delivery_id == Delivery.id)
    mine = Delivery.item_id.in_(select(Item.id).where(Item.agency_id == agency_id))
    published = (select(Delivery.channel, sa.func.max(Attempt.finished_at)).join(Attempt, join)
                 .where(mine, Attempt.outcome == AttemptOutcome.PUBLISHED).group_by(Delivery.channel))
    success = dict(session.exec(published).all())
    errors: dict[str, tuple[datetime, str]] = {}
    failed_tries = (select(Delivery.channel, Attempt.finished_at, Attempt.detail).join(Attempt, join)
                    .where(mine, Attempt.outcome.in_(FAILED_TRIES), Attempt.finished_at.is_not(None))
                    .order_by(Attempt.id.desc()).limit(500))
    for channel, at, detail in session.exec(failed_tries).all():
        errors.setdefault(channel, (at, detail))
    asked = Delivery.manual_action.is_not(None)  # an unknown outcome still being looked up is not asked of anyone
    counts = session.exec(select(Delivery.channel, Delivery.status, asked, sa.func.count()).where(mine)
                          .group_by(Delivery.channel, Delivery.status, asked)).all()
    waiting: dict[str, int] = {}
    failed: dict[str, int] = {}
    for channel, status, for_a_person, count in counts:
        if status == DeliveryStatus.DEAD or (status == DeliveryStatus.UNKNOWN and for_a_person):
            failed[channel] = failed.get(channel, 0) + count
        elif status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRY_WAIT,
                        DeliveryStatus.UNKNOWN):
            waiting[channel] = waiting.get(channel, 0) + count
    names = sorted({c for c, _, _, _ in counts})
    paused = paused_channels(session)
    return [ChannelHealth(c, success.get(c), errors.get(c, (None, ""))[0], errors.get(c, (None, ""))[1],
                          waiting.get(c, 0), failed.get(c, 0), paused.get(c, "")) for c in names]


def names_of(session: Session, logins: set[str]) -> dict[str, str]:
    """姓名 by login, for the people an item page names."""
    if not logins:
        return {}
    return dict(session.exec(select(Person.login, Person.name).where(Person.login.in_(sorted(logins)))).all())
