"""`gongkai calendar`: the working-day calendar the office keeps (each year's 放假安排 from the State Council)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import ActorOpt, JsonOpt, command_group, context, person
from pipeline.cli.output import print_table, say

calendar_app = command_group("The working-day calendar: each year's 放假安排 (holidays and 调休), as the office "
                             "enters it.", no_args_is_help=True)
YearArg = Annotated[int, typer.Argument(help="The year, e.g. 2027.")]


@calendar_app.command("set")
def calendar_set(year: YearArg,
                 file: Annotated[Path, typer.Option("--file", help="The year's notice as TOML (see "
                                                                   "docs/calendar-and-requests.md).")],
                 actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Enter or replace a year's holiday notice; every open request is re-timed and what moved is listed."""
    from pipeline.core.db import session_scope
    from pipeline.core.models import utcnow
    from pipeline.records.calendar import set_calendar
    from pipeline.records.notice import read_notice

    notice = read_notice(file, year=year)
    with session_scope(context().engine) as session:
        change = set_calendar(session, actor=person(session, actor), year=year, notice=notice, now=utcnow())
    if as_json:
        from pipeline.cli.json_views import CalendarChangeView, print_view

        print_view(CalendarChangeView, change)
        return
    verb = "replaced" if change.replaced else "entered"
    say(f"{year} {verb} from {change.source}: {change.holidays} days off, {change.workdays} 调休 days worked")
    for warning in change.warnings:
        say(f"  warning: {warning}")
    if not change.moved:
        say("no open request's dates moved")
        return
    print_table(("request", "agency", "ref", "date", "old", "new"),
                ((m.request_id, m.agency, m.ref, m.what, _day(m.old, m.old_provisional), _day(m.new, m.new_provisional))
                 for m in change.moved), title="re-timed open requests")


@calendar_app.command("show")
def calendar_show(year: YearArg, as_json: JsonOpt = False) -> None:
    """A year's holidays and 调休 working days, and where they come from (the office, the package, or none)."""
    from pipeline.core.db import session_scope
    from pipeline.records.calendar import calendar_view
    from pipeline.records.workdays import provisional_note

    with session_scope(context().engine) as session:
        view = calendar_view(session, year=year)
    if as_json:
        from pipeline.cli.json_views import CalendarView, print_view

        print_view(CalendarView, view)
        return
    where = {"office": f"entered by {view['entered_by']} on {str(view['entered_at'])[:10]} from {view['notice']}",
             "package": f"from {view['notice']}", "provisional": "not known"}[view["source"]]
    say(f"{year}: {where}")
    if view["provisional"]:  # the statutory holidays counted follow
        say(provisional_note([year]))
    print_table(("holiday", "first", "last", "days", "调休 worked"),
                ((p["name"], p["first"], p["last"], p["days"], ", ".join(p["workdays"])) for p in view["periods"]))


def _day(day: object, provisional: bool) -> str:
    return "-" if day is None else f"{day}{' (provisional)' if provisional else ''}"
