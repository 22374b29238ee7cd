"""登录 and 退出. A login sets the session cookie to a personal token (label "console"); the login form itself
carries a one-time value also set as a cookie, so another site cannot log a browser in as someone else."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.core.clock import utcnow
from pipeline.records.authentication import log_in, log_out
from pipeline.web.deps import Posted, unit
from pipeline.web.pages import page
from pipeline.web.security import SESSION_COOKIE

router = APIRouter()
LOGIN_COOKIE = "gongkai_login"


def safe_next(value: str | None) -> str:
    """Only a path of this site: never another host (//evil, https://…), never a backslash trick."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _form(request: Request, *, next_: str, login: str = "", error: str = "", status_code: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(request, "login.html", title="登录", next=safe_next(next_), login=login, error=error,
                    nonce=nonce, status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login",
                        secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    return request.app.state.settings.web.secure_cookies or request.url.scheme == "https"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002  (the query parameter's name)
    return _form(request, next_=next)


@router.post("/login")
def login(request: Request, login: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          nonce: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:  # noqa: A002
    if not nonce or not secrets.compare_digest(nonce, request.cookies.get(LOGIN_COOKIE, "")):
        return _form(request, next_=next, login=login, error="登录页面已过期，请重新输入。", status_code=400)
    settings = request.app.state.settings
    with unit(request) as session:
        result = log_in(session, login=login.strip(), password=password, now=utcnow(), label="console",
                        settings=settings)
    if result.actor is None or result.token is None:
        return _form(request, next_=next, login=login, error=_chinese(result.refused), status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    # a browser-session cookie: gone when the browser closes; the server ends it after web.idle_minutes idle
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax", secure=_secure(request))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Posted) -> Response:
    with unit(request) as session:
        log_out(session, who.token, now=utcnow())
    response = RedirectResponse("/login?done=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _chinese(refused: str | None) -> str:
    """The refusal as staff read it; the domain's English message is kept for the audit trail."""
    text = refused or ""
    if "locked" in text:
        return "登录失败次数过多，账号已暂时锁定，请稍后再试。"
    if "disabled" in text:
        return "该账号已停用，请联系管理员。"
    return "用户名或密码错误。"
