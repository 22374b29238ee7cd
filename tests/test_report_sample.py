"""The sample report's figures (reference/sample-report-2019.txt, 台州市统计局 2019) come out of the ledger
and the register: 669 portal items, 616 on the disclosure site of which 530 政务动态, 56 WeChat posts,
4 press conferences, 10 requests (9 natural persons, 1 commercial enterprise), no appeals."""

from __future__ import annotations

import json
from datetime import date, timedelta

from helpers import acting
from report_helpers import write_history

from pipeline.core.agencies import agency_row
from pipeline.records import register
from pipeline.records.deadlines import EventKind


def _rows() -> list[list[str]]:
    start, rows = date(2019, 1, 2), []

    def day(n: int) -> str:
        return (start + timedelta(days=n % 360)).isoformat()

    for n in range(665):
        rows.append([f"002668389/2019-{n + 1:05d}", f"统计信息{n + 1}", "portal", "统计数据", "statistics", day(n)])
    for n in range(4):
        rows.append(["", f"2019年第{n + 1}次新闻发布会", "portal", "新闻发布会", "新闻发布会", day(90 * n + 20)])
    for n in range(530):
        rows.append(["", f"工作动态{n + 1}", "disclosure", "政务动态", "政务动态", day(n)])
    for n in range(86):
        rows.append([f"002668389/2019-{n + 1:05d}", f"统计信息{n + 1}", "disclosure", "统计数据", "statistics", day(n)])
    for n in range(56):
        rows.append(["", f"台州统计微信推送{n + 1}", "wechat", "政务动态", "news", day(6 * n)])
    return rows


def _requests(env) -> None:
    with env.session() as session:
        agency_id = agency_row(session, "tjj").id
        for n in range(10):
            received = date(2019, 3, 1) + timedelta(days=30 * n)
            request = register.add_request(session, agency_id=agency_id, received_on=received, channel="online",
                                           applicant_type="commercial" if n == 4 else "natural_person",
                                           actor=acting(session, "qianqi"), today=date(2020, 1, 10))
            register.record_event(session, agency_id=agency_id, request_id=request.id, kind=EventKind.CLOSED,
                                  on=received + timedelta(days=10), outcome="disclosed",
                                  actor=acting(session, "qianqi"),
                                  today=date(2020, 1, 10))


def test_the_sample_report_figures_are_reproduced(env, run):
    path = write_history(env.directory / "taizhou-2019.csv", _rows())
    imported = run(["ledger", "import", str(path), "--json"], as_="qianqi", cwd=env.directory)
    assert json.loads(imported.out)["imported"] == 669 + 616 + 56
    _requests(env)
    channels = json.loads(run(["ledger", "--year", "2019", "--json"], cwd=env.directory).out)
    assert {r["channel"]: r["count"] for r in channels} == {"portal": 669, "disclosure": 616, "wechat": 56}

    result = run(["report", "2019", "--format", "json"], cwd=env.directory)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["format_version"] == "2019"
    numbers = data["narrative_numbers"]
    assert numbers["channels"] == {"portal": 669, "disclosure": 616, "wechat": 56}
    assert (numbers["news"], numbers["wechat_posts"], numbers["press_conferences"]) == (530, 56, 4)
    assert numbers["requests_by_type"]["natural_person"] == 9 and numbers["requests_organisations"] == 1
    narrative = "".join(data["sections"]["一"])
    for phrase in ("本报告所列数据的统计时限自2019年1月1日起至2019年12月31日止",
                   "在门户网站主动公开信息669条", "在政府信息公开目录发布信息616条，其中政务动态530条",
                   "通过微信公众号发布推送56篇", "举办新闻发布会4次",
                   "共收到政府信息公开申请10件，其中自然人9件，法人或其他组织1件（商业企业1件）",
                   "本年度办结10件，其中予以公开10件", "未收到涉及政府信息公开工作的行政复议和行政诉讼"):
        assert phrase in narrative, phrase
    t3, t4 = data["tables"]["三"], data["tables"]["四"]
    assert (t3["t3.new.natural_person"]["value"], t3["t3.new.commercial"]["value"], t3["t3.new.total"]["value"]) \
        == (9, 1, 10)
    assert t3["t3.disclosed.total"]["value"] == 10 and t3["t3.carried_out.total"]["value"] == 0
    assert t3["t3.new.natural_person"]["label"] == "三/一、本年新收政府信息公开申请数量/自然人"
    assert all(cell["value"] == 0 for cell in t4.values())
    assert [c for c in data["check"] if not c["ok"] and c["rule"].startswith("R")] == []

    markdown = run(["report", "2019", "--format", "md"], cwd=env.directory).out
    assert "在门户网站主动公开信息669条" in markdown
    assert '<td data-cell="t3.new.natural_person">9</td>' in markdown
