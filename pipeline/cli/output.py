"""Everything the command line prints goes through here: what a user typed is shown as text, never obeyed.

Both consoles interpret no markup and no emoji codes, so a title like `[/]` or `:warning:` prints as typed;
shown() writes control, format and separator characters (ESC, U+202E, U+200B, a newline inside a comment) as
visible escapes, so stored text cannot repaint the terminal. Styles come only from code, as rich Text pieces.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160,  # piped: don't cut titles at 80
              markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)

TAB = Text("\t")  # a field separator the code writes (a tab inside a value is escaped)
_INVISIBLE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object) -> str:
    """The text as it may reach a terminal: control, format and separator characters written as escapes."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case: nothing to escape (isprintable is False for every category above)
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _INVISIBLE else c for c in text)


def styled(value: object, style: str) -> Text:
    """A piece of a line in a style chosen by the code; the value itself is shown as text."""
    return Text(shown(value), style=style)


def say(*parts: str | Text, to_err: bool = False, console: Console | None = None) -> None:
    """Print one line built from plain strings (escaped with shown()) and styled pieces."""
    line = Text.assemble(*(p if isinstance(p, Text) else shown(p) for p in parts))
    (console or (err if to_err else out)).print(line)


def print_table(columns: Iterable[str], rows: Iterable[Iterable[object]], *, title: str | None = None,
                console: Console | None = None) -> None:
    """A borderless table; each cell shown as text (None as empty), styled pieces kept."""
    from rich.table import Column, Table  # only commands that print a table pay for it

    table = Table(*(Column(c, overflow="fold") for c in columns), box=None, title=title)  # wrap, never cut
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else shown(cell) for cell in row))
    (console or out).print(table)


def print_json(data: Any) -> None:
    """Indented JSON, non-ASCII kept readable; control and format characters as \\u escapes (still valid JSON)."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if not text.isprintable():  # json has escaped C0 controls inside strings already; the newlines are its own
        text = "".join(json.dumps(c)[1:-1] if c != "\n" and unicodedata.category(c) in _INVISIBLE else c
                       for c in text)
    out.out(text, highlight=False)
