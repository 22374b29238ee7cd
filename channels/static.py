"""A static site written into a directory that an ordinary web server serves (the portal, the catalogue).

Pages are written atomically (temporary file, then rename), so a reader never sees half a page, and
under a file lock, so several worker processes on one machine can publish to one site.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import Field

from channels.base import Channel, ChannelConfig, difference
from channels.errors import ContentRejected, PermanentChannelError, TransientChannelError
from channels.message import Finding, Message, Receipt

Render = Callable[[str, dict[str, Any]], str]
HOME_ENTRIES = 50


class StaticSiteConfig(ChannelConfig):
    output_dir: Path = Field(description="Directory the site is written to (served by a web server).")
    public_url: str = Field(description="URL at which the web server serves output_dir.")
    title: str = Field("政府门户网站", description="Site name shown on every page, e.g. 台州市统计局.")


class StaticSite(Channel):
    """Article pages plus index pages (home and one per 主题分类), rebuilt from the site's entry list."""

    Config = StaticSiteConfig
    required_parts = ("article.html",)
    body_part = "article.html"
    supports_withdraw = True
    supports_lookup = True
    supports_verify = True
    index_templates = ("index.html", "category.html")

    def __init__(self, name: str, config: StaticSiteConfig, *, render: Render | None = None, **services: Any):
        super().__init__(name, config)
        if render is None:
            raise ValueError(f"{name}: a static site needs a render service for its index pages")
        self.render = render
        self.root = Path(config.output_dir)

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

    def publish(self, message: Message) -> Receipt:
        relative = self.path_of(message)
        entry = {
            "key": message.idempotency_key, "path": relative, "url": self.url_of(relative),
            "title": message.title, "index_no": message.index_no, "category": message.category,
            "published_on": message.published_on.isoformat(), "summary": message.summary,
            "metadata": dict(message.metadata),
        }
        with self._site() as entries:
            for image in message.images:  # beside the page, where the article's <img src> points
                _copy_atomically(image, self.root / self._folder(relative) / image.name)
            _write_atomically(self.root / relative, message.parts["article.html"])
            entries[relative] = entry
            self._write_indexes(entries)
        return Receipt(relative, entry["url"])

    def withdraw(self, receipt: Receipt) -> None:
        with self._site() as entries:
            (self.root / receipt.remote_id).unlink(missing_ok=True)
            shutil.rmtree(self.root / self._folder(receipt.remote_id), ignore_errors=True)
            entries.pop(receipt.remote_id, None)
            self._write_indexes(entries)

    def lookup(self, message: Message) -> Receipt | None:
        relative = self.path_of(message)
        with self._site() as entries:
            entry = entries.get(relative)
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

    @contextmanager
    def _site(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The site's entry list, under an exclusive lock; saved when the block ends without error."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / ".gongkai.lock", "a+")  # noqa: SIM115  (held for the block)
        except OSError as e:
            raise PermanentChannelError(f"{self.name}: cannot write to {self.root}: {e}") from e
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.root / ".gongkai-entries.json"
            try:
                entries = json.loads(state.read_text(encoding="utf-8")) if state.exists() else {}
                yield entries
                _write_atomically(state, json.dumps(entries, ensure_ascii=False, indent=1))
            except OSError as e:
                raise TransientChannelError(f"{self.name}: writing {self.root} failed: {e}") from e

    def _write_indexes(self, entries: dict[str, dict[str, Any]]) -> None:
        newest = sorted(entries.values(), key=lambda e: (e["published_on"], e["index_no"]), reverse=True)
        categories: dict[str, list[dict[str, Any]]] = {}
        for entry in newest:
            categories.setdefault(entry["category"], []).append(entry)
        links = [{"name": c, "href": f"category/{quote(c)}.html", "count": len(es)}
                 for c, es in sorted(categories.items())]
        home, category_page = self.index_templates
        site = {"categories": links, "site_title": self.config.title}
        _write_atomically(self.root / "index.html",
                          self.render(home, {**site, "entries": newest[:HOME_ENTRIES], "root": ""}))
        for category, listed in categories.items():
            page = self.render(category_page, {**site, "category": category, "entries": listed, "root": "../"})
            _write_atomically(self.root / "category" / f"{category}.html", page)
        for stale in (self.root / "category").glob("*.html"):
            if stale.stem not in categories:
                stale.unlink()


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


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
