"""Text people type and others read: which characters a single-line field may not hold.

A control character (ESC, BEL, a line break), a format character (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066-2069
isolates, U+200B ZERO WIDTH SPACE, U+00AD SOFT HYPHEN) or a line separator is invisible or moves what is shown
around it: in a title, a name or a number it can make one text read as another, so it is refused at the door.
"""

from __future__ import annotations

import unicodedata

_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def hidden_character(text: str, *, multiline: bool = False) -> str | None:
    """The first control, format or separator character in text, or None; multi-line text may hold tabs and breaks."""
    if text.isprintable():
        return None
    allowed = "\t\n\r" if multiline else ""
    return next((c for c in text if unicodedata.category(c) in _HIDDEN and c not in allowed), None)


def hidden_problem(text: str, *, multiline: bool = False) -> str | None:
    """The message for a field holding a hidden character ("contains a control character U+202E (…)"), or None."""
    char = hidden_character(text, multiline=multiline)
    if char is None:
        return None
    name = unicodedata.name(char, "") or {"\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x1b": "ESCAPE"
                                          }.get(char, "")
    return f"contains a control character U+{ord(char):04X}{f' ({name})' if name else ''}, which is invisible or " \
           "changes how the text around it is shown; remove it"
