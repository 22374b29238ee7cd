"""运维: deliveries pending, failed, outcome unknown and flagged for a person, with retry; per channel, the last
success, the last error and whether it is paused; publications by verification, and those whose live copy
differs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.engine.decisions import check_and_resume, replay_and_hand_over
from pipeline.engine.overview import delivery_overview
from pipeline.engine.runtime import Engine
from pipeline.web.deps import Me, Posted, unit
from pipeline.web.pages import page

router = APIRouter()


@router.get("/ops", response_class=HTMLResponse)
def deliveries(request: Request, who: Me) -> Response:
    with unit(request) as session:
        overview = delivery_overview(session, agency_code=who.actor.agency_code)
    return page(request, "ops.html", title="运维", nav="ops", rows=overview.rows, health=overview.health,
                checked=overview.checked, differs=overview.differing, may_retry="operator" in who.actor.roles)


@router.post("/ops/deliveries/{delivery_id}/retry")
def retry(request: Request, delivery_id: int, who: Posted) -> Response:
    replay_and_hand_over(request.app.state.settings, request.app.state.engine, agency_code=who.actor.agency_code,
                         delivery_id=delivery_id, actor=who.actor)
    return RedirectResponse("/ops?done=retried", status_code=303)


@router.post("/ops/channels/{name}/check")
def check(request: Request, name: str, who: Posted) -> Response:
    """gongkai channels check NAME from the console: pause it if it fails, resume it (and send what waited)."""
    settings = request.app.state.settings
    [done] = check_and_resume(Engine.build(settings, request.app.state.engine), names=[name], actor=who.actor,
                              agency_code=who.actor.agency_code)
    return RedirectResponse(f"/ops?done={'checked' if done.ok else 'check-failed'}", status_code=303)
