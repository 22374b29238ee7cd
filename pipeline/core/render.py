"""Rendering: one Jinja2 environment over templates/, Markdown bodies sanitised with nh3, plain views.

Templates get a plain ItemView, never an ORM row. `.html` templates are autoescaped, `.txt` are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from pipeline.core.catalogue import KINDS

SHANGHAI_DATE = "%Y-%m-%d"
TEMPLATES = Path(__file__).parents[2] / "templates"  # beside pipeline/ in a checkout and in site-packages
ALLOWED_TAGS = {"p", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "a", "img", "table", "thead",
                "tbody", "tr", "th", "td", "blockquote", "code", "pre", "hr", "br", "del", "sup", "sub"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
                      "th": {"style", "colspan", "rowspan"}, "td": {"style", "colspan", "rowspan"}}


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    index_no: str


@dataclass(frozen=True)
class ItemView:
    """What every template sees of an item revision."""

    id: int
    index_no: str
    title: str
    summary: str
    body_html: Markup
    category: str
    kind: str
    kind_name: str
    publisher: str
    agency_name: str
    doc_number: str
    created_on: date
    published_on: date
    validity: str
    canonical_url: str
    slug: str
    disclosure_method: str = "主动公开"
    interprets: Link | None = None
    interpreted_by: tuple[Link, ...] = field(default_factory=tuple)

    @cached_property
    def body_text(self) -> str:
        """The body as plain text, made from body_html (one Markdown pass for both) when a template asks for it."""
        return html_to_text(self.body_html)

    @property
    def header(self) -> dict[str, str]:
        """The disclosure catalogue's standard header (目录系统核心元数据), in display order."""
        return {
            "索引号": self.index_no, "主题分类": self.category, "发布机构": self.publisher,
            "文号": self.doc_number or "无", "成文日期": self.created_on.strftime(SHANGHAI_DATE),
            "公开日期": self.published_on.strftime(SHANGHAI_DATE), "公开方式": self.disclosure_method,
            "有效性": self.validity or "有效",
        }


@cache
def environment() -> Environment:
    """The one Jinja2 environment."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the package: no stat() of the file on every render
    )
    env.filters["date"] = lambda value: value.strftime(SHANGHAI_DATE) if isinstance(value, date | datetime) else ""
    return env


def render_template(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context)


@cache  # templates/ is part of the installed package: read once per process, not once per delivery
def template_names(kind: str, *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The per-message templates of a channel kind: every file in templates/<kind>/ not starting with '_'."""
    folder = TEMPLATES / kind
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("_")
                        and p.name not in skip)) if folder.is_dir() else ()


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown_to_html(text: str, images: Mapping[str, str] | None = None) -> Markup:
    """Markdown to sanitised HTML; body headings start at h2 (the title is the h1); image sources mapped."""
    md = _markdown()
    tokens = md.parse(text)
    for child in (c for t in tokens for c in (t.children or []) if c.type == "image"):
        src = child.attrGet("src")
        if images and src in images:
            child.attrSet("src", images[src])
    headings = [t for t in tokens if t.type in ("heading_open", "heading_close")]
    shift = 2 - min((int(t.tag[1]) for t in headings), default=2)  # the body's top level becomes h2
    for token in headings:
        token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
    return clean_html(md.renderer.render(tokens, md.options, {}))


def clean_html(html: str, files: Mapping[str, str] | None = None) -> Markup:
    """HTML made safe to publish (nh3: the tags and attributes above, links to http, https and mailto); the links
    named in `files` (href="name") point where the file is published."""
    for src, target in (files or {}).items():
        html = html.replace(f'href="{escape(src)}"', f'href="{escape(target)}"')
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer")
    return Markup(clean)  # noqa: S704  (sanitised by nh3 just above)


def markdown_to_text(text: str) -> str:
    """A plain-text rendition (Weibo, digests): the text of the sanitised HTML, blocks on their own lines."""
    return html_to_text(markdown_to_html(text))


def html_to_text(body_html: Markup) -> str:
    """The plain text of HTML from markdown_to_html (images dropped, so their sources do not matter)."""
    html = re.sub(r"<img[^>]*>", "", str(body_html))
    html = re.sub(r"</(p|h\d|li|tr|blockquote|pre)>", "\n", html)
    plain = nh3.clean(html, tags=set())
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return re.sub(r"\n{2,}", "\n", plain).strip()


def kind_name(kind: str) -> str:
    return KINDS.get(kind, (kind, ""))[0]
