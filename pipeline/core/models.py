"""The database: agencies, items and their revisions, review decisions, deliveries, attempts, ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from pipeline.core.clock import utcnow
from pipeline.core.status import DeliveryStatus, ItemStatus, Role  # noqa: F401  (defined where the CLI reads them cheaply)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime(), nullable=False))


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class AttemptOutcome(StrEnum):
    """What one try of a delivery came to (Attempt.outcome)."""

    SENDING = "sending"              # claimed and not yet answered: a worker that died mid-call leaves this
    PUBLISHED = "published"          # the channel confirmed it (or had it already)
    REFUSED = "refused"              # not sent: stale item, or a channel that is off
    PERMANENT = "permanent"          # the channel refused it, or it could not be rendered
    TRANSIENT = "transient"          # a failure worth retrying
    RATE_LIMITED = "rate_limited"    # the channel asked to wait
    LOOKUP_FAILED = "lookup_failed"  # asking the channel whether it has it failed: still in doubt
    UNKNOWN = "unknown"              # the channel may have it
    DEFERRED = "deferred"            # not started: lease too short, or a long rate-limit wait
    REPLAY = "replay"                # gongkai retry made it due again (no call)
    CHECKED = "checked_absent"       # gongkai retry --absent: a person found it not on the channel (settles doubt)


class EntryType(StrEnum):
    PUBLICATION = "publication"
    REVERSAL = "reversal"


class Agency(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    name: str = Field(max_length=200)
    org_code: str = Field(max_length=18)
    created_at: datetime = _ts()


class Item(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "ref", name="uq_item_agency_ref"),
        sa.Index("ix_item_agency_author", "agency_id", "author", "id"),             # 我的待办: my own items
        sa.Index("ix_item_review_queue", "agency_id", "status", "current_level", "id"),  # the review queue, in order
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    ref: str | None = Field(default=None, max_length=64)           # the item file's own id, if it has one
    author: str = Field(max_length=64)
    department: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})  # 处室 of the author
    status: ItemStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    current_level: int = 0                                         # next review level to pass (0-based)
    current_revision: int = 1
    approved_revision: int | None = None                           # the revision on the channels
    index_no: str | None = Field(default=None, max_length=40, sa_column_kwargs={"unique": True})
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    withdrawn_at: datetime | None = _ts(nullable=True)
    withdraw_reason: str | None = None
    # the review levels it passes, fixed at first submission; NULL: submitted before 0012 (fixed at next review)
    level_set_id: int | None = Field(default=None, foreign_key="review_level_set.id")


class Revision(SQLModel, table=True):
    __tablename__ = "item_revision"
    __table_args__ = (sa.UniqueConstraint("item_id", "number", name="uq_revision_item_number"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    number: int
    title: str = Field(max_length=500)
    category: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    channels: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    publisher: str = Field(max_length=200)
    doc_number: str | None = Field(default=None, max_length=200)
    created_on: date
    publish_at: datetime | None = _ts(nullable=True)
    summary: str = ""
    validity: str | None = Field(default=None, max_length=8)
    interprets: str | None = Field(default=None, max_length=64, index=True)  # ref or 索引号 of the interpreted doc
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # the body as published, rendered at submission (compose.submitted_html); NULL: submitted before 0008
    body_html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    images: dict[str, str] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    cover: str | None = Field(default=None, max_length=300)        # stored attachment path of the cover image
    source: str = Field(max_length=1000)                          # file:line it came from
    content_hash: str = Field(max_length=64)
    submitted_by: str = Field(max_length=64)
    submitted_at: datetime = _ts()


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decision"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    revision: int
    level: int                                                     # 0-based index into review_levels
    level_name: str = Field(max_length=64)
    reviewer: str = Field(max_length=64)                           # the login of the person deciding
    acted_by: str | None = Field(default=None, max_length=64)      # the admin who entered it for them, if any
    decision: Decision = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    comment: str = ""
    decided_at: datetime = _ts()
    # why a final approval after the 第二十六条 deadline was given anyway (pipeline.records.timeliness); else NULL
    late_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class IndexCounter(SQLModel, table=True):
    """Last 索引号 serial per agency and year; incremented in the approving transaction."""

    __tablename__ = "index_counter"

    agency_id: int = Field(foreign_key="agency.id", primary_key=True)
    year: int = Field(primary_key=True)
    last_serial: int


class Delivery(SQLModel, table=True):
    """One item revision on one channel."""

    __table_args__ = (
        sa.UniqueConstraint("item_id", "revision", "channel", name="uq_delivery_revision_channel"),
        sa.Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    revision: int
    channel: str = Field(max_length=64)
    status: DeliveryStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    enqueued_at: datetime | None = _ts(nullable=True)               # last time a message was sent for it
    claim_token: str | None = Field(default=None, max_length=64)
    remote_id: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=1000)
    last_error: str | None = None
    manual_action: str | None = None                                # what a person must do (e.g. delete by hand)
    idempotency_key: str = Field(max_length=100, sa_column_kwargs={"unique": True}, nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # after publication: the live copy fetched and compared with the approved revision (pipeline/engine/verify.py)
    verification: str | None = Field(default=None, max_length=16)     # verified, differs or unverifiable
    verification_detail: str | None = None                          # what differs, or why it could not be read
    verified_at: datetime | None = _ts(nullable=True)


class ChannelState(SQLModel, table=True):
    """A channel's last live check (gongkai channels check, or the engine's after a setup error). While it is
    paused, its deliveries wait: none is sent, none is given up, until a check passes."""

    __tablename__ = "channel_state"

    name: str = Field(primary_key=True, max_length=64)
    paused: bool = False
    reason: str = ""                                    # the failed findings, each with its fix
    checked_at: datetime | None = _ts(nullable=True)
    next_check_at: datetime | None = _ts(nullable=True)  # when the engine checks a paused channel again


class Attempt(SQLModel, table=True):
    """One try of a delivery, kept forever."""

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True)
    number: int
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    outcome: str = Field(max_length=32)
    duration_ms: int | None = None
    detail: str = ""


# the ledger columns that a report's item counts read besides agency_id and year (pipeline.report.queries)
REPORT_INCLUDE = ("kind", "entry_type", "item_id", "revision", "index_no", "import_key", "id")


class LedgerEntry(SQLModel, table=True):
    """Append-only: one entry per confirmed publication, and one reversal per withdrawal."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        sa.UniqueConstraint("delivery_id", "entry_type", name="uq_ledger_delivery_type"),
        # one agency's years, a report's reads; on PostgreSQL it also holds what kind_counts reads, so that one
        # agency's ten years come from a few index pages instead of a heap page per row (BENCHMARKS.md §3)
        sa.Index("ix_ledger_entry_agency_year", "agency_id", "year", postgresql_include=list(REPORT_INCLUDE)),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id")
    item_id: int | None = Field(default=None, foreign_key="item.id")
    revision: int | None = None
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    entry_type: EntryType = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    channel: str = Field(max_length=64)
    category: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    index_no: str | None = Field(default=None, max_length=40)
    title: str = Field(max_length=500)
    published_at: datetime = _ts()
    local_date: date                                               # Asia/Shanghai calendar date
    year: int = Field(index=True)
    source: str = Field(default="pipeline", max_length=16)          # pipeline | import
    import_key: str | None = Field(default=None, max_length=100, sa_column_kwargs={"unique": True})
    created_at: datetime = _ts()
    content_hash: str = Field(max_length=64)                        # pipeline.records.audit.content_hash, set on write
    # 成文日期 of an imported publication, when the import file gave it (第二十六条); outside content_hash
    formed_on: date | None = None


class DisclosureRequest(SQLModel, table=True):
    """依申请公开: one application, from receipt to its closing outcome (see pipeline.records.register)."""

    __tablename__ = "disclosure_request"
    __table_args__ = (sa.UniqueConstraint("agency_id", "ref", name="uq_request_agency_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    ref: str | None = Field(default=None, max_length=64)             # the agency's own register number
    received_on: date = Field(index=True)                           # 收到申请之日 (第三十一条)
    channel: str = Field(max_length=16)                             # in_person | post | online | fax | other
    applicant_type: str = Field(max_length=16)                      # a column of table 三
    applicant: str = Field(default="", max_length=200)
    subject: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    closed_on: date | None = None
    outcome: str | None = Field(default=None, max_length=32)        # maps to one row of table 三
    recorded_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class RequestEvent(SQLModel, table=True):
    """What happened to a request and when: 补正, extension, consultation, closing. Kept forever."""

    __tablename__ = "request_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="disclosure_request.id", index=True)
    kind: str = Field(max_length=32)
    event_on: date
    days: int | None = None                                         # an extension's working days
    deadline: date | None = None                                    # the 补正 period given to the applicant
    amount: str | None = Field(default=None, max_length=24)         # 信息处理费 in 元, a decimal in text
    note: str = ""
    actor: str = Field(max_length=64)
    created_at: datetime = _ts()


class Appeal(SQLModel, table=True):
    """行政复议 or 行政诉讼 about the agency's disclosure work (table 四)."""

    __table_args__ = (sa.UniqueConstraint("agency_id", "ref", name="uq_appeal_agency_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    ref: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=32)                                # reconsideration | litigation | litigation_after
    filed_on: date
    request_id: int | None = Field(default=None, foreign_key="disclosure_request.id")
    result: str | None = Field(default=None, max_length=16)         # upheld | corrected | other; None: 尚未审结
    closed_on: date | None = None
    note: str = ""
    recorded_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CalendarYear(SQLModel, table=True):
    """A year's 放假安排 as the office entered it from the State Council's notice (pipeline.records.calendar)."""

    __tablename__ = "calendar_year"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=200)                             # the notice: 文号 and date, as the office wrote it
    notice: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))  # the file as entered
    entered_by: str = Field(max_length=64)
    entered_at: datetime = _ts()


class CalendarDay(SQLModel, table=True):
    """A day the notice of `year` names: a holiday, or a 调休 Saturday or Sunday worked (may lie in December of
    the year before, when the 元旦 break starts there)."""

    __tablename__ = "calendar_day"
    __table_args__ = (sa.UniqueConstraint("year", "day", name="uq_calendar_day_year_day"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(foreign_key="calendar_year.year", index=True)
    day: date
    working: bool                                                   # True: 调休上班; False: 放假
    name: str = Field(max_length=32)                                # the period: 元旦, 春节, 中秋节、国庆节 …


class AnnualFigure(SQLModel, table=True):
    """A per-year figure that is no publication (事项 counts, fee amounts, overrides of table 二 cells)."""

    __tablename__ = "annual_figure"
    __table_args__ = (sa.UniqueConstraint("agency_id", "year", "key", name="uq_figure_agency_year_key"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    year: int
    key: str = Field(max_length=64)
    value: str = Field(max_length=32)                               # a decimal in text: exact on every database
    note: str = ""
    set_by: str = Field(max_length=64)
    updated_at: datetime = _ts()


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained record of every human and system action (see pipeline.records.audit)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    actor: str = Field(max_length=64)                               # the --as user, or "system" for workers
    os_user: str = Field(max_length=64)                             # who ran the command: shows impersonation
    action: str = Field(max_length=32, index=True)
    subject: str = Field(max_length=100)                            # "item:12", "delivery:40" …
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class FrozenReport(SQLModel, table=True):
    """An annual report as published (`gongkai report YEAR --out` without --draft, or --submit): its cells and
    ledger hash, kept so that next year's cross-year rules (R9, R10) compare with what was published."""

    __tablename__ = "frozen_report"
    __table_args__ = (sa.UniqueConstraint("agency_id", "year", name="uq_frozen_report_agency_year"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id")
    year: int
    version: str = Field(max_length=4)                              # the table format: 2019 or 2021
    cells: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # cell id -> int, amounts as text
    ledger_hash: str = Field(max_length=64)                         # 台账校验值 of the ledger it was built from
    how: str = Field(max_length=8)                                  # out | submit
    item_id: int | None = Field(default=None, foreign_key="item.id")  # the annual_report item of --submit
    frozen_by: str = Field(max_length=64)
    frozen_at: datetime = _ts()


class Person(SQLModel, table=True):
    """Someone who may log in (pipeline.records.people); roles are granted per agency in person_role."""

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    name: str = Field(max_length=100)                               # 姓名
    department: str = Field(default="", max_length=100)             # 处室
    agency_id: int = Field(foreign_key="agency.id", index=True)     # the agency the person works for
    password_hash: str | None = Field(default=None, max_length=200)  # argon2id; None: cannot log in yet
    active: bool = True
    failed_logins: int = 0                                          # wrong passwords since the last lock or login
    locked_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class PersonRole(SQLModel, table=True):
    __tablename__ = "person_role"
    __table_args__ = (sa.UniqueConstraint("person_id", "agency_id", "role", name="uq_person_role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    agency_id: int = Field(foreign_key="agency.id")
    role: str = Field(max_length=32)                                # a Role


class PersonToken(SQLModel, table=True):
    """A personal login token; only its sha256 is kept, so the table cannot be used to log in."""

    __tablename__ = "person_token"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_sha256: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    label: str = Field(max_length=16)                               # cli | console
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class ReviewLevelSet(SQLModel, table=True):
    """One version of an agency's review levels (for one item kind, or for every kind when kind is NULL)."""

    __tablename__ = "review_level_set"
    __table_args__ = (sa.UniqueConstraint("agency_id", "kind", "version", name="uq_level_set_version"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    kind: str | None = Field(default=None, max_length=32)
    version: int
    levels: list[dict[str, str]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # [{name, role}] in order
    created_at: datetime = _ts()
    created_by: str = Field(max_length=64)
