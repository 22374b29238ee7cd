"""The report goes out through the pipeline: `gongkai report YEAR --submit` makes it an item of kind annual_report
with the DOCX attached, reviewed like any other; approved, it gets its 索引号 and is published to the portal and
the 公开目录 with the DOCX beside the page, and that publication is counted in the ledger."""

from __future__ import annotations

import json

import docx
from helpers import approve_fully, review
from report_helpers import TEXTS_CONFIG, beijing, engine_at, publish, write_texts
from sqlmodel import select

from pipeline.core.clock import beijing_now
from pipeline.core.models import Decision, Item, Revision
from pipeline.engine.dispatcher import run_dispatcher

ATTACHMENT = "tjj-2025-annual-report.docx"


def _submitted(make_env, run):
    env = make_env(TEXTS_CONFIG)
    write_texts(env.directory, 2025)
    publish(env, beijing(2025, 3, 1, 9), kind="license", category="行政许可", channels=["portal", "disclosure"])
    result = run(["report", "2025", "--submit"], as_="qianqi", cwd=env.directory)
    assert result.code == 0, result.err
    with env.session() as session:
        item = session.exec(select(Item).where(Item.ref == "annual-report-2025")).one()
    assert f"submitted the 2025 report of tjj as item {item.id} (revision 1) for portal, disclosure" in result.out
    return env, item.id


def test_a_submitted_report_is_an_item_reviewed_like_any_other_and_published_with_its_docx(make_env, run):
    env, item_id = _submitted(make_env, run)
    with env.session() as session:
        item = session.get(Item, item_id)
        revision = session.exec(select(Revision).where(Revision.item_id == item_id)).one()
        assert (item.status, item.index_no, revision.kind, revision.category) == (
            "submitted", None, "annual_report", "信息公开年报")
        assert revision.title == "台州市统计局2025年政府信息公开工作年度报告"
        assert '<th colspan="3" rowspan="3"' in revision.body_html and "三、本年度办理结果" in revision.body_html
        assert f'href="art_{item_id}/{ATTACHMENT}"' in revision.body_html
    # nothing reaches a channel before every review level has passed (先审后发)
    review(env, item_id, "lisi")
    assert run_dispatcher(engine_at(env, beijing_now()), until_idle=True) == []
    review(env, item_id, "wangwu")
    reviewed = review(env, item_id, "zhaoliu")
    assert reviewed.index_no.startswith("002668389/") and reviewed.status == "approved"
    outcomes = run_dispatcher(engine_at(env, beijing_now()), until_idle=True)
    assert sorted(o.status for o in outcomes) == ["published", "published"]
    year = int(reviewed.index_no.split("/")[1][:4])
    for site in ("portal", "disclosure"):
        page = env.directory / "site" / site / "art" / str(year) / f"art_{item_id}.html"
        html = page.read_text(encoding="utf-8")
        assert "<h2>三、收到和处理政府信息公开申请情况</h2>" in html and 'rowspan="22"' in html
        attached = page.parent / f"art_{item_id}" / ATTACHMENT
        assert "一、总体情况" in [p.text for p in docx.Document(str(attached)).paragraphs]
    # the publication is counted like every other, and the report's header now carries its 索引号
    counts = json.loads(run(["ledger", "--year", str(year), "--by", "kind", "--json"], cwd=env.directory).out)
    assert {(r["kind"], r["count"]) for r in counts} >= {("annual_report", 2)}
    header = run(["report", "2025"], cwd=env.directory).out
    assert f"<th>索引号</th><td>{reviewed.index_no}</td>" in header


def test_a_rejected_report_is_revised_by_submitting_again_and_stays_frozen_once_approved(make_env, run):
    env, item_id = _submitted(make_env, run)
    review(env, item_id, "lisi", Decision.REJECT, comment="第六部分请补充信息处理费情况")
    (env.directory / "texts" / "2025-other.txt").write_text("本年度未收取信息处理费，收费金额0元。\n",
                                                            encoding="utf-8")
    publish(env, beijing(2025, 9, 1, 9), kind="penalty", category="行政处罚")  # a late correction of the data
    again = run(["report", "2025", "--submit"], as_="qianqi", cwd=env.directory)
    assert again.code == 0, again.err
    assert f"as item {item_id} (revision 2)" in again.out
    approve_fully(env, item_id)
    publish(env, beijing(2025, 10, 1, 9), kind="penalty", category="行政处罚")
    refused = run(["report", "2025", "--submit"], as_="qianqi", cwd=env.directory)
    assert refused.code == 1 and "the 2025 report of tjj was published on" in refused.err
    assert "t2.penalty.decisions" in refused.err
    with env.session() as session:
        assert session.get(Item, item_id).current_revision == 2
