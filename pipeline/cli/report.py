"""`gongkai figures` (per-year figures that are no publications) and `gongkai report YEAR`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.common import (
    ActorOpt,
    AgencyOpt,
    JsonOpt,
    NoteOpt,
    agency_id,
    command_group,
    context,
    person,
    today,
)
from pipeline.cli.output import print_json, print_table, say, styled
from pipeline.core.errors import GongkaiError

if TYPE_CHECKING:
    from pipeline.report.issue import Issued
    from pipeline.report.render import Document

figures_app = command_group("Per-year figures that are no publications (事项, amounts, overrides).",
                            no_args_is_help=True)


class Format(StrEnum):
    HTML = "html"
    MD = "md"
    JSON = "json"
    DOCX = "docx"


class Version(StrEnum):
    V2019 = "2019"
    V2021 = "2021"


@figures_app.command("set")
def figures_set(year: Annotated[int, typer.Argument(help="Report year.")],
                key: Annotated[str, typer.Argument(help="Figure key: see `gongkai figures keys`.")],
                value: Annotated[str, typer.Argument(help="A whole number, or an amount in 万元.")],
                note: NoteOpt = "", agency: AgencyOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Set one figure of one year (replacing any earlier value; who and when are kept)."""
    from pipeline.core.db import session_scope
    from pipeline.records import figures

    with session_scope(context().engine) as session:
        row = figures.set_figure(session, agency_id=agency_id(session, agency), year=year, key=key, raw=value,
                                 actor=person(session, actor), note=note)
        view = figures.figure_view(row)
    from pipeline.cli.json_views import FigureView, print_view

    print_view(FigureView, view) if as_json else say(f"{year} {key} = {view['value']}")


@figures_app.command("unset")
def figures_unset(year: Annotated[int, typer.Argument(help="Report year.")],
                  key: Annotated[str, typer.Argument(help="Figure key.")], agency: AgencyOpt = None,
                  actor: ActorOpt = None) -> None:
    """Remove a figure: the report falls back to the ledger (or to the last year's 事项 count)."""
    from pipeline.core.db import session_scope
    from pipeline.records import figures

    with session_scope(context().engine) as session:
        figures.unset_figure(session, agency_id=agency_id(session, agency), year=year, key=key,
                             actor=person(session, actor))
    say(f"{year} {key}: removed")


@figures_app.command("list")
def figures_list(year: Annotated[int | None, typer.Option(help="Only this year.")] = None,
                 agency: AgencyOpt = None, as_json: JsonOpt = False) -> None:
    """Figures set so far, by year."""
    from pipeline.core.db import session_scope
    from pipeline.records import figures

    with session_scope(context().engine) as session:
        views = figures.list_figures(session, agency_id=agency_id(session, agency), year=year)
    if as_json:
        from pipeline.cli.json_views import FigureView, print_views

        print_views(FigureView, views)
        return
    print_table(("year", "key", "value", "meaning", "set by", "note"),
                ((v["year"], v["key"], v["value"], v["meaning"], v["set_by"], v["note"]) for v in views))


@figures_app.command("keys")
def figures_keys(as_json: JsonOpt = False) -> None:
    """Every figure key, its type and meaning."""
    from pipeline.records import figures

    rows = [{"key": key, "type": kind, "meaning": meaning} for key, (kind, meaning) in figures.FIGURES.items()]
    if as_json:
        from pipeline.cli.json_views import FigureKey, print_views

        print_views(FigureKey, rows)
        return
    print_table(("key", "type", "meaning"), ((r["key"], r["type"], r["meaning"]) for r in rows))


def report(year: Annotated[int, typer.Argument(help="The year reported on (1 January - 31 December).")],
           format_: Annotated[Format, typer.Option("--format", help="html, md, json or docx.")] = Format.HTML,
           out_path: Annotated[Path | None, typer.Option("--out", help="File to write (a directory with "
                                                                        "--all-agencies); default: print.")] = None,
           format_version: Annotated[Version | None, typer.Option(
               "--format-version", help="Table format: 2019 (60号) or 2021 (30号); default: by year.")] = None,
           check: Annotated[bool, typer.Option("--check", help="Print every rule of the reference's §4; "
                                                              "exit 1 if a hard rule is broken.")] = False,
           explain_cell: Annotated[str | None, typer.Option("--explain", help="List the ledger, register or figure "
                                                                             "rows behind one cell.")] = None,
           all_agencies: Annotated[bool, typer.Option("--all-agencies", help="Every configured agency.")] = False,
           draft: Annotated[bool, typer.Option("--draft", help="A draft (草稿): sections may be missing; not "
                                                              "frozen as the published report.")] = False,
           submit: Annotated[bool, typer.Option("--submit", help="Submit the finished report for review as an item "
                                                                "of kind annual_report (DOCX attached).")] = False,
           agency: AgencyOpt = None, actor: ActorOpt = None) -> None:
    """The annual report (政府信息公开工作年度报告): sections 一 to 六 with the official tables, checked.

    A final --out (without --draft) or --submit publishes it: it must have every required section, and it is
    frozen, so that next year's report compares with it. A year not yet ended gives a draft.
    """
    from pipeline.core.db import session_scope
    from pipeline.core.models import utcnow
    from pipeline.report.issue import ReportStopped, explain_report_cell, issue_report

    settings = context().settings
    codes = list(settings.agencies) if all_agencies else [settings.agency(agency)[0]]
    version = str(format_version) if format_version else None
    as_json = format_ == Format.JSON
    with session_scope(context().engine) as session:
        if explain_cell:
            found = explain_report_cell(session, settings=settings, code=codes[0], year=year, version=version,
                                        today=today(), cell=explain_cell)
            return print_explanation(found, as_json=as_json)
        try:
            issued = issue_report(session, settings=settings, codes=codes, year=year, version=version, today=today(),
                                  now=utcnow(), draft=draft, final=check or submit or out_path is not None,
                                  freeze=out_path is not None, submit=submit, actor=lambda: person(session, actor))
        except ReportStopped as e:
            _print_issued(e.issued, year, check=check, draft=draft, as_json=as_json)
            raise
        _print_issued(issued, year, check=check, draft=draft, as_json=as_json)
        if not submit and (not check or out_path is not None):
            try:
                _write(issued.docs, format_, out_path, all_agencies=all_agencies)
            except OSError as e:  # in the transaction that froze the report: nothing stays frozen
                raise GongkaiError(f"{e.filename or out_path}: {e.strerror}") from None


def _print_issued(issued: Issued, year: int, *, check: bool, draft: bool, as_json: bool) -> None:
    """With --check, every rule; then each broken one (error: it stops the report) and what was submitted."""
    if check:
        _print_findings(issued.docs, as_json=as_json)
    for checked in issued.checks:
        doc = checked.doc
        if doc.draft and not draft:
            say(f"warning: {doc.report.agency_code} {year}: the year has not ended (Beijing time): this is a "
                "draft (草稿), not the published report", to_err=True)
        for finding in (f for f in doc.findings if not f.ok):
            say(f"{'error' if finding in checked.blocking else 'warning'}: {doc.report.agency_code} {year}: "
                f"{finding}", to_err=True)
    for done in issued.submitted:
        say(f"submitted the {done.year} report of {done.agency_code} as item {done.item_id} (revision "
            f"{done.revision}) for {', '.join(done.channels)}, with {done.attachment}; it is frozen as "
            "published")


def _write(docs: list[Document], format_: Format, path: Path | None, *, all_agencies: bool) -> None:
    from pipeline.report.render import to_html, to_json, to_markdown

    if format_ == Format.JSON and (path is None or not all_agencies):
        return _emit(to_json(docs, many=all_agencies), path)
    if path is None and format_ != Format.DOCX:
        render = to_html if format_ == Format.HTML else to_markdown
        return _emit("\n".join(render(doc) for doc in docs), None)
    if path is None:
        raise typer.BadParameter("a .docx report needs --out FILE", param_hint="--out")
    targets = [(doc, path / f"{doc.report.agency_code}-{doc.year}.{format_}") for doc in docs] if all_agencies \
        else [(docs[0], path)]
    if all_agencies:
        path.mkdir(parents=True, exist_ok=True)
    for doc, target in targets:
        if format_ == Format.DOCX:
            from pipeline.report.docx_writer import write_docx  # python-docx: only for a .docx

            write_docx(doc, target)
        else:
            render = {Format.HTML: to_html, Format.MD: to_markdown}.get(format_, lambda d: to_json([d]))
            target.write_text(render(doc), encoding="utf-8")
    written = f"{len(targets)} report{'s' if len(targets) != 1 else ''} into {path}/" if all_agencies else str(path)
    say(f"wrote {written}", to_err=True)


def _emit(text: str, path: Path | None) -> None:
    if path is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        path.write_text(text, encoding="utf-8")
        say(f"wrote {path}", to_err=True)


def _print_findings(docs: list[Document], *, as_json: bool) -> None:
    if as_json:
        from pipeline.cli.json_views import FindingView, view

        return print_json({doc.report.agency_code: [view(FindingView, f) for f in doc.findings] for doc in docs})
    from pipeline.report.check import FINAL, HARD

    results = {HARD: styled("broken", "red"), FINAL: styled("missing", "red")}
    for doc in docs:
        print_table(("rule", "level", "result", "cell", "detail"),
                    ((f.rule, f.level, "ok" if f.ok else results.get(f.level, styled("warning", "yellow")), f.cell,
                      f.message) for f in doc.findings),
                    title=f"{doc.report.agency_code} {doc.year} ({doc.report.version} format)")


def print_explanation(found: dict, *, as_json: bool) -> None:
    if as_json:
        from pipeline.cli.json_views import Explanation, print_view

        return print_view(Explanation, found)
    say(f"{found['cell']} ({found['label']}) = {found['value']}  [from the {found['source']}]")
    for row in found["rows"]:
        say("  " + "  ".join(f"{k}={v}" for k, v in row.items() if v not in (None, "")))
    if not found["rows"]:
        say("  (no rows)")
