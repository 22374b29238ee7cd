"""Ledger counts (net of withdrawals, Beijing calendar) and the history import, on both databases."""

from __future__ import annotations

import csv
import gc
import io
import json
from datetime import date

import pytest
from helpers import acting
from report_helpers import beijing, publish, withdraw, write_history
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.errors import InputRejected
from pipeline.core.models import AuditEvent, LedgerEntry
from pipeline.records.audit import verify_trail
from pipeline.records.ledger import count_ledger
from pipeline.records.ledger_import import import_ledger


def counts(env, by: str, year: int | None = None) -> dict:
    with env.session() as session:
        rows = count_ledger(session, agency_ids=[agency_row(session, "tjj").id], by=by, year=year)
    return {(r["year"], r[by]): r["count"] for r in rows}


def test_publications_count_per_channel_category_kind_and_month_and_withdrawals_net_out(env, run):
    publish(env, beijing(2020, 3, 5, 9), kind="statistics", category="统计数据")
    news = publish(env, beijing(2020, 3, 20, 9), kind="news", category="政务动态", channels=["disclosure"])
    publish(env, beijing(2020, 6, 1, 9), kind="notice", category="通知公告", channels=["portal"])
    # 1 January 2021 01:00 in Beijing is still 31 December 2020 in UTC: it counts in 2021
    publish(env, beijing(2021, 1, 1, 1), kind="news", category="政务动态", channels=["disclosure"])
    withdraw(env, news, beijing(2020, 7, 2, 10))
    assert counts(env, "channel", 2020) == {(2020, "disclosure"): 1, (2020, "portal"): 2}
    assert counts(env, "month", 2020) == {(2020, 3): 3, (2020, 6): 1, (2020, 7): -1}
    assert counts(env, "category", 2020) == {(2020, "统计数据"): 2, (2020, "政务动态"): 0, (2020, "通知公告"): 1}
    assert counts(env, "kind") == {(2020, "statistics"): 2, (2020, "news"): 0, (2020, "notice"): 1,
                                   (2021, "news"): 1}
    as_json = run(["ledger", "--year", "2021", "--by", "month", "--json"], cwd=env.directory)
    assert json.loads(as_json.out) == [{"agency": "tjj", "year": 2021, "month": 1, "count": 1}]
    as_csv = run(["ledger", "--year", "2020", "--by", "channel", "--csv"], cwd=env.directory)
    assert list(csv.reader(io.StringIO(as_csv.out))) == [
        ["agency", "year", "channel", "count"], ["tjj", "2020", "disclosure", "1"], ["tjj", "2020", "portal", "2"]]
    table = run(["ledger", "--by", "kind"], cwd=env.directory)
    assert table.code == 0 and "statistics" in table.out


def test_import_backfills_history_and_a_second_import_changes_nothing(env, run):
    path = write_history(env.directory / "history.csv", [
        ["002668389/2019-00001", "2018年统计公报", "portal", "统计数据", "statistics", "2019-03-01"],
        ["002668389/2019-00001", "2018年统计公报", "disclosure", "统计数据", "统计信息", "2019-03-01"],
        ["", "统计开放日", "wechat", "政务动态", "news", "2019-09-20 18:30"],
        ["", "统计开放日", "wechat", "政务动态", "news", "2019-09-20 18:30"],  # posted twice: two entries
    ])
    first = run(["ledger", "import", str(path), "--json"], as_="qianqi", cwd=env.directory)
    assert first.code == 0, first.err
    assert json.loads(first.out) == {"file": str(path), "imported": 4, "already_present": 0, "merged": []}
    again = run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory)
    assert "imported 0 entries; 4 were imported before" in again.out
    assert counts(env, "channel", 2019) == {(2019, "disclosure"): 1, (2019, "portal"): 1, (2019, "wechat"): 2}
    with env.session() as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    assert {e.source for e in entries} == {"import"}
    assert entries[1].kind == "statistics" and entries[2].local_date == date(2019, 9, 20)
    # a longer file with the same rows plus one adds exactly one
    write_history(path, [["", "新一条", "portal", "通知公告", "notice", "2019-12-31"]] + [
        ["002668389/2019-00001", "2018年统计公报", "portal", "统计数据", "statistics", "2019-03-01"]])
    assert json.loads(run(["ledger", "import", str(path), "--json"],
                          as_="qianqi", cwd=env.directory).out)["imported"] == 1


def test_an_import_event_lists_the_ids_its_rows_were_given_between_publications(env, run):
    """The audit event of an import lists the ids its rows got (read back by import key) with their hashes, in
    order, and publications before and after it keep their own ids."""
    first = write_history(env.directory / "first.csv", [
        ["", f"旧通知{n}", "portal", "通知公告", "notice", "2019-05-06"] for n in range(3)])
    assert run(["ledger", "import", str(first)], as_="qianqi", cwd=env.directory).code == 0
    publish(env, beijing(2021, 1, 5, 9), channels=["portal"])
    second = write_history(env.directory / "second.csv", [["", "又一条", "portal", "通知公告", "notice", "2019-06-01"]])
    assert run(["ledger", "import", str(second)], as_="qianqi", cwd=env.directory).code == 0
    publish(env, beijing(2021, 1, 6, 9), channels=["portal"])
    with env.session() as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
        imports = session.exec(select(AuditEvent).where(AuditEvent.action == "import").order_by(AuditEvent.id)).all()
        verdict = verify_trail(session)
    assert [e.source for e in entries] == ["import"] * 3 + ["pipeline", "import", "pipeline"]
    assert [[ref[0] for ref in event.details["ledger"]] for event in imports] == [
        [e.id for e in entries[:3]], [entries[4].id]]
    assert [ref[1] for ref in imports[0].details["ledger"]] == [e.content_hash for e in entries[:3]]
    assert verdict.ok, verdict.problem


def test_a_history_without_an_index_number_column_imports_once(env):
    path = write_history(env.directory / "posts.csv", [["统计开放日", "wechat", "政务动态", "news", "2019-09-20"]],
                         header=["标题", "渠道", "主题分类", "类别", "公开日期"])
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        first = import_ledger(session, settings=env.settings, agency_code="tjj", agency_id=agency_id, path=path,
                              today=date(2021, 1, 1), actor=acting(session, "qianqi"))
        again = import_ledger(session, settings=env.settings, agency_code="tjj", agency_id=agency_id, path=path,
                              today=date(2021, 1, 1), actor=acting(session, "qianqi"))
        [entry] = session.exec(select(LedgerEntry)).all()
    assert gc.isenabled()  # back on after an import that succeeded too
    assert (first.imported, again.imported, again.already_present) == (1, 0, 1)
    assert entry.index_no is None and entry.title == "统计开放日" and entry.channel == "wechat"


def test_import_reports_every_bad_row_by_line_and_writes_nothing(env, run):
    path = write_history(env.directory / "bad.csv", [
        ["", "好的一条", "portal", "通知公告", "notice", "2019-05-01"],
        ["", "", "portal", "通知公告", "notice", "2019-05-01"],
        ["", "未知渠道", "fax_machine", "通知公告", "notice", "2019-05-01"],
        ["", "未知分类", "portal", "杂项", "notice", "2019-05-01"],
        ["", "未知类别", "portal", "通知公告", "memo", "2019-05-01"],
        ["", "坏日期", "portal", "通知公告", "notice", "2019-02-30"],
        ["002668389/2019-00009", "重复", "portal", "通知公告", "notice", "2019-05-01"],
        ["002668389/2019-00009", "重复", "portal", "通知公告", "notice", "2019-05-02"],
        ["", "将来", "portal", "通知公告", "notice", "2099-01-01"],
    ])
    result = run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory)
    assert result.code == 1
    for line, field in [(3, "title"), (4, "channel"), (5, "category"), (6, "kind"), (7, "published_on"),
                        (9, "index_no"), (10, "published_on")]:
        assert f"{path}:{line}: {field}:" in result.err, (line, field, result.err)
    assert "7 problems; nothing was written" in result.err
    assert counts(env, "channel") == {}


def test_import_refuses_bad_headers_ragged_rows_and_other_encodings(env):
    def rejected(name: str, content: bytes) -> str:
        path = env.directory / name
        path.write_bytes(content)
        with env.session() as session, pytest.raises(InputRejected) as caught:
            import_ledger(session, settings=env.settings, agency_code="tjj", agency_id=agency_row(session, "tjj").id,
                          path=path, today=date(2021, 1, 1), actor=acting(session, "qianqi"))
        assert gc.isenabled()  # the import pauses the cycle collector while it reads, and turns it back on
        return str(caught.value)

    assert "missing column(s): kind" in rejected("a.csv", "标题,渠道,主题分类,公开日期\nx,portal,通知公告,2019-01-02\n"
                                                         .encode())
    assert "unknown column" in rejected("b.csv", "标题,渠道,主题分类,类别,公开日期,作者\n".encode())
    assert "b2.csv:2: 4 fields; the header has 5" in rejected(
        "b2.csv", "标题,渠道,主题分类,类别,公开日期\nx,portal,通知公告,notice\n".encode())
    gbk = "标题,渠道,主题分类,类别,公开日期\n通知,portal,通知公告,notice,2019-01-02\n".encode("gbk")
    assert "not valid UTF-8" in rejected("c.csv", gbk)


def test_an_index_number_published_by_gongkai_cannot_be_imported_again(env, run):
    item = publish(env, beijing(2020, 3, 5, 9), channels=["portal"])
    with env.session() as session:
        index_no = session.exec(select(LedgerEntry.index_no).where(LedgerEntry.item_id == item)).first()
    path = write_history(env.directory / "dup.csv", [[index_no, "标题", "portal", "通知公告", "notice", "2020-03-05"]])
    result = run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory)
    assert result.code == 1 and "is in the ledger already, published on portal by gongkai" in result.err
