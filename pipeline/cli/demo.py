"""`gongkai demo`: the whole path on the embedded defaults, offline, in a fresh workspace."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import select

from pipeline.core.agencies import agency_row, sync_agencies
from pipeline.core.audit_key import create_key_file, keyed_engine
from pipeline.core.clock import utcnow
from pipeline.core.config import Settings, load_settings
from pipeline.core.db import migrate, session_scope
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Decision, LedgerEntry
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine
from pipeline.items import views, workflow
from pipeline.items.itemfile import Limits, read_item_files
from pipeline.records.authentication import log_in
from pipeline.records.levels import DEFAULT_LEVELS
from pipeline.records.people import Actor, actor_for, add_person, find_person

HERE = Path(__file__).parent
AUTHOR = "zhangsan"
REVIEWERS = ["lisi", "wangwu", "zhaoliu"]  # 处室审核, 保密审查, 办公室审发: the default review levels
# the demo's people: login -> (姓名, 处室, roles); the first is the admin who adds the others
PEOPLE = {
    "root": ("管理员", "办公室", ["admin"]),
    "zhangsan": ("张三", "综合处", ["author"]),
    "lisi": ("李四", "综合处", ["section_head"]),
    "wangwu": ("王五", "保密办", ["secrecy_officer"]),
    "zhaoliu": ("赵六", "办公室", ["office_director"]),
    "qianqi": ("钱七", "政务公开办", ["disclosure_office", "operator"]),
}
PEOPLE_FILE = "demo-people.txt"
# the samples were formed in 2020: their final approval needs the reason they go out late (第二十六条)
LATE_REASON = "演示数据：样例的成文日期在2020年"


def run_demo(workspace: Path | None, console: Console) -> Path:
    """Build a workspace, submit and review the sample items, publish them, print the ledger."""
    workspace = (workspace or Path(tempfile.mkdtemp(prefix="gongkai-demo-"))).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    config = workspace / "gongkai.toml"
    if config.exists():
        raise GongkaiError(f"{config} exists already; give --workspace a new directory")
    config.write_text((HERE / "gongkai.example.toml").read_text(encoding="utf-8"), encoding="utf-8")
    settings = load_settings(config)
    create_key_file(settings.audit.key_file)
    engine = keyed_engine(settings)
    migrate(engine)
    console.print(f"[bold]1. workspace[/bold] {workspace} (SQLite database, no server needed)")
    with session_scope(engine) as session:
        sync_agencies(session, settings=settings)
    actors = _people(console, engine, settings, workspace)
    samples = sorted((HERE / "samples").glob("0*"))
    records, problems = read_item_files(samples, limits=Limits(settings.items.max_title_chars,
                                                               settings.items.max_body_bytes))
    with session_scope(engine) as session:
        submitted = workflow.submit_items(session, settings=settings, agency_code="tjj", actor=actors[AUTHOR],
                                          records=records, problems=problems)
    console.print(f"[bold]3. submitted[/bold] {len(submitted)} items as {AUTHOR} (author)")
    rejected = submitted[-2].item_id
    console.print("[bold]4. review[/bold] 处室审核 → 保密审查 → 办公室审发, three different people")
    for done in submitted:
        for level, reviewer in enumerate(REVIEWERS):
            reject = done.item_id == rejected and level == 1
            with session_scope(engine) as session:
                workflow.review_item(session, settings=settings, agency_code="tjj", item_id=done.item_id,
                                     actor=actors[reviewer], level=DEFAULT_LEVELS[level]["name"],
                                     revision=done.revision, decision=Decision.REJECT if reject else Decision.APPROVE,
                                     comment="请核实抽查覆盖范围" if reject else "", late_reason=LATE_REASON)
            if reject:
                break
    console.print(f"   item {rejected} was rejected at 保密审查 and is back with its author")
    outcomes = run_dispatcher(Engine.build(settings, engine), until_idle=True)
    published = sum(o.status == "published" for o in outcomes)
    console.print(f"[bold]5. delivery[/bold] {published} of {len(outcomes)} deliveries published by the "
                  "in-process dispatcher (no broker)")
    _print_items(console, engine, settings)
    _print_ledger(console, engine)
    portal, disclosure = (Path(str(settings.channels[n].output_dir)) for n in ("portal", "disclosure"))
    console.print(f"\n[bold]Open in a browser[/bold]\n  portal:     {portal / 'index.html'}\n"
                  f"  disclosure: {disclosure / 'index.html'}\n"
                  f"  or serve both at the configured URLs: python3 -m http.server 8080 -d {workspace / 'site'}"
                  " and open http://localhost:8080/portal/")
    console.print(f"[bold]Look around[/bold]\n  cd {workspace} && gongkai login zhaoliu && gongkai list && "
                  f"gongkai show {submitted[0].item_id}\n  gongkai audit verify && gongkai audit log --item "
                  f"{submitted[0].item_id}   (the trail, keyed with audit.key: docs/audit.md)")
    console.print(f"[bold]The web console (工作台)[/bold]\n  cd {workspace} && gongkai serve\n"
                  f"  then open http://{settings.web.host}:{settings.web.port}/ and log in as any of the people of "
                  f"step 2 (their passwords are in {workspace / PEOPLE_FILE}): zhangsan writes, lisi, wangwu and "
                  "zhaoliu review, qianqi keeps the register and the report, root manages people")
    return workspace


def _people(console: Console, engine, settings: Settings, workspace: Path) -> dict[str, Actor]:  # type: ignore[no-untyped-def]
    """Add the demo's people with fresh passwords and log each in, as they would with gongkai login; their logins
    and passwords are printed and kept in demo-people.txt (readable by its owner only)."""
    passwords = {login: secrets.token_urlsafe(12) for login in PEOPLE}
    admin = None
    with session_scope(engine) as session:
        for login, (name, department, roles) in PEOPLE.items():
            add_person(session, actor=admin, login=login, name=name, department=department, agency_code="tjj",
                       roles=roles, password=passwords[login], settings=settings, now=utcnow())
            session.flush()
            admin = admin or actor_for(session, find_person(session, login))
    actors = {}
    for login in PEOPLE:
        with session_scope(engine) as session:
            result = log_in(session, login=login, password=passwords[login], now=utcnow(), label="cli",
                            settings=settings)
        if result.actor is None:
            raise GongkaiError(f"demo: {login} could not log in: {result.refused}")
        actors[login] = result.actor
    lines = [f"{login}\t{passwords[login]}\t{name}\t{', '.join(roles)}"
             for login, (name, _, roles) in PEOPLE.items()]
    path = workspace / PEOPLE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("login\tpassword\t姓名\troles\n" + "\n".join(lines) + "\n")
    table = Table("login", "password", "姓名", "roles", title=f"2. people (logged in; also in {path})", box=None)
    for login, (name, _, roles) in PEOPLE.items():
        table.add_row(login, passwords[login], name, ", ".join(roles))
    console.print(table)
    return actors


def _print_ledger(console: Console, engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    table = Table("#", "索引号", "channel", "date", "title", title="ledger (one entry per confirmed publication)",
                  box=None)
    for entry in entries:
        table.add_row(str(entry.id), entry.index_no or "", entry.channel, entry.local_date.isoformat(), entry.title)
    console.print(table)


def _print_items(console: Console, engine, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = views.list_items(session, agency_id=agency_row(session, "tjj").id, agency=settings.agencies["tjj"])
    table = Table("id", "title", "status", "索引号", "channels", title="items", box=None)
    for row in reversed(rows):
        table.add_row(str(row["id"]), row["title"], row["status"], row["index_no"] or "",
                      " ".join(f"{c}:{s}" for c, s in row["channels"].items()))
    console.print(table)
