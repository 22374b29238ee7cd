"""The static sites' listings, sections and search index, written page by page as items come and go.

The browser test on a 10,000-item site is tests/test_sites_browser.py; the speed is bench/sites.py's.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from site_helpers import ORG, build, item, message, messages, site

from channels import Receipt
from channels.site_index import PAGE_SIZE

BOTH = pytest.mark.parametrize("kind", ["portal", "disclosure"])


def pages(root):
    """Every file but the articles (and the site's own state), by path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".") and not p.relative_to(root).as_posix().startswith("art/")}


def search_rows(root, year: str) -> list[list[str]]:
    """The search index's rows of a year (one file a month)."""
    return [row for month in sorted((root / "search").glob(f"{year}-*.json"))
            for row in json.loads(month.read_text(encoding="utf-8"))]


def one_more(kind, number, **changes):
    fields = {**item(number, 300, 2020, 1), "id": 100_000 + number, **changes}
    fields["index_no"] = f"{ORG}/2020-{fields['id']:06d}"
    return message(kind, fields)


@BOTH
def test_pages_written_one_publication_at_a_time_are_the_pages_of_a_full_rebuild(kind, tmp_path):
    """What a publication or withdrawal leaves unwritten is still right: the incremental pages equal a rebuild."""
    target = site(kind, tmp_path)
    sent = list(messages(kind, 130, years=2))
    for one in sent:
        target.publish(one)
    published = pages(tmp_path)
    target.rebuild()
    assert pages(tmp_path) == published
    for one in sent[3:130:9]:  # withdrawals leave holes in the middle of listings
        target.withdraw(Receipt(target.path_of(one)))
    moved = dataclasses.replace(sent[40], category="统计数据", title="改了分类的一条", kind="statistics",
                                idempotency_key="41.2:x")
    target.publish(moved)  # a new revision that moves to another 主题分类 and kind
    incremental = pages(tmp_path)
    target.rebuild()
    assert pages(tmp_path) == incremental
    year = search_rows(tmp_path, "2020")
    assert "改了分类的一条" in {row[1] for row in year}
    assert not {row[1] for row in year} & {m.title for m in sent[3:130:9] if m.published_on.year == 2020}


@BOTH
def test_one_more_publication_rewrites_a_bounded_number_of_files(kind, tmp_path):
    target = build(kind, tmp_path, 2000)
    target.publish(one_more(kind, 299))
    written = set(target.written)
    assert len(written) <= 16, sorted(written)
    assert {"index.html", "search/2020-12.json"} <= written
    assert any(p.startswith("art/2020/") for p in written)
    target.withdraw(Receipt(target.path_of(one_more(kind, 299))))
    assert len(target.written) <= 16, sorted(target.written)


@BOTH
def test_listing_pages_hold_a_fixed_number_newest_first_and_link_both_ways(kind, tmp_path):
    build(kind, tmp_path, 300, years=1)
    address = (tmp_path / "year" / "2020.html").read_text(encoding="utf-8")
    numbers = sorted({int(n) for n in re.findall(r'href="\.\./year/2020/(\d+)\.html"', address)})
    assert numbers == list(range(1, 300 // PAGE_SIZE))  # every older page, from the newest page's own address
    for number in numbers:
        page = (tmp_path / "year" / "2020" / f"{number}.html").read_text(encoding="utf-8")
        dates = re.findall(r'<time datetime="([\d-]+)"', page)
        assert len(dates) == PAGE_SIZE and dates == sorted(dates, reverse=True)
        top = -(-300 // PAGE_SIZE)
        newer = "../../year/2020.html" if number + 1 == top else f"../../year/2020/{number + 1}.html"
        assert f'href="{newer}" rel="prev"' in page, number
        assert (f'href="../../year/2020/{number - 1}.html" rel="next"' in page) == (number > 1)


def test_the_guide_shows_its_newest_version_and_keeps_the_earlier_ones(tmp_path):
    build("disclosure", tmp_path, 3000, years=3)
    guide = (tmp_path / "guide.html").read_text(encoding="utf-8")
    current, earlier = guide.split('id="earlier"')
    assert "2022年修订" in current and "2021年修订" not in current
    assert "2021年修订" in earlier and "2020年修订" in earlier
    home = (tmp_path / "index.html").read_text(encoding="utf-8")
    for year in (2019, 2020, 2021):
        assert f"{year}年政府信息公开工作年度报告" in (tmp_path / "reports.html").read_text(encoding="utf-8")
        assert f"{year}年政府信息公开工作年度报告" in home
    assert "第二十条第（四）项" in home and "统计信息" in home


@BOTH
def test_an_entry_list_of_an_older_version_becomes_the_index(kind, tmp_path):
    sent = list(messages(kind, 30, years=1))
    legacy = {}
    for one in sent:
        path = f"art/2020/{one.slug}.html"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(one.parts["article.html"], encoding="utf-8")
        legacy[path] = {"key": one.idempotency_key, "path": path, "url": f"http://x/{path}", "title": one.title,
                        "index_no": one.index_no, "category": one.category,
                        "published_on": one.published_on.isoformat(), "summary": "", "metadata": dict(one.metadata)}
    (tmp_path / ".gongkai-entries.json").write_text(json.dumps(legacy, ensure_ascii=False), encoding="utf-8")
    target = site(kind, tmp_path)
    assert target.lookup(sent[0]) is not None
    assert not (tmp_path / ".gongkai-entries.json").exists()
    assert sent[-1].title in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert len(search_rows(tmp_path, "2020")) == 30
    assert json.loads((tmp_path / "search" / "index.json").read_text(encoding="utf-8"))["months"][0] == "2020-12"


def test_a_new_guide_is_reviewed_published_and_shown_as_the_current_one(make_env):
    """政府信息公开指南 is an item kind like any other: reviewed, published, and the newest shown as current."""
    from helpers import approve_fully, submit

    from pipeline.engine.dispatcher import run_dispatcher
    from pipeline.engine.runtime import Engine

    env = make_env()
    for number, title in enumerate(("台州市统计局政府信息公开指南", "台州市统计局政府信息公开指南（修订）")):
        item_id = submit(env, title=title, category="机构信息", kind="disclosure_guide", id=f"guide-{number}")
        approve_fully(env, item_id)
        outcomes = run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
        assert {o.status for o in outcomes} == {"published"}
    site = env.directory / "site" / "disclosure"
    current, earlier = (site / "guide.html").read_text(encoding="utf-8").split('id="earlier"')
    assert "指南（修订）" in current and "政府信息公开指南</a>" in earlier
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "指南（修订）" in home.split('id="guide"')[1].split("</section>")[0]
