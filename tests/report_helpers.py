"""Builders for ledger and report tests: publish items through review and the real delivery engine at a
chosen time, withdraw them, and write history CSV files."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import approve_fully, submit

from pipeline.core.clock import SHANGHAI
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down
from pipeline.items import workflow

HEADER = ["索引号", "标题", "渠道", "主题分类", "类别", "公开日期"]


def beijing(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def engine_at(env: Any, when: datetime) -> Engine:
    engine = Engine.build(env.settings, env.engine)
    engine.clock = lambda: when
    return engine


def publish(env: Any, when: datetime, **fields: Any) -> int:
    """Submit, pass the three review levels and deliver at `when` (Beijing time) on the item's channels."""
    fields.setdefault("created_on", when.date())
    item_id = submit(env, publish_at=when, **fields)
    approve_fully(env, item_id)
    outcomes = run_dispatcher(engine_at(env, when + timedelta(minutes=1)), until_idle=True)
    assert outcomes and all(o.status == "published" for o in outcomes), outcomes
    return item_id


def withdraw(env: Any, item_id: int, when: datetime) -> None:
    """Withdraw a published item at `when`: the take-down writes one reversal per channel."""
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id, actor="zhaoliu",
                               reason="内容有误")
    results = take_down(engine_at(env, when), item_id=item_id)
    assert results and all(r.result == "withdrawn" for r in results), results


def write_history(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
