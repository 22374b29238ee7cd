"""`gongkai audit`: check the keyed audit trail and the rows it covers, anchor its head, read it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import JsonOpt, command_group, context, parse_date
from pipeline.cli.output import say, styled

audit_app = command_group("The tamper-evident audit trail (docs/audit.md).", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(anchors: Annotated[Path | None, typer.Option(
                     "--anchors", help="A file of anchors (gongkai audit anchor) or a report's JSON: also find "
                     "deleted newest events and a trail rewritten with the key.")] = None,
                 as_json: JsonOpt = False) -> None:
    """Walk the keyed chain and check every covered row against it; exit 1 naming the first bad row."""
    from pipeline.core.db import session_scope
    from pipeline.records.anchors import verify_with_anchors

    with session_scope(context().engine) as session:
        verdict = verify_with_anchors(session, path=anchors)
    where = f"{verdict.table} id {verdict.row_id}" if verdict.row_id is not None else verdict.table
    if as_json:
        from pipeline.cli.json_views import AuditVerdict, print_view

        print_view(AuditVerdict, {"ok": verdict.ok, "events": verdict.events, "ledger_entries": verdict.ledger_entries,
                                  "rows": verdict.rows, "unkeyed_events": verdict.unkeyed, "anchors": verdict.anchors,
                                  "table": verdict.table or None, "id": verdict.row_id,
                                  "problem": verdict.problem or None})
    elif verdict.ok:
        sealed = f"; {verdict.unkeyed} written before the audit key" if verdict.unkeyed else ""
        anchored = f"; {verdict.anchors} anchors match" if anchors is not None else ""
        say(f"chain intact ({verdict.events} events, {verdict.ledger_entries} ledger entries); {verdict.rows} "
            f"other covered rows{sealed}{anchored}")
    else:
        say(f"error: {where}: {verdict.problem}", to_err=True)
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(file: Annotated[Path | None, typer.Option(
                     "--file", help="Append here (default: audit.anchors_file).")] = None) -> None:
    """Verify the trail, then append its count, head and the Beijing time to an append-only file."""
    from pipeline.core.db import session_scope
    from pipeline.records.anchors import anchor_trail

    ctx = context()
    with session_scope(ctx.engine) as session:
        anchor = anchor_trail(session, path=file or ctx.settings.audit.anchors_file)
    say(f"anchored {anchor.count} events, head {anchor.head}, at {anchor.at} in {anchor.where}")


@audit_app.command("log")
def audit_log(item: Annotated[int | None, typer.Option("--item", help="Only this item and its deliveries.")] = None,
              actor: Annotated[str | None, typer.Option("--actor", help="Only what this login did or had done "
                                                                         "for them.")] = None,
              since: Annotated[str | None, typer.Option("--since", help="From this Beijing date on, YYYY-MM-DD.")]
              = None,
              last: Annotated[int | None, typer.Option("--last", min=1, help="Only the newest N events.")] = None,
              as_json: JsonOpt = False) -> None:
    """The trail, oldest first: Beijing time, actor as recorded, action, subject and details."""
    from pipeline.core.db import session_scope
    from pipeline.records.audit_log import read_log

    with session_scope(context().engine) as session:
        lines = read_log(session, item_id=item, actor=actor, since=parse_date(since, "--since"), limit=last)
    if as_json:
        from pipeline.cli.json_views import AuditLogLine, print_views

        print_views(AuditLogLine, lines)
        return
    for line in lines:
        details = " ".join(f"{key}={_value(value)}" for key, value in line.details.items())
        os_user = [styled(f"  (os user {line.os_user})", "dim")] if line.os_user != line.actor else []
        say(styled(f"{line.id:>6} {line.at}  ", "dim"), styled(line.actor, "bold"),
            f"  {line.action} {line.subject}  {details}", *os_user)


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}:{_value(inner)}" for key, inner in value.items())
    return "" if value is None else str(value)
