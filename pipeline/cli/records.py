"""`gongkai ledger`, `gongkai request` and `gongkai appeal`: the ledger and the two registers.

Registered on the main app by register_commands(); the report and figures commands are in cli_report.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from pipeline.cli.common import (
    ActorOpt,
    AgencyOpt,
    DateArg,
    JsonOpt,
    NoteOpt,
    agency_id,
    command_group,
    context,
    parse_date,
    person,
    today,
)
from pipeline.cli.output import out, print_table, say, styled
from pipeline.records.vocabulary import OUTCOMES

if TYPE_CHECKING:
    from pipeline.records.deadlines import EventKind

ledger_app = command_group("Net publication counts from the ledger; `ledger import` backfills history.",
                           invoke_without_command=True)
request_app = command_group("The disclosure-request register (依申请公开).", no_args_is_help=True)
appeal_app = command_group("The appeals register (行政复议, 行政诉讼).", no_args_is_help=True)


MERGES_SHOWN = 20


class By(StrEnum):
    CHANNEL = "channel"
    CATEGORY = "category"
    KIND = "kind"
    MONTH = "month"
    DEPARTMENT = "department"


@ledger_app.callback()
def ledger(ctx: typer.Context, year: Annotated[int | None, typer.Option(help="Only this year (Beijing).")] = None,
           by: Annotated[By, typer.Option(help="Count by channel, category, kind, month or department (处室).")]
           = By.CHANNEL,
           as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
           all_agencies: Annotated[bool, typer.Option("--all-agencies", help="Every configured agency.")] = False,
           agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Net publication counts (withdrawals subtracted) per year and channel, category, kind, month or 处室."""
    if ctx.invoked_subcommand:
        return
    from pipeline.core.agencies import agency_row
    from pipeline.core.db import session_scope
    from pipeline.records.ledger import count_ledger

    settings = context().settings
    codes = list(settings.agencies) if all_agencies else [settings.agency(agency)[0]]
    with session_scope(context().engine) as session:
        ids = [agency_row(session, code).id for code in codes]
        rows = count_ledger(session, agency_ids=ids, by=str(by), year=year)
    if as_json:
        from pipeline.cli.json_views import LedgerCount, print_views

        print_views(LedgerCount, rows)
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["agency", "year", str(by), "count"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        out.out(buffer.getvalue(), end="", highlight=False)
    else:
        print_table(("agency", "year", str(by), "count"),
                    ((r["agency"], r["year"], r[str(by)], r["count"]) for r in rows))


@ledger_app.command("import")
def ledger_import(path: Annotated[Path, typer.Argument(help="CSV file (UTF-8) of past publications.")],
                  agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Backfill publications made before gongkai; all rows or none, and a second import adds nothing.

    Columns: index_no/索引号 (may be empty), title/标题, channel/渠道, category/主题分类, kind/类别,
    published_on/公开日期 (YYYY-MM-DD).
    """
    from pipeline.core.agencies import agency_row
    from pipeline.core.db import session_scope
    from pipeline.records.ledger_import import import_ledger

    settings = context().settings
    code, _ = settings.agency(agency)
    with session_scope(context().engine) as session:
        done = import_ledger(session, settings=settings, agency_code=code, agency_id=agency_row(session, code).id,
                             path=path, today=today(), actor=person(session, actor))
    if as_json:
        from pipeline.cli.json_views import ImportedView, print_view

        print_view(ImportedView, done)
        return
    say(f"{done.file}: imported {done.imported} entries; {done.already_present} were imported before")
    if done.merged:  # one publication on several channels counts as one item in the report's tables
        say(f"{len(done.merged)} row(s) merged into the publication of another row (same title, date and "
            "kind):")
        for merge in done.merged[:MERGES_SHOWN]:
            say(f"  line {merge.line} ({merge.channel}) -> {merge.into}")
        if len(done.merged) > MERGES_SHOWN:
            say(f"  … and {len(done.merged) - MERGES_SHOWN} more (--json lists them all)")


STOPPED = {"awaiting_correction": "stopped (补正)", "awaiting_payment": "stopped (fee notice)",
           "paused": "paused (consultation)"}


def _due(view: dict[str, Any]) -> str:
    """The due date as every table and line shows it: marked when it is provisional."""
    if view["due_on"] is None:
        return STOPPED.get(view["state"], "")
    return view["due_on"] + (" (provisional)" if view["provisional"] else "")


def _show_request(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        from pipeline.cli.json_views import RequestView, print_view

        print_view(RequestView, view)
        return
    closed = f", closed {view['closed_on']} ({view['outcome']})" if view["closed_on"] else ""
    late = f", {view['working_days_late']} working day(s) late" if view["working_days_late"] else ""
    say(f"request {view['id']}: {view['applicant_type_name']}, received {view['received_on']}, "
        f"{view['state']}, due {_due(view)}{closed}{late}")
    if view["fee"]:
        fee = view["fee"]
        marker = " (provisional)" if fee["pay_by_provisional"] else ""
        paid = f"paid {fee['paid_on']}" if fee["paid_on"] else f"pay by {fee['pay_by']}{marker}"
        say(f"  信息处理费 {fee['amount']} 元, notice {fee['notified_on']}, {paid}")
    for warning in view["warnings"]:
        say(f"  warning: {warning}")


def _event(request_id: int, kind: EventKind, on: date, *, agency: str | None, actor: str | None, as_json: bool,
           **details: Any) -> None:
    from pipeline.core.db import session_scope
    from pipeline.records import register

    with session_scope(context().engine) as session:
        view = register.record_step(session, agency_id=agency_id(session, agency), request_id=request_id, kind=kind,
                                    on=on, actor=person(session, actor), today=today(), **details)
    _show_request(view, as_json)


@request_app.command("add")
def request_add(received: DateArg,
                applicant_type: Annotated[str, typer.Option(help="natural_person (自然人), commercial (商业企业), "
                                                             "research, public_interest, legal_service or other.")],
                channel: Annotated[str, typer.Option(help="in_person, post, online, fax or other.")] = "online",
                applicant: Annotated[str, typer.Option(help="Name of the applicant.")] = "",
                subject: Annotated[str, typer.Option(help="What is asked for.")] = "",
                ref: Annotated[str | None, typer.Option(help="The agency's register number.")] = None,
                agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Register an application on the day it counts as received (第三十一条); prints its id and due date."""
    from pipeline.core.db import session_scope
    from pipeline.records import register

    with session_scope(context().engine) as session:
        view = register.receive_request(
            session, agency_id=agency_id(session, agency), received_on=parse_date(received, "--received"),
            channel=channel, applicant_type=applicant_type, actor=person(session, actor), today=today(),
            applicant=applicant, subject=subject, ref=ref)
    _show_request(view, as_json)


@request_app.command("list")
def request_list(year: Annotated[int | None, typer.Option(help="Only requests received this year.")] = None,
                 open_only: Annotated[bool, typer.Option("--open", help="Only requests not closed.")] = False,
                 due: Annotated[bool, typer.Option("--due", help="Open requests by due date, with working days "
                                                               "left.")] = False,
                 on: Annotated[str | None, typer.Option(help="Count working days left from this date "
                                                             "(default: today).")] = None,
                 agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Requests with their state, due date and lateness; --due: what falls due when."""
    from pipeline.core.db import session_scope
    from pipeline.records import register
    from pipeline.records.workdays import provisional_note

    when = parse_date(on, "--on") or today()
    with session_scope(context().engine) as session:
        views = register.request_views(session, agency_id=agency_id(session, agency), today=when, year=year,
                                       open_only=open_only or due, by_due=due)
    if as_json:
        from pipeline.cli.json_views import RequestView, print_views

        print_views(RequestView, views)
        return
    print_table(("id", "ref", "received", "applicant", "state", "due", "left", "late", "closed", "outcome"),
                ((v["id"], v["ref"], v["received_on"], v["applicant_type_name"], v["state"], _due(v), _left(v),
                  styled(v["working_days_late"] or "", "red"), v["closed_on"], v["outcome"]) for v in views))
    years = {y for v in views for y in v["provisional_years"]}
    if years:
        say(provisional_note(years))


def _left(view: dict[str, Any]) -> str | Text:
    left = view["working_days_left"]
    return styled(f"overdue {-left}", "red") if left is not None and left < 0 else left


@request_app.command("show")
def request_show(request_id: Annotated[int, typer.Argument(help="Request id.")], agency: AgencyOpt = None,
                 as_json: JsonOpt = False) -> None:
    """One request with its clock and every recorded step."""
    from pipeline.core.db import session_scope
    from pipeline.records import register

    with session_scope(context().engine) as session:
        view = register.show_request(session, agency_id=agency_id(session, agency), request_id=request_id,
                                     today=today())
    _show_request(view, as_json)
    if not as_json:
        for event in view["events"]:
            extra = event["days"] or event["deadline"] or (f"{event['amount']} 元" if event["amount"] else "")
            say(f"  {event['on']} {event['kind']} {extra or ''} {event['note']}".rstrip())


@request_app.command("correct")
def request_correct(request_id: Annotated[int, typer.Argument(help="Request id.")],
                    asked: Annotated[str | None, typer.Option(help="Day the 补正 notice went out.")] = None,
                    deadline: Annotated[str | None, typer.Option(help="The 补正期限 the notice gave the applicant "
                                                                      "(required with --asked).")] = None,
                    received: Annotated[str | None, typer.Option(help="Day the corrected application arrived: "
                                                                      "the clock restarts.")] = None,
                    note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                    as_json: JsonOpt = False) -> None:
    """补正: --asked DATE --deadline DATE stops the clock; --received DATE restarts the 20 working days."""
    from pipeline.records.deadlines import EventKind

    if (asked is None) == (received is None):
        raise typer.BadParameter("give --asked or --received")
    kind = EventKind.CORRECTION_ASKED if asked else EventKind.CORRECTION_RECEIVED
    _event(request_id, kind, parse_date(asked or received, "--asked/--received"), agency=agency, actor=actor,
           as_json=as_json, deadline=parse_date(deadline, "--deadline"), note=note)


@request_app.command("extend")
def request_extend(request_id: Annotated[int, typer.Argument(help="Request id.")], on: DateArg,
                   days: Annotated[int, typer.Option(help="Working days added (at most 20 in all).")] = 20,
                   note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Extend the reply period (第三十三条: approved by the head of the disclosure office, at most 20 days)."""
    from pipeline.records.deadlines import EventKind

    _event(request_id, EventKind.EXTENDED, parse_date(on, "--on"), agency=agency, actor=actor, as_json=as_json,
           days=days, note=note)


@request_app.command("consult")
def request_consult(request_id: Annotated[int, typer.Argument(help="Request id.")],
                    start: Annotated[str | None, typer.Option(help="Day the consultation letter went out.")] = None,
                    end: Annotated[str | None, typer.Option(help="Day the answer arrived (or the period "
                                                                 "ended).")] = None,
                    note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                    as_json: JsonOpt = False) -> None:
    """Third-party or inter-agency consultation: the clock pauses from --start to --end."""
    from pipeline.records.deadlines import EventKind

    if (start is None) == (end is None):
        raise typer.BadParameter("give --start or --end")
    kind = EventKind.CONSULTATION_STARTED if start else EventKind.CONSULTATION_ENDED
    _event(request_id, kind, parse_date(start or end, "--start/--end"), agency=agency, actor=actor,
           as_json=as_json, note=note)


@request_app.command("fee")
def request_fee(request_id: Annotated[int, typer.Argument(help="Request id.")],
                notified: Annotated[str | None, typer.Option(help="Day the fee notice reached the applicant: the "
                                                                  "clock stops.")] = None,
                paid: Annotated[str | None, typer.Option(help="Day the applicant paid: the clock runs again.")] = None,
                amount: Annotated[str | None, typer.Option(help="信息处理费 in 元 (required with --notified; with "
                                                                "--paid it must match the notice).")] = None,
                note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                as_json: JsonOpt = False) -> None:
    """信息处理费 (国办函〔2020〕109号): the notice stops the clock; the applicant pays within 20 working days."""
    from pipeline.records.deadlines import EventKind

    if (notified is None) == (paid is None):
        raise typer.BadParameter("give --notified or --paid")
    kind = EventKind.FEE_NOTIFIED if notified else EventKind.FEE_PAID
    _event(request_id, kind, parse_date(notified or paid, "--notified/--paid"), agency=agency, actor=actor,
           as_json=as_json, amount=amount, note=note)


@request_app.command("close")
def request_close(request_id: Annotated[int, typer.Argument(help="Request id.")], on: DateArg,
                  outcome: Annotated[str, typer.Option(help="How it was answered: see `gongkai request "
                                                            "outcomes`.")],
                  note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                  as_json: JsonOpt = False) -> None:
    """Close a request with the reply's outcome; it counts in one row of table 三."""
    from pipeline.records.deadlines import EventKind

    _event(request_id, EventKind.CLOSED, parse_date(on, "--on"), agency=agency, actor=actor, as_json=as_json,
           outcome=outcome, note=note)


@request_app.command("outcomes")
def request_outcomes(as_json: JsonOpt = False) -> None:
    """The outcomes a request closes with, and the row of table 三 each counts in (2019 and 2021 formats)."""
    from pipeline.report.format import t3_label

    rows = [{"outcome": key, "meaning": name, **{f"row_{v}": t3_label(v, row) for v, row in rows.items()}}
            for key, (name, rows) in OUTCOMES.items()]
    if as_json:
        from pipeline.cli.json_views import OutcomeRow, print_views

        print_views(OutcomeRow, rows)
        return
    print_table(("outcome", "meaning", "2019 row", "2021 row"),
                ((r["outcome"], r["meaning"], r["row_2019"], r["row_2021"]) for r in rows))


@appeal_app.command("add")
def appeal_add(kind: Annotated[str, typer.Option(help="reconsideration (行政复议), litigation (直接起诉) or "
                                                      "litigation_after (复议后起诉).")],
               filed: DateArg, request: Annotated[int | None, typer.Option(help="The request it is about.")] = None,
               ref: Annotated[str | None, typer.Option(help="Case number.")] = None, note: NoteOpt = "",
               agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Register a reconsideration or a lawsuit about the agency's disclosure work."""
    from pipeline.core.db import session_scope
    from pipeline.records import appeals

    with session_scope(context().engine) as session:
        appeal = appeals.add_appeal(session, agency_id=agency_id(session, agency), kind=kind,
                                    filed_on=parse_date(filed, "--filed"), actor=person(session, actor),
                                    today=today(), request_id=request, ref=ref, note=note)
        view = appeals.appeal_view(appeal)
    from pipeline.cli.json_views import AppealView, print_view

    print_view(AppealView, view) if as_json else say(f"appeal {view['id']}: {view['kind_name']}, filed "
                                         f"{view['filed_on']}")


@appeal_app.command("close")
def appeal_close(appeal_id: Annotated[int, typer.Argument(help="Appeal id.")],
                 result: Annotated[str, typer.Option(help="upheld (维持), corrected (纠正) or other (其他).")],
                 on: DateArg, note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Record the decision or judgment; until then the appeal counts as 尚未审结."""
    from pipeline.core.db import session_scope
    from pipeline.records import appeals

    with session_scope(context().engine) as session:
        appeal = appeals.close_appeal(session, agency_id=agency_id(session, agency), appeal_id=appeal_id,
                                      result=result, closed_on=parse_date(on, "--on"),
                                      actor=person(session, actor), today=today(), note=note)
        view = appeals.appeal_view(appeal)
    from pipeline.cli.json_views import AppealView, print_view

    print_view(AppealView, view) if as_json else say(f"appeal {view['id']}: {view['result']} on {view['closed_on']}")


@appeal_app.command("list")
def appeal_list(year: Annotated[int | None, typer.Option(help="Appeals open at some time in this year.")] = None,
                agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Appeals with their result (pending = 尚未审结)."""
    from pipeline.core.db import session_scope
    from pipeline.records import appeals

    with session_scope(context().engine) as session:
        views = appeals.appeal_views(session, agency_id=agency_id(session, agency), year=year)
    if as_json:
        from pipeline.cli.json_views import AppealView, print_views

        print_views(AppealView, views)
        return
    print_table(("id", "ref", "kind", "filed", "result", "closed", "request"),
                ((v["id"], v["ref"], v["kind_name"], v["filed_on"], v["result"], v["closed_on"], v["request_id"])
                 for v in views))


def timeliness(year: Annotated[int, typer.Argument(help="Year of publication (Beijing).")],
               all_agencies: Annotated[bool, typer.Option("--all-agencies", help="Every configured agency.")] = False,
               agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """第二十六条: publications of YEAR that went out more than 20 working days after their information was formed
    or changed, by agency and 处室, with the working days late."""
    from pipeline.core.agencies import agency_row
    from pipeline.core.db import session_scope
    from pipeline.records.late import late_publications
    from pipeline.records.office_calendar import load_calendar
    from pipeline.records.workdays import provisional_note

    settings = context().settings
    codes = list(settings.agencies) if all_agencies else [settings.agency(agency)[0]]
    with session_scope(context().engine) as session:
        ids = [agency_row(session, code).id for code in codes]
        late, checked = late_publications(session, agency_ids=ids, year=year, calendar=load_calendar(session))
    provisional = sorted({year for p in late for year in p.provisional_years})
    if as_json:
        from pipeline.cli.json_views import TimelinessView, print_view

        print_view(TimelinessView, {"year": year, "agencies": codes, "checked": checked,
                                    "late": [p.view() for p in late]})
        return
    say(f"{year}: {len(late)} of {checked} publication(s) later than 20 working days (第二十六条)")
    if late:
        print_table(("agency", "处室", "item", "索引号", "title", "formed", "due", "published", "days late"),
                    ((p.agency, p.department, p.item_id or "", p.index_no or "", p.title, p.formed_on.isoformat(),
                      p.due_on.isoformat() + ("?" if p.provisional else ""), p.published_on.isoformat(),
                      p.days_late) for p in late))
    if provisional:
        say(f"warning: {provisional_note(provisional)}")


def register_commands(app: typer.Typer) -> None:
    """Add ledger, request, appeal, figures, audit and report to the main app."""
    from pipeline.cli.audit import audit_app
    from pipeline.cli.monitor import assessment, monitor
    from pipeline.cli.report import figures_app, report
    from pipeline.cli.website import website

    app.add_typer(ledger_app, name="ledger")
    app.add_typer(request_app, name="request")
    app.add_typer(appeal_app, name="appeal")
    app.add_typer(figures_app, name="figures")
    app.add_typer(audit_app, name="audit")
    app.command()(report)
    app.command()(timeliness)
    app.command()(monitor)
    app.command()(assessment)
    app.command()(website)
