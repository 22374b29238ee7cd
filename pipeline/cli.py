"""The `gongkai` command line: English, with the Chinese domain terms where they are the real names."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from pipeline import views, workflow
from pipeline.agencies import agency_row, sync_agencies
from pipeline.config import AgencySettings, Settings, config_path, load_settings
from pipeline.db import make_engine, migrate, session_scope
from pipeline.errors import GongkaiError, InputRejected
from pipeline.itemfile import Limits, read_item_files
from pipeline.models import Decision, ItemStatus

app = typer.Typer(help="gongkai (公开): review, publish and count a government agency's information.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

AgencyOpt = Annotated[str | None, typer.Option("--agency", help="Agency code (default: platform.default_agency).")]
ActorOpt = Annotated[str | None, typer.Option("--as", help="Acting user (default: the OS user).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@dataclass
class Context:
    settings: Settings
    engine: sa.Engine


_context: Context | None = None


def context() -> Context:
    """Settings and engine, built once per invocation."""
    global _context
    if _context is None:
        settings = load_settings()
        _context = Context(settings, make_engine(settings.database))
    return _context


@app.callback()
def _start() -> None:
    global _context
    _context = None  # each invocation reads its configuration afresh, once


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _agency(code: str | None) -> tuple[str, AgencySettings]:
    return context().settings.agency(code)


def _print_json(data: Any) -> None:
    out.out(json.dumps(data, ensure_ascii=False, indent=2), highlight=False)


@app.command()
def init() -> None:
    """Create or migrate the database; write a commented gongkai.toml if none exists."""
    path = config_path()
    if not path.exists():
        path.write_text((Path(__file__).parent / "gongkai.example.toml").read_text(encoding="utf-8"),
                        encoding="utf-8")
        out.print(f"wrote {path} (commented; edit the agency, users and channels)")
    ctx = context()
    _ensure_sqlite_dir(ctx.settings.database.url)
    migrate(ctx.engine)
    with session_scope(ctx.engine) as session:
        rows = sync_agencies(session, settings=ctx.settings)
    out.print(f"database ready at {ctx.engine.url.render_as_string(hide_password=True)}; "
              f"agencies: {', '.join(f'{r.code} ({r.name})' for r in rows) or 'none'}")


def _ensure_sqlite_dir(url: str) -> None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


@app.command()
def submit(paths: Annotated[list[Path], typer.Argument(help="Item files: .md with front matter, .json, .jsonl.")],
           agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Submit item files for review; all records are stored or none. Prints each item's id."""
    ctx = context()
    code, _ = _agency(agency)
    limits = Limits(ctx.settings.items.max_title_chars, ctx.settings.items.max_body_bytes)
    records, problems = read_item_files(paths, limits=limits)
    if problems:
        raise InputRejected(problems)
    with session_scope(ctx.engine) as session:
        done = workflow.submit_items(session, settings=ctx.settings, agency_code=code, actor=_actor(actor),
                                     records=records)
    if as_json:
        _print_json([d.__dict__ for d in done])
        return
    for d in done:
        note = "" if d.revision == 1 else f" (revision {d.revision})"
        out.print(f"{d.item_id}\t{d.title}{note}\t[dim]{d.source}[/dim]", highlight=False)


@app.command()
def review(item_id: Annotated[int, typer.Argument(help="Item id.")],
           approve: Annotated[bool, typer.Option("--approve/--reject", help="Pass this level, or send it back.")],
           comment: Annotated[str, typer.Option(help="Comment; required with --reject.")] = "",
           agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """One review step; the last required step approves the item and queues it."""
    ctx = context()
    code, _ = _agency(agency)
    decision = Decision.APPROVE if approve else Decision.REJECT
    with session_scope(ctx.engine) as session:
        result = workflow.review_item(session, settings=ctx.settings, agency_code=code, item_id=item_id,
                                      actor=_actor(actor), decision=decision, comment=comment)
    if as_json:
        _print_json({**result.__dict__, "decision": str(result.decision), "status": str(result.status)})
    elif result.status == ItemStatus.APPROVED:
        out.print(f"item {item_id}: {result.level_name} passed; approved, 索引号 {result.index_no}")
    elif result.status == ItemStatus.REJECTED:
        out.print(f"item {item_id}: rejected at {result.level_name}; back to its author")
    else:
        out.print(f"item {item_id}: {result.level_name} passed; next: {result.next_level}")


@app.command()
def withdraw(item_id: Annotated[int, typer.Argument(help="Item id.")],
             reason: Annotated[str, typer.Option(help="Why the item is withdrawn (kept on record).")],
             agency: AgencyOpt = None, actor: ActorOpt = None) -> None:
    """Withdraw an item; deliveries not yet sent are cancelled."""
    ctx = context()
    code, _ = _agency(agency)
    with session_scope(ctx.engine) as session:
        workflow.withdraw_item(session, settings=ctx.settings, agency_code=code, item_id=item_id,
                               actor=_actor(actor), reason=reason)
    out.print(f"item {item_id}: withdrawn")


@app.command(name="list")
def list_(status: Annotated[ItemStatus | None, typer.Option(help="Only items in this state.")] = None,
          agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Items, newest first, with review state, 索引号 and per-channel delivery state."""
    ctx = context()
    code, agency_settings = _agency(agency)
    with session_scope(ctx.engine) as session:
        rows = views.list_items(session, agency_id=agency_row(session, code).id, agency=agency_settings,
                                status=status)
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "title", "status", "索引号", "channels", box=None)
    for row in rows:
        state = row["status"] + (f" ({row['awaiting']})" if row["awaiting"] else "")
        channels = " ".join(f"{c}:{s}" for c, s in row["channels"].items())
        if row["overdue"]:
            channels += f" [red]overdue: {', '.join(row['overdue'])}[/red]"
        table.add_row(str(row["id"]), row["title"], state, row["index_no"] or "", channels)
    out.print(table)


@app.command()
def show(item_id: Annotated[int, typer.Argument(help="Item id.")], agency: AgencyOpt = None,
         as_json: JsonOpt = False) -> None:
    """One item: revisions, every review decision (who, when, comment) and deliveries."""
    ctx = context()
    code, agency_settings = _agency(agency)
    with session_scope(ctx.engine) as session:
        data = views.show_item(session, item_id=item_id, agency_id=agency_row(session, code).id,
                               agency=agency_settings)
    if as_json:
        _print_json(data)
        return
    state = data["status"] + (f", awaiting {data['awaiting']}" if data["awaiting"] else "")
    out.print(f"[bold]{data['title']}[/bold]  (item {data['id']}, revision {data['revision']}, {state})",
              highlight=False)
    for key in ("index_no", "category", "kind", "publisher", "doc_number", "created_on", "publish_at",
                "author", "withdraw_reason"):
        if data[key]:
            out.print(f"  {key}: {data[key]}", highlight=False)
    decisions = Table("rev", "level", "reviewer", "decision", "at", "comment", title="review", box=None)
    for d in data["decisions"]:
        decisions.add_row(str(d["revision"]), d["level"], d["reviewer"], d["decision"], d["at"], d["comment"])
    out.print(decisions)
    if data["deliveries"]:
        deliveries = Table("id", "rev", "channel", "status", "attempts", "remote id", "url", "error",
                           title="deliveries", box=None)
        for d in data["deliveries"]:
            deliveries.add_row(str(d["id"]), str(d["revision"]), d["channel"], d["status"], str(d["attempts"]),
                               d["remote_id"] or "", d["url"] or "", d["last_error"] or "")
        out.print(deliveries)


@app.command()
def demo(workspace: Annotated[Path | None, typer.Option(help="Where to build the demo (default: a new "
                                                                "temporary directory).")] = None) -> None:
    """Run the whole path offline on the embedded defaults, in a temporary workspace."""
    from pipeline.demo import run_demo

    run_demo(workspace, out)


def main() -> None:
    """Console entry point: user errors exit 1 with one clear message; usage errors exit 2 (Typer's own)."""
    try:
        app()
    except GongkaiError as e:
        err.print(f"error: {e}", highlight=False, markup=False)
        sys.exit(1)
