"""索引号 under concurrent final approvals: distinct, consecutive, never reused."""

from __future__ import annotations

import threading

from helpers import acting, review, submit
from sqlmodel import select

from pipeline.core.clock import beijing_today
from pipeline.core.models import Item


def test_fifty_concurrent_final_approvals_get_fifty_distinct_consecutive_index_numbers(env):
    items = [submit(env) for _ in range(50)]
    for item_id in items:
        review(env, item_id, "lisi")
        review(env, item_id, "wangwu")
    barrier = threading.Barrier(len(items))
    errors: list[BaseException] = []

    def approve(item_id: int) -> None:
        barrier.wait()
        try:
            review(env, item_id, "zhaoliu")
        except BaseException as e:  # noqa: BLE001  (collected and asserted below)
            errors.append(e)

    threads = [threading.Thread(target=approve, args=(i,)) for i in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with env.session() as session:
        numbers = session.exec(select(Item.index_no)).all()
    year = beijing_today().year
    assert sorted(numbers) == [f"002668389/{year}-{n:05d}" for n in range(1, 51)]


def test_a_rolled_back_approval_does_not_consume_a_serial(env):
    first = submit(env)
    for reviewer in ("lisi", "wangwu"):
        review(env, first, reviewer)
    try:
        with env.session() as session:
            from pipeline.core.models import Decision
            from pipeline.items import workflow
            workflow.review_item(session, settings=env.settings, agency_code="tjj", item_id=first,
                                 actor=acting(session, "zhaoliu"), decision=Decision.APPROVE, level="办公室审发",
                                 revision=1)
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    second = submit(env)
    for reviewer in ("lisi", "wangwu", "zhaoliu"):
        result = review(env, second, reviewer)
    assert result.index_no.endswith("-00001")
    assert review(env, first, "zhaoliu").index_no.endswith("-00002")
