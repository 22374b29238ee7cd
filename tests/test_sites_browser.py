"""The portal and the 政府信息公开专栏 at an agency's scale, as a citizen's browser sees them: 10,000 items over five
years, built through the channels' own writing code (tests/site_helpers.py), served by a plain static server.

Screenshots at 390 px (a phone) and 1280 px go to test-output/sites-*.png.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin
from urllib.request import urlopen

import pytest
from browser import OUTPUT, serve, url_of
from site_helpers import RARE_WORD, build, item

from channels.site_index import PAGE_SIZE

COUNT = 10_000
SITES = ("portal", "disclosure")
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("sites")
    for kind in SITES:
        build(kind, root / kind, COUNT)
    server = serve(root)
    yield url_of(server), root
    server.shutdown()


class Links(HTMLParser):
    """The links of a page: (href, rel, text) of every <a>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attributes = dict(attrs)
            self._open = [attributes.get("href") or "", attributes.get("rel") or "", ""]

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._open is not None:
            self.links.append(tuple(self._open))
            self._open = None


def links(url: str) -> list[tuple[str, str, str]]:
    """Absolute targets of a page's links (fragments dropped), with rel and text."""
    with urlopen(url) as response:  # noqa: S310 (loopback)
        parser = Links()
        parser.feed(response.read().decode("utf-8"))
    return [(urljoin(url, href).split("#")[0], rel, text) for href, rel, text in parser.links]


def articles(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "art").rglob("*.html")}


@pytest.mark.parametrize("kind", SITES)
@pytest.mark.parametrize("dimension", ["category", "kind", "year"])
def test_every_item_is_reachable_from_the_home_page_in_three_clicks(sites, kind, dimension):
    """home → a listing (by 主题分类, by 第二十条 kind or by year) → one of its pages → the item."""
    base, root = sites
    site = f"{base}/{kind}/"
    listings = {u for u, _, _ in links(site + "index.html") if u.startswith(f"{site}{dimension}/")}
    assert listings, dimension
    found: set[str] = set()
    for listing in listings:
        reachable = [listing, *{u for u, _, _ in links(listing) if u.startswith(f"{site}{dimension}/")}]
        for page in reachable:
            found |= {unquote(u.removeprefix(site)) for u, _, _ in links(page) if u.startswith(f"{site}art/")}
    assert found == articles(root / kind)
    assert len(found) == COUNT


@pytest.mark.parametrize("kind", SITES)
def test_pagination_links_are_consistent_both_ways(sites, kind):
    base, root = sites
    site = f"{base}/{kind}/"
    listings = sorted({u for u, _, _ in links(site + "index.html")
                       if u.startswith((f"{site}category/", f"{site}kind/", f"{site}year/"))})
    for listing in listings:
        walked, page, seen_dates, seen = [listing], listing, [], set()
        while True:  # from the newest page, 下一页（较早） to the oldest
            on_page = links(page)
            entries = [u for u, _, _ in on_page if u.startswith(f"{site}art/")]
            older = [u for u, rel, _ in on_page if rel == "next"]
            assert len(entries) == (PAGE_SIZE if page != listing else len(entries)) and 0 < len(entries) <= PAGE_SIZE
            assert len(set(entries)) == len(entries)
            fresh = [u for u in entries if u not in seen]  # the address shows the newest of the page below too
            assert fresh == entries or walked[-2:-1] == [listing]  # only the page below the address repeats
            seen |= set(entries)
            seen_dates += [item_date(root / kind, u.removeprefix(site)) for u in fresh]
            if not older:
                break
            assert [u for u, rel, _ in links(older[0]) if rel == "prev"] == [page], older[0]  # and back again
            page = older[0]
            walked.append(page)
        assert page.endswith("/1.html") or len(walked) == 1, page
        assert seen_dates == sorted(seen_dates, reverse=True), listing  # newest first across the pages
        directory = {u for u, _, text in links(listing) if text.startswith("第") and text.endswith("页")}
        assert directory | {listing} == set(walked), listing  # the listing's address names every page


def item_date(root, path: str) -> str:
    text = (root / unquote(path)).read_text(encoding="utf-8")
    return text.split('<time datetime="', 1)[1][:10] if '<time datetime="' in text else \
        text.split("公开日期</th><td>", 1)[1][:10]


def found(page) -> None:
    """Wait for the search to finish with results (the site's CSP forbids the eval of wait_for_function)."""
    page.locator("#status").filter(has_text=re.compile("^找到")).wait_for()


def look(page, name: str) -> None:
    """A full-page screenshot at the viewport's width, and the checks every page passes there."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), full_page=True)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name}: scrolls sideways"
    assert page.locator("h1").count() == 1
    levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])")
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), (name, levels)
    for landmark in ("header", "main", "footer"):
        assert page.locator(landmark).count() >= 1, (name, landmark)


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("kind", SITES)
def test_a_citizen_browses_searches_and_reads_at_phone_and_desktop_width(sites, browser, kind, width):
    base, _ = sites
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []  # a CSP refusal of the search script is a console error
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base}/{kind}/index.html")
    look(page, f"sites-{kind}-home-{width}.png")
    assert page.get_by_role("navigation").count() >= 1 and page.get_by_role("search").count() == 1

    page.keyboard.press("Tab")  # the first stop of the keyboard is the skip link, and it leads to the content
    assert page.evaluate("document.activeElement.textContent") == "跳到正文"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#content"

    page.goto(f"{base}/{kind}/index.html")
    page.locator("a[href^='category/']", has_text="统计数据").first.click()
    page.wait_for_load_state("load")
    look(page, f"sites-{kind}-category-{width}.png")
    page.locator("section[aria-labelledby=pages] a").last.click()  # the oldest page, from the page directory
    page.wait_for_load_state("load")
    assert "第1页" in page.title()
    page.locator("a[rel=prev]").click()
    page.wait_for_load_state("load")
    assert "第2页" in page.title()
    look(page, f"sites-{kind}-page-{width}.png")
    page.locator("#content a[href*='art/']").first.click()
    page.wait_for_load_state("load")
    look(page, f"sites-{kind}-article-{width}.png")

    wanted = item(3333, COUNT, 2020, 5)  # by 文号, typed into the home page's search box, with [] for 〔〕
    page.goto(f"{base}/{kind}/index.html")
    page.locator("#site-q").fill(wanted["doc_number"].replace("〔", "[").replace("〕", "]"))
    page.keyboard.press("Enter")
    found(page)
    results = page.locator("#results a")
    assert results.count() == 1 and results.first.inner_text() == wanted["title"]
    look(page, f"sites-{kind}-search-{width}.png")
    results.first.click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == wanted["title"]

    page.goto(f"{base}/{kind}/search.html?q={RARE_WORD}")  # by a word of the title
    found(page)
    assert page.locator("#results a").count() == 1
    assert RARE_WORD in page.locator("#results a").inner_text()
    assert problems == []
    context.close()


@pytest.mark.parametrize("kind", SITES)
def test_without_script_the_pages_still_work_and_search_says_how_to_browse(sites, browser, kind):
    base, _ = sites
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/{kind}/search.html?q=统计")
    assert "启用脚本" in page.locator("main").inner_text()
    page.locator("nav a", has_text="首页").click()
    page.wait_for_load_state("load")
    page.locator("a[href^='year/']").first.click()
    page.wait_for_load_state("load")
    assert page.locator("#content a[href*='art/']").count() > 0
    context.close()


def test_the_disclosure_home_has_the_sections_of_the_standard_column(sites, browser):
    base, _ = sites
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/disclosure/index.html")
    headings = page.locator("h2").all_inner_texts()
    assert headings[:4] == ["政府信息公开指南", "政府信息公开制度", "法定主动公开内容", "政府信息公开年报"]
    assert "2024年修订" in page.locator("section[aria-labelledby=guide] .current").inner_text()
    page.locator("section[aria-labelledby=reports] a", has_text="历年年报").click()
    page.wait_for_load_state("load")
    reports = page.locator("table.records a").all_inner_texts()
    assert [f"台州市统计局{y}年政府信息公开工作年度报告" for y in range(2023, 2018, -1)] == reports
    page.goto(f"{base}/disclosure/guide.html")
    look(page, "sites-disclosure-guide-1280.png")
    assert page.locator("section[aria-labelledby=earlier] tbody tr").count() == 4
    page.close()
