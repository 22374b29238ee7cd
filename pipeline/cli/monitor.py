"""Supervision from the ledger: `gongkai monitor` (the freshness rules judged today, for cron: exit 3 when a rule is
breached) and `gongkai assessment YEAR` (counts per 处室)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.common import AgencyOpt, JsonOpt, context, say, today
from pipeline.cli.output import print_table

BREACHED = 3  # not 1 (a user error) nor 2 (a usage error): cron can tell a breach from a broken command


def monitor(all_agencies: Annotated[bool, typer.Option("--all-agencies", help="Every configured agency.")] = False,
            agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Freshness rules (channels, 主题分类, 政策解读 in step): breaches and near-breaches with days left; exits 3
    when something is breached."""
    from pipeline.core.db import session_scope
    from pipeline.records.freshness import BREACH
    from pipeline.records.monitor import monitor_agencies

    settings = context().settings
    codes = list(settings.agencies) if all_agencies else [settings.agency(agency)[0]]
    day = today()
    with session_scope(context().engine) as session:
        findings = monitor_agencies(session, settings=settings, codes=codes, today=day)
    breaches = sum(f.state == BREACH for f in findings)
    if as_json:
        from pipeline.cli.json_views import MonitorView, print_view

        print_view(MonitorView, {"date": day.isoformat(), "agencies": codes, "breaches": breaches,
                                 "findings": [f.view() for f in findings]})
    else:
        say(f"{day.isoformat()}: {breaches} breach(es), {len(findings) - breaches} near-breach(es)")
        if findings:
            print_table(("agency", "state", "rule", "subject", "last", "days left", "detail"),
                        ((f.agency, f.state, f.rule, f.subject, f.last_on.isoformat() if f.last_on else "",
                          "" if f.days_left is None else f.days_left, f.detail) for f in findings))
    if breaches:
        raise typer.Exit(BREACHED)


def assessment(year: Annotated[int, typer.Argument(help="Year of publication (Beijing).")],
               all_agencies: Annotated[bool, typer.Option("--all-agencies", help="Every configured agency.")] = False,
               agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Per 处室 (of each item's author) for the annual assessment: items published and withdrawn in YEAR, those
    later than 第二十六条 allows, and 规范性文件 with their 政策解读 published in step."""
    from pipeline.core.db import session_scope
    from pipeline.records.assessment import department_tables

    settings = context().settings
    codes = list(settings.agencies) if all_agencies else [settings.agency(agency)[0]]
    with session_scope(context().engine) as session:
        rows = department_tables(session, settings=settings, codes=codes, year=year, today=today())
    if as_json:
        from pipeline.cli.json_views import DepartmentView, print_views

        print_views(DepartmentView, [row.view() for row in rows])
        return
    print_table(("agency", "处室", "published", "withdrawn", "late (第二十六条)", "规范性文件", "解读 in step"),
                ((r.agency, r.department or "（未注明）", r.published, r.withdrawn, r.late, r.documents,
                  r.interpreted_in_step) for r in rows))
