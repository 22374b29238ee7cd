"""The `gongkai` command line: English, with the Chinese domain terms where they are the real names."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from pipeline.cli.calendar import calendar_app
from pipeline.cli.common import ActorOpt, AgencyOpt, JsonOpt, command_group, context, person, reset_context
from pipeline.cli.operations import channels_app, deliveries, print_handed_over, retry, serve, verify, worker
from pipeline.cli.output import TAB, out, print_json, print_table, say, shown, styled
from pipeline.cli.people import levels_app, login, logout, user_app, whoami
from pipeline.cli.records import register_commands  # ledger, request, appeal, figures, report
from pipeline.core.errors import GongkaiError
from pipeline.core.status import ItemStatus

if TYPE_CHECKING:
    from pipeline.core.config import AgencySettings

# Settings, the database, the engine and the domain are imported inside the commands that use them: `--help`,
# `list` and `show` start without Alembic, Celery, python-docx or the delivery engine (tests/test_cli_start.py).
app = command_group("gongkai (公开): review, publish and count a government agency's information.",
                    no_args_is_help=True)


@app.callback()
def _start() -> None:
    reset_context()  # each invocation reads its configuration afresh, once


def _agency(code: str | None) -> tuple[str, AgencySettings]:
    return context().settings.agency(code)


@app.command()
def init() -> None:
    """Create or migrate the database; write a commented gongkai.toml if none exists."""
    from pipeline.core.audit_key import create_key_file
    from pipeline.core.config import config_path, load_settings
    from pipeline.core.models import utcnow
    from pipeline.records.installation import prepare_database

    path = config_path()
    if not path.exists():
        path.write_text((Path(__file__).parent / "gongkai.example.toml").read_text(encoding="utf-8"),
                        encoding="utf-8")
        say(f"wrote {path} (commented; edit the agency, users and channels)")
    audit = load_settings(path).audit
    if audit.environment_key is None and create_key_file(audit.key_file):
        say(f"wrote {audit.key_file} (the audit key, mode 0600, readable by you only: keep a copy off this "
            "machine; see docs/audit.md)")
    ctx = context(warn_users=False)
    done = prepare_database(ctx.engine, settings=ctx.settings, now=utcnow())
    say(f"database ready at {ctx.engine.url.render_as_string(hide_password=True)}; "
        f"agencies: {', '.join(f'{r.code} ({r.name})' for r in done.agencies) or 'none'}")
    if done.sealed is not None:
        say(f"sealed the audit trail: its {done.sealed} events written before the audit key verify as they were, "
            "every later one with the key (docs/audit.md)")
    if done.imported:
        say(f"imported {len(done.imported)} users from the [agencies.*.users] sections of {path} into the "
            f"database, once: {', '.join(done.imported)}. They have no password yet (gongkai user passwd LOGIN); "
            "from now on those sections are ignored: manage people with gongkai user")
    if done.admin_missing:
        say("no admin yet: gongkai user add LOGIN --name 姓名 --role admin creates the first one")


@app.command()
def submit(paths: Annotated[list[Path], typer.Argument(help="Item files: .md with front matter, .json, .jsonl.")],
           agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Submit item files for review; all records are stored or none. Prints each item's id."""
    from pipeline.core.db import session_scope
    from pipeline.items import workflow
    from pipeline.items.itemfile import Limits, read_item_files

    ctx = context()
    code, _ = _agency(agency)
    limits = Limits(ctx.settings.items.max_title_chars, ctx.settings.items.max_body_bytes)
    records, problems = read_item_files(paths, limits=limits)
    with session_scope(ctx.engine) as session:
        done = workflow.submit_items(session, settings=ctx.settings, agency_code=code, actor=person(session, actor),
                                     records=records, problems=problems)
    if as_json:
        from pipeline.cli.json_views import SubmittedView, print_views

        print_views(SubmittedView, done)
        return
    for d in done:
        note = "" if d.revision == 1 else f" (revision {d.revision})"
        say(str(d.item_id), TAB, f"{d.title}{note}", TAB, styled(d.source, "dim"))
        say("  ", deadline_text(d.deadline))
    years = {y for d in done if d.deadline for y in d.deadline["provisional_years"]}
    if years:
        from pipeline.records.workdays import provisional_note

        say(f"warning: {provisional_note(years)}", to_err=True)


def deadline_text(deadline: dict | None) -> Text:
    """One item's 第二十六条 deadline for people: due date, working days left or late."""
    if deadline is None:
        return Text("第二十六条 publication deadline: unknown (no working-day calendar for that year)")
    due = deadline["due_on"] + (" (provisional)" if deadline["provisional"] else "")
    left = deadline["days_left"]
    text = Text(f"第二十六条 publication deadline {due} (formed {deadline['formed_on']}): ")
    text.append(f"{-left} working day(s) late" if left < 0 else f"{left} working day(s) left",
                style="red" if left < 0 else "")
    return text


@app.command()
def review(items: Annotated[list[str], typer.Argument(help="Item ids, each ID or ID@REVISION (the revision you read; "
                                                           "without @, --revision).", metavar="ID[@REVISION]...")],
           approve: Annotated[bool, typer.Option("--approve/--reject", help="Pass this level, or send it back.")],
           level: Annotated[str, typer.Option("--level", help="The level you decide, as gongkai show names it "
                                                              "(e.g. 处室审核); refused if the item moved on.")],
           revision: Annotated[int | None, typer.Option("--revision", help="The revision you read, for ids without "
                                                                           "@REVISION; refused if a newer one was "
                                                                           "submitted.")] = None,
           comment: Annotated[str, typer.Option(help="Comment; required with --reject.")] = "",
           late_reason: Annotated[str, typer.Option("--late-reason", help="Why it goes out after its 第二十六条 "
                                                    "deadline; required to approve it then.")] = "",
           agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """One review step, for one item or many (the same decision at the same level; one refusal decides none); the
    last required step approves an item and queues it."""
    from pipeline.core.db import session_scope
    from pipeline.core.models import Decision
    from pipeline.engine.decisions import review_and_hand_over

    ctx = context()
    code, _ = _agency(agency)
    decisions = [_item_revision(text, revision) for text in items]
    if len({item_id for item_id, _ in decisions}) != len(decisions):
        raise typer.BadParameter("an item is named twice", param_hint="ID")
    with session_scope(ctx.engine) as session:
        who = person(session, actor)
    decided = review_and_hand_over(ctx.settings, ctx.engine, agency_code=code,
                                   decisions=[(i, rev, level) for i, rev in decisions], actor=who,
                                   decision=Decision.APPROVE if approve else Decision.REJECT, comment=comment,
                                   late_reason=late_reason)
    results = decided.results
    if not as_json:
        for done in decided.handed_over:
            print_handed_over(done)
    if as_json:
        from pipeline.cli.json_views import ReviewedView, print_view, print_views

        if len(results) == 1:  # one id: one object, as before lists were taken
            print_view(ReviewedView, results[0])
        else:
            print_views(ReviewedView, results)
        return
    for (item_id, _), result in zip(decisions, results, strict=True):
        if result.status == ItemStatus.APPROVED:
            say(f"item {item_id}: {result.level_name} passed; approved, 索引号 {result.index_no}")
        elif result.status == ItemStatus.REJECTED:
            say(f"item {item_id}: rejected at {result.level_name}; back to its author")
        else:
            say(f"item {item_id}: {result.level_name} passed; next: {result.next_level}")


def _item_revision(text: str, revision: int | None) -> tuple[int, int]:
    """ID@REVISION, or ID with --revision."""
    match = re.fullmatch(r"(\d+)(?:@(\d+))?", text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not ID or ID@REVISION", param_hint="ID")
    if match.group(2) is None and revision is None:
        raise typer.BadParameter(f"item {match.group(1)}: which revision did you read? give --revision N or "
                                 f"{match.group(1)}@N", param_hint="ID")
    return int(match.group(1)), int(match.group(2) or revision)


@app.command()
def withdraw(item_id: Annotated[int, typer.Argument(help="Item id.")],
             reason: Annotated[str, typer.Option(help="Why the item is withdrawn (kept on record).")] = "",
             deleted_by_hand: Annotated[list[str] | None, typer.Option(
                 "--deleted-by-hand", help="Channel where a person deleted the publication (may repeat).")] = None,
             agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Withdraw an item: cancel what was not sent, take down what was; run again to retry a take-down."""
    from pipeline.core.db import session_scope
    from pipeline.engine.decisions import withdraw_and_take_down

    ctx = context()
    code, _ = _agency(agency)
    with session_scope(ctx.engine) as session:
        who = person(session, actor)
    results = withdraw_and_take_down(ctx.settings, ctx.engine, agency_code=code, item_id=item_id, actor=who,
                                     reason=reason, deleted_by_hand=deleted_by_hand)
    if as_json:
        from pipeline.cli.json_views import TakeDownView, print_views

        print_views(TakeDownView, results)
        return
    say(f"item {item_id}: withdrawn")
    for r in results:
        say(f"  {r.channel}: {r.result}{' — ' + r.detail if r.detail else ''}")


@app.command(name="list")
def list_(status: Annotated[ItemStatus | None, typer.Option(help="Only items in this state.")] = None,
          agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Items, newest first, with review state, 索引号 and per-channel delivery state."""
    from pipeline.core.config_file import read_target
    from pipeline.core.reader import open_reader
    from pipeline.items import reading

    target = read_target(agency)  # read without SQLAlchemy or settings validation: it starts at once
    with open_reader(target.database_url, busy_timeout_ms=target.busy_timeout_ms) as db:
        rows = reading.list_items(db, agency_id=reading.agency_id(db, target.agency), status=status)
    if as_json:
        from pipeline.cli.json_views import ItemRow, print_views

        print_views(ItemRow, rows)
        return
    print_table(("id", "title", "status", "索引号", "公开期限", "channels"),
                ((row["id"], row["title"], row["status"] + (f" ({row['awaiting']})" if row["awaiting"] else ""),
                  row["index_no"], _days_left(row["deadline"]), _channel_states(row)) for row in rows))
    years = {year for row in rows if row["deadline"] for year in row["deadline"]["provisional_years"]}
    if years:
        from pipeline.records.workdays import provisional_note

        say(f"公开期限: working days left before the 第二十六条 deadline; ?: {provisional_note(years)}", to_err=True)


def _days_left(deadline: dict | None) -> Text:
    """Working days left before the 第二十六条 deadline (negative and red: late; ?: provisional)."""
    if deadline is None:
        return Text("")
    left = deadline["days_left"]
    return Text(f"{left}{'?' if deadline['provisional'] else ''}", style="red" if left < 0 else "")


def _channel_states(row: dict) -> Text:
    states = Text(shown(" ".join(f"{c}:{s}" for c, s in row["channels"].items())))
    if row["overdue"]:
        states.append(shown(f" overdue: {', '.join(row['overdue'])}"), style="red")
    return states


@app.command()
def show(item_id: Annotated[int, typer.Argument(help="Item id.")], agency: AgencyOpt = None,
         as_json: JsonOpt = False) -> None:
    """One item: revisions, every review decision (who, when, comment) and deliveries."""
    from pipeline.core.config_file import read_target
    from pipeline.core.reader import open_reader
    from pipeline.items import reading

    target = read_target(agency)  # as list: it starts at once
    with open_reader(target.database_url, busy_timeout_ms=target.busy_timeout_ms) as db:
        data = reading.show_item(db, item_id=item_id, agency_id=reading.agency_id(db, target.agency))
    if as_json:
        from pipeline.cli.json_views import ItemView, print_view

        print_view(ItemView, data)
        return
    state = data["status"] + (f", awaiting {data['awaiting']}" if data["awaiting"] else "")
    say(styled(data["title"], "bold"), f"  (item {data['id']}, revision {data['revision']}, {state})")
    if data["deadline"]:
        say("  ", deadline_text(data["deadline"]))
    for key in ("index_no", "category", "kind", "publisher", "doc_number", "created_on", "publish_at",
                "author", "department", "withdrawn_at", "withdraw_reason"):
        if data[key]:
            value = f"{_beijing(data[key])} (Beijing)" if key.endswith("_at") else data[key]
            say(f"  {key}: {value}")
    say(f"  review levels: {' → '.join(data['levels'])}")
    print_table(("rev", "level", "reviewer", "decision", "at (Beijing)", "comment"),
                ((d["revision"], d["level"], _reviewer(d), d["decision"], _beijing(d["at"]),
                  d["comment"] + (f"（迟发原因：{d['late_reason']}）" if d["late_reason"] else ""))
                 for d in data["decisions"]), title="review")
    if data["deliveries"]:
        print_table(("id", "rev", "channel", "status", "attempts", "remote id", "url", "error"),
                    ((d["id"], d["revision"], d["channel"], d["status"], d["attempts"], d["remote_id"], d["url"],
                      d["last_error"]) for d in data["deliveries"]), title="deliveries")


def _beijing(instant: str | None) -> str:
    """An ISO instant of a view as staff read it: Beijing time to the minute (--json keeps the instant)."""
    from datetime import datetime

    from pipeline.core.clock import SHANGHAI

    return datetime.fromisoformat(instant).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if instant else ""


def _reviewer(decision: dict) -> str:
    acted_by = decision["acted_by"]
    return decision["reviewer"] + (f" (admin {acted_by} for {decision['reviewer']})" if acted_by else "")


@app.command()
def preview(item_id: Annotated[int, typer.Argument(help="Item id.")],
            channel: Annotated[str, typer.Option(help="Channel name (a [channels.NAME] section).")],
            out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write HTML parts and their images "
                                                                       "(default: a temporary directory).")] = None,
            agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """What the channel would receive for the item's newest revision: a summary (--json: the exact payload),
    what the channel would refuse and why, and the HTML parts as files with their images beside them."""
    from pipeline.core.agencies import agency_row
    from pipeline.core.db import session_scope
    from pipeline.core.reader import reader_of
    from pipeline.engine.runtime import Engine
    from pipeline.items import reading
    from pipeline.items.preview import channel_preview, payload_summary, write_preview

    ctx = context()
    code, agency_settings = _agency(agency)
    if channel not in agency_settings.channels:
        raise GongkaiError(f"agency {code} does not publish to '{channel}' ({', '.join(agency_settings.channels)})")
    with session_scope(ctx.engine) as session:
        reading.show_item(reader_of(session), item_id=item_id, agency_id=agency_row(session, code).id)  # or NotFound
        shown = channel_preview(session, ctx.settings, item_id=item_id, channel=channel,
                                channels=Engine.build(ctx.settings, ctx.engine).channels)
    if as_json:
        print_json(shown.payload)
    else:
        message = shown.message
        say(f"{channel} ({shown.kind}): item {item_id}" + (f", {message.title}" if message else ""))
        if message is not None:
            say(f"  索引号 {message.index_no}; canonical URL {message.canonical_url or '(none)'}")
        say(f"  would refuse it: {shown.refusal}" if shown.refusal else "  would accept it")
        if shown.payload is not None:
            print_table(("field", "value"), payload_summary(shown.payload), title="payload")
    if shown.refusal and as_json:
        say(f"warning: {shown.refusal}", to_err=True)
    if shown.html:
        import tempfile

        folder = out_dir or Path(tempfile.mkdtemp(prefix=f"gongkai-preview-{item_id}-"))
        for page in write_preview(shown, folder):
            say(f"open in a browser: {page.resolve()}", to_err=True)


@app.command()
def demo(workspace: Annotated[Path | None, typer.Option(help="Where to build the demo (default: a new "
                                                                "temporary directory).")] = None) -> None:
    """Run the whole path offline on the embedded defaults, in a temporary workspace."""
    from pipeline.cli.demo import run_demo

    run_demo(workspace, out)


for command in (deliveries, retry, verify, worker, serve):  # pipeline/cli/operations.py
    app.command()(command)
register_commands(app)
app.add_typer(calendar_app, name="calendar")
app.command()(login)
app.command()(logout)
app.command()(whoami)
app.add_typer(user_app, name="user")
app.add_typer(channels_app, name="channels")
app.add_typer(levels_app, name="levels")


def main() -> None:
    """Console entry point: user errors exit 1 with one clear message; usage errors exit 2 (Typer's own)."""
    try:
        app(prog_name="gongkai")
    except GongkaiError as e:
        first, *more = str(e).split("\n")  # a list of problems, one a line; each line shown as text
        for line in (f"error: {first}", *more):
            say(line, to_err=True)
        sys.exit(1)
