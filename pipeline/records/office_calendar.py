"""The working-day calendar as the office keeps it: the years it entered (gongkai calendar set) over the package's,
read from the database once per unit of work."""

from __future__ import annotations

from sqlmodel import Session

from pipeline.core.db import kept
from pipeline.core.reader import reader_of
from pipeline.records.workdays import WorkCalendar, read_calendar

CALENDAR = ("calendar",)  # load_calendar's key in a unit of work's kept() rows


def load_calendar(session: Session) -> WorkCalendar:
    """The office's entered years over the package's, provisional beyond both; read once per unit of work
    (a page that shows two lists of deadlines reads it once)."""
    return kept(session, CALENDAR, lambda: read_calendar(reader_of(session)))
