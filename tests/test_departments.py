"""Counts per 处室: every item carries its author's 处室 from the people records (kept from submission), counted by
`gongkai ledger --by department` and the assessment table `gongkai assessment YEAR`."""

from __future__ import annotations

import json
from datetime import date

from helpers import PASSWORD, acting
from report_helpers import beijing, publish, withdraw, write_history
from sqlmodel import select

from pipeline.core.clock import utcnow
from pipeline.core.models import Item, Person
from pipeline.records.people import add_person


def add_author(env, login: str, department: str) -> None:
    with env.session() as session:
        add_person(session, actor=acting(session, "root"), login=login, name=login, agency_code="tjj",
                   department=department, roles=["author"], password=PASSWORD, settings=env.settings, now=utcnow())


def test_ledger_by_department_on_the_demo(tmp_path, run):
    workspace = tmp_path / "demo"
    assert run(["demo", "--workspace", str(workspace)], cwd=tmp_path).code == 0
    result = run(["ledger", "--by", "department", "--json"], cwd=workspace)
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    # the demo's author zhangsan works in 综合处: all 8 publications (4 items on portal and 公开目录) are its
    assert [(r["department"], r["count"]) for r in rows] == [("综合处", 8)]
    table = run(["ledger", "--by", "department"], cwd=workspace)
    assert table.code == 0 and "综合处" in table.out
    year = rows[0]["year"]
    assessed = json.loads(run(["assessment", str(year), "--json"], cwd=workspace).out)
    assert [(r["department"], r["published"], r["withdrawn"]) for r in assessed] == [("综合处", 4, 0)]


def test_the_assessment_counts_each_department(env, run):
    add_author(env, "sunba", "统计调查处")
    history = write_history(env.directory / "h.csv", [["", "往年动态", "portal", "政务动态", "news", "2026-02-01"]])
    assert run(["ledger", "import", str(history)], as_="qianqi", cwd=env.directory).code == 0
    on_time = publish(env, beijing(2026, 3, 2, 10), kind="news", category="政务动态")
    publish(env, beijing(2026, 3, 3, 10), kind="news", category="政务动态", created_on=date(2026, 1, 5))  # late
    survey = publish(env, beijing(2026, 3, 4, 10), actor="sunba", kind="normative", category="政策文件", id="gz-1",
                     title="统计调查项目管理办法")
    publish(env, beijing(2026, 3, 5, 10), actor="sunba", kind="interpretation", category="政策解读",
            interprets="gz-1", title="解读")  # the next working day: in step
    publish(env, beijing(2026, 3, 6, 10), actor="sunba", kind="normative", category="政策文件", id="gz-2",
            title="统计调查制度", channels=["portal"])  # no interpretation
    withdraw(env, on_time, beijing(2026, 3, 9, 10))

    with env.session() as session:
        departments = dict(session.exec(select(Item.id, Item.department)).all())
        session.exec(select(Person).where(Person.login == "sunba")).one().department = "办公室"  # moved later
    assert departments[survey] == "统计调查处"
    result = run(["assessment", "2026", "--json"], cwd=env.directory)
    assert result.code == 0, result.err
    rows = {r["department"]: r for r in json.loads(result.out)}
    assert set(rows) == {"", "综合处", "统计调查处"}  # the items keep the 处室 they were written in
    assert {k: rows["综合处"][k] for k in ("published", "withdrawn", "late")} == {
        "published": 2, "withdrawn": 1, "late": 1}
    assert {k: rows["统计调查处"][k] for k in ("published", "documents", "interpreted_in_step")} == {
        "published": 3, "documents": 2, "interpreted_in_step": 1}
    assert rows[""]["published"] == 1  # imported history names no author
    by_department = json.loads(run(["ledger", "--year", "2026", "--by", "department", "--json"],
                                   cwd=env.directory).out)
    # net entries: 综合处 2 items on portal and 公开目录, one withdrawn from both
    assert {r["department"]: r["count"] for r in by_department} == {"": 1, "综合处": 2, "统计调查处": 5}
    table = run(["assessment", "2026"], cwd=env.directory)
    assert table.code == 0 and "（未注明）" in table.out and "统计调查处" in table.out


def test_show_names_the_authors_department_kept_on_the_item(env, run):
    from helpers import submit

    from pipeline.cli.demo import PEOPLE

    item_id = submit(env)  # by zhangsan
    department = PEOPLE["zhangsan"][1]
    assert f"department: {department}" in run(["show", str(item_id)], cwd=env.directory).out
    assert json.loads(run(["show", str(item_id), "--json"], cwd=env.directory).out)["department"] == department
