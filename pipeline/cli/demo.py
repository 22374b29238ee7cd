"""`gongkai demo`: the whole path on the embedded defaults, offline, in a fresh workspace."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from sqlmodel import select

from pipeline.cli.output import print_table, say, styled
from pipeline.core.agencies import agency_row, sync_agencies
from pipeline.core.config import load_settings
from pipeline.core.db import make_engine, migrate, session_scope
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Decision, LedgerEntry
from pipeline.engine.handover import due_of_item, hand_over
from pipeline.items import views, workflow
from pipeline.items.itemfile import Limits, read_item_files

HERE = Path(__file__).parent
AUTHOR = "zhangsan"
REVIEWERS = ["lisi", "wangwu", "zhaoliu"]  # 处室审核, 保密审查, 办公室审发 in the example configuration


def run_demo(workspace: Path | None, console: Console) -> Path:
    """Build a workspace, submit and review the sample items, publish them, print the ledger."""
    workspace = (workspace or Path(tempfile.mkdtemp(prefix="gongkai-demo-"))).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    config = workspace / "gongkai.toml"
    if config.exists():
        raise GongkaiError(f"{config} exists already; give --workspace a new directory")
    config.write_text((HERE / "gongkai.example.toml").read_text(encoding="utf-8"), encoding="utf-8")
    settings = load_settings(config)
    engine = make_engine(settings.database)
    migrate(engine)
    _step(console, "1. workspace", f"{workspace} (SQLite database, no server needed)")
    with session_scope(engine) as session:
        sync_agencies(session, settings=settings)
    samples = sorted((HERE / "samples").glob("0*"))
    records, problems = read_item_files(samples, limits=Limits(settings.items.max_title_chars,
                                                               settings.items.max_body_bytes))
    with session_scope(engine) as session:
        submitted = workflow.submit_items(session, settings=settings, agency_code="tjj", actor=AUTHOR,
                                          records=records, problems=problems)
    _step(console, "2. submitted", f"{len(submitted)} items as {AUTHOR} (author)")
    rejected = submitted[-2].item_id
    _step(console, "3. review", "处室审核 → 保密审查 → 办公室审发, three different people")
    for done in submitted:
        for level, reviewer in enumerate(REVIEWERS):
            with session_scope(engine) as session:
                if done.item_id == rejected and level == 1:
                    workflow.review_item(session, settings=settings, agency_code="tjj", item_id=done.item_id,
                                         actor=reviewer, decision=Decision.REJECT, comment="请核实抽查覆盖范围")
                    break
                workflow.review_item(session, settings=settings, agency_code="tjj", item_id=done.item_id,
                                     actor=reviewer, decision=Decision.APPROVE)
    say(f"   item {rejected} was rejected at 保密审查 and is back with its author", console=console)
    with session_scope(engine) as session:
        due = [i for done in submitted for i in due_of_item(session, item_id=done.item_id)]
    outcomes = hand_over(settings, engine, due).outcomes  # the embedded defaults have no broker: published here
    published = sum(o.status == "published" for o in outcomes)
    _step(console, "4. delivery", f"{published} of {len(outcomes)} deliveries published by the in-process "
          "dispatcher (no broker)")
    _print_items(console, engine, settings)
    _print_ledger(console, engine)
    portal, disclosure = (Path(str(settings.channels[n].output_dir)) for n in ("portal", "disclosure"))
    say("", console=console)
    _step(console, "Open in a browser", "",
          f"  portal:     {portal / 'index.html'}",
          f"  disclosure: {disclosure / 'index.html'}",
          f"  or serve both at the configured URLs: python3 -m http.server 8080 -d {workspace / 'site'} and open "
          "http://localhost:8080/portal/")
    _step(console, "Look around", "", f"  cd {workspace} && gongkai list && gongkai show {submitted[0].item_id}")
    return workspace


def _step(console: Console, heading: str, *lines: str) -> None:
    """A bold heading; the first line follows it, the others go below."""
    first, *more = lines
    say(styled(heading, "bold"), " ", first, console=console)
    for line in more:
        say(line, console=console)


def _print_ledger(console: Console, engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    print_table(("#", "索引号", "channel", "date", "title"),
                ((e.id, e.index_no, e.channel, e.local_date.isoformat(), e.title) for e in entries),
                title="ledger (one entry per confirmed publication)", console=console)


def _print_items(console: Console, engine, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = views.list_items(session, agency_id=agency_row(session, "tjj").id, agency=settings.agencies["tjj"])
    print_table(("id", "title", "status", "索引号", "channels"),
                ((r["id"], r["title"], r["status"], r["index_no"],
                  " ".join(f"{c}:{s}" for c, s in r["channels"].items())) for r in reversed(rows)),
                title="items", console=console)
