"""`gongkai demo`: the whole path on the embedded defaults, offline, in a fresh workspace."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from sqlmodel import select

from pipeline.cli.output import print_table, say, styled
from pipeline.core.agencies import agency_row, sync_agencies
from pipeline.core.audit_key import create_key_file, keyed_engine
from pipeline.core.catalogue import DEFAULT_LEVELS
from pipeline.core.clock import beijing_today, utcnow
from pipeline.core.config import Settings, load_settings
from pipeline.core.db import migrate, session_scope
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Decision, LedgerEntry
from pipeline.core.reader import reader_of
from pipeline.engine.handover import due_of_item, hand_over
from pipeline.items import reading, workflow
from pipeline.items.itemfile import Limits, read_item_files
from pipeline.records.authentication import log_in
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
WAITING_FILE = Path("items") / "waiting.md"
WAITING_ITEM = """---
id: tz-2027-xm
title: 关于征集2027年度统计调查项目的通知
category: 通知公告
kind: notice
channels: [portal, disclosure]
created_on: {today}
---
各县（市、区）统计局、市级各部门：

为做好2027年度统计调查项目审批和备案工作，现征集2027年度拟开展的统计调查项目，请于本月底前报送。
"""


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
    _step(console, "1. workspace", f"{workspace} (SQLite database, no server needed)")
    with session_scope(engine) as session:
        sync_agencies(session, settings=settings)
    actors = _people(console, engine, settings, workspace)
    samples = sorted((HERE / "samples").glob("0*"))
    records, problems = read_item_files(samples, limits=Limits(settings.items.max_title_chars,
                                                               settings.items.max_body_bytes))
    with session_scope(engine) as session:
        submitted = workflow.submit_items(session, settings=settings, agency_code="tjj", actor=actors[AUTHOR],
                                          records=records, problems=problems)
    _step(console, "3. submitted", f"{len(submitted)} items as {AUTHOR} (author)")
    rejected = submitted[-2].item_id
    _step(console, "4. review", "处室审核 → 保密审查 → 办公室审发, three different people")
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
    say(f"   item {rejected} was rejected at 保密审查 and is back with its author", console=console)
    with session_scope(engine) as session:
        due = [i for done in submitted for i in due_of_item(session, item_id=done.item_id)]
    outcomes = hand_over(settings, engine, due).outcomes  # the embedded defaults have no broker: published here
    published = sum(o.status == "published" for o in outcomes)
    _step(console, "5. delivery", f"{published} of {len(outcomes)} deliveries published by the in-process "
          "dispatcher (no broker)")
    waiting = _leave_one_waiting(workspace, engine, settings, actors[AUTHOR])
    say(f"   item {waiting} (formed today, written in {workspace / WAITING_FILE}) waits at 处室审核 for "
        f"{REVIEWERS[0]}: review it in the console or with gongkai review", console=console)
    _print_items(console, engine, settings)
    _print_ledger(console, engine)
    portal, disclosure = (Path(str(settings.channels[n].output_dir)) for n in ("portal", "disclosure"))
    gongkai = _command()
    say("", console=console)
    _step(console, "Open in a browser", "",
          f"  portal:     {portal / 'index.html'}",
          f"  disclosure: {disclosure / 'index.html'}",
          f"  or serve both at the configured URLs: python3 -m http.server 8080 -d {workspace / 'site'} and open "
          "http://localhost:8080/portal/")
    _step(console, "Look around", "",
          f"  cd {workspace} && {gongkai} login zhaoliu && {gongkai} list && {gongkai} show {submitted[0].item_id}",
          f"  {gongkai} audit verify && {gongkai} audit log --item {submitted[0].item_id}   (the trail, keyed with "
          "audit.key: docs/audit.md)")
    _step(console, "The web console (工作台)", "",
          f"  cd {workspace} && {gongkai} serve",
          f"  then open http://{settings.web.host}:{settings.web.port}/ and log in as any of the people of step 2 "
          f"(their passwords are in {workspace / PEOPLE_FILE}): zhangsan writes, lisi, wangwu and zhaoliu review, "
          "qianqi keeps the register and the report, root manages people")
    return workspace


def _leave_one_waiting(workspace: Path, engine, settings: Settings, author: Actor) -> int:  # type: ignore[no-untyped-def]
    """One more item, formed today and submitted from an item file as an author would, left at its first level:
    what a reviewer who opens the console after the demo finds in 我的待办."""
    path = workspace / WAITING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WAITING_ITEM.format(today=beijing_today().isoformat()), encoding="utf-8")
    records, problems = read_item_files([path], limits=Limits(settings.items.max_title_chars,
                                                              settings.items.max_body_bytes))
    with session_scope(engine) as session:
        [done] = workflow.submit_items(session, settings=settings, agency_code="tjj", actor=author,
                                       records=records, problems=problems)
    return done.item_id


def _command() -> str:
    """How a shell runs this gongkai: its name when the shell's path finds this one, else its full path (a new
    virtual environment that nobody activated)."""
    here = Path(sys.executable).with_name("gongkai")
    found = shutil.which("gongkai")
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return "gongkai"
    return str(here)


def _step(console: Console, heading: str, *lines: str) -> None:
    """A bold heading; the first line follows it, the others go below."""
    first, *more = lines
    say(styled(heading, "bold"), " ", first, console=console)
    for line in more:
        say(line, console=console)


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
    print_table(("login", "password", "姓名", "roles"),
                ((login, passwords[login], name, ", ".join(roles)) for login, (name, _, roles) in PEOPLE.items()),
                title=f"2. people (their passwords; also in {path}; gongkai login LOGIN asks for one)", console=console)
    return actors


def _print_ledger(console: Console, engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    print_table(("#", "索引号", "channel", "date", "title"),
                ((e.id, e.index_no, e.channel, e.local_date.isoformat(), e.title) for e in entries),
                title="ledger (one entry per confirmed publication)", console=console)


def _print_items(console: Console, engine, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = reading.list_items(reader_of(session), agency_id=agency_row(session, "tjj").id)
    print_table(("id", "title", "status", "索引号", "channels"),
                ((r["id"], r["title"], r["status"], r["index_no"],
                  " ".join(f"{c}:{s}" for c, s in r["channels"].items())) for r in reversed(rows)),
                title="items", console=console)
