"""Helpers shared by the record and report commands: options, dates, JSON, the invocation's context."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console

from pipeline.core.agencies import agency_row
from pipeline.core.audit_key import keyed_engine
from pipeline.core.clock import beijing_today
from pipeline.core.config import Settings, load_settings

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)  # piped: keep table columns whole
AgencyOpt = Annotated[str | None, typer.Option("--agency", help="Agency code (default: platform.default_agency).")]
ActorOpt = Annotated[str | None, typer.Option(
    "--as", help="Act for another person (admin only; recorded as 'admin YOU for LOGIN').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NoteOpt = Annotated[str, typer.Option("--note", help="A note kept with the record.")]
DateArg = Annotated[str, typer.Option(help="Date, YYYY-MM-DD (Beijing calendar).")]


@dataclass
class Context:
    settings: Settings
    engine: sa.Engine


_context: Context | None = None


def context(*, warn_users: bool = True) -> Context:
    """Settings and engine, built once per invocation."""
    global _context
    if _context is None:
        settings = load_settings()
        _context = Context(settings, keyed_engine(settings))
        legacy = [code for code, agency in settings.agencies.items() if agency.users]
        if legacy and warn_users:
            Console(stderr=True).print(
                f"warning: [agencies.{legacy[0]}.users] in the configuration is ignored: people and roles live in "
                "the database (gongkai init imported them once; see gongkai user list)", highlight=False,
                markup=False)
    return _context


def reset_context() -> None:
    global _context
    _context = None


def person(session: Any, act_for: str | None = None) -> Any:
    """The logged-in person (gongkai login or GONGKAI_TOKEN), or an admin acting for `act_for`."""
    from pipeline.cli.session import signed_in

    return signed_in(session, context().settings.database.url, act_for)


def today() -> date:
    return beijing_today()


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)", param_hint=option) from None


def print_json(data: Any) -> None:
    out.out(json.dumps(data, ensure_ascii=False, indent=2), highlight=False)


def agency_id(session: Any, code: str | None) -> int:
    name, _ = context().settings.agency(code)
    return agency_row(session, name).id
