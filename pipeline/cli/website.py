"""`gongkai website YEAR`: the 政府网站工作年度报表 (国办函〔2018〕12号), checked against the 年度报告."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import AgencyOpt, context, say, today
from pipeline.cli.output import print_json, print_table, styled
from pipeline.cli.report import Format, print_explanation
from pipeline.core.errors import GongkaiError


def website(year: Annotated[int, typer.Argument(help="The year reported on (1 January - 31 December).")],
            format_: Annotated[Format, typer.Option("--format", help="html, md, json or docx.")] = Format.HTML,
            out_path: Annotated[Path | None, typer.Option("--out", help="File to write; default: print.")] = None,
            check: Annotated[bool, typer.Option("--check", help="Print every rule (W1-W5 on the form, X1-X4 "
                                                               "against the 年度报告); exit 1 if one is broken.")]
            = False,
            explain_cell: Annotated[str | None, typer.Option("--explain", help="List the ledger or figure rows "
                                                                              "behind one cell.")] = None,
            agency: AgencyOpt = None) -> None:
    """The 政府网站工作年度报表 (due on the website's home page by 31 January): what the ledger knows, the rest
    from per-year figures web.* (gongkai figures keys), its numbers checked against the 年度报告's."""
    from pipeline.core.db import session_scope
    from pipeline.report.issue import explain_website_cell, make_website_report

    settings = context().settings
    code, _ = settings.agency(agency)
    with session_scope(context().engine) as session:
        if explain_cell:
            found = explain_website_cell(session, settings=settings, code=code, year=year, today=today(),
                                         cell=explain_cell)
            return print_explanation(found, as_json=format_ == Format.JSON)
        report = make_website_report(session, settings=settings, code=code, year=year, today=today())
    broken = [f for f in report.findings if not f.ok]
    if check:
        _print_findings(report, as_json=format_ == Format.JSON)
    for finding in broken:
        say(f"error: {code} {year}: {finding}", to_err=True)
    if broken:
        raise GongkaiError(f"the {year} 政府网站工作年度报表 breaks a rule (see above); nothing was written")
    if not check or out_path is not None:
        _write(report, format_, out_path)


def _print_findings(report, *, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        from pipeline.cli.json_views import FindingView, view

        return print_json({report.agency_code: [view(FindingView, f) for f in report.findings]})
    print_table(("rule", "level", "result", "cell", "detail"),
                ((f.rule, f.level, "ok" if f.ok else styled("broken", "red"), f.cell, f.message)
                 for f in report.findings), title=f"{report.agency_code} {report.year} 政府网站工作年度报表")


def _write(report, format_: Format, path: Path | None) -> None:  # type: ignore[no-untyped-def]
    from pipeline.report import website_render as render

    if format_ == Format.DOCX:
        if path is None:
            raise typer.BadParameter("a .docx report needs --out FILE", param_hint="--out")
        render.write_docx(report, path)
        return say(f"wrote {path}", to_err=True)
    text = {Format.HTML: render.to_html, Format.MD: render.to_markdown,
            Format.JSON: lambda r: render.to_json([r])}[format_](report)
    if path is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return None
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise GongkaiError(f"{e.filename or path}: {e.strerror}") from None
    say(f"wrote {path}", to_err=True)
    return None
