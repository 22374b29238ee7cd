"""Who is asking: the session cookie's token resolved to an authenticated person (or a redirect to 登录), and
the CSRF check every form post passes before its handler runs."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from pipeline.core.clock import utcnow
from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.records.actor import Actor
from pipeline.records.authentication import actor_from_token
from pipeline.web.security import SESSION_COOKIE, csrf_valid


class LoginRequired(Exception):
    """No valid session: the handler in app.py sends the browser to 登录 and back."""


class BadCsrf(Exception):
    """A form post without the token of the session that shows the form."""


@dataclass(frozen=True)
class Visit:
    actor: Actor
    token: str
    agency_name: str


def settings(request: Request) -> Settings:
    return request.app.state.settings


def unit(request: Request) -> AbstractContextManager[Session]:
    """One unit of work, opened by the handler with `with`: committed before the handler answers (so the page
    a redirect leads to sees it), rolled back if it raises."""
    return session_scope(request.app.state.engine)


def visit(request: Request) -> Visit:
    token = request.cookies.get(SESSION_COOKIE)
    config: Settings = request.app.state.settings
    actor = None
    if token:
        with unit(request) as session:  # resolving a token marks it used: the idle clock starts again
            actor = actor_from_token(session, token, now=utcnow(), idle_minutes=config.web.idle_minutes)
    if actor is None:
        raise LoginRequired
    found = Visit(actor, token, config.agencies[actor.agency_code].name)
    request.state.visit = found
    return found


async def checked(request: Request, who: Me) -> Visit:
    """A form post by the session's person with the session's CSRF token; anything else is refused."""
    form = await request.form()
    presented = form.get("csrf")
    if not csrf_valid(who.token, presented if isinstance(presented, str) else None):
        raise BadCsrf
    return who


Me = Annotated[Visit, Depends(visit)]            # a page for the signed-in person
Posted = Annotated[Visit, Depends(checked)]      # a form post by the signed-in person, CSRF checked
