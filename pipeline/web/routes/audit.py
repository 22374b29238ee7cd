"""审计 (admin): the audit trail read back with filters — an item, a person, a Beijing date — newest last, as
`gongkai audit log` prints it; and whether the chain verifies."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from pipeline.core.models import Role
from pipeline.records.audit_log import read_log
from pipeline.records.authority import require
from pipeline.web.deps import Me, unit
from pipeline.web.pages import page

router = APIRouter()
LIMIT = 500


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, who: Me, item: str = "", actor: str = "", since: str = "") -> Response:
    errors = {}
    item_id = int(item) if item.strip().isdigit() else None
    if item.strip() and item_id is None:
        errors["item"] = f"'{item}' 不是信息编号"
    try:
        since_on = date.fromisoformat(since) if since.strip() else None
    except ValueError:
        since_on, errors["since"] = None, f"'{since}' 不是日期（年-月-日）"
    with unit(request) as session:
        require(session, who.actor, Role.ADMIN, agency_code=who.actor.agency_code, doing="查看审计记录")
        lines = [] if errors else read_log(session, item_id=item_id, actor=actor.strip() or None, since=since_on,
                                           limit=LIMIT)
    return page(request, "audit.html", title="审计", nav="audit", lines=lines, errors=errors, limit=LIMIT,
                values={"item": item, "actor": actor, "since": since}, status_code=400 if errors else 200)
