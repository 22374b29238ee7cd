"""Rendering console pages: one Jinja2 environment over templates/console/, autoescaped, with what every page
shows (the person, their agency, the CSRF token of their session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pipeline.core.clock import SHANGHAI
from pipeline.core.render import TEMPLATES
from pipeline.web.security import csrf_token

templates = Jinja2Templates(directory=str(TEMPLATES))
STATUS = {"submitted": "审核中", "approved": "已批准", "rejected": "已退回", "withdrawn": "已撤回",
          "published": "已发布", "pending": "待发送", "sending": "发送中", "retry_wait": "等待重试",
          "dead": "发送失败", "unknown": "结果不明", "withdrawing": "撤回中", "draft": "草稿"}
# messages a redirect may ask for (?done=...): fixed texts, never what the URL says
DONE = {"submitted": "已提交审核。", "approved": "已通过本级审核。", "rejected": "已退回。", "withdrawn": "已撤回。",
        "retried": "已重新排队发送。", "logged_out": "已退出。", "registered": "已登记。", "recorded": "已记录。",
        "saved": "已保存。", "checked": "渠道检查通过；等待中的发送已恢复。",
        "check-failed": "渠道检查未通过：渠道已暂停，见下表的原因与修复办法。"}


def beijing(value: datetime | str | None, *, seconds: bool = False) -> str:
    """A moment as staff read it: Beijing time, to the minute (views hand over ISO text or datetimes)."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def waited(since: datetime | None, now: datetime) -> str:
    """How long something has waited, as staff say it: 3天5小时, 2小时10分, 5分钟."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes % 60}分"
    return f"{minutes}分钟"


def link(url: str | None) -> str:
    """A channel's public URL, only if it is a web address: a channel's answer never becomes a script link."""
    return url if url and url.lower().startswith(("https://", "http://", "/")) and not url.startswith("//") else ""


CHANNEL_KINDS = {"portal": "门户网站", "disclosure": "政府信息公开目录", "wechat": "微信公众号", "weibo": "微博",
                 "wordpress": "WordPress 网站", "webhook": "合作媒体（webhook）"}  # what staff call each kind


def channel_kind(kind: str) -> str:
    return CHANNEL_KINDS.get(kind, kind)


templates.env.filters["beijing"] = beijing
templates.env.filters["channel_kind"] = channel_kind
templates.env.filters["link"] = link
templates.env.globals["STATUS"] = STATUS
templates.env.globals["waited"] = waited


def page(request: Request, name: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    visit = getattr(request.state, "visit", None)
    done = DONE.get(request.query_params.get("done", ""))
    context = {
        "title": title, "actor": visit.actor if visit else None, "csrf": csrf_token(visit.token) if visit else "",
        "agency_name": visit.agency_name if visit else "", "flashes": [done] if done else [], **context,
    }
    return templates.TemplateResponse(request, f"console/{name}", context, status_code=status_code)
