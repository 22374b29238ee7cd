"""Every transition of the review workflow and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from helpers import LATE_REASON, LEVEL_OF, acting, approve_fully, hire, record, review, snapshot, submit
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.clock import beijing_today, utcnow
from pipeline.core.errors import Forbidden, InputRejected, NotFound, WorkflowRefused
from pipeline.core.models import Decision, Delivery, DeliveryStatus, Item, ItemStatus, ReviewDecision
from pipeline.core.reader import reader_of
from pipeline.items import reading, workflow
from pipeline.records.people import change_roles


def item(env, item_id: int) -> Item:
    with env.session() as session:
        return session.get(Item, item_id)


def show(env, item_id: int) -> dict:
    with env.session() as session:
        return reading.show_item(reader_of(session), item_id=item_id, agency_id=agency_row(session, "tjj").id)


def test_levels_in_order_then_approved_with_index_number_and_deliveries(env):
    item_id = submit(env, channels=["portal", "disclosure"])
    assert item(env, item_id).status == ItemStatus.SUBMITTED
    first = review(env, item_id, "lisi")
    assert (first.status, first.level_name, first.next_level) == (ItemStatus.SUBMITTED, "处室审核", "保密审查")
    second = review(env, item_id, "wangwu")
    assert (second.level_name, second.next_level) == ("保密审查", "办公室审发")
    final = review(env, item_id, "zhaoliu", comment="同意发布")
    assert final.status == ItemStatus.APPROVED
    year = beijing_today().year
    assert final.index_no == f"002668389/{year}-00001"
    with env.session() as session:
        deliveries = session.exec(select(Delivery).where(Delivery.item_id == item_id)).all()
    assert sorted(d.channel for d in deliveries) == ["disclosure", "portal"]
    assert {d.status for d in deliveries} == {DeliveryStatus.PENDING}


def test_decisions_are_kept_and_shown_with_who_when_and_comment(env):
    item_id = submit(env)
    review(env, item_id, "lisi", comment="内容准确")
    review(env, item_id, "wangwu", comment="不涉密")
    review(env, item_id, "zhaoliu", comment="同意")
    decisions = show(env, item_id)["decisions"]
    assert [(d["level"], d["reviewer"], d["decision"], d["comment"]) for d in decisions] == [
        ("处室审核", "lisi", "approve", "内容准确"),
        ("保密审查", "wangwu", "approve", "不涉密"),
        ("办公室审发", "zhaoliu", "approve", "同意"),
    ]
    assert all(d["at"] for d in decisions)


def test_rejection_goes_back_to_author_who_revises_and_resubmits(env):
    item_id = submit(env, id="notice-1")
    review(env, item_id, "lisi")
    rejected = review(env, item_id, "wangwu", Decision.REJECT, comment="含内部人员电话，请删除")
    assert rejected.status == ItemStatus.REJECTED
    with pytest.raises(WorkflowRefused, match="rejected"):
        review(env, item_id, "zhaoliu")
    assert submit(env, id="notice-1", body="修改后的正文。\n") == item_id
    revised = item(env, item_id)
    assert (revised.status, revised.current_revision, revised.current_level) == (ItemStatus.SUBMITTED, 2, 0)
    final = approve_fully(env, item_id)
    assert final.status == ItemStatus.APPROVED
    data = show(env, item_id)
    assert [r["number"] for r in data["revisions"]] == [1, 2]
    assert [(d["revision"], d["decision"]) for d in data["decisions"]] == [
        (1, "approve"), (1, "reject"), (2, "approve"), (2, "approve"), (2, "approve")]
    assert data["decisions"][1]["comment"] == "含内部人员电话，请删除"


def test_edit_after_approval_is_a_new_revision_reviewed_again_keeping_the_index_number(env):
    item_id = submit(env, id="notice-2")
    index_no = approve_fully(env, item_id).index_no
    submit(env, id="notice-2", title="关于开展统计执法检查的通知（修订）")
    again = item(env, item_id)
    assert (again.status, again.current_revision, again.approved_revision) == (ItemStatus.SUBMITTED, 2, 1)
    with env.session() as session:
        pending = session.exec(select(Delivery).where(Delivery.item_id == item_id, Delivery.revision == 2)).all()
    assert pending == []  # nothing goes out before the new revision passes every level
    assert approve_fully(env, item_id).index_no == index_no
    with env.session() as session:
        by_revision = {(d.revision, d.channel): d.status for d in session.exec(select(Delivery))}
    assert by_revision[(1, "portal")] == DeliveryStatus.CANCELLED  # superseded before it went out
    assert by_revision[(2, "portal")] == DeliveryStatus.PENDING


def test_nobody_reviews_an_item_they_wrote(env):
    hire(env, "sunqi", ["author", "section_head"])
    item_id = submit(env, actor="sunqi")
    with pytest.raises(WorkflowRefused, match="sunqi wrote item"):
        review(env, item_id, "sunqi")
    assert item(env, item_id).current_level == 0


def test_one_person_cannot_pass_two_levels_of_the_same_item(env):
    hire(env, "qianba", ["section_head", "secrecy_officer"])
    item_id = submit(env)
    review(env, item_id, "qianba")
    with pytest.raises(WorkflowRefused, match="already passed 处室审核"):
        review(env, item_id, "qianba")
    assert item(env, item_id).current_level == 1


def test_only_a_holder_of_the_levels_role_may_pass_it(env):
    item_id = submit(env)
    with pytest.raises(Forbidden, match=r"wangwu does not hold the role section_head in tjj \(needed to 处室审核\)"):
        review(env, item_id, "wangwu")
    with pytest.raises(NotFound, match="no user 'stranger'"):
        review(env, item_id, "stranger")
    with env.session() as session:
        assert session.exec(select(ReviewDecision)).all() == []


def test_reviewing_an_approved_or_withdrawn_item_is_refused(env):
    approved = submit(env)
    approve_fully(env, approved)
    with pytest.raises(WorkflowRefused, match="approved"):
        review(env, approved, "lisi")
    withdrawn = submit(env, id="gone")
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=withdrawn,
                               actor=acting(session, "zhangsan"), reason="重复提交")
    with pytest.raises(WorkflowRefused, match="withdrawn"):
        review(env, withdrawn, "lisi")
    with pytest.raises(InputRejected, match="was withdrawn and cannot be revised"):
        submit(env, id="gone", body="新正文\n")


def test_rejection_needs_a_reason(env):
    item_id = submit(env)
    with pytest.raises(WorkflowRefused, match="needs a reason"):
        review(env, item_id, "lisi", Decision.REJECT, comment="  ")
    assert item(env, item_id).status == ItemStatus.SUBMITTED


def test_withdrawal_of_an_approved_item_cancels_unsent_deliveries_and_needs_the_final_role(env):
    item_id = submit(env)
    approve_fully(env, item_id)
    with env.session() as session, pytest.raises(Forbidden, match="zhangsan does not hold the role office_director"):
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhangsan"), reason="有误")
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"), reason="数据有误，撤回")
    assert item(env, item_id).status == ItemStatus.WITHDRAWN
    with env.session() as session:
        assert {d.status for d in session.exec(select(Delivery))} == {DeliveryStatus.CANCELLED}


def test_submitting_needs_the_author_role_and_only_the_author_revises(env):
    with pytest.raises(Forbidden, match="lisi does not hold the role author in tjj"):
        submit(env, actor="lisi")
    submit(env, id="mine")
    with env.session() as session:
        change_roles(session, actor=acting(session, "root"), login="lisi", agency_code="tjj", add=["author"],
                     remove=[], now=utcnow())
    with pytest.raises(InputRejected, match="only its author may revise it"):
        with env.session() as session:
            workflow.submit_items(session, settings=env.settings, agency_code="tjj", actor=acting(session, "lisi"),
                                  records=[record(id="mine", body="别人的修改\n")])


def test_an_unchanged_resubmission_is_refused(env):
    submit(env, id="same")
    with pytest.raises(InputRejected, match="unchanged since revision 1"):
        submit(env, id="same")


def test_index_numbers_are_consecutive_per_agency_and_year_and_follow_publish_at(env):
    numbers = [approve_fully(env, submit(env)).index_no for _ in range(3)]
    year = beijing_today().year
    assert numbers == [f"002668389/{year}-{n:05d}" for n in (1, 2, 3)]
    scheduled = submit(env, publish_at=f"{year + 1}-01-01T09:00:00+08:00")
    # next year's 1 January may be past the 第二十六条 deadline (it is, when today is 1 January): a reason, kept
    assert approve_fully(env, scheduled, late_reason="按年度计划定时发布").index_no == f"002668389/{year + 1}-00001"


def test_an_item_of_another_agency_is_not_found(make_env):
    env = make_env('[agencies.fgw]\nname = "台州市发展和改革委员会"\norg_code = "002668346"\nchannels = ["portal"]\n')
    with env.session() as session:
        change_roles(session, actor=acting(session, "root"), login="root", agency_code="fgw", add=["admin"],
                     remove=[], now=utcnow())
    hire(env, "fgw_head", ["section_head"], agency="fgw")
    item_id = submit(env)
    with env.session() as session, pytest.raises(NotFound):
        workflow.review_item(session, settings=env.settings, agency_code="fgw", item_id=item_id,
                             actor=acting(session, "fgw_head"), decision=Decision.APPROVE, level="处室审核",
                             revision=1)


def test_a_reviewer_decides_many_items_in_one_command_and_one_refusal_decides_none(env, run):


    items = [submit(env, title=f"关于第{n}批统计执法检查的通知", id=f"many{n}") for n in range(3)]
    many = [str(i) for i in items]
    result = run(["review", *many, "--approve", "--level", LEVEL_OF["lisi"], "--revision", "1", "--json"],
                 as_="lisi", cwd=env.directory)
    assert result.code == 0, result.err
    assert [r["item_id"] for r in json.loads(result.out)] == items
    assert all(r["next_level"] == LEVEL_OF["wangwu"] for r in json.loads(result.out))

    before = snapshot(env)
    stale = run(["review", many[0], f"{many[1]}@2", "--approve", "--level", LEVEL_OF["wangwu"], "--revision", "1"],
                as_="wangwu", cwd=env.directory)
    assert stale.code == 1 and f"item {many[1]} awaits" in stale.err
    assert snapshot(env) == before                          # the first item was not decided either
    assert run(["review", *many, "--approve", "--level", LEVEL_OF["wangwu"]], as_="wangwu",
               cwd=env.directory).code == 2                  # which revision did you read?

    done = run(["review", *(f"{i}@1" for i in many), "--approve", "--level", LEVEL_OF["wangwu"]], as_="wangwu",
               cwd=env.directory)
    assert done.code == 0 and done.out.count("passed; next: 办公室审发") == 3
    final = run(["review", *many, "--approve", "--level", LEVEL_OF["zhaoliu"], "--revision", "1",
                 "--late-reason", LATE_REASON], as_="zhaoliu", cwd=env.directory)
    assert final.code == 0 and final.out.count("approved, 索引号") == 3
