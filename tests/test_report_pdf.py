"""The DOCX as LibreOffice prints it: A4 pages, and every row label of table 三 whole on its line.

How "whole" is checked: `pdftotext -layout` writes each printed line of a page as one line of text, the cells of
a table row side by side. A label that wrapped inside its cell, or was cut at a page break, comes out in pieces
on two lines; so each label must appear in one line of the text of the pages that hold table 三 (spaces that
pdftotext puts between glyphs removed). Page images go to test-output/ for a person to look at.
"""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from helpers import acting
from report_helpers import TEXTS_CONFIG, beijing, publish, write_texts

from pipeline.core.agencies import agency_row
from pipeline.records import register
from pipeline.report.format import T3_NOTE, T3_OUTER, T3_RESULTS

pytestmark = pytest.mark.docx_pdf  # needs LibreOffice (soffice) and poppler-utils (pdfinfo, pdftotext, pdftoppm)
OUTPUT = Path(__file__).parents[1] / "test-output"
A4 = {(595, 842), (842, 595)}  # points, either way up


def _year(env) -> None:
    publish(env, beijing(2025, 3, 1, 9), kind="license", category="行政许可", channels=["portal", "disclosure"])
    publish(env, beijing(2025, 6, 2, 9), kind="news", category="政务动态", channels=["disclosure"])
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        for received, applicant in ((date(2025, 4, 1), "natural_person"), (date(2025, 11, 20), "commercial")):
            register.add_request(session, agency_id=agency_id, received_on=received, channel="online",
                                 applicant_type=applicant, actor=acting(session, "qianqi"), today=date(2026, 1, 20))


def _pdf(docx: Path, folder: Path) -> Path:
    profile = folder / "lo-profile"  # a profile of its own: other LibreOffice runs on the machine lock theirs
    done = subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to",
                           "pdf", "--outdir", str(folder), str(docx)], capture_output=True, text=True, timeout=240,
                          check=False)
    pdf = folder / f"{docx.stem}.pdf"
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]
    return pdf


def _pages(pdf: Path) -> tuple[list[tuple[int, int]], list[str]]:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    found = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)
    sizes = [(round(float(w)), round(float(h))) for w, h in found]
    texts = [subprocess.run(["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"], capture_output=True,
                            text=True, check=True).stdout for n in range(1, len(sizes) + 1)]
    return sizes, texts


def _labels(version: str) -> list[str]:
    labels = [T3_NOTE, *T3_OUTER.values()]
    for group, leaves in T3_RESULTS[version]:
        labels += [group, *(leaf for _, leaf in leaves if leaf)]
    return labels


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_the_docx_prints_on_a4_with_every_label_of_table_three_whole(make_env, run, tmp_path, version):
    env = make_env(TEXTS_CONFIG)
    write_texts(env.directory, 2025)
    _year(env)
    docx = tmp_path / f"report-{version}.docx"
    result = run(["report", "2025", "--format", "docx", "--format-version", version, "--out", str(docx)],
                 as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    pdf = _pdf(docx, tmp_path)
    sizes, texts = _pages(pdf)
    assert sizes and set(sizes) <= A4, sizes
    lines = [line.replace(" ", "") for text in texts if T3_OUTER["results"] in text.replace(" ", "")
             for line in text.splitlines()]
    assert lines, "no page holds table 三"
    assert [label for label in _labels(version) if not any(label in line for line in lines)] == []
    pages = [n for n, text in enumerate(texts) if T3_OUTER["new"] in text.replace(" ", "")
             or T3_OUTER["carried_out"] in text.replace(" ", "")]
    assert len(pages) == 1 and sizes[pages[0]] == (842, 595)  # table 三 whole on one landscape page
    OUTPUT.mkdir(exist_ok=True)
    shots = OUTPUT / f"report-docx-{version}-{env.engine.dialect.name}"
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(shots)], check=True, timeout=120)
