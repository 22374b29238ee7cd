"""A synthetic agency's publications, as the messages a static site receives (tests/test_sites.py, bench/sites.py).

Items are spread evenly over the years given, oldest first, across every 主题分类 and 第二十条 kind, with a
政府信息公开指南 and an annual report each year and a few 制度. Dates are fixed, never today's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from markupsafe import Markup

from channels import REGISTRY, Message
from channels.static import StaticSite
from pipeline.core.catalogue import DEFAULT_CATEGORIES, KINDS
from pipeline.core.render import ItemView, render_template

ORG = "002668389"
WORDS = ("统计", "调查", "经济", "人口", "农业", "工业", "服务业", "价格", "就业", "能源", "投资", "消费")
ORDINARY_KINDS = [k for k in KINDS if k not in ("disclosure_guide", "disclosure_rules", "annual_report")]
RARE_WORD = "石梁飞瀑"  # in exactly one title: what the search test looks for


def site(kind: str, root: Path, title: str = "台州市统计局") -> StaticSite:
    adapter = REGISTRY[kind]
    config = adapter.Config(kind=kind, output_dir=root, public_url=f"http://example.invalid/{kind}", title=title)
    return adapter(kind, config, render=lambda name, context: render_template(f"{kind}/{name}", context))


def item(number: int, count: int, first_year: int, years: int) -> dict:
    """The number-th of `count` items spread over `years` years from 1 January of first_year."""
    day = _day(number, count, first_year, years)
    before = _day(number - 1, count, first_year, years) if number else None
    kind, category = ORDINARY_KINDS[number * 7 % len(ORDINARY_KINDS)], DEFAULT_CATEGORIES[number % 17]
    title = f"{day.year}年{WORDS[number % 12]}{WORDS[number * 5 % 12]}工作情况通报（第{number + 1}期）"
    if before is None or before.year != day.year:  # the year's first: last year's annual report
        kind, category, title = "annual_report", "信息公开年报", f"台州市统计局{day.year - 1}年政府信息公开工作年度报告"
    elif day.month == 3 and before.month != 3:  # the year's first in March: the guide, revised
        kind, category, title = "disclosure_guide", "机构信息", f"台州市统计局政府信息公开指南（{day.year}年修订）"
    elif number % 997 == 500:
        kind, category, title = "disclosure_rules", "政府建设", "台州市统计局政府信息公开保密审查制度"
    elif number == count // 2:
        title = f"关于{RARE_WORD}景区游客抽样调查的通知"
    serial = number + 1
    return {"id": serial, "title": title, "kind": kind, "category": category, "published_on": day,
            "index_no": f"{ORG}/{day.year}-{serial:06d}",
            "doc_number": f"台统〔{day.year}〕{serial}号" if number % 3 == 0 else ""}


def _day(number: int, count: int, first_year: int, years: int) -> date:
    start = date(first_year, 1, 1)
    return start + timedelta(days=number * (date(first_year + years, 1, 1) - start).days // count)


def message(kind: str, fields: dict) -> Message:
    view = ItemView(
        id=fields["id"], index_no=fields["index_no"], title=fields["title"], summary="",
        body_html=Markup(f"<p>{fields['title']}。正文从略。</p>"), category=fields["category"],
        kind=fields["kind"], kind_name=KINDS[fields["kind"]][0], publisher="市统计局", agency_name="台州市统计局",
        doc_number=fields["doc_number"], created_on=fields["published_on"], published_on=fields["published_on"],
        validity="有效", canonical_url=f"http://example.invalid/portal/art/{fields['published_on'].year}/"
                                      f"art_{fields['id']}.html", slug=f"art_{fields['id']}")
    context = {"item": view, "site_title": "台州市统计局", "root": "../../"}
    return Message(
        idempotency_key=f"{fields['id']}.1:{kind}", title=view.title, index_no=view.index_no,
        canonical_url=view.canonical_url, published_on=view.published_on, category=view.category, kind=view.kind,
        parts={"article.html": render_template(f"{kind}/article.html", context)}, metadata=view.header,
        slug=view.slug, kind_name=view.kind_name, kind_clause=KINDS[view.kind][1])


def messages(kind: str, count: int, *, first_year: int = 2020, years: int = 5, start: int = 0) -> Iterator[Message]:
    for number in range(start, count):
        yield message(kind, item(number, count, first_year, years))


def build(kind: str, root: Path, count: int, *, batch: int = 5000, **spread: int) -> StaticSite:
    """A site of `count` items, written in batches (one rewrite of the pages per batch)."""
    target = site(kind, root)
    pending: list[Message] = []
    for one in messages(kind, count, **spread):
        pending.append(one)
        if len(pending) == batch:
            target.publish_many(pending)
            pending = []
    if pending:
        target.publish_many(pending)
    return target
