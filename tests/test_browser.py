"""The pages `gongkai demo` produces, opened in headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import pytest
from browser import HEADER, serve, url_of, visit
from rich.console import Console

from pipeline.cli.demo import run_demo


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workspace = run_demo(tmp_path_factory.mktemp("demo") / "ws", Console(quiet=True))
    server = serve(workspace / "site")
    yield url_of(server)
    server.shutdown()


@pytest.mark.parametrize("path", ["portal/index.html", "portal/art/{year}/art_1.html", "disclosure/index.html",
                                  "disclosure/art/{year}/art_1.html", "disclosure/category/统计数据.html"])
def test_demo_pages_open_without_console_errors_and_are_accessible(site, browser, path):
    from pipeline.core.clock import beijing_today

    path = path.format(year=beijing_today().year)
    page, problems = visit(browser, f"{site}/{path}", path.replace("/", "_").replace(".html", ".png"))
    assert problems == []
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("h1").count() == 1
    assert page.evaluate("[...document.images].every(i => i.hasAttribute('alt'))")
    levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])")
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels  # no skipped heading level
    page.close()


def test_a_disclosure_record_shows_its_header_and_links_to_the_portal(site, browser):
    from pipeline.core.clock import beijing_today

    page, problems = visit(browser, f"{site}/disclosure/art/{beijing_today().year}/art_1.html", "disclosure-record.png")
    header = page.locator("table.header")
    for name in HEADER:
        assert header.locator(f"th:text-is('{name}')").count() == 1, name
    assert header.locator("td").first.inner_text().startswith("002668389/")
    assert page.locator("a", has_text="portal/art/").count() == 1
    assert page.locator("section#interpretations a, section[aria-labelledby=interpretations] a").count() == 1
    assert problems == []
    page.close()


def test_navigation_from_the_home_page_reaches_an_article(site, browser):
    page, problems = visit(browser, f"{site}/portal/index.html", "portal-home.png")
    page.locator("ol.entries a").first.click()
    page.wait_for_load_state("load")
    assert page.locator("article h1").count() == 1
    assert problems == []
    page.close()
