"""Item files: Markdown with YAML front matter, JSON, or JSON Lines. Parsed whole or not at all."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.catalogue import VALIDITY
from pipeline.core.clock import SHANGHAI
from pipeline.core.errors import Problem
from pipeline.core.text import hidden_problem

MARKDOWN = (".md", ".markdown")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".gif")
MAX_IMAGE_BYTES = 10_000_000


class ItemSpec(BaseModel):
    """The fields of one item record, as the file states them."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=REF)
    title: str
    category: str
    kind: str
    channels: list[str] | None = None
    publisher: str | None = Field(None, max_length=200)
    doc_number: str | None = Field(None, max_length=100)
    created_on: date
    publish_at: datetime | None = None
    summary: str = Field("", max_length=500)
    validity: Literal[VALIDITY] | None = None  # type: ignore[valid-type]
    interprets: str | None = Field(None, max_length=64)
    cover: str | None = Field(None, max_length=300)  # an image file next to the item, for channels that need one
    body: str | None = None  # JSON records carry the body here; Markdown files after the front matter


@dataclass(frozen=True)
class ItemRecord:
    file: str
    line: int
    spec: ItemSpec
    body: str
    field_lines: dict[str, int]
    images: dict[str, Path] = field(default_factory=dict)  # image src as written in the body -> the file
    cover: Path | None = None
    # a body gongkai made as HTML itself (the annual report's tables): published instead of the Markdown body's
    # HTML, sanitised the same way; `images` may then also hold files it links to (a DOCX), kept beside the page
    body_html: str | None = None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, field: str) -> int:
        return self.field_lines.get(field, self.line)

    def problem(self, field: str, message: str) -> Problem:
        return Problem(self.file, self.line_of(field), field, message)


@dataclass(frozen=True)
class Limits:
    max_title_chars: int
    max_body_bytes: int


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader that refuses a key given twice instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                raise yaml.constructor.ConstructorError(
                    None, None, "a field name must be plain text", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Dates and times stay text, so the item model parses them and a bad one is reported by field and line.
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def read_item_files(paths: Iterable[Path], *, limits: Limits) -> tuple[list[ItemRecord], list[Problem]]:
    """Every record of every file, and every problem found; a caller writes nothing if any."""
    records: list[ItemRecord] = []
    problems: list[Problem] = []
    for path in paths:
        for found in _read_file(path, limits):
            (problems if isinstance(found, Problem) else records).append(found)
    first_seen: dict[str, ItemRecord] = {}
    for record in records:
        ref = record.spec.id
        if ref is None:
            continue
        if ref in first_seen:
            problems.append(record.problem("id", f"'{ref}' appears twice (first at {first_seen[ref].source})"))
        else:
            first_seen[ref] = record
    return records, problems


def read_form(fields: dict[str, Any], body: str, *, folder: Path, limits: Limits,
              name: str = "工作台") -> tuple[ItemRecord | None, list[Problem]]:
    """An item typed into the console's form, checked exactly as an item file is: `fields` are the front
    matter (empty values left out), `folder` holds the uploaded images the body names. Problems name the
    form field (file `name`, line 0)."""
    fields = {key: value for key, value in fields.items() if value not in (None, "", [])}
    found = list(_record(str(folder / name), 0, fields, body, {}, body_line=None, limits=limits))
    problems = [Problem(name, 0, p.field, p.message) for p in found if isinstance(p, Problem)]
    records = [r for r in found if isinstance(r, ItemRecord)]
    if problems or not records:
        return None, problems
    return replace(records[0], file=name), []  # its source reads "工作台:0", not a temporary path


def _read_file(path: Path, limits: Limits) -> Iterator[ItemRecord | Problem]:
    name = str(path)
    if not path.is_file():
        yield Problem(name, 0, "", "no such file")
        return
    suffix = path.suffix.lower()
    if suffix not in (*MARKDOWN, ".json", ".jsonl"):
        yield Problem(name, 0, "", "unsupported file type; use .md (YAML front matter), .json or .jsonl")
        return
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        yield Problem(name, line, "", f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8")
        return
    reader = _markdown if suffix in MARKDOWN else _json if suffix == ".json" else _json_lines
    try:
        yield from list(reader(name, text, limits))
    except RecursionError:
        yield Problem(name, 0, "", "nested too deeply to be an item file")


def _markdown(name: str, text: str, limits: Limits) -> Iterator[ItemRecord | Problem]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        yield Problem(name, 1, "", "front matter missing: the file must start with a line '---'")
        return
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        yield Problem(name, 1, "", "front matter not closed: no second '---' line")
        return
    front = "".join(lines[1:end])
    try:
        fields = yaml.load(front, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as e:
        # an unclosed bracket is reported at the end of the text; where it was opened helps more
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        reason = getattr(e, "problem", None) or str(e)
        yield Problem(name, line, "", f"front matter is not valid YAML: {reason}")
        return
    if not isinstance(fields, dict):
        yield Problem(name, 2, "", "front matter must be a mapping of field: value")
        return
    if "body" in fields:
        yield Problem(name, _key_line(lines[1:end], "body", 2), "body", "the body goes after the front matter")
        return
    field_lines = {str(key): _key_line(lines[1:end], str(key), 2) for key in fields}
    body = "".join(lines[end + 1 :])
    yield from _record(name, 1, fields, body, field_lines, body_line=end + 2, limits=limits)


def _key_line(lines: list[str], key: str, first: int) -> int:
    pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*:')
    return next((first + i for i, line in enumerate(lines) if pattern.match(line)), first)


def _json(name: str, text: str, limits: Limits) -> Iterator[ItemRecord | Problem]:
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    if stripped.startswith("{"):
        yield from _json_values(name, text, [offset], decoder, limits)
        return
    if not stripped.startswith("["):
        yield Problem(name, 1, "", "a .json item file holds one object or an array of objects")
        return
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        yield Problem(name, e.lineno, "", f"not valid JSON: {e.msg} (column {e.colno})")
        return
    starts, pos = [], offset + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        starts.append(pos)
        _, pos = decoder.raw_decode(text, pos)
    if not starts:
        yield Problem(name, 1, "", "the array holds no items")
    yield from _json_values(name, text, starts, decoder, limits)


def _json_values(name: str, text: str, starts: list[int], decoder: json.JSONDecoder,
                 limits: Limits) -> Iterator[ItemRecord | Problem]:
    for start in starts:
        line = text.count("\n", 0, start) + 1
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as e:
            yield Problem(name, e.lineno, "", f"not valid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(value, dict):
            yield Problem(name, line, "", "each item must be a JSON object")
            continue
        chunk = text[start:end].splitlines()
        field_lines = {str(key): _key_line(chunk, str(key), line) for key in value}
        yield from _record(name, line, value, value.pop("body", None), field_lines, body_line=None, limits=limits)


def _json_lines(name: str, text: str, limits: Limits) -> Iterator[ItemRecord | Problem]:
    count = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        count += 1
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            yield Problem(name, number, "", f"not valid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(value, dict):
            yield Problem(name, number, "", "each line must be a JSON object")
            continue
        field_lines = dict.fromkeys(map(str, value), number)
        yield from _record(name, number, value, value.pop("body", None), field_lines, body_line=None, limits=limits)
    if count == 0:
        yield Problem(name, 1, "", "the file holds no items")


def _record(name: str, line: int, fields: dict[str, Any], body: Any, field_lines: dict[str, int],
            *, body_line: int | None, limits: Limits) -> Iterator[ItemRecord | Problem]:
    def at(field: str) -> int:
        return field_lines.get(field, line)

    fields = {str(k): v for k, v in fields.items()}
    try:
        spec = ItemSpec.model_validate(fields)
    except ValidationError as e:
        for error in e.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            yield Problem(name, at(field), field, _message(error))
        return
    title = spec.title.strip()
    problems = [*_hidden_problems(spec, at=at), *_text_problems(title, body, limits, at=at, body_line=body_line)]
    if problems:
        yield from (Problem(name, *p) for p in problems)
        return
    folder = Path(name).resolve().parent
    images, image_problems = find_images(body, folder, line=body_line or at("body"))
    cover = None
    if spec.cover is not None:
        cover, cover_problems = resolve_image(spec.cover, folder, line=at("cover"), field="cover")
        image_problems += cover_problems
    if image_problems:
        yield from (Problem(name, *p) for p in image_problems)
        return
    yield ItemRecord(name, line, spec.model_copy(update={"title": title}), body.strip() + "\n", field_lines,
                     images, cover)


MULTILINE = frozenset(("summary", "body"))  # may hold line breaks and tabs; the body keeps its own check below


def _hidden_problems(spec: ItemSpec, *, at: Any) -> Iterator[tuple[int, str, str]]:
    """(line, field, message) for a field holding an invisible or reordering character (U+202E, ESC, U+200B…)."""
    for name, value in spec:
        if name == "body":
            continue
        texts = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
        if name == "title":
            texts = [value.strip()]  # stored stripped
        if message := next(filter(None, (hidden_problem(t, multiline=name in MULTILINE) for t in texts)), None):
            yield at(name), name, message


def _text_problems(title: str, body: Any, limits: Limits, *, at: Any,
                   body_line: int | None) -> Iterator[tuple[int, str, str]]:
    """(line, field, message) for a title or body no channel should carry."""
    if not title:
        yield at("title"), "title", "is empty"
    elif hidden_problem(title):
        pass  # said by _hidden_problems
    elif len(title) > limits.max_title_chars:
        yield (at("title"), "title",
               f"has {len(title)} characters; at most {limits.max_title_chars} (items.max_title_chars)")
    body_at = body_line or at("body")
    if not isinstance(body, str):
        yield body_at, "body", "is empty" if body is None else "must be text"
    elif not body.strip():
        yield body_at, "body", "is empty"
    elif (size := len(body.encode("utf-8"))) > limits.max_body_bytes:
        yield body_at, "body", f"is {size:,} bytes; at most {limits.max_body_bytes:,} (items.max_body_bytes)"
    elif match := CONTROL.search(body):
        offset = body.count("\n", 0, match.start()) if body_line else 0
        yield body_at + offset, "body", f"contains the control character U+{ord(match.group()):04X}"


def find_images(body: str, folder: Path, *, line: int) -> tuple[dict[str, Path], list[tuple[int, str, str]]]:
    """Images the Markdown body shows: each a file beside the item, with alt text; every problem found."""
    images: dict[str, Path] = {}
    problems: list[tuple[int, str, str]] = []
    for token in _image_tokens(body):
        src = token.attrGet("src") or ""  # as markdown-it normalised it (图表.png becomes %E5%9B%BE…)
        at = line + (token.map[0] if token.map else 0)
        if not token.content.strip():
            problems.append((at, "body", f"image {src} has no alt text; describe it: ![描述]({src})"))
        path, found = resolve_image(unquote(src), folder, line=at, field="body")
        problems += found
        if path is not None:
            if any(p.name == path.name and p != path for p in images.values()):
                problems.append((at, "body", f"two different images are named {path.name}"))
            images[src] = path
    return images, problems


def resolve_image(src: str, folder: Path, *, line: int, field: str) -> tuple[Path | None, list[tuple[int, str, str]]]:
    """An image path from an item file, checked: relative, inside the item's folder, an image, not too big."""
    def refuse(reason: str) -> tuple[None, list[tuple[int, str, str]]]:
        return None, [(line, field, f"image {src}: {reason}")]

    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", src):
        return refuse("only files beside the item are published; a remote image is not copied")
    if src.startswith("/") or "\\" in src:
        return refuse("use a path relative to the item file")
    path = (folder / src).resolve()
    if not path.is_relative_to(folder):
        return refuse("the path leaves the item's folder")
    if len(path.name) > 200:
        return refuse("the file name is longer than 200 characters")
    if path.suffix.lower() not in IMAGE_TYPES:
        return refuse(f"not an image file ({', '.join(IMAGE_TYPES)})")
    if not path.is_file():
        return refuse("no such file")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        return refuse(f"larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
    return path, []


def _image_tokens(body: str) -> Iterator[Any]:
    for block in MarkdownIt("commonmark").enable("table").parse(body):
        for child in block.children or []:
            if child.type == "image":
                child.map = block.map
                yield child


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown field (known: {', '.join(f for f in ItemSpec.model_fields if f != 'body')}, and the body)"
    if kind == "string_pattern_mismatch":
        return "must be 1-64 letters, digits, '.', '_' or '-'"
    return f"{error['msg']} (got {error.get('input')!r:.60})"


def local_datetime(value: datetime) -> datetime:
    """An item file's time: an offset if it gives one, else Asia/Shanghai."""
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
