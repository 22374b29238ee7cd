"""What every command shares: its options, the invocation's context (settings and engine), dates.

Imported by the entry point before arguments are parsed, so it imports nothing heavy: settings, the database
and the domain are imported by the command that needs them (a test keeps `gongkai --help` light).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.cli.output import out, print_json, say, shown  # noqa: F401  (out, print_json: also importable from here)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pipeline.core.config import Settings

AgencyOpt = Annotated[str | None, typer.Option("--agency", help="Agency code (default: platform.default_agency).")]
ActorOpt = Annotated[str | None, typer.Option(
    "--as", help="Act for another person (admin only; recorded as 'admin YOU for LOGIN').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NoteOpt = Annotated[str, typer.Option("--note", help="A note kept with the record.")]
DateArg = Annotated[str, typer.Option(help="Date, YYYY-MM-DD (Beijing calendar).")]


def command_group(help: str, **options: Any) -> typer.Typer:
    """A Typer app (the main one or a subcommand group) set up alike: plain help, which starts faster than rich's
    panels (no Markdown parser), no shell-completion options, no pretty tracebacks."""
    return typer.Typer(help=help, add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                       **options)


@dataclass
class Context:
    settings: Settings
    engine: sa.Engine


_context: Context | None = None


def context(*, warn_users: bool = True) -> Context:
    """Settings and engine, built once per invocation."""
    global _context
    if _context is None:
        from pipeline.core.audit_key import keyed_engine
        from pipeline.core.config import load_settings

        settings = load_settings()
        _context = Context(settings, keyed_engine(settings))
        legacy = [code for code, agency in settings.agencies.items() if agency.users]
        if legacy and warn_users:
            say(f"warning: [agencies.{legacy[0]}.users] in the configuration is ignored: people and roles live in "
                "the database (gongkai init imported them once; see gongkai user list)", to_err=True)
    return _context


def reset_context() -> None:
    global _context
    _context = None


def person(session: Any, act_for: str | None = None) -> Any:
    """The logged-in person (gongkai login or GONGKAI_TOKEN), or an admin acting for `act_for`."""
    from pipeline.cli.session import signed_in

    return signed_in(session, context().settings.database.url, act_for)


def today() -> date:
    from pipeline.core.clock import beijing_today

    return beijing_today()


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{shown(value)}' is not a date (YYYY-MM-DD)", param_hint=option) from None


def agency_id(session: Any, code: str | None) -> int:
    from pipeline.core.agencies import agency_row

    name, _ = context().settings.agency(code)
    return agency_row(session, name).id
