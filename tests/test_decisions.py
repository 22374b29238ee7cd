"""pipeline.engine.decisions: a decision committed, then what it made due handed over (and, for a withdrawal,
what was published taken down), as `gongkai review/withdraw/retry/channels check` and the console both do."""

from __future__ import annotations

import pytest
from doubles.scripted import PERMANENT, Scripted
from helpers import LEVEL_OF, LEVEL_REVIEWERS, actor, approve_fully, scripted_env, submit
from sqlmodel import select

from pipeline.core.errors import NotFound, WorkflowRefused
from pipeline.core.models import ChannelState, Decision, Delivery, DeliveryStatus, ItemStatus, utcnow
from pipeline.engine.decisions import (
    check_and_resume,
    replay_and_hand_over,
    review_and_hand_over,
    withdraw_and_take_down,
)
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine


@pytest.fixture
def env(make_env, monkeypatch):
    return scripted_env(make_env, monkeypatch)


def statuses(env, item_id: int) -> dict[str, DeliveryStatus]:
    with env.session() as session:
        return {d.channel: d.status for d in session.exec(select(Delivery).where(Delivery.item_id == item_id))}


def published(env, channels_: list[str]) -> int:
    item_id = submit(env, channels=channels_)
    approve_fully(env, item_id)
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    assert set(statuses(env, item_id).values()) == {DeliveryStatus.PUBLISHED}
    return item_id


def decide(env, item_id: int, reviewer: str, decision: Decision = Decision.APPROVE, **more):  # type: ignore[no-untyped-def]
    return review_and_hand_over(env.settings, env.engine, agency_code="tjj",
                                decisions=[(item_id, 1, LEVEL_OF[reviewer])], actor=actor(env, reviewer),
                                decision=decision, **more)


def test_the_last_approval_hands_the_item_over_and_it_is_published(env):
    item_id = submit(env, channels=["scripted"])
    for reviewer in LEVEL_REVIEWERS[:-1]:
        done = decide(env, item_id, reviewer)
        assert done.handed_over == [] and statuses(env, item_id) == {}
    done = decide(env, item_id, LEVEL_REVIEWERS[-1])
    assert [r.status for r in done.results] == [ItemStatus.APPROVED]
    [handed] = done.handed_over
    assert not handed.broker and [o.status for o in handed.outcomes] == ["published"]
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.PUBLISHED}


def test_an_item_s_due_deliveries_are_handed_over_and_a_scheduled_one_waits(env):
    from datetime import timedelta

    from pipeline.engine.handover import hand_over_item

    now_item = submit(env, channels=["scripted"], id="now")
    later = submit(env, channels=["scripted"], id="later", publish_at=(utcnow() + timedelta(days=1)).isoformat())
    approve_fully(env, now_item)
    approve_fully(env, later)
    waiting = hand_over_item(env.settings, env.engine, item_id=later)
    assert waiting.given == 0 and statuses(env, later) == {"scripted": DeliveryStatus.PENDING}
    done = hand_over_item(env.settings, env.engine, item_id=now_item)
    assert done.given == 1 and statuses(env, now_item) == {"scripted": DeliveryStatus.PUBLISHED}


def test_a_refused_decision_among_many_decides_none_and_hands_nothing_over(env):
    first, second = submit(env, channels=["scripted"], id="a"), submit(env, channels=["scripted"], id="b")
    with pytest.raises(WorkflowRefused):
        review_and_hand_over(env.settings, env.engine, agency_code="tjj",
                             decisions=[(first, 1, LEVEL_OF["lisi"]), (second, 1, LEVEL_OF["wangwu"])],
                             actor=actor(env, "lisi"), decision=Decision.APPROVE)
    rejected = decide(env, first, "lisi", Decision.REJECT, comment="重写")
    assert [r.status for r in rejected.results] == [ItemStatus.REJECTED] and rejected.handed_over == []


def test_a_withdrawal_takes_down_what_it_can_and_records_what_a_person_deleted(env):
    item_id = published(env, ["scripted", "undeletable"])
    done = withdraw_and_take_down(env.settings, env.engine, agency_code="tjj", item_id=item_id,
                                  actor=actor(env, "zhaoliu"), reason="数据有误")
    assert {t.channel: t.result for t in done} == {"scripted": "withdrawn", "undeletable": "manual"}
    again = withdraw_and_take_down(env.settings, env.engine, agency_code="tjj", item_id=item_id,
                                   actor=actor(env, "zhaoliu"), reason="", deleted_by_hand=["undeletable"])
    assert again == []
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.WITHDRAWN, "undeletable": DeliveryStatus.WITHDRAWN}


def test_a_refused_withdrawal_takes_nothing_down(env):
    item_id = published(env, ["scripted"])
    with pytest.raises(WorkflowRefused, match="reason"):
        withdraw_and_take_down(env.settings, env.engine, agency_code="tjj", item_id=item_id,
                               actor=actor(env, "zhaoliu"), reason=" ")
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.PUBLISHED}
    assert ("withdraw", f"r-{item_id}:1:scripted") not in Scripted.calls


def test_replaying_every_failed_delivery_sends_each_again(env):
    Scripted.reset(PERMANENT)
    item_id = submit(env, channels=["scripted"])
    approve_fully(env, item_id)
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.DEAD}
    done = replay_and_hand_over(env.settings, env.engine, agency_code="tjj", delivery_id=None,
                                actor=actor(env, "qianqi"))
    assert len(done.delivery_ids) == 1 and [o.status for o in done.handed_over.outcomes] == ["published"]
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.PUBLISHED}
    nothing = replay_and_hand_over(env.settings, env.engine, agency_code="tjj", delivery_id=None,
                                   actor=actor(env, "qianqi"))
    assert nothing.delivery_ids == [] and nothing.handed_over.given == 0


def test_replaying_a_delivery_of_another_agency_is_refused(env):
    with pytest.raises(NotFound):
        replay_and_hand_over(env.settings, env.engine, agency_code="tjj", delivery_id=999,
                             actor=actor(env, "qianqi"))


def test_a_channel_that_passes_its_check_sends_what_waited_for_it(env):
    item_id = submit(env, channels=["scripted"])
    approve_fully(env, item_id)
    with env.session() as session:  # the channel was paused; its delivery waits for a recheck far ahead
        session.add(ChannelState(name="scripted", paused=True, reason="test"))
        row = session.exec(select(Delivery).where(Delivery.item_id == item_id)).one()
        row.status, row.next_attempt_at = DeliveryStatus.RETRY_WAIT, utcnow().replace(year=utcnow().year + 1)
        session.add(row)
    [check] = check_and_resume(Engine.build(env.settings, env.engine), names=["scripted"],
                               actor=actor(env, "qianqi"), agency_code="tjj")
    assert check.ok and len(check.resumed) == 1
    assert statuses(env, item_id) == {"scripted": DeliveryStatus.PUBLISHED}


def test_the_overview_shows_failed_and_resent_deliveries_paused_channels_and_verification(env):
    from pipeline.engine.overview import delivery_overview

    Scripted.reset(PERMANENT)
    dead = submit(env, channels=["scripted"], id="dead")
    approve_fully(env, dead)
    run_dispatcher(Engine.build(env.settings, env.engine), until_idle=True)
    replay_and_hand_over(env.settings, env.engine, agency_code="tjj", delivery_id=None, actor=actor(env, "qianqi"))
    waiting = submit(env, channels=["undeletable"], id="waiting")
    approve_fully(env, waiting)
    with env.session() as session:
        session.add(ChannelState(name="undeletable", paused=True, reason="token expired"))
        failed = delivery_overview(session, agency_code="tjj", failed_only=True)
        unpublished = delivery_overview(session, agency_code="tjj")
        resent = delivery_overview(session, agency_code="tjj", resent=True)
    assert [r["item_id"] for r in failed.rows] == []  # the dead letter was replayed and published
    assert [(r["item_id"], r["status"]) for r in unpublished.rows] == [(waiting, DeliveryStatus.PENDING)]
    assert [r["item_id"] for r in resent.rows] == [dead]  # sent twice: the receiver may have had it twice
    assert failed.paused == {"undeletable": "token expired"}
    assert {h.channel: h.paused for h in failed.health}["undeletable"] == "token expired"
    assert sum(failed.checked.values()) == 1 and failed.differing == [], failed.checked
