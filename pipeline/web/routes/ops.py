"""运维: deliveries pending, failed, outcome unknown and flagged for a person, with retry; per channel, the last
success, the last error and whether it is paused; publications by verification, and those whose live copy
differs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.core.agencies import agency_row
from pipeline.engine.decisions import check_and_resume, replay_and_hand_over
from pipeline.engine.runtime import Engine
from pipeline.engine.verify import differing, verification_counts
from pipeline.items import views
from pipeline.web.deps import Me, Posted, unit
from pipeline.web.pages import page

router = APIRouter()


@router.get("/ops", response_class=HTMLResponse)
def deliveries(request: Request, who: Me) -> Response:
    with unit(request) as session:
        rows = views.list_deliveries(session, agency_id=agency_row(session, who.actor.agency_code).id,
                                     failed_only=False)
        health = views.channel_health(session, agency_id=agency_row(session, who.actor.agency_code).id)
        agency_id = agency_row(session, who.actor.agency_code).id
        checked, differs = verification_counts(session, agency_id=agency_id), differing(session, agency_id=agency_id)
    return page(request, "ops.html", title="运维", nav="ops", rows=rows, health=health, checked=checked,
                differs=differs, may_retry="operator" in who.actor.roles)


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
