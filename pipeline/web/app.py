"""The console's application: `create_app(settings, engine)`, served by `gongkai serve` (uvicorn).

Errors become pages, never tracebacks: a domain refusal (missing role, self-review, a stale decision) is a
403 page with the reason, an unknown id a 404, anything unexpected a 500 page while the traceback goes to the
server's log."""

from __future__ import annotations

import logging
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError, NotFound
from pipeline.core.render import TEMPLATES
from pipeline.web.deps import BadCsrf, LoginRequired
from pipeline.web.pages import page
from pipeline.web.routes import admin, audit, auth, items, ops, reports, requests
from pipeline.web.security import SecurityHeaders

log = logging.getLogger("gongkai.web")
STATIC = TEMPLATES / "console" / "static"


def create_app(settings: Settings, engine: sa.Engine) -> FastAPI:
    app = FastAPI(title="gongkai 工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.engine = settings, engine
    app.add_middleware(SecurityHeaders)
    for router in (auth.router, items.router, ops.router, requests.router, reports.router, admin.router,
                   audit.router):
        app.include_router(router)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        path = STATIC / name
        if "/" in name or not path.is_file():
            raise NotFound(f"no file {name}")
        return FileResponse(path, headers={"cache-control": "max-age=3600"})

    @app.exception_handler(LoginRequired)
    def login_required(request: Request, _: Exception) -> Response:
        if request.method != "GET":
            return _error(request, 401, "需要登录", "会话已过期或尚未登录，请重新登录后再操作。")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(BadCsrf)
    def bad_csrf(request: Request, _: Exception) -> Response:
        return _error(request, 403, "请求被拒绝",
                      "表单已过期或来源不明（缺少有效的校验码），操作未执行。请返回页面重试。")

    @app.exception_handler(NotFound)
    def not_found(request: Request, error: Exception) -> Response:
        return _error(request, 404, "未找到", str(error))

    @app.exception_handler(GongkaiError)
    def refused(request: Request, error: Exception) -> Response:
        return _error(request, 403, "操作被拒绝", str(error))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> Response:
        heading = {404: "未找到", 405: "不支持的操作"}.get(error.status_code, "请求有误")
        return _error(request, error.status_code, heading, "")

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, error: RequestValidationError) -> Response:
        fields = "、".join(str(e["loc"][-1]) for e in error.errors())
        return _error(request, 400, "请求有误", f"缺少或无效的字段：{fields}")

    @app.exception_handler(Exception)
    def crashed(request: Request, error: Exception) -> Response:
        log.exception("console error on %s %s", request.method, request.url.path)
        return _error(request, 500, "服务器内部错误", "操作未完成。错误已记入服务器日志，请联系运维人员。")

    return app


def _error(request: Request, status: int, heading: str, message: str) -> Response:
    return page(request, "error.html", title=heading, heading=heading, message=message, status=status,
                status_code=status)


def from_settings() -> FastAPI:
    """The app for the workspace whose configuration $GONGKAI_CONFIG (or ./gongkai.toml) names: what
    `gongkai serve --workers N` gives uvicorn as a factory, each worker process building its own."""
    from pipeline.core.config import load_settings
    from pipeline.core.db import make_engine

    settings = load_settings()
    return create_app(settings, make_engine(settings.database))
