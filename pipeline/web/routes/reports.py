"""台账与年报: the ledger's counts (by channel, 主题分类, kind or month) with a chart, and the annual report:
the rules' findings, every cell with a link to the rows behind it (--explain), and downloads.

Downloads are drafts (草稿) for checking: the published report goes out through review (report --submit), which
also freezes it; nothing here freezes or publishes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.background import BackgroundTask

from pipeline.core.agencies import agency_row
from pipeline.core.clock import beijing_today
from pipeline.core.errors import NotFound
from pipeline.records.authority import require
from pipeline.records.ledger import DIMENSIONS, count_ledger
from pipeline.report.annual import make_documents, make_reports
from pipeline.report.check import failures
from pipeline.report.docx_writer import write_docx
from pipeline.report.explain import explain
from pipeline.report.render import Document, to_data, to_html, to_json
from pipeline.web.deps import Me, Visit, unit
from pipeline.web.pages import page
from pipeline.web.security import PREVIEW_CSP

router = APIRouter()
ROLE = "disclosure_office"
BY = {"channel": "渠道", "category": "主题分类", "kind": "信息类别", "month": "月份", "department": "处室"}


@router.get("/ledger", response_class=HTMLResponse)
def ledger(request: Request, who: Me, year: int | None = None, by: str = "channel") -> Response:
    by = by if by in DIMENSIONS else "channel"
    year = year or beijing_today().year
    with unit(request) as session:
        require(session, who.actor, ROLE, agency_code=who.actor.agency_code, doing="查看发布台账")
        rows = count_ledger(session, agency_ids=[agency_row(session, who.actor.agency_code).id], by=by, year=year)
    top = max((r["count"] for r in rows), default=0)
    return page(request, "ledger.html", title="台账与年报", nav="ledger", rows=rows, by=by, dims=BY, year=year,
                top=top)


def _documents(request: Request, who: Visit, year: int) -> list[Document]:
    with unit(request) as session:
        require(session, who.actor, ROLE, agency_code=who.actor.agency_code, doing="查看年度报告")
        return make_documents(session, settings=request.app.state.settings, codes=[who.actor.agency_code],
                              year=year, version=None, today=beijing_today(), draft=True)


@router.get("/report/{year}", response_class=HTMLResponse)
def report(request: Request, who: Me, year: int) -> Response:
    [doc] = _documents(request, who, year)
    data = to_data(doc)
    broken = failures(doc.findings, final=True)
    return page(request, "report.html", title=f"{year}年政府信息公开工作年度报告", nav="ledger", year=year, doc=doc,
                data=data, broken=broken)


@router.get("/report/{year}/explain", response_class=HTMLResponse)
def explain_cell(request: Request, who: Me, year: int, cell: str) -> Response:
    with unit(request) as session:
        require(session, who.actor, ROLE, agency_code=who.actor.agency_code, doing="查看年度报告")
        [one], _ = make_reports(session, settings=request.app.state.settings, codes=[who.actor.agency_code],
                                year=year, version=None, today=beijing_today())
        if cell not in one.cells:
            raise NotFound(f"the {year} report has no cell {cell}")
        found = explain(session, settings=request.app.state.settings, report=one, cell=cell)
    columns = sorted({key for row in found["rows"] for key, value in row.items() if value not in (None, "")})
    return page(request, "explain.html", title=f"{year}年报 {found['label']}", nav="ledger", year=year, found=found,
                columns=columns)


@router.get("/report/{year}/download.{kind}")
def download(request: Request, who: Me, year: int, kind: str) -> Response:
    if kind not in ("html", "json", "docx"):
        raise NotFound(f"no download .{kind}")
    [doc] = _documents(request, who, year)
    name = f"{who.actor.agency_code}-{year}-report-draft.{kind}"
    disposition = {"content-disposition": f'attachment; filename="{name}"'}
    if kind == "html":
        return HTMLResponse(to_html(doc), headers={**disposition, "content-security-policy": PREVIEW_CSP})
    if kind == "json":
        return Response(to_json([doc]), media_type="application/json", headers=disposition)
    folder = Path(tempfile.mkdtemp(prefix="gongkai-report-"))
    path = folder / name
    write_docx(doc, path)
    return Response(path.read_bytes(), headers=disposition, background=BackgroundTask(_remove, folder),
                    media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()

