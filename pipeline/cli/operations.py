"""Operating the delivery: what waits or failed (deliveries), replaying it (retry), reading publications back
(verify), checking channels before the first send (channels check), and the long-running processes (worker,
serve). Thin as the rest of the CLI: parse, call one domain function, print."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import ActorOpt, AgencyOpt, JsonOpt, command_group, context, person
from pipeline.cli.output import out, print_table, say

if TYPE_CHECKING:
    from pipeline.engine.handover import HandedOver


def print_handed_over(done: HandedOver) -> None:
    """What a hand-over did: queued for the workers, or published here (no broker)."""
    if done.broker and done.given:
        say(f"queued {done.queued} deliveries" + ("" if done.queued == done.given else "; the sweep sends the rest"))
    for outcome in done.outcomes:
        say(f"delivery {outcome.delivery_id}: {outcome.status} {outcome.detail}".rstrip())


def deliveries(failed: Annotated[bool, typer.Option("--failed", help="Only dead letters and unknown outcomes.")]
               = False,
               resent: Annotated[bool, typer.Option("--resent", help="Deliveries sent more than once (whatever "
                                                                    "their state): a receiver may have had them "
                                                                    "twice.")] = False,
               agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Deliveries not yet published (or, with --failed, the dead letters), with their last error; publications
    by verification (verified, differs, unverifiable, not yet) and paused channels."""
    from pipeline.core.db import session_scope
    from pipeline.engine.overview import delivery_overview

    ctx = context()
    code, _ = context().settings.agency(agency)
    with session_scope(ctx.engine) as session:
        overview = delivery_overview(session, agency_code=code, failed_only=failed, resent=resent)
    rows, paused, checked, differ = overview.rows, overview.paused, overview.checked, overview.differing
    if as_json:
        from pipeline.cli.json_views import DeliveryRow, print_views

        print_views(DeliveryRow, rows)
        return
    say("published: " + ", ".join(f"{count} {result}" for result, count in checked.items()))
    for channel, reason in paused.items():
        say(f"channel {channel} is paused, its deliveries wait: {reason}; once fixed: gongkai channels check {channel}")
    print_table(("id", "item", "channel", "status", "tries", "next try", "error / action"),
                ((row["id"], row["item_id"], row["channel"], row["status"], row["attempts"], row["next_attempt_at"],
                  row["manual_action"] or row["last_error"]) for row in rows))
    if differ:
        print_table(("delivery", "item", "channel", "what differs"),
                    ((v.delivery_id, v.item_id, v.channel, v.detail) for v in differ),
                    title="published copies that differ from their approved revision (gongkai verify reads them again)")


def retry(delivery_id: Annotated[int | None, typer.Argument(help="Delivery id (see gongkai deliveries).")] = None,
          all_failed: Annotated[bool, typer.Option("--all-failed", help="Every dead or unknown delivery.")] = False,
          absent: Annotated[bool, typer.Option("--absent", help="You checked on the channel by hand that it does "
                                                                "not have this unknown outcome: send it.")] = False,
          agency: AgencyOpt = None, actor: ActorOpt = None) -> None:
    """Replay a dead letter or an unknown outcome (looked up first); each replay is a new attempt on record."""
    from pipeline.core.db import session_scope
    from pipeline.engine.decisions import replay_and_hand_over

    ctx = context()
    code, _ = context().settings.agency(agency)
    if (delivery_id is None) == (not all_failed):
        raise typer.BadParameter("give a delivery id or --all-failed, not both")
    if absent and delivery_id is None:
        raise typer.BadParameter("--absent needs the delivery id you checked")
    with session_scope(ctx.engine) as session:
        who = person(session, actor)
    done = replay_and_hand_over(ctx.settings, ctx.engine, agency_code=code, delivery_id=delivery_id, actor=who,
                                absent=absent)
    say(f"replaying {len(done.delivery_ids)} deliveries")
    print_handed_over(done.handed_over)


def verify(item_id: Annotated[int | None, typer.Argument(help="Item id (default: every publication, the longest "
                                                               "unverified first).")] = None,
           agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Read live publications back and compare them with their approved revisions; exits 1 when one differs."""
    from pipeline.core.db import session_scope
    from pipeline.engine.runtime import Engine
    from pipeline.engine.verify import DIFFERS, verify_publications

    ctx = context()
    code, _ = context().settings.agency(agency)
    with session_scope(ctx.engine) as session:
        who = person(session, actor)
    found = verify_publications(Engine.build(ctx.settings, ctx.engine), agency_code=code, actor=who, item_id=item_id)
    if as_json:
        from pipeline.cli.json_views import VerificationView, print_views

        print_views(VerificationView, found)
    else:
        print_table(("delivery", "item", "channel", "result", "detail"),
                    ((v.delivery_id, v.item_id, v.channel, v.result, v.detail) for v in found))
        say(", ".join(f"{sum(v.result == r for v in found)} {r}" for r in dict.fromkeys(v.result for v in found))
            or "no publications to verify")
    if any(v.result == DIFFERS for v in found):
        raise typer.Exit(1)


channels_app = command_group("Configured channels: live checks before the first delivery.")


@channels_app.command("check")
def channels_check(name: Annotated[str | None, typer.Argument(help="Channel (default: every configured one).")]
                   = None, agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """A harmless live call per channel proving what its first delivery needs; a failing channel is paused
    (its deliveries wait), a passing one resumed. Exits 1 when a channel fails."""
    from pipeline.core.db import session_scope
    from pipeline.engine.decisions import check_and_resume
    from pipeline.engine.runtime import Engine

    ctx = context()
    code, _ = context().settings.agency(agency)
    with session_scope(ctx.engine) as session:
        who = person(session, actor)
    checks = check_and_resume(Engine.build(ctx.settings, ctx.engine), names=[name] if name else [], actor=who,
                              agency_code=code)
    if as_json:
        from pipeline.cli.json_views import ChannelCheckView, print_views

        print_views(ChannelCheckView, [{**vars(c), "ok": c.ok, "findings": [vars(f) for f in c.findings],
                                        "resumed": list(c.resumed)} for c in checks])
    else:
        print_table(("channel", "kind", "check", "result", "found", "fix"),
                    ((c.channel, c.kind, f.what, "ok" if f.ok else "FAILED", f.detail, f.fix)
                     for c in checks for f in c.findings))
        for c in checks:
            say(f"{c.channel}: " + ("ok" + (f"; {len(c.resumed)} waiting deliveries resumed" if c.resumed else "")
                                    if c.ok else "paused: its deliveries wait until this check passes"))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def worker(concurrency: Annotated[int | None, typer.Option(help="Threads (default: queue.threads).")] = None,
           beat: Annotated[bool, typer.Option(help="Also run the sweep schedule (run it in one worker only).")]
           = False,
           node: Annotated[str | None, typer.Option(help="This worker's name (Celery's node name, NAME@host; "
                                                         "default: celery@host), told apart in logs and flower.")]
           = None) -> None:
    """Run a worker: `celery -A worker worker` with a broker, else the in-process dispatcher."""
    from pipeline.engine.dispatcher import run_dispatcher
    from pipeline.engine.runtime import Engine

    if node is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_.%-]+)?", node):
        raise typer.BadParameter("letters, digits, '.', '_' and '-' (optionally @host)", param_hint="--node")
    ctx = context()
    threads = concurrency or ctx.settings.queue.threads
    if not ctx.settings.queue.broker_url:
        say(f"no queue.broker_url: {node or 'this worker'} delivers from the database with {threads} threads "
            "(Ctrl-C stops)")
        ctx.settings.queue.threads = threads
        run_dispatcher(Engine.build(ctx.settings, ctx.engine), until_idle=False)
        return
    argv = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", "threads", "-c", str(threads),
            "-l", "WARNING", "--without-mingle", "--without-gossip"] + (["-B"] if beat else [])
    if node is not None:
        argv += ["-n", node if "@" in node else f"{node}@%h"]
    os.execv(sys.executable, argv)


def serve(host: Annotated[str | None, typer.Option(help="Address to listen on (default: web.host).")] = None,
          port: Annotated[int | None, typer.Option(help="Port to listen on (default: web.port).")] = None,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes (each with its own connections).")]
          = 1) -> None:
    """Serve the web console (工作台) for this workspace's people; Ctrl-C stops it."""
    import uvicorn

    ctx = context()
    host, port = host or ctx.settings.web.host, port or ctx.settings.web.port
    out.print(f"工作台 (web console): http://{host}:{port}/  — log in as one of this workspace's people; "
              "Ctrl-C stops", highlight=False, markup=False)
    options = {"host": host, "port": port, "log_level": "warning", "server_header": False, "proxy_headers": False}
    if workers > 1:  # each worker process imports the app itself, from this workspace's configuration
        from pipeline.core.config import config_path

        os.environ.setdefault("GONGKAI_CONFIG", str(config_path().resolve()))
        uvicorn.run("pipeline.web.app:from_settings", factory=True, workers=workers, **options)
    else:
        from pipeline.web.app import create_app

        uvicorn.run(create_app(ctx.settings, ctx.engine), **options)
