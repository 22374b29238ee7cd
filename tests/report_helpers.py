"""Builders for ledger and report tests: publish items through review and the real delivery engine at a
chosen time, withdraw them, and write history CSV files."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import LATE_REASON, acting, approve_fully, submit

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
    approve_fully(env, item_id, late_reason=LATE_REASON)  # history published today: late unless formed lately
    outcomes = run_dispatcher(engine_at(env, when + timedelta(minutes=1)), until_idle=True)
    assert outcomes and all(o.status == "published" for o in outcomes), outcomes
    return item_id


def withdraw(env: Any, item_id: int, when: datetime) -> None:
    """Withdraw a published item at `when`: the take-down writes one reversal per channel."""
    with env.session() as session:
        workflow.withdraw_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                               actor=acting(session, "zhaoliu"),
                               reason="内容有误")
    results = take_down(engine_at(env, when), item_id=item_id)
    assert results and all(r.result == "withdrawn" for r in results), results


def write_history(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# the agency's texts of a final report: section 一's five parts (2021 format), 五 and 六
TEXTS_CONFIG = ('\n[agencies.tjj.report]\noverview_file = "texts/{year}-overview.txt"\n'
                'problems_file = "texts/{year}-problems.txt"\nother_file = "texts/{year}-other.txt"\n')
OVERVIEW = """本局坚持以公开为常态、不公开为例外。

（一）主动公开

围绕统计数据发布，及时公开统计公报和数据解读。

（二）依申请公开

畅通依申请公开渠道，规范办理流程。

（三）政府信息管理

落实公开前保密审查，动态更新政府信息公开指南。

（四）政府信息公开平台建设

优化门户网站信息公开专栏，完善检索功能。

（五）监督保障

将政务公开纳入处室年度考核，开展业务培训2次。
"""


def write_texts(directory: Path, year: int, *, overview: str = OVERVIEW) -> None:
    """The texts TEXTS_CONFIG names, for one year."""
    texts = directory / "texts"
    texts.mkdir(exist_ok=True)
    (texts / f"{year}-overview.txt").write_text(overview, encoding="utf-8")
    (texts / f"{year}-problems.txt").write_text("个别信息公开不够及时。\n\n下一步将加强时限管理。\n", encoding="utf-8")
    (texts / f"{year}-other.txt").write_text("本年度未收取信息处理费。\n", encoding="utf-8")
