"""What the register refuses: a step that does not fit what happened to the request before (第三十条、第三十三条;
国办函〔2020〕109号). One function, refusal_of, returns the reason or ""."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from pipeline.core.models import RequestEvent
from pipeline.records.deadlines import MAX_EXTENSION_DAYS, PAYMENT_DAYS, Clock, ClockState, EventKind
from pipeline.records.vocabulary import OUTCOMES


def refusal_of(kind: EventKind, events: Sequence[RequestEvent], clock: Clock, *, days: int | None,
               deadline: date | None, on: date, outcome: str | None, amount: Decimal | None) -> str:
    """Why `kind` on `on` cannot be recorded after `events` ("" when it can)."""
    kinds = [e.kind for e in events]
    asked = EventKind.CORRECTION_ASKED in kinds
    received = EventKind.CORRECTION_RECEIVED in kinds
    consulting = clock.state == ClockState.PAUSED
    rules = {
        EventKind.CORRECTION_ASKED: lambda: _correction_refusal(asked, deadline, on),
        EventKind.CORRECTION_RECEIVED: lambda: "" if asked and not received else "no 补正 is outstanding",
        EventKind.EXTENDED: lambda: _extension_refusal(events, clock, days, on),
        EventKind.CONSULTATION_STARTED: lambda: "a consultation is open already" if consulting else "",
        EventKind.CONSULTATION_ENDED: lambda: "" if consulting else "no consultation is open",
        EventKind.FEE_NOTIFIED: lambda: _notice_refusal(clock, amount),
        EventKind.FEE_PAID: lambda: _payment_refusal(clock, amount, on),
        EventKind.CLOSED: lambda: _closing_refusal(clock, outcome, on, received=received),
    }
    return rules[kind]()


def _correction_refusal(asked: bool, deadline: date | None, on: date) -> str:
    if asked:
        return "补正 was asked already (一次性告知: once only)"
    if deadline is None:
        return "a 补正 notice states the period the applicant has to answer (补正期限, 第三十条): give --deadline"
    return f"the 补正 deadline {deadline} must be after the notice ({on})" if deadline <= on else ""


def _extension_refusal(events: Sequence[RequestEvent], clock: Clock, days: int | None, on: date) -> str:
    granted = sum(e.days or 0 for e in events if e.kind == EventKind.EXTENDED)
    if days is None or days < 1 or granted + days > MAX_EXTENSION_DAYS:
        return f"an extension is 1 to {MAX_EXTENSION_DAYS - granted} more working days (at most " \
               f"{MAX_EXTENSION_DAYS} in all, 第三十三条)"
    if clock.state in (ClockState.AWAITING_CORRECTION, ClockState.AWAITING_PAYMENT):
        return f"the clock is stopped until the {'补正 arrives' if clock.fee is None else 'fee is paid'}"
    if clock.due_on is not None and on > clock.due_on:
        return f"the period ended on {clock.due_on}; an extension must be decided before it ends"
    return ""


def _notice_refusal(clock: Clock, amount: Decimal | None) -> str:
    if clock.fee is not None:
        return f"a fee notice went out already on {clock.fee.notified_on} (one per application)"
    if clock.state == ClockState.AWAITING_CORRECTION:
        return "the clock is stopped until the 补正 arrives"
    return "a fee notice states the amount: give --amount (元)" if amount is None else ""


def _payment_refusal(clock: Clock, amount: Decimal | None, on: date) -> str:
    fee = clock.fee
    if fee is None or fee.paid_on is not None:
        return "no fee notice is awaiting payment"
    if on > fee.pay_by:
        return (f"the payment period ended on {fee.pay_by} ({PAYMENT_DAYS} working days after the notice reached "
                "the applicant): the application lapsed; close it with --outcome lapsed_unpaid_fee")
    return f"the notice asked for {fee.amount} 元, not {amount}" if amount != fee.amount else ""


def _closing_refusal(clock: Clock, outcome: str | None, on: date, *, received: bool) -> str:
    if outcome not in OUTCOMES:
        return f"unknown outcome '{outcome}'; see gongkai request outcomes"
    if outcome == "lapsed_no_correction":
        if clock.state != ClockState.AWAITING_CORRECTION:
            return "'lapsed_no_correction' needs a 补正 that was asked and never received"
        deadline = clock.correction_deadline
        if deadline is not None and on <= deadline:
            return (f"the applicant has until {deadline} to send the 补正: 'lapsed_no_correction' can be recorded "
                    f"from {deadline + timedelta(days=1)} on (第三十条)")
    if outcome == "lapsed_unpaid_fee":
        if clock.fee is None or clock.fee.paid_on is not None:
            return "'lapsed_unpaid_fee' needs a fee notice that was never paid (gongkai request fee ID --notified)"
        if on <= clock.fee.pay_by:
            return (f"the applicant may pay until {clock.fee.pay_by} ({PAYMENT_DAYS} working days after the notice "
                    f"reached them): 'lapsed_unpaid_fee' can be recorded from {clock.fee.pay_by + timedelta(days=1)}")
    if outcome == "unable_unclear" and not received:
        return "'unable_unclear' (补正后申请内容仍不明确) needs a 补正 that was received"
    return ""
