"""What `--json` prints, declared: one model per output, checked against the data before it is printed.

The domain hands the CLI dataclasses and plain dicts; each is validated into the model of its command (an
unknown or missing key fails, it does not slip into a script's input) and printed with print_view(). The keys
are a contract with scripts: tests/test_meta.py keeps a snapshot of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.cli.output import print_json


class View(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- items ---------------------------------------------------------------------------------------------------


class DeadlineView(View):
    """An item's 第二十六条 deadline (pipeline.records.timeliness.Deadline.view)."""

    formed_on: str
    due_on: str
    days_left: int
    late: bool
    provisional: bool
    provisional_years: list[int]


class SubmittedView(View):
    item_id: int
    revision: int
    title: str
    source: str
    channels: list[str]
    deadline: DeadlineView | None


class ReviewedView(View):
    item_id: int
    level_name: str
    decision: str
    status: str
    next_level: str | None
    index_no: str | None


class TakeDownView(View):
    delivery_id: int
    channel: str
    result: str
    detail: str


class ItemRow(View):
    """A row of `gongkai list`."""

    id: int
    ref: str | None
    title: str
    status: str
    awaiting: str | None
    revision: int
    author: str
    index_no: str | None
    publish_at: str | None
    channels: dict[str, str]
    overdue: list[str]
    deadline: DeadlineView | None


class RevisionView(View):
    number: int
    title: str
    submitted_by: str
    submitted_at: str | None
    source: str


class DecisionView(View):
    revision: int
    level: str
    reviewer: str
    acted_by: str | None  # the admin who recorded it for the reviewer (--as), or None
    decision: str
    comment: str
    late_reason: str | None  # why it was approved after its 第二十六条 deadline
    at: str | None


class AttemptView(View):
    number: int
    outcome: str
    at: str | None
    duration_ms: int | None
    detail: str | None


class ItemDeliveryView(View):
    id: int
    revision: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: str | None
    remote_id: str | None
    url: str | None
    last_error: str | None
    manual_action: str | None
    tries: list[AttemptView]


class ItemView(View):
    """`gongkai show ID`."""

    id: int
    ref: str | None
    status: str
    awaiting: str | None
    levels: list[str]
    author: str
    department: str                 # the author's 处室 when the item was submitted ("" for imported history)
    index_no: str | None
    revision: int
    approved_revision: int | None
    title: str
    category: str
    kind: str
    channels: list[str]
    publisher: str | None
    doc_number: str | None
    created_on: str
    publish_at: str | None
    withdrawn_at: str | None
    withdraw_reason: str | None
    deadline: DeadlineView | None
    revisions: list[RevisionView]
    decisions: list[DecisionView]
    deliveries: list[ItemDeliveryView]


class DeliveryRow(View):
    """A row of `gongkai deliveries`."""

    id: int
    item_id: int
    revision: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    manual_action: str | None


class VerificationView(View):
    """A publication of `gongkai verify` (pipeline.engine.verify.Verification)."""

    delivery_id: int
    item_id: int
    channel: str
    result: str
    detail: str


class ChannelFindingView(View):
    """One thing a channel check looked at (channels.Finding)."""

    what: str
    ok: bool
    detail: str
    fix: str


class ChannelCheckView(View):
    """A channel of `gongkai channels check` (pipeline.engine.health.ChannelCheck)."""

    channel: str
    kind: str
    ok: bool
    findings: list[ChannelFindingView]
    resumed: list[int]


# --- ledger, registers, figures, calendar, audit ---------------------------------------------------------------


class RuleFindingView(View):
    """A breached or nearly breached rule (pipeline.records.freshness.Finding)."""

    agency: str
    rule: str
    subject: str
    state: str
    window: int | None
    last_on: str | None
    days_quiet: int | None
    days_left: int | None
    detail: str


class MonitorView(View):
    date: str
    agencies: list[str]
    breaches: int
    findings: list[RuleFindingView]


class DepartmentView(View):
    """A row of `gongkai assessment`: one 处室 of one agency in the year."""

    agency: str
    department: str
    published: int
    withdrawn: int
    late: int
    documents: int
    interpreted_in_step: int


class LedgerCount(View):
    """A row of `gongkai ledger`: one of channel, category, kind, month or department, as --by says."""

    agency: str
    year: int
    channel: str | None = None
    category: str | None = None
    kind: str | None = None
    month: int | None = None
    department: str | None = None
    count: int


class MergeView(View):
    line: int
    channel: str
    into: str
    publication: str


class ImportedView(View):
    file: str
    imported: int
    already_present: int
    merged: list[MergeView]


class FeeView(View):
    notified_on: str
    amount: str
    pay_by: str
    pay_by_provisional: bool
    paid_on: str | None


class EventView(View):
    kind: str
    on: str
    days: int | None
    deadline: str | None
    amount: str | None
    note: str
    by: str


class RequestView(View):
    id: int
    ref: str | None
    received_on: str
    channel: str
    applicant_type: str
    applicant_type_name: str
    applicant: str
    subject: str
    state: str
    clock_starts_on: str
    working_days: int
    due_on: str | None
    provisional: bool
    provisional_years: list[int]
    working_days_left: int | None
    correction_deadline: str | None
    fee: FeeView | None
    closed_on: str | None
    outcome: str | None
    replied_late: bool
    working_days_late: int | None
    warnings: list[str]
    events: list[EventView]


class OutcomeRow(View):
    outcome: str
    meaning: str
    row_2019: str
    row_2021: str


class AppealView(View):
    id: int
    ref: str | None
    kind: str
    kind_name: str
    filed_on: str
    request_id: int | None
    result: str
    closed_on: str | None
    note: str


class FigureView(View):
    year: int
    key: str
    value: str
    meaning: str
    note: str
    set_by: str
    updated_at: str


class FigureKey(View):
    key: str
    type: str
    meaning: str


class MovedView(View):
    request_id: int
    agency: str
    ref: str | None
    what: str
    old: date | None
    old_provisional: bool
    new: date | None
    new_provisional: bool


class CalendarChangeView(View):
    year: int
    source: str
    replaced: str | None
    holidays: int
    workdays: int
    warnings: list[str]
    moved: list[MovedView]


class HolidayPeriod(View):
    name: str
    first: str
    last: str
    days: int
    workdays: list[str]


class CalendarView(View):
    year: int
    source: str
    notice: str | None
    entered_by: str | None
    entered_at: str | None
    provisional: bool
    periods: list[HolidayPeriod]


class AuditVerdict(View):
    ok: bool
    events: int
    ledger_entries: int
    rows: int
    unkeyed_events: int
    anchors: int
    table: str | None
    id: int | None
    problem: str | None


class AuditLogLine(View):
    """A line of `gongkai audit log`."""

    id: int
    at: str
    actor: str
    os_user: str
    action: str
    subject: str
    details: dict[str, Any]


# --- people and review levels ----------------------------------------------------------------------------------


class PersonView(View):
    """`gongkai whoami`, `user show LOGIN`, a row of `user list`."""

    login: str
    name: str
    department: str
    agency: str
    roles: dict[str, list[str]]
    active: bool
    can_log_in: bool
    locked_until: str | None
    created_at: str


class LevelView(View):
    name: str
    role: str


class LevelSetView(View):
    """A row of `gongkai levels show`."""

    kind: str | None
    version: int
    levels: list[LevelView]
    created_by: str
    created_at: str | None
    versions: int


# --- the report ------------------------------------------------------------------------------------------------


class FindingView(View):
    rule: str
    level: str
    ok: bool
    cell: str
    message: str


class Explanation(View):
    """`gongkai report YEAR --explain CELL --format json`: the rows behind one number (their columns vary)."""

    cell: str
    label: str
    value: str
    source: str
    rows: list[dict[str, Any]]


class LateView(View):
    agency: str
    department: str
    title: str
    index_no: str | None
    item_id: int | None
    formed_on: str
    due_on: str
    published_on: str
    working_days_late: int
    provisional: bool


class TimelinessView(View):
    """`gongkai timeliness YEAR --json`."""

    year: int
    agencies: list[str]
    checked: int
    late: list[LateView]


def _plain(data: Any) -> Any:
    return asdict(data) if is_dataclass(data) and not isinstance(data, type) else data


def view(model: type[View], data: Any) -> dict[str, Any]:
    """The data (a dataclass or a dict) as the model's JSON-ready dict; a key the model does not know fails. Only
    LedgerCount has optional keys, and prints the one the data has."""
    return model.model_validate(_plain(data)).model_dump(mode="json", exclude_unset=True)


def print_view(model: type[View], data: Any) -> None:
    """Print one object as its model."""
    print_json(view(model, data))


def print_views(model: type[View], rows: Iterable[Any]) -> None:
    """Print a list of objects, each as the model."""
    print_json([view(model, row) for row in rows])
