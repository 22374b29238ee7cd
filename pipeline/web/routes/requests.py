"""依申请公开: the register of disclosure requests — the due board (working days left, overdue in red), a new
request, and each request's steps (补正, 延期, 征求意见, 收费, 办结) — and the appeals against replies.

Dates are typed as the CLI takes them; the register's rules (the 20 working days, what may follow what) are
pipeline.records.register's and give the same messages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.core.agencies import agency_row
from pipeline.core.clock import beijing_today
from pipeline.core.errors import Forbidden, GongkaiError, WorkflowRefused
from pipeline.records import appeals, register
from pipeline.records.appeals import APPEAL_KINDS, RESULT_NAMES
from pipeline.records.authority import require
from pipeline.records.deadlines import EventKind
from pipeline.records.vocabulary import APPLICANT_TYPES, OUTCOMES
from pipeline.web.deps import Me, Posted, Visit, unit
from pipeline.web.pages import page

router = APIRouter()
ROLE = "disclosure_office"
CHANNELS = {"online": "网上申请", "post": "信函", "in_person": "当面", "fax": "传真", "other": "其他"}
STEPS = {
    EventKind.CORRECTION_ASKED: "发出补正通知", EventKind.CORRECTION_RECEIVED: "收到补正材料",
    EventKind.EXTENDED: "延长答复期限", EventKind.CONSULTATION_STARTED: "开始征求意见",
    EventKind.CONSULTATION_ENDED: "征求意见结束", EventKind.FEE_NOTIFIED: "发出收费通知",
    EventKind.FEE_PAID: "申请人缴费", EventKind.CLOSED: "办结",
}


def _allowed(session: Any, who: Visit, doing: str) -> int:
    require(session, who.actor, ROLE, agency_code=who.actor.agency_code, doing=doing)
    return agency_row(session, who.actor.agency_code).id


@router.get("/requests", response_class=HTMLResponse)
def board(request: Request, who: Me) -> Response:
    today = beijing_today()
    with unit(request) as session:
        agency_id = _allowed(session, who, "查看依申请公开登记")
        rows = register.request_views(session, agency_id=agency_id, today=today)
    open_ = sorted((v for v in rows if not v["closed_on"]),
                   key=lambda v: (v["working_days_left"] is None, v["working_days_left"] or 0, v["id"]))
    closed = [v for v in reversed(rows) if v["closed_on"]][:100]
    return _board(request, open_=open_, closed=closed, values={"received": today.isoformat()}, errors={})


def _board(request: Request, *, open_: list, closed: list, values: dict, errors: dict,
           status_code: int = 200) -> Response:
    return page(request, "requests.html", title="依申请公开", nav="requests", open=open_, closed=closed,
                values=values, errors=errors, applicant_types=APPLICANT_TYPES, channels=CHANNELS,
                status_code=status_code)


@router.post("/requests/new")
def add(request: Request, who: Posted, received: Annotated[str, Form()] = "",
        applicant_type: Annotated[str, Form()] = "", channel: Annotated[str, Form()] = "online",
        applicant: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "",
        ref: Annotated[str, Form()] = "") -> Response:
    values = {"received": received, "applicant_type": applicant_type, "channel": channel, "applicant": applicant,
              "subject": subject, "ref": ref}
    try:
        received_on = _date(received, "received")
        with unit(request) as session:
            agency_id = _allowed(session, who, "登记依申请公开申请")
            added = register.add_request(session, agency_id=agency_id, received_on=received_on, channel=channel,
                                         applicant_type=applicant_type, actor=who.actor,
                                         today=beijing_today(), applicant=applicant, subject=subject,
                                         ref=ref.strip() or None)
        return RedirectResponse(f"/requests/{added.id}?done=registered", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        errors = _beside(e)
    return _board(request, open_=[], closed=[], values=values, errors=errors, status_code=400)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def show(request: Request, who: Me, request_id: int) -> Response:
    return _show(request, who, request_id, errors={}, values={"on": beijing_today().isoformat()})


def _show(request: Request, who: Visit, request_id: int, *, errors: dict, values: dict,
          status_code: int = 200) -> Response:
    with unit(request) as session:
        agency_id = _allowed(session, who, "查看依申请公开登记")
        view = register.show_request(session, agency_id=agency_id, request_id=request_id, today=beijing_today())
    return page(request, "request.html", title=f"依申请公开 第{request_id}号", nav="requests", r=view, steps=STEPS,
                outcomes={key: name for key, (name, _) in OUTCOMES.items()}, applicant_types=APPLICANT_TYPES,
                channels=CHANNELS, errors=errors, values=values, status_code=status_code)


@router.post("/requests/{request_id}/steps")
def step(request: Request, who: Posted, request_id: int, kind: Annotated[str, Form()],
         on: Annotated[str, Form()] = "", days: Annotated[str, Form()] = "", deadline: Annotated[str, Form()] = "",
         amount: Annotated[str, Form()] = "", outcome: Annotated[str, Form()] = "",
         note: Annotated[str, Form()] = "") -> Response:
    values = {"kind": kind, "on": on, "days": days, "deadline": deadline, "amount": amount, "outcome": outcome,
              "note": note}
    try:
        chosen = EventKind(kind) if kind in set(EventKind) else None
        if chosen is None:
            raise _FieldError("kind", "请选择办理步骤")
        with unit(request) as session:
            agency_id = _allowed(session, who, "办理依申请公开申请")
            register.record_event(
                session, agency_id=agency_id, request_id=request_id, kind=chosen, on=_date(on, "on"),
                actor=who.actor, today=beijing_today(), days=_int(days, "days") if days else None,
                deadline=_date(deadline, "deadline") if deadline else None, note=note,
                outcome=outcome or None, amount=amount or None)
        return RedirectResponse(f"/requests/{request_id}?done=recorded", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        errors = _beside(e)
    return _show(request, who, request_id, errors=errors, values=values, status_code=400)


@router.get("/appeals", response_class=HTMLResponse)
def appeal_list(request: Request, who: Me) -> Response:
    return _appeals(request, who, errors={}, values={"filed": beijing_today().isoformat()})


def _appeals(request: Request, who: Visit, *, errors: dict, values: dict, status_code: int = 200) -> Response:
    with unit(request) as session:
        agency_id = _allowed(session, who, "查看行政复议和诉讼登记")
        rows = appeals.appeal_views(session, agency_id=agency_id)
    return page(request, "appeals.html", title="行政复议、行政诉讼", nav="requests", rows=rows, kinds=APPEAL_KINDS,
                results=RESULT_NAMES, errors=errors, values=values, status_code=status_code)


@router.post("/appeals/new")
def appeal_add(request: Request, who: Posted, kind: Annotated[str, Form()] = "",
               filed: Annotated[str, Form()] = "", request_id: Annotated[str, Form()] = "",
               ref: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
    values = {"kind": kind, "filed": filed, "request_id": request_id, "ref": ref, "note": note}
    try:
        with unit(request) as session:
            agency_id = _allowed(session, who, "登记行政复议或诉讼")
            appeals.add_appeal(session, agency_id=agency_id, kind=kind, filed_on=_date(filed, "filed"),
                               actor=who.actor, today=beijing_today(),
                               request_id=_int(request_id, "request_id") if request_id else None,
                               ref=ref.strip() or None, note=note)
        return RedirectResponse("/appeals?done=registered", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        errors = _beside(e, field=None if isinstance(e, _FieldError) else "")
    return _appeals(request, who, errors=errors, values=values, status_code=400)


@router.post("/appeals/{appeal_id}/close")
def appeal_close(request: Request, who: Posted, appeal_id: int, result: Annotated[str, Form()] = "",
                 closed: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
    try:
        with unit(request) as session:
            agency_id = _allowed(session, who, "办结行政复议或诉讼")
            appeals.close_appeal(session, agency_id=agency_id, appeal_id=appeal_id, result=result,
                                 closed_on=_date(closed, "closed"), actor=who.actor, today=beijing_today(),
                                 note=note)
        return RedirectResponse("/appeals?done=recorded", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        errors = _beside(e, field=f"close-{appeal_id}")
    return _appeals(request, who, errors=errors, values={}, status_code=400)


class _FieldError(GongkaiError):
    """A form field the route could not read (a date, a number), named."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _beside(error: GongkaiError, *, field: str | None = None) -> dict[str, str]:
    """Where the form shows a refusal: beside `field` if given, else beside the field it names (a register
    rule about the request as a whole goes above the form)."""
    if field is not None:
        return {field: str(error)}
    if isinstance(error, _FieldError):
        return {error.field: str(error)}
    if isinstance(error, WorkflowRefused):
        return {"": str(error)}
    return {_field_of(str(error)): str(error)}


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _FieldError(field, f"'{value}' 不是日期（年-月-日）") from None


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise _FieldError(field, f"'{value}' 不是整数") from None


def _field_of(message: str) -> str:
    """Which form field a register message is about (they name it: 'unknown applicant type …')."""
    for field, words in (("applicant_type", "applicant type"), ("channel", "channel"), ("outcome", "outcome"),
                         ("amount", "amount"), ("kind", "appeal kind"), ("result", "result")):
        if words in message:
            return field
    return ""
