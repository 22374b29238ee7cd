"""The canonical JSON every audit hash is taken over: sorted keys, no spaces, dates as ISO text."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def canonical(data: Any) -> str:
    """Sorted keys, no spaces, dates as ISO text: the same bytes on every database."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
