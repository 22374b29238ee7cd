"""Submission and multi-level review (先审后发): who may do what, recorded once and kept."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date
from pathlib import Path
from typing import Any

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
    Person,
    ReviewDecision,
    Revision,
    Role,
    utcnow,
)
from pipeline.core.states import move_delivery, move_item
from pipeline.items.attachments import file_digest, store_file
from pipeline.items.compose import compose_message, submitted_html
from pipeline.items.itemfile import ItemRecord, local_datetime
from pipeline.records.audit import record_event
from pipeline.records.authority import require, roles_in
from pipeline.records.levels import fix_set, levels_of
from pipeline.records.office_calendar import load_calendar
from pipeline.records.people import Actor
from pipeline.records.timeliness import revision_deadline
from pipeline.records.workdays import WorkCalendar


@dataclass(frozen=True)
class Submitted:
    item_id: int
    revision: int
    title: str
    source: str
    channels: tuple[str, ...] = ()
    deadline: dict[str, Any] | None = None  # 第二十六条 (pipeline.records.timeliness.Deadline.view), None: unknown


@dataclass(frozen=True)
class Reviewed:
    item_id: int
    level_name: str
    decision: Decision
    status: ItemStatus
    next_level: str | None
    index_no: str | None


def submit_items(session: Session, *, settings: Settings, agency_code: str, actor: Actor,
                 records: list[ItemRecord], problems: list[Problem] | None = None,
                 today: date | None = None, role: Role = Role.AUTHOR) -> list[Submitted]:
    """Create items (or new revisions of items whose id exists); all or nothing. The actor needs `role`: author
    (the annual report's submission, pipeline.report.submission, asks for disclosure_office instead).

    `problems` found while reading the files are reported together with those found here.
    """
    agency = settings.agencies[agency_code]
    require(session, actor, role, agency_code=agency_code, doing="submit items")
    author = actor.acting_as.login
    row = agency_row(session, agency_code)
    today = today or beijing_today()
    problems = list(problems or []) + [p for r in records for p in _check_record(r, settings, agency, today)]
    existing = _items_by_ref(session, row.id, [r.spec.id for r in records if r.spec.id])
    known_refs = {r.spec.id for r in records if r.spec.id} | set(existing)
    for record in records:
        target = existing.get(record.spec.id or "")
        if target is not None:
            problems.extend(_check_revision(session, record, target, author))
        if record.spec.interprets and not _document_exists(session, row.id, record.spec.interprets, known_refs):
            problems.append(record.problem("interprets", f"no item with id or 索引号 '{record.spec.interprets}'"))
    if problems:
        raise InputRejected(sorted(problems, key=lambda p: (p.file, p.line)))
    done = [_store(session, row, agency, author, record, existing.get(record.spec.id or ""),
                   settings.items.attachments_dir) for record in records]
    problems = [p for record, stored in zip(records, done, strict=True)
                for p in _channel_problems(session, settings, record, stored)]
    if problems:  # the transaction rolls back: nothing is written
        raise InputRejected(problems)
    calendar = load_calendar(session)
    done = [replace(stored, deadline=_deadline_view(session, stored, calendar, today)) for stored in done]
    for stored in done:
        record_event(session, actor=actor.label, action="submit", subject=f"item:{stored.item_id}",
                     details={"revision": stored.revision, "title": stored.title, "source": stored.source},
                     now=utcnow())
    return done


def _deadline_view(session: Session, stored: Submitted, calendar: WorkCalendar, today: date) -> dict[str, Any] | None:
    found = revision_deadline(_revision(session, stored.item_id, stored.revision), on=today, calendar=calendar)
    return None if found is None else found.view()


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
        department = session.exec(select(Person.department).where(Person.login == actor)).first() or ""
        item = Item(agency_id=agency_row_.id, ref=record.spec.id, author=actor, department=department,
                    status=ItemStatus.SUBMITTED, created_at=now, updated_at=now)
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
    fix_set(session, item)  # the review levels are those current at first submission
    return Submitted(item.id, revision.number, revision.title, record.source, tuple(revision.channels))


def review_items(session: Session, *, settings: Settings, agency_code: str,
                 decisions: list[tuple[int, int, str]], actor: Actor, decision: Decision, comment: str = "",
                 late_reason: str = "") -> list[Reviewed]:
    """The same decision for many items, each as (item id, revision read, level decided): all in the caller's
    transaction, so that one refusal decides none of them."""
    return [review_item(session, settings=settings, agency_code=agency_code, item_id=item_id, actor=actor,
                        decision=decision, level=level, revision=revision, comment=comment, late_reason=late_reason)
            for item_id, revision, level in decisions]


def review_item(session: Session, *, settings: Settings, agency_code: str, item_id: int, actor: Actor,
                decision: Decision, level: str, revision: int, comment: str = "", late_reason: str = "") -> Reviewed:
    """One review step: `level` of `revision`, as the reviewer read it (a stale level or revision is refused).
    The last required approval assigns the 索引号 and creates the deliveries; when the item goes out after its
    第二十六条 deadline it needs `late_reason`, which is kept on the decision (ignored when it is on time)."""
    item = _lock_item(session, item_id, agency_id=agency_row(session, agency_code).id)
    if item.status != ItemStatus.SUBMITTED:
        move_item(item, "pass")  # refuses, naming the state the item is in
    levels = fix_set(session, item).levels
    current = levels[min(item.current_level, len(levels) - 1)]
    if revision != item.current_revision or level != current["name"]:
        raise WorkflowRefused(f"item {item.id} awaits {current['name']} of revision {item.current_revision}, not "
                              f"{level} of revision {revision}: nothing was decided; read it again (gongkai show "
                              f"{item.id})")
    require(session, actor, current["role"], agency_code=agency_code, doing=current["name"])
    duty = _duty_refusal(session, item, actor, current["name"])
    if duty is not None:
        raise WorkflowRefused(duty)
    reviewer = actor.acting_as.login
    if decision == Decision.REJECT and not comment.strip():
        raise WorkflowRefused("a rejection needs a reason: --comment TEXT")
    final = decision == Decision.APPROVE and item.current_level + 1 >= len(levels)
    late = _late_approval(session, item) if final else None
    if late is not None and not late_reason.strip():
        raise WorkflowRefused(f"item {item.id} {late}: approving it needs the reason it is late (第二十六条): "
                              "--late-reason TEXT; nothing was decided")
    session.add(ReviewDecision(item_id=item.id, revision=item.current_revision, level=item.current_level,
                               level_name=current["name"], reviewer=reviewer,
                               acted_by=actor.login if actor.on_behalf_of else None, decision=decision,
                               comment=comment.strip(), late_reason=late_reason.strip() if late else None))
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
    details = {"revision": item.current_revision, "level": current["name"], "comment": comment.strip()}
    if late is not None:
        details["late_reason"] = late_reason.strip()
    record_event(session, actor=actor.label, action="reject" if decision == Decision.REJECT else "review",
                 subject=f"item:{item.id}", details=details, now=utcnow())
    if item.status == ItemStatus.APPROVED:
        record_event(session, actor=actor.label, action="approve", subject=f"item:{item.id}",
                     details={"revision": item.approved_revision, "index_no": item.index_no}, now=utcnow())
    next_level = levels[item.current_level]["name"] if item.status == ItemStatus.SUBMITTED else None
    return Reviewed(item.id, current["name"], decision, item.status, next_level, item.index_no)


def _late_approval(session: Session, item: Item) -> str | None:
    """How the item's current revision misses its 第二十六条 deadline if approved now (it goes out today, or on its
    publish_at if later), or None when it is on time or the calendar cannot tell."""
    revision = _revision(session, item.id, item.current_revision)
    out_on = max(beijing_today(), revision.publish_at.astimezone(SHANGHAI).date()) if revision.publish_at \
        else beijing_today()
    found = revision_deadline(revision, on=out_on, calendar=load_calendar(session))
    if found is None or not found.late:
        return None
    return (f"goes out on {out_on}, {-found.days_left} working day(s) after its deadline {found.due_on}"
            f"{' (provisional)' if found.provisional_years else ''} (formed {found.formed_on})")


def _duty_refusal(session: Session, item: Item, actor: Actor, level: str) -> str | None:
    """Separation of duties: nobody reviews what they wrote, nobody passes two levels of one revision (an
    admin acting for a reviewer is held to it as well)."""
    involved = [actor.acting_as.login, actor.login]
    wrote = next((who for who in involved if who == item.author or who in _revision_authors(session, item.id)), None)
    if wrote is not None:
        return f"{wrote} wrote item {item.id} and cannot review it"
    passed = _decisions(session, item.id, item.current_revision, Decision.APPROVE)
    earlier = next(((who, d.level_name) for d in passed for who in involved if who in (d.reviewer, d.acted_by)),
                   None)
    if earlier is not None:
        return f"{earlier[0]} already passed {earlier[1]} of item {item.id}; {level} needs another person"
    return None


def review_refusal(session: Session, *, agency_code: str, item_id: int, actor: Actor) -> str | None:
    """Why `actor` may not decide the item's current level now, or None: what review_item would refuse, found
    without recording anything (the console offers the decision only when this is None; review_item still
    decides, with its audited refusals)."""
    item = session.get(Item, item_id)
    if item is None or item.agency_id != agency_row(session, agency_code).id:
        raise NotFound(f"no item {item_id}")
    if item.status != ItemStatus.SUBMITTED:
        return f"item {item.id} is {item.status}, not waiting for review"
    levels = levels_of(session, item)
    current = levels[min(item.current_level, len(levels) - 1)]
    if current["role"] not in roles_in(session, person_id=actor.acting_as.person_id, agency_code=agency_code):
        return f"{actor.acting_as.login} does not hold the role {current['role']} (needed to {current['name']})"
    return _duty_refusal(session, item, actor, current["name"])


def withdraw_refusal(session: Session, *, agency_code: str, item_id: int, actor: Actor) -> str | None:
    """Why `actor` may not withdraw the item, or None (the rule of withdraw_item, nothing recorded)."""
    item = session.get(Item, item_id)
    if item is None or item.agency_id != agency_row(session, agency_code).id:
        raise NotFound(f"no item {item_id}")
    if item.status == ItemStatus.WITHDRAWN:
        return f"item {item.id} is withdrawn already"
    held = roles_in(session, person_id=actor.acting_as.person_id, agency_code=agency_code)
    if item.status != ItemStatus.APPROVED and actor.acting_as.login == item.author:
        return None if Role.AUTHOR in held else f"{actor.acting_as.login} does not hold the role author"
    final = levels_of(session, item)[-1]
    return None if final["role"] in held else \
        f"{actor.acting_as.login} does not hold the role {final['role']} (needed to withdraw: {final['name']})"


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


def withdraw_item(session: Session, *, settings: Settings, agency_code: str, item_id: int, actor: Actor,
                  reason: str) -> Item:
    """Mark an item withdrawn; deliveries not yet sent are cancelled. Its author may while it is unpublished;
    otherwise the role of its final review level is needed."""
    item = _lock_item(session, item_id, agency_id=agency_row(session, agency_code).id)
    if item.status in (ItemStatus.APPROVED, ItemStatus.WITHDRAWN) or actor.acting_as.login != item.author:
        final = fix_set(session, item).levels[-1]
        require(session, actor, final["role"], agency_code=agency_code,
                doing=f"withdraw item {item.id} ({final['name']})")
    else:
        require(session, actor, Role.AUTHOR, agency_code=agency_code, doing=f"withdraw item {item.id}")
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
    record_event(session, actor=actor.label, action="withdraw", subject=f"item:{item.id}",
                 details={"reason": item.withdraw_reason}, now=item.withdrawn_at)
    return item


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
