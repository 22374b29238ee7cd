"""信息: the list, 撰写/修改 (a form checked exactly as an item file is), the item page (审核 with each channel's
preview side by side and the diff against the previous revision), decisions and withdrawal.

Handlers parse the form, call one domain function with the authenticated person, and answer: the rules
(roles, separation of duties, validation, channel limits) are the domain's, the same as the CLI's."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlmodel import select
from starlette.datastructures import UploadFile

from channels import REGISTRY
from pipeline.core.agencies import agency_row
from pipeline.core.catalogue import KINDS, VALIDITY
from pipeline.core.clock import beijing_today, utcnow
from pipeline.core.errors import InputRejected, NotFound, Problem
from pipeline.core.models import Decision, Item, ItemStatus, Revision
from pipeline.core.reader import reader_of
from pipeline.engine.decisions import review_and_hand_over, withdraw_and_take_down
from pipeline.items import reading, views, workflow
from pipeline.items.itemfile import Limits, read_form
from pipeline.items.preview import channel_previews, revision_changes, revision_file
from pipeline.web.deps import Me, Posted, Visit, unit
from pipeline.web.pages import page
from pipeline.web.security import PREVIEW_CSP

router = APIRouter()
FIELD_NAMES = ("title", "category", "kind", "channels", "doc_number", "publisher", "created_on", "publish_at",
               "summary", "validity", "interprets", "cover", "body", "id")
MAX_UPLOAD_BYTES = 10_000_000
TODO_ROWS = 50  # the oldest waiting items; a reviewer works from the top


@router.get("/", response_class=HTMLResponse)
def todo(request: Request, who: Me) -> Response:
    with unit(request) as session:
        agency_id = agency_row(session, who.actor.agency_code).id
        queue = views.review_queue(session, agency_id=agency_id, roles=who.actor.roles, login=who.actor.login,
                                   limit=TODO_ROWS)
        mine = views.authored(session, agency_id=agency_id, login=who.actor.login)
    return page(request, "todo.html", title="我的待办", nav="todo", queue=queue, mine=mine, now=utcnow(),
                rows=TODO_ROWS)


@router.get("/items", response_class=HTMLResponse)
def item_list(request: Request, who: Me, status: str = "") -> Response:
    wanted = ItemStatus(status) if status in set(ItemStatus) else None
    with unit(request) as session:
        rows = reading.list_items(reader_of(session), agency_id=agency_row(session, who.actor.agency_code).id,
                                  status=wanted)
    return page(request, "items.html", title="信息列表", nav="items", rows=rows, status=status,
                statuses=list(ItemStatus))


@router.get("/items/new", response_class=HTMLResponse)
def new_form(request: Request, who: Me) -> Response:
    agency = request.app.state.settings.agencies[who.actor.agency_code]
    values = {"channels": agency.item_channels, "created_on": beijing_today().isoformat()}
    return _compose(request, who, values=values)


@router.post("/items/new")
async def create(request: Request, who: Posted) -> Response:
    return await _submit(request, who, item_id=None)


@router.get("/items/{item_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, who: Me, item_id: int) -> Response:
    with unit(request) as session:
        item, revision = _current(session, who, item_id)
    values = {name: getattr(revision, name) for name in FIELD_NAMES if hasattr(revision, name)}
    values.update(id=item.ref, body=revision.body, created_on=revision.created_on.isoformat(),
                  publish_at=_local_input(revision.publish_at), cover="")
    return _compose(request, who, values=values, item_id=item_id)


@router.post("/items/{item_id}/edit")
async def revise(request: Request, who: Posted, item_id: int) -> Response:
    return await _submit(request, who, item_id=item_id)


async def _submit(request: Request, who: Visit, *, item_id: int | None) -> Response:
    settings = request.app.state.settings
    form = await request.form()
    values: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in FIELD_NAMES if name != "channels"}
    values["channels"] = [str(c) for c in form.getlist("channels")]
    body = str(form.get("body", "")).replace("\r\n", "\n")
    if item_id is not None:
        with unit(request) as session:
            item, _ = _current(session, who, item_id)
        values["id"] = item.ref
    elif not values["id"]:
        values["id"] = f"web-{utcnow():%Y%m%d%H%M%S%f}"
    with tempfile.TemporaryDirectory(prefix="gongkai-form-") as folder:
        problems = await _save_uploads(form, Path(folder), values)
        fields = {k: v for k, v in values.items() if k != "body"}
        record, found = read_form(fields, body, folder=Path(folder),
                                  limits=Limits(settings.items.max_title_chars, settings.items.max_body_bytes))
        problems += found
        if not problems and record is not None:
            try:
                with unit(request) as session:
                    done = workflow.submit_items(session, settings=settings, agency_code=who.actor.agency_code,
                                                 actor=who.actor, records=[record])
                return RedirectResponse(f"/items/{done[0].item_id}?done=submitted", status_code=303)
            except InputRejected as e:
                problems = e.problems
    values["body"] = body
    return _compose(request, who, values=values, item_id=item_id, problems=problems, status_code=400)


async def _save_uploads(form: Any, folder: Path, values: dict[str, Any]) -> list[Problem]:
    """Uploaded images into the form's folder, under their own names (the body names them); the cover's name
    becomes the cover field. Checked as item files' images are, when the record is read."""
    problems = []
    for field in ("images", "cover_file"):
        for upload in form.getlist(field):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            name = Path(upload.filename).name
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES or not name or name.startswith("."):
                problems.append(Problem("工作台", 0, "cover" if field == "cover_file" else "body",
                                        f"image {name or '?'}: not accepted (at most 10 MB, a plain file name)"))
                continue
            (folder / name).write_bytes(data)
            if field == "cover_file":
                values["cover"] = name
    return problems


def _compose(request: Request, who: Visit, *, values: dict[str, Any], item_id: int | None = None,
             problems: list[Problem] | None = None, status_code: int = 200) -> Response:
    settings = request.app.state.settings
    agency = settings.agencies[who.actor.agency_code]
    errors: dict[str, list[str]] = {}
    for problem in problems or []:
        errors.setdefault(problem.field if problem.field in FIELD_NAMES else "", []).append(problem.message)
    limits = {name: REGISTRY[settings.channels[name].kind].max_title_chars
              for name in agency.channels if name in settings.channels}
    return page(request, "compose.html", title="修改信息" if item_id else "撰写信息", nav="new", values=values,
                item_id=item_id, errors=errors, kinds=KINDS, categories=agency.categories or
                settings.catalogue.categories, channels=agency.channels, validity=VALIDITY, limits=limits,
                max_title=settings.items.max_title_chars, status_code=status_code)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def show(request: Request, who: Me, item_id: int, revision: int | None = None) -> Response:
    settings = request.app.state.settings
    with unit(request) as session:
        item, _ = _current(session, who, item_id)
        data = reading.show_item(reader_of(session), item_id=item_id, agency_id=item.agency_id)
        number = revision if revision in range(1, item.current_revision + 1) else item.current_revision
        previews = channel_previews(session, settings, item_id=item_id, revision=number)
        changes = revision_changes(session, item_id=item_id, revision=number)
        refusal = workflow.review_refusal(session, agency_code=who.actor.agency_code, item_id=item_id,
                                          actor=who.actor)
        withdraw_refusal = workflow.withdraw_refusal(session, agency_code=who.actor.agency_code, item_id=item_id,
                                                     actor=who.actor)
        body = session.exec(select(Revision.body).where(Revision.item_id == item_id,
                                                        Revision.number == number)).one()
        names = views.names_of(session, {data["author"], *(d["reviewer"] for d in data["decisions"])})
    return page(request, "item.html", title=data["title"], nav="items", item=data, number=number, body=body,
                names=names, kinds=KINDS,
                previews=previews, changes=changes, refusal=refusal, may_decide=refusal is None,
                may_edit=who.actor.login == item.author and item.status in (ItemStatus.REJECTED,
                                                                            ItemStatus.SUBMITTED),
                may_withdraw=withdraw_refusal is None)


@router.get("/items/{item_id}/preview/{revision}/{channel}/{part}")
def preview(request: Request, who: Me, item_id: int, revision: int, channel: str, part: str) -> Response:
    """One channel's rendered page, alone, for the review page's iframe: sandboxed, no script."""
    settings = request.app.state.settings
    with unit(request) as session:
        _current(session, who, item_id)
        found = {p.channel: p for p in channel_previews(session, settings, item_id=item_id, revision=revision)}
    if channel not in found or part not in found[channel].html:
        raise NotFound(f"item {item_id} has no {channel} part {part}")
    return HTMLResponse(found[channel].html[part], headers={"content-security-policy": PREVIEW_CSP})


@router.get("/items/{item_id}/preview/{revision}/{channel}/art_{same}/{name}")
def preview_file(request: Request, who: Me, item_id: int, revision: int, channel: str, same: int,
                 name: str) -> Response:
    """An image a preview page shows (the page names it relative to itself, as the static site does)."""
    with unit(request) as session:
        _current(session, who, item_id)
        if same != item_id:
            raise NotFound(f"item {item_id} has no file {name}")
        path = revision_file(session, request.app.state.settings, item_id=item_id, name=name)
    return FileResponse(path, headers={"content-security-policy": PREVIEW_CSP})


@router.post("/items/{item_id}/review")
def decide(request: Request, who: Posted, item_id: int, level: Annotated[str, Form()],
           revision: Annotated[int, Form()], decision: Annotated[str, Form()],
           comment: Annotated[str, Form()] = "", late_reason: Annotated[str, Form()] = "") -> Response:
    chosen = Decision.APPROVE if decision == "approve" else Decision.REJECT
    with unit(request) as session:
        _current(session, who, item_id)
    review_and_hand_over(request.app.state.settings, request.app.state.engine, agency_code=who.actor.agency_code,
                         decisions=[(item_id, revision, level)], actor=who.actor, decision=chosen, comment=comment,
                         late_reason=late_reason)
    done = "rejected" if chosen == Decision.REJECT else "approved"
    return RedirectResponse(f"/items/{item_id}?done={done}", status_code=303)


@router.post("/review")
def decide_many(request: Request, who: Posted, pick: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    """批量通过: the items ticked in the to-do list, each at the level and revision the list showed; one refusal
    decides none."""
    decisions = []
    for value in pick:
        item_id, _, rest = value.partition(":")
        revision, _, level = rest.partition(":")
        if not (item_id.isdigit() and revision.isdigit() and level):
            raise InputRejected("选择的信息无法识别；请刷新待办列表后重试。")
        decisions.append((int(item_id), int(revision), level))
    if not decisions:
        return RedirectResponse("/", status_code=303)
    review_and_hand_over(request.app.state.settings, request.app.state.engine, agency_code=who.actor.agency_code,
                         decisions=decisions, actor=who.actor, decision=Decision.APPROVE)
    return RedirectResponse("/?done=approved", status_code=303)


@router.post("/items/{item_id}/withdraw")
def withdraw(request: Request, who: Posted, item_id: int, reason: Annotated[str, Form()] = "") -> Response:
    with unit(request) as session:
        _current(session, who, item_id)
    withdraw_and_take_down(request.app.state.settings, request.app.state.engine, agency_code=who.actor.agency_code,
                           item_id=item_id, actor=who.actor, reason=reason)
    return RedirectResponse(f"/items/{item_id}?done=withdrawn", status_code=303)


def _current(session: Any, who: Visit, item_id: int) -> tuple[Item, Revision]:
    """The item and its newest revision, if it belongs to the person's agency (else: no such item)."""
    item = session.get(Item, item_id)
    if item is None or item.agency_id != agency_row(session, who.actor.agency_code).id:
        raise NotFound(f"no item {item_id}")
    revision = session.exec(select(Revision).where(Revision.item_id == item_id,
                                                   Revision.number == item.current_revision)).one()
    return item, revision


def _local_input(value: Any) -> str:
    from pipeline.web.pages import beijing

    return beijing(value).replace(" ", "T") if value else ""
