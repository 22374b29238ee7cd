"""A static site written into a directory that an ordinary web server serves (the portal, the catalogue).

No server-side code: search is a prebuilt index (search/YEAR.json) read by search.js in the browser.

Pages are written atomically (temporary file, then rename), so a reader never sees half a page, and
under a file lock, so several worker processes on one machine can publish to one site.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import Field

from channels.base import Channel, ChannelConfig, difference
from channels.errors import ContentRejected, PermanentChannelError, TransientChannelError
from channels.message import Finding, Message, Receipt
from channels.site_index import PAGE_SIZE, Changes, SiteIndex

Render = Callable[[str, dict[str, Any]], str]
HOME_PER_CATEGORY = 5   # the home page's newest entries of each 主题分类
HOME_NEWEST = 10
SECTION_LIMIT = 1000    # a section's versions listed (a guide revised yearly for centuries)
STATE = ".gongkai-site.sqlite"
LEGACY_STATE = ".gongkai-entries.json"  # what versions before the listings kept
DIMENSION_NAMES = {"category": "主题分类", "kind": "类别", "year": "年份"}


class StaticSiteConfig(ChannelConfig):
    output_dir: Path = Field(description="Directory the site is written to (served by a web server).")
    public_url: str = Field(description="URL at which the web server serves output_dir.")
    title: str = Field("政府门户网站", description="Site name shown on every page, e.g. 台州市统计局.")


@dataclass(frozen=True)
class Section:
    """A fixed section of the site holding the items of one kind, e.g. 政府信息公开指南 (guide.html)."""

    kind: str
    file: str
    title: str
    template: str
    current: str = "newest"   # which entries are current: "newest", "per_title" (one per title) or "all"

    def versions(self, entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(current, earlier) of the section's entries, newest first; earlier versions stay listed."""
        if self.current == "all" or not entries:
            return entries, []
        if self.current == "newest":
            return entries[:1], entries[1:]
        newest: dict[str, dict[str, Any]] = {}
        for entry in entries:
            newest.setdefault(entry["title"], entry)
        current = list(newest.values())
        return current, [e for e in entries if newest[e["title"]] is not e]


class StaticSite(Channel):
    """Article pages; a home page; paginated listings per 主题分类, per kind and per year; a search index.

    Every page but the article is rebuilt from the site's entry list (channels/site_index.py), and only the pages
    a publication or withdrawal changes are written: the article, the home page, the pages of its listings that
    it enters or leaves (and the page before a new one), the listings' newest pages, its year's search file and
    the fixed sections of its kind.
    """

    Config = StaticSiteConfig
    required_parts = ("article.html",)
    body_part = "article.html"
    supports_withdraw = True
    supports_lookup = True
    supports_verify = True
    index_templates = ("index.html", "listing.html", "search.html", "section.html")
    _sections: tuple[Section, ...] = ()  # the fixed sections of the site (the 公开专栏 has them)

    def __init__(self, name: str, config: StaticSiteConfig, *, render: Render | None = None, **services: Any):
        super().__init__(name, config)
        if render is None:
            raise ValueError(f"{name}: a static site needs a render service for its index pages")
        self.render = render
        self.root = Path(config.output_dir)
        self.written: list[str] = []  # the files the last publish/withdraw wrote (bench/sites.py counts them)

    def path_of(self, message: Message) -> str:
        if not message.slug or "/" in message.slug or message.slug.startswith("."):
            raise ContentRejected(f"{self.name}: unusable page name {message.slug!r}")
        return f"art/{message.published_on.year}/{message.slug}.html"

    @staticmethod
    def _folder(relative: str) -> str:
        """art/2020/art_1.html keeps its images in art/2020/art_1/."""
        return relative.removesuffix(".html")

    def url_of(self, relative: str) -> str:
        return f"{self.config.public_url.rstrip('/')}/{quote(relative)}"

    def _entry(self, message: Message, relative: str) -> dict[str, Any]:
        number = message.metadata.get("文号", "")
        return {
            "key": message.idempotency_key, "path": relative, "url": self.url_of(relative),
            "title": message.title, "index_no": message.index_no, "doc_number": "" if number == "无" else number,
            "category": message.category, "kind": message.kind, "kind_name": message.kind_name or message.kind,
            "kind_clause": message.kind_clause, "published_on": message.published_on.isoformat(),
            "summary": message.summary, "metadata": dict(message.metadata),
        }

    def publish(self, message: Message) -> Receipt:
        return self.publish_many([message])[0]

    def publish_many(self, messages: list[Message]) -> list[Receipt]:
        """Publish several messages with one rewrite of the pages they change (a backfill, a bulk build)."""
        receipts, changes = [], Changes()
        many = len(messages) > 1
        with self._site() as site:
            for message in messages:
                relative = self.path_of(message)
                entry = self._entry(message, relative)
                for image in message.images:  # beside the page, where the article's <img src> points
                    _copy_atomically(image, self.root / self._folder(relative) / image.name)
                self._write(relative, message.parts["article.html"], sync=not many)
                changes.add(site.put(entry))
                receipts.append(Receipt(relative, entry["url"]))
            self._write_changes(site, changes, sync=not many)
        if many:
            os.sync()
        return receipts

    def withdraw(self, receipt: Receipt) -> None:
        with self._site() as site:
            (self.root / receipt.remote_id).unlink(missing_ok=True)
            shutil.rmtree(self.root / self._folder(receipt.remote_id), ignore_errors=True)
            self._write_changes(site, site.remove(receipt.remote_id))

    def lookup(self, message: Message) -> Receipt | None:
        relative = self.path_of(message)
        with self._site() as site:
            entry = site.get(relative)
        if entry is None or entry["key"] != message.idempotency_key or not (self.root / relative).exists():
            return None  # not there, or the page of another revision
        return Receipt(relative, entry["url"])

    def verify(self, message: Message, receipt: Receipt) -> str | None:
        """The page file as the web server serves it, against the page this message writes."""
        page = self.root / receipt.remote_id
        try:
            live = page.read_text(encoding="utf-8")
        except FileNotFoundError:
            return f"the page {receipt.remote_id} is gone from {self.root}"
        except (OSError, UnicodeDecodeError) as e:
            raise TransientChannelError(f"{self.name}: cannot read {page}: {e}") from e
        return difference(f"the page {receipt.remote_id}", live, message.parts["article.html"])

    def probe(self) -> list[Finding]:
        """The site's directory can be created and written by this process."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".check-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            return [Finding("output directory", False, f"{self.root}: {e.strerror or e}",
                            f"create {self.root} and let the user the workers run as write to it")]
        return [Finding("output directory", True, f"{self.root} is writable")]

    def rebuild(self) -> None:
        """Rewrite every page but the articles (after a change of templates)."""
        with self._site() as site:
            self._rebuild(site)

    @contextmanager
    def _site(self) -> Iterator[SiteIndex]:
        """The site's entry list, under an exclusive lock; committed when the block ends without error."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / ".gongkai.lock", "a+")  # noqa: SIM115  (held for the block)
        except OSError as e:
            raise PermanentChannelError(f"{self.name}: cannot write to {self.root}: {e}") from e
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.written = []  # under the lock: the threads of a worker share this adapter
            try:
                site = SiteIndex(self.root / STATE)
            except (OSError, sqlite3.Error) as e:
                raise TransientChannelError(f"{self.name}: cannot open {self.root / STATE}: {e}") from e
            legacy = self.root / LEGACY_STATE
            try:
                converted = legacy.exists()
                if converted:  # once: the entry list of an older version becomes the index
                    site.import_entries(json.loads(legacy.read_text(encoding="utf-8")).values())
                    self._rebuild(site)
                yield site
                site.commit()
            except (OSError, sqlite3.Error) as e:
                site.rollback()
                raise TransientChannelError(f"{self.name}: writing {self.root} failed: {e}") from e
            except BaseException:
                site.rollback()
                raise
            if converted:
                legacy.unlink()  # only once the index holds its entries

    # --- pages -------------------------------------------------------------------------------------------------
    def _write(self, relative: str, text: str, *, sync: bool = True) -> None:
        _write_atomically(self.root / relative, text, sync=sync)
        self.written.append(relative)

    def _rebuild(self, site: SiteIndex) -> None:
        changes = Changes(kinds={s.kind for s in self._sections}, months=set(site.months()))
        for listing in site.all_listings():
            changes.pages |= {(listing, n) for n in range(1, site.top_page(listing) + 1)}
        self._write_changes(site, changes, sync=False)
        os.sync()

    def _write_changes(self, site: SiteIndex, changes: Changes, *, sync: bool = True) -> None:
        common = {"site_title": self.config.title}
        site.refresh_pages(changes.pages)
        for listing, number in sorted(changes.pages):
            top = site.top_page(listing)
            if number < top:
                self._write(page_file(listing, number), self._listing_page(site, listing, number, top, common),
                            sync=sync)
        for listing in sorted(changes.listings):  # its newest page is at the listing's own address
            top = site.top_page(listing)
            self._write(listing_file(listing), self._listing_page(site, listing, top, top, common, directory=True),
                        sync=sync)
        for section in self._sections:
            if section.kind in changes.kinds or not (self.root / section.file).exists():
                entries = site.newest(SECTION_LIMIT, where="kind = ?", args=(section.kind,))
                current, earlier = section.versions(entries)
                self._write(section.file, self.render(section.template, {
                    **common, "root": "", "section": section, "entries": entries, "current": current,
                    "earlier": earlier}), sync=sync)
        for month in sorted(changes.months):
            rows = [[r["path"], r["title"], r["doc_number"], r["index_no"], r["published_on"], r["category"]]
                    for r in site.month_entries(month)]
            self._write(f"search/{month}.json", json.dumps(rows, ensure_ascii=False, separators=(",", ":")),
                        sync=sync)
        manifest = json.dumps({"fields": ["path", "title", "doc_number", "index_no", "published_on", "category"],
                               "months": site.months()}, ensure_ascii=False)
        if changes.months and _read(self.root / "search" / "index.json") != manifest:  # a month begins or ends
            self._write("search/index.json", manifest, sync=sync)
        self._write("index.html", self.render("index.html", {**common, **self._home(site)}), sync=sync)
        for name, text in (("search.html", self.render("search.html", {**common, "root": ""})),
                           ("search.js", self.render("_search.js", {}))):
            if _read(self.root / name) != text:  # the same on every publication: written when it changes
                self._write(name, text, sync=sync)

    def _home(self, site: SiteIndex) -> dict[str, Any]:
        categories = [{"name": r["value"], "count": r["count"], "href": quote(listing_file(f"category:{r['value']}")),
                       "entries": site.newest(HOME_PER_CATEGORY, where="category = ?", args=(r["value"],))}
                      for r in site.counts("category")]
        years = site.counts("year")
        kinds = [{"key": r["value"], "name": r["name"], "clause": r["clause"], "count": r["count"],
                  "href": quote(listing_file(f"kind:{r['value']}"))} for r in site.counts("kind")]
        clauses: dict[str, list[dict[str, Any]]] = {}
        for kind in sorted(kinds, key=lambda k: (_clause_order(k["clause"]), k["name"])):
            clauses.setdefault(kind["clause"] or "其他主动公开内容", []).append(kind)
        sections = {}
        for section in self._sections:  # the current versions (every annual report is current)
            entries = site.newest(SECTION_LIMIT, where="kind = ?", args=(section.kind,))
            sections[section.kind] = {"section": section, "current": section.versions(entries)[0],
                                      "count": len(entries)}
        return {"root": "", "categories": categories, "kinds": kinds, "clauses": clauses, "sections": sections,
                "years": [{"name": r["value"], "count": r["count"], "href": quote(listing_file(f"year:{r['value']}"))}
                          for r in years],
                "entries": site.newest(HOME_NEWEST), "total": len(site)}

    def _listing_page(self, site: SiteIndex, listing: str, number: int, top: int, common: dict[str, Any], *,
                      directory: bool = False) -> str:
        dimension, value = listing.split(":", 1)
        entries = site.page(listing, number)
        filled = 0
        if directory and len(entries) < PAGE_SIZE and number > 1:  # the newest page, filling up: the address
            before = site.page(listing, number - 1)[:PAGE_SIZE - len(entries)]  # shows the newest of the one before
            filled, entries = len(before), entries + before
        heading = value
        if dimension == "kind":
            sample = entries or site.newest(1, where="kind = ?", args=(value,))
            heading = sample[0]["kind_name"] if sample else value
        elif dimension == "year":
            heading = f"{value}年"
        own = listing_file(listing)
        # from a page file (category/统计数据/3.html) every link climbs two levels; from the listing's address one
        root = "../" if directory else "../../"

        def href(n: int) -> str:
            return quote(own if n == top else page_file(listing, n))

        return self.render("listing.html", {
            **common, "root": root, "heading": heading, "dimension": DIMENSION_NAMES[dimension], "entries": entries,
            "number": number, "top": top, "own": quote(own), "page_size": PAGE_SIZE, "filled": filled,
            "newer": href(number + 1) if number < top else None, "older": href(number - 1) if number > 1 else None,
            "oldest": href(1) if number > 2 else None, "newest": quote(own) if number < top - 1 else None,
            "directory": [{**dict(r), "href": href(r["number"])} for r in site.directory(listing)] if directory
            else None,
        })


def listing_file(listing: str) -> str:
    """category:统计数据 → category/统计数据.html, the listing's address (its newest page and all page links)."""
    dimension, value = listing.split(":", 1)
    return f"{dimension}/{_file_name(value)}.html"


def page_file(listing: str, number: int) -> str:
    dimension, value = listing.split(":", 1)
    return f"{dimension}/{_file_name(value)}/{number}.html"


def _file_name(value: str) -> str:
    return value.replace("/", "／").replace("\\", "＼").lstrip(".") or "_"


_NUMERALS = "一二三四五六七八九"


def _clause_order(clause: str) -> int:
    """第二十条第（十四）项 → 14; no clause: last."""
    if "（" not in clause:
        return 99
    numeral = clause.split("（")[-1].split("）")[0]

    def digit(text: str, empty: int) -> int:
        return _NUMERALS.index(text) + 1 if text in _NUMERALS else empty

    if "十" in numeral:
        tens, units = numeral.split("十", 1)
        return digit(tens, 1) * 10 + digit(units, 0)
    return digit(numeral, 98)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _copy_atomically(source: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_atomically(path: Path, text: str, *, sync: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
