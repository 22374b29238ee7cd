"""`gongkai audit`: check the hash-chained audit trail and the ledger rows it covers."""

from __future__ import annotations

import typer

from pipeline.cli.common import JsonOpt, command_group, context
from pipeline.cli.output import say

audit_app = command_group("The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Walk the hash chain and check every ledger row against it; exit 1 naming the first bad row."""
    from pipeline.core.db import session_scope
    from pipeline.records.audit import verify_trail

    with session_scope(context().engine) as session:
        verdict = verify_trail(session)
    if as_json:
        from pipeline.cli.json_views import AuditVerdict, print_view

        print_view(AuditVerdict, {"ok": verdict.ok, "events": verdict.events, "ledger_entries": verdict.ledger_entries,
                    "table": verdict.table or None, "id": verdict.row_id, "problem": verdict.problem or None})
    elif verdict.ok:
        say(f"chain intact ({verdict.events} events, {verdict.ledger_entries} ledger entries)")
    else:
        say(f"error: {verdict.table} id {verdict.row_id}: {verdict.problem}", to_err=True)
    if not verdict.ok:
        raise typer.Exit(1)
