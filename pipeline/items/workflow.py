"""Submission and multi-level review (先审后发): who may do what, recorded once and kept."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from channels import ContentRejected
from pipeline.core.adapters import ChannelSet
from pipeline.core.agencies import agency_row
from pipeline.core.clock import SHANGHAI, beijing_today
from pipeline.core.config import AgencySettings, Settings
from pipeline.core.errors import InputRejected, NotFound, Problem, WorkflowRefused
from pipeline.core.models import (
    Agency,
    Attempt,
    AttemptOutcome,
    Decision,
    Delivery,
    DeliveryStatus,
    IndexCounter,
    Item,
    ItemStatus,
    ReviewDecision,
    Revision,
    utcnow,
)
from pipeline.core.states import move_delivery, move_item
from pipeline.items.attachments import file_digest, store_file
from pipeline.items.compose import compose_message, submitted_html
from pipeline.items.itemfile import ItemRecord, local_datetime
from pipeline.records.audit import record_event

AUTHOR_ROLE = "author"


@dataclass(frozen=True)
class Submitted:
    item_id: int
    revision: int
    title: str
    source: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reviewed:
    item_id: int
    level_name: str
    decision: Decision
    status: ItemStatus
    next_level: str | None
    index_no: str | None


def submit_items(session: Session, *, settings: Settings, agency_code: str, actor: str,
                 records: list[ItemRecord], problems: list[Problem] | None = None,
                 today: date | None = None) -> list[Submitted]:
    """Create items (or new revisions of items whose id exists); all or nothing.

    `problems` found while reading the files are reported together with those found here.
    """
    agency = settings.agencies[agency_code]
    _require_role(agency_code, agency, actor, AUTHOR_ROLE, "submit items")
    row = agency_row(session, agency_code)
    today = today or beijing_today()
    problems = list(problems or []) + [p for r in records for p in _check_record(r, settings, agency, today)]
    existing = _items_by_ref(session, row.id, [r.spec.id for r in records if r.spec.id])
    known_refs = {r.spec.id for r in records if r.spec.id} | set(existing)
    for record in records:
        target = existing.get(record.spec.id or "")
        if target is not None:
            problems.extend(_check_revision(session, record, target, actor))
        if record.spec.interprets and not _document_exists(session, row.id, record.spec.interprets, known_refs):
            problems.append(record.problem("interprets", f"no item with id or 索引号 '{record.spec.interprets}'"))
    if problems:
        raise InputRejected(sorted(problems, key=lambda p: (p.file, p.line)))
    done = [_store(session, row, agency, actor, record, existing.get(record.spec.id or ""),
                   settings.items.attachments_dir) for record in records]
    problems = [p for record, stored in zip(records, done, strict=True)
                for p in _channel_problems(session, settings, record, stored)]
    if problems:  # the transaction rolls back: nothing is written
        raise InputRejected(problems)
    for stored in done:
        record_event(session, actor=actor, action="submit", subject=f"item:{stored.item_id}",
                     details={"revision": stored.revision, "title": stored.title, "source": stored.source},
                     now=utcnow())
    return done


def _channel_problems(session: Session, settings: Settings, record: ItemRecord, stored: Submitted) -> list[Problem]:
    """What each channel would refuse (title too long for WeChat, a Weibo post over 140 characters …),
    found now rather than after three review levels. Nothing is sent."""
    channels = ChannelSet(settings)
    problems = []
    for name in stored.channels:
        message = compose_message(session, settings, item_id=stored.item_id, revision=stored.revision,
                                  channel=name, approved_at=utcnow(), idempotency_key=f"check:{name}")
        try:
            channels.get(name).check(message)
        except ContentRejected as e:
            problems.append(record.problem("channels", e.message))
    return problems


def _check_record(record: ItemRecord, settings: Settings, agency: AgencySettings, today: date) -> list[Problem]:
    spec, problems = record.spec, []
    categories = agency.categories or settings.catalogue.categories
    if spec.category not in categories:
        problems.append(record.problem("category", f"unknown 主题分类 '{spec.category}'; configured: "
                                                   f"{', '.join(categories)}"))
    if spec.kind not in settings.catalogue.kinds:
        problems.append(record.problem("kind", f"unknown kind '{spec.kind}'; configured: "
                                               f"{', '.join(settings.catalogue.kinds)}"))
    channels = agency.item_channels if spec.channels is None else spec.channels
    if not channels:
        problems.append(record.problem("channels", "names no channel"))
    for name in channels:
        section = settings.channels.get(name)
        if name not in agency.channels or section is None:
            problems.append(record.problem("channels", f"unknown channel '{name}'; this agency publishes to "
                                                       f"{', '.join(agency.channels) or 'no channel'}"))
        elif not section.enabled:
            problems.append(record.problem("channels", f"channel '{name}' is disabled (channels.{name}.enabled)"))
    if len(set(channels)) != len(channels):
        problems.append(record.problem("channels", "names a channel twice"))
    if spec.created_on > today:
        problems.append(record.problem("created_on", f"{spec.created_on} is in the future"))
    elif spec.created_on < date(1949, 10, 1):
        problems.append(record.problem("created_on", f"{spec.created_on} is before 1949-10-01"))
    if spec.publish_at is not None:
        local = local_datetime(spec.publish_at).astimezone(SHANGHAI)
        if local.date() < spec.created_on:
            problems.append(record.problem("publish_at", "is before created_on"))
        elif local.date().year > today.year + 1:
            problems.append(record.problem("publish_at", f"{local.date()} is more than a year ahead"))
    if spec.interprets and spec.kind != "interpretation":
        problems.append(record.problem("interprets", "only an item of kind 'interpretation' (政策解读) interprets "
                                                     "another document"))
    return problems


def _items_by_ref(session: Session, agency_id: int, refs: list[str | None]) -> dict[str, Item]:
    if not refs:
        return {}
    found = session.exec(select(Item).where(Item.agency_id == agency_id, Item.ref.in_(refs))).all()
    return {item.ref: item for item in found if item.ref}


def _check_revision(session: Session, record: ItemRecord, item: Item, actor: str) -> list[Problem]:
    if item.author != actor:
        return [record.problem("id", f"item {item.id} ('{item.ref}') was written by {item.author}; "
                                     "only its author may revise it")]
    if item.status == ItemStatus.WITHDRAWN:
        return [record.problem("id", f"item {item.id} ('{item.ref}') was withdrawn and cannot be revised")]
    current = _revision(session, item.id, item.current_revision)
    if current.content_hash == _content_hash(record):
        return [record.problem("id", f"item {item.id} ('{item.ref}') is unchanged since revision {current.number}")]
    return []


def _document_exists(session: Session, agency_id: int, ref: str, batch_refs: set[str | None]) -> bool:
    if ref in batch_refs:
        return True
    query = select(Item.id).where(Item.agency_id == agency_id, sa.or_(Item.ref == ref, Item.index_no == ref))
    return session.exec(query).first() is not None


def _content_hash(record: ItemRecord) -> str:
    spec = record.spec.model_dump(mode="json", exclude={"id", "body"})
    files = sorted((src, file_digest(path)) for src, path in record.images.items())
    cover = file_digest(record.cover) if record.cover else None
    content = (sorted(spec.items()), record.body, files, cover)
    if record.body_html is not None:
        content += (record.body_html,)
    return hashlib.sha256(repr(content).encode()).hexdigest()


def _store(session: Session, agency_row_: Agency, agency: AgencySettings, actor: str, record: ItemRecord,
           item: Item | None, attachments: Path) -> Submitted:
    now = utcnow()
    if item is None:
        item = Item(agency_id=agency_row_.id, ref=record.spec.id, author=actor, status=ItemStatus.SUBMITTED,
                    created_at=now, updated_at=now)
        session.add(item)
        session.flush()
    else:
        item = _lock_item(session, item.id)
        move_item(item, "revise")
        item.current_revision += 1
        item.current_level = 0
    spec = record.spec
    images = {src: store_file(path, root=attachments) for src, path in record.images.items()}
    revision = Revision(
        item_id=item.id, number=item.current_revision, title=spec.title, category=spec.category, kind=spec.kind,
        channels=agency.item_channels if spec.channels is None else spec.channels,
        publisher=spec.publisher or agency.display_publisher, doc_number=spec.doc_number,
        created_on=spec.created_on,
        publish_at=local_datetime(spec.publish_at).astimezone(UTC) if spec.publish_at else None,
        summary=spec.summary, validity=spec.validity, interprets=spec.interprets, body=record.body,
        body_html=submitted_html(item.id, record.body, images, html=record.body_html), images=images,
        cover=store_file(record.cover, root=attachments) if record.cover else None,
        source=record.source, content_hash=_content_hash(record), submitted_by=actor, submitted_at=now,
    )
    session.add_all([item, revision])
    session.flush()
    return Submitted(item.id, revision.number, revision.title, record.source, tuple(revision.channels))


def review_item(session: Session, *, settings: Settings, agency_code: str, item_id: int, actor: str,
                decision: Decision, comment: str = "") -> Reviewed:
    """One review step by `actor`; the last required approval assigns the 索引号 and creates the deliveries."""
    agency = settings.agencies[agency_code]
    item = _lock_item(session, item_id, agency_id=agency_row(session, agency_code).id)
    if item.status != ItemStatus.SUBMITTED:
        move_item(item, "pass")  # refuses, naming the state the item is in
    if actor == item.author or actor in _revision_authors(session, item.id):
        raise WorkflowRefused(f"{actor} wrote item {item.id} and cannot review it")
    levels = agency.review_levels
    level = levels[min(item.current_level, len(levels) - 1)]
    _require_role(agency_code, agency, actor, level.role, f"pass {level.name}")
    passed = _decisions(session, item.id, item.current_revision, Decision.APPROVE)
    if any(d.reviewer == actor for d in passed):
        earlier = next(d.level_name for d in passed if d.reviewer == actor)
        raise WorkflowRefused(f"{actor} already passed {earlier} of item {item.id}; "
                              f"{level.name} needs another person")
    if decision == Decision.REJECT and not comment.strip():
        raise WorkflowRefused("a rejection needs a reason: --comment TEXT")
    session.add(ReviewDecision(item_id=item.id, revision=item.current_revision, level=item.current_level,
                               level_name=level.name, reviewer=actor, decision=decision, comment=comment.strip()))
    if decision == Decision.REJECT:
        move_item(item, "reject")
        item.current_level = 0
    elif item.current_level + 1 < len(levels):
        move_item(item, "pass")
        item.current_level += 1
    else:
        move_item(item, "approve")
        _approve(session, item, agency_row(session, agency_code))
    session.add(item)
    session.flush()
    details = {"revision": item.current_revision, "level": level.name, "comment": comment.strip()}
    record_event(session, actor=actor, action="reject" if decision == Decision.REJECT else "review",
                 subject=f"item:{item.id}", details=details, now=utcnow())
    if item.status == ItemStatus.APPROVED:
        record_event(session, actor=actor, action="approve", subject=f"item:{item.id}",
                     details={"revision": item.approved_revision, "index_no": item.index_no}, now=utcnow())
    next_level = levels[item.current_level].name if item.status == ItemStatus.SUBMITTED else None
    return Reviewed(item.id, level.name, decision, item.status, next_level, item.index_no)


def _approve(session: Session, item: Item, agency: Agency) -> None:
    """Final approval: 索引号 on first approval, and a pending delivery per channel of this revision."""
    revision = _revision(session, item.id, item.current_revision)
    due = revision.publish_at or utcnow()
    if item.index_no is None:
        year = due.astimezone(SHANGHAI).year
        item.index_no = allocate_index_no(session, agency=agency, year=year)
    for stale in session.exec(select(Delivery).where(
            Delivery.item_id == item.id, Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRY_WAIT]))):
        move_delivery(stale, DeliveryStatus.CANCELLED)  # superseded by this revision before it went out
        stale.last_error = f"superseded by revision {revision.number}"
        session.add(stale)
    item.approved_revision = revision.number
    for channel in revision.channels:
        session.add(Delivery(item_id=item.id, revision=revision.number, channel=channel,
                             status=DeliveryStatus.PENDING, next_attempt_at=due,
                             idempotency_key=f"{item.id}:{revision.number}:{channel}"))


def allocate_index_no(session: Session, *, agency: Agency, year: int) -> str:
    """Next 索引号 ORGCODE/YEAR-NNNNN: one atomic upsert, so concurrent approvals queue on the counter row."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(IndexCounter)
        .values(agency_id=agency.id, year=year, last_serial=1)
        .on_conflict_do_update(index_elements=["agency_id", "year"],
                               set_={"last_serial": IndexCounter.last_serial + 1})
        .returning(IndexCounter.last_serial)
    )
    serial = session.execute(statement).scalar_one()
    if serial > 99999:
        raise WorkflowRefused(f"索引号 serials for {agency.code} in {year} are exhausted (99999)")
    return f"{agency.org_code}/{year}-{serial:05d}"


def withdraw_item(session: Session, *, settings: Settings, agency_code: str, item_id: int, actor: str,
                  reason: str) -> Item:
    """Mark an item withdrawn; deliveries not yet sent are cancelled. The author or the final approver may."""
    agency = settings.agencies[agency_code]
    item = _lock_item(session, item_id, agency_id=agency_row(session, agency_code).id)
    final_role = agency.review_levels[-1].role
    if item.status in (ItemStatus.APPROVED, ItemStatus.WITHDRAWN) or actor != item.author:
        _require_role(agency_code, agency, actor, final_role, f"withdraw item {item.id}")
    if item.status == ItemStatus.WITHDRAWN:
        return item  # run again: only the take-downs are retried
    if not reason.strip():
        raise WorkflowRefused("a withdrawal needs a reason: --reason TEXT")
    move_item(item, "withdraw")
    item.withdrawn_at, item.withdraw_reason = utcnow(), reason.strip()
    # only the deliveries a withdrawal changes, locked in id order: one a worker claimed meanwhile (sending) is
    # read again once its claim commits and left to the worker, whose result finds the item withdrawn
    unsent = (DeliveryStatus.PENDING, DeliveryStatus.RETRY_WAIT, DeliveryStatus.DEAD)
    for delivery in session.exec(select(Delivery).where(Delivery.item_id == item.id,
                                                        Delivery.status.in_((*unsent, DeliveryStatus.UNKNOWN)))
                                 .order_by(Delivery.id).with_for_update()
                                 .execution_options(populate_existing=True)):
        if delivery.status in unsent:
            move_delivery(delivery, DeliveryStatus.CANCELLED)
            delivery.last_error = "item withdrawn before publication"
        else:  # unknown: it may be live, so a worker asks the channel, then takes it down
            move_delivery(delivery, DeliveryStatus.PENDING)
            delivery.next_attempt_at = utcnow()
            session.add(Attempt(delivery_id=delivery.id, number=delivery.attempts, outcome=AttemptOutcome.REPLAY,
                                finished_at=utcnow(), detail="item withdrawn: ask the channel, take it down"))
        session.add(delivery)
    session.add(item)
    session.flush()
    record_event(session, actor=actor, action="withdraw", subject=f"item:{item.id}",
                 details={"reason": item.withdraw_reason}, now=item.withdrawn_at)
    return item


def _require_role(code: str, agency: AgencySettings, actor: str, role: str, doing: str) -> None:
    user = agency.users.get(actor)
    if user is None:
        raise WorkflowRefused(f"'{actor}' is not a user of agency {code} (add [agencies.{code}.users.{actor}] "
                              "to gongkai.toml, or pass --as USER)")
    if role not in user.roles:
        raise WorkflowRefused(f"{actor} does not hold the role '{role}' needed to {doing}")


def _lock_item(session: Session, item_id: int, *, agency_id: int | None = None) -> Item:
    """The item, locked until commit against other changes of it (FOR NO KEY UPDATE: the ledger rows a worker
    inserts for it meanwhile only check that it exists, and need not wait)."""
    query = (select(Item).where(Item.id == item_id).with_for_update(key_share=True)
             .execution_options(populate_existing=True))
    item = session.exec(query).first()
    if item is None or (agency_id is not None and item.agency_id != agency_id):
        raise NotFound(f"no item {item_id}" + (" in this agency" if item is not None else ""))
    return item


def _revision(session: Session, item_id: int, number: int) -> Revision:
    return session.exec(select(Revision).where(Revision.item_id == item_id, Revision.number == number)).one()


def _revision_authors(session: Session, item_id: int) -> set[str]:
    return set(session.exec(select(Revision.submitted_by).where(Revision.item_id == item_id)).all())


def _decisions(session: Session, item_id: int, revision: int, decision: Decision) -> list[ReviewDecision]:
    query = select(ReviewDecision).where(ReviewDecision.item_id == item_id, ReviewDecision.revision == revision,
                                         ReviewDecision.decision == decision)
    return list(session.exec(query).all())
