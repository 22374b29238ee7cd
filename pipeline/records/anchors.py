"""Anchors: the chain's length and head written outside the database, one line each, so that deleting the newest
events (or rewriting the trail with the key) is found by `gongkai audit verify --anchors FILE`.

A line is `COUNT<TAB>HEAD<TAB>BEIJING TIME`; blank lines and lines starting with # are skipped. The JSON of an
annual report (`gongkai report YEAR --format json`, one report or a list) is read as the anchor it carries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import Session

from pipeline.core.clock import beijing_now
from pipeline.core.errors import GongkaiError
from pipeline.records.audit import Anchor, Verdict, chain_head, verify_trail

_LINE = re.compile(r"^(\d+)\t([0-9a-f]{64})\t(\S.*)$")


class TrailBroken(GongkaiError):
    """The trail does not verify: nothing is anchored on it."""


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors of `path`; a bad line is refused, naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not UTF-8 text"
        raise GongkaiError(f"{path}: cannot read the anchors ({reason})") from None
    if text.lstrip().startswith(("{", "[")):
        return _report_anchors(path, text)
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise GongkaiError(f"{path}:{number}: not an anchor (COUNT<TAB>HEAD<TAB>TIME, as gongkai audit anchor "
                               "writes it)")
        anchors.append(Anchor(int(match[1]), match[2], match[3], f"{path}:{number}"))
    return anchors


def _report_anchors(path: Path, text: str) -> list[Anchor]:
    try:
        data = json.loads(text)
        reports = data if isinstance(data, list) else [data]
        return [Anchor(int(r["metadata"]["audit_head"]["events"]), str(r["metadata"]["audit_head"]["head"]),
                       f"the report of {r['year']} generated on {r['metadata']['generated_on']}",
                       f"{path} ({r['agency']} {r['year']})") for r in reports]
    except (ValueError, KeyError, TypeError):
        raise GongkaiError(f"{path}: not an annual report's JSON with metadata.audit_head (gongkai report YEAR "
                           "--format json)") from None


def verify_with_anchors(session: Session, *, path: Path | None) -> Verdict:
    """verify_trail, also against the anchors of `path` when given."""
    return verify_trail(session, read_anchors(path) if path is not None else ())


def anchor_trail(session: Session, *, path: Path) -> Anchor:
    """Verify the trail, then append its count, head and the Beijing time to `path` (created if absent)."""
    verdict = verify_trail(session)
    if not verdict.ok:
        where = f"{verdict.table} id {verdict.row_id}" if verdict.row_id is not None else verdict.table
        raise TrailBroken(f"not anchored: {where}: {verdict.problem}")
    count, head = chain_head(session)
    at = beijing_now().replace(microsecond=0).isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    number = len(path.read_text(encoding="utf-8").splitlines()) + 1 if path.exists() else 1
    with path.open("a", encoding="utf-8") as file:  # appended, never rewritten
        file.write(f"{count}\t{head}\t{at}\n")
    return Anchor(count, head, at, f"{path}:{number}")
