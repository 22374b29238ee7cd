"""管理 (admin role): people — add, roles, disable, a new password — and each agency's review levels (a new
version applies to items submitted after it). Every check is the domain's (pipeline.records.people, levels):
a person without the admin role gets its audited 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.core.catalogue import KINDS
from pipeline.core.clock import utcnow
from pipeline.core.errors import Forbidden, GongkaiError
from pipeline.core.models import Role
from pipeline.records import levels as level_sets
from pipeline.records import people
from pipeline.records.authority import require
from pipeline.web.deps import Me, Posted, Visit, unit
from pipeline.web.pages import page

router = APIRouter()
ROLE_NAMES = {
    Role.ADMIN: "系统管理员", Role.AUTHOR: "撰稿人", Role.SECTION_HEAD: "处室负责人（处室审核）",
    Role.SECRECY_OFFICER: "保密审查员", Role.OFFICE_DIRECTOR: "办公室负责人（审发）",
    Role.LEGALITY_REVIEWER: "合法性审核员", Role.DISCLOSURE_OFFICE: "政务公开办", Role.OPERATOR: "运维人员",
}


def _people(request: Request, who: Visit, *, errors: dict, values: dict, status_code: int = 200) -> Response:
    with unit(request) as session:
        require(session, who.actor, Role.ADMIN, agency_code=who.actor.agency_code, doing="管理用户")
        rows = people.list_people(session, agency_code=who.actor.agency_code)
    return page(request, "admin_people.html", title="用户管理", nav="admin", rows=rows, roles=ROLE_NAMES,
                errors=errors, values=values, status_code=status_code)


@router.get("/admin/people", response_class=HTMLResponse)
def people_page(request: Request, who: Me) -> Response:
    return _people(request, who, errors={}, values={})


@router.post("/admin/people")
async def add(request: Request, who: Posted) -> Response:
    form = await request.form()
    values = {key: str(form.get(key, "")).strip() for key in ("login", "name", "department")}
    roles = [str(r) for r in form.getlist("roles")]
    password = str(form.get("password", ""))
    try:
        with unit(request) as session:
            people.add_person(session, actor=who.actor, login=values["login"], name=values["name"],
                              department=values["department"], agency_code=who.actor.agency_code, roles=roles,
                              password=password, settings=request.app.state.settings, now=utcnow())
        return RedirectResponse("/admin/people?done=saved", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        return _people(request, who, errors={_field(str(e)): str(e)}, values={**values, "roles": roles},
                       status_code=400)


@router.post("/admin/people/{login}/roles")
async def roles(request: Request, who: Posted, login: str) -> Response:
    form = await request.form()
    wanted = {str(r) for r in form.getlist("roles")}
    with unit(request) as session:
        held = {r for r in people.person_view(session, people.find_person(session, login))["roles"].get(
            who.actor.agency_code, [])}
        people.change_roles(session, actor=who.actor, login=login, agency_code=who.actor.agency_code,
                            add=sorted(wanted - held), remove=sorted(held - wanted), now=utcnow())
    return RedirectResponse("/admin/people?done=saved", status_code=303)


@router.post("/admin/people/{login}/disable")
def disable(request: Request, who: Posted, login: str) -> Response:
    with unit(request) as session:
        people.disable_person(session, actor=who.actor, login=login, now=utcnow())
    return RedirectResponse("/admin/people?done=saved", status_code=303)


@router.post("/admin/people/{login}/password")
def password(request: Request, who: Posted, login: str, new: Annotated[str, Form()] = "") -> Response:
    try:
        with unit(request) as session:
            people.set_password(session, actor=who.actor, login=login, password=new,
                                settings=request.app.state.settings, now=utcnow())
        return RedirectResponse("/admin/people?done=saved", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        return _people(request, who, errors={f"password-{login}": str(e)}, values={}, status_code=400)


def _levels(request: Request, who: Visit, *, error: str = "", status_code: int = 200) -> Response:
    with unit(request) as session:
        require(session, who.actor, Role.ADMIN, agency_code=who.actor.agency_code, doing="管理审核环节")
        rows = level_sets.show_levels(session, agency_code=who.actor.agency_code)
    return page(request, "admin_levels.html", title="审核环节", nav="admin", rows=rows, roles=ROLE_NAMES,
                kinds=KINDS, error=error, status_code=status_code)


@router.get("/admin/levels", response_class=HTMLResponse)
def levels_page(request: Request, who: Me) -> Response:
    return _levels(request, who)


@router.post("/admin/levels")
async def set_levels(request: Request, who: Posted) -> Response:
    form = await request.form()
    names, roles_ = form.getlist("name"), form.getlist("role")
    chosen = [{"name": str(n).strip(), "role": str(r)} for n, r in zip(names, roles_, strict=False) if str(n).strip()]
    kind = str(form.get("kind", "")) or None
    try:
        with unit(request) as session:
            level_sets.set_levels(session, actor=who.actor, agency_code=who.actor.agency_code, kind=kind,
                                  levels=chosen, now=utcnow())
        return RedirectResponse("/admin/levels?done=saved", status_code=303)
    except Forbidden:
        raise
    except GongkaiError as e:
        return _levels(request, who, error=str(e), status_code=400)


def _field(message: str) -> str:
    for field in ("login", "name", "password", "role"):
        if message.lower().startswith(field) or f" {field}" in message.lower():
            return field
    return ""
