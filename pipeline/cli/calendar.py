"""`gongkai calendar`: the working-day calendar the office keeps (each year's 放假安排 from the State Council)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import ActorOpt, JsonOpt, context, out, person, print_json
from pipeline.core.db import session_scope
from pipeline.core.models import utcnow
from pipeline.records.calendar import calendar_view, set_calendar
from pipeline.records.notice import read_notice
from pipeline.records.workdays import provisional_note

calendar_app = typer.Typer(help="The working-day calendar: each year's 放假安排 (holidays and 调休), as the office "
                                "enters it.", no_args_is_help=True)
YearArg = Annotated[int, typer.Argument(help="The year, e.g. 2027.")]


@calendar_app.command("set")
def calendar_set(year: YearArg,
                 file: Annotated[Path, typer.Option("--file", help="The year's notice as TOML (see "
                                                                   "docs/calendar-and-requests.md).")],
                 actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Enter or replace a year's holiday notice; every open request is re-timed and what moved is listed."""
    notice = read_notice(file, year=year)
    with session_scope(context().engine) as session:
        change = set_calendar(session, actor=person(session, actor), year=year, notice=notice, now=utcnow())
    if as_json:
        print_json({"year": change.year, "source": change.source, "replaced": change.replaced,
                    "holidays": change.holidays, "workdays": change.workdays, "warnings": list(change.warnings),
                    "moved": [{**m.__dict__, "old": _iso(m.old), "new": _iso(m.new)} for m in change.moved]})
        return
    verb = "replaced" if change.replaced else "entered"
    out.print(f"{year} {verb} from {change.source}: {change.holidays} days off, {change.workdays} 调休 days worked",
              highlight=False)
    for warning in change.warnings:
        out.print(f"  warning: {warning}", highlight=False)
    if not change.moved:
        out.print("no open request's dates moved", highlight=False)
        return
    table = Table("request", "agency", "ref", "date", "old", "new", box=None, title="re-timed open requests")
    for m in change.moved:
        table.add_row(str(m.request_id), m.agency, m.ref or "", m.what, _shown(m.old, m.old_provisional),
                      _shown(m.new, m.new_provisional))
    out.print(table)


@calendar_app.command("show")
def calendar_show(year: YearArg, as_json: JsonOpt = False) -> None:
    """A year's holidays and 调休 working days, and where they come from (the office, the package, or none)."""
    with session_scope(context().engine) as session:
        view = calendar_view(session, year=year)
    if as_json:
        print_json(view)
        return
    where = {"office": f"entered by {view['entered_by']} on {str(view['entered_at'])[:10]} from {view['notice']}",
             "package": f"from {view['notice']}", "provisional": "not known"}[view["source"]]
    out.print(f"{year}: {where}", highlight=False)
    if view["provisional"]:
        out.print(provisional_note([year]), highlight=False)
        return
    table = Table("holiday", "first", "last", "days", "调休 worked", box=None)
    for period in view["periods"]:
        table.add_row(period["name"], period["first"], period["last"], str(period["days"]),
                      ", ".join(period["workdays"]))
    out.print(table)


def _iso(day: object) -> str | None:
    return None if day is None else str(day)


def _shown(day: object, provisional: bool) -> str:
    return "-" if day is None else f"{day}{' (provisional)' if provisional else ''}"
