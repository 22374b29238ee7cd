"""Small builders shared by tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pipeline.core.audit_key import create_key_file
from pipeline.core.models import Decision
from pipeline.items import workflow
from pipeline.items.itemfile import ItemRecord, ItemSpec

EXAMPLE = Path(__file__).parents[1] / "pipeline" / "cli" / "gongkai.example.toml"
LEVEL_REVIEWERS = ["lisi", "wangwu", "zhaoliu"]  # the example configuration's three review levels


def record(**fields: Any) -> ItemRecord:
    body = fields.pop("body", "正文。\n")
    values = {"title": "关于开展统计执法检查的通知", "category": "通知公告", "kind": "notice",
              "created_on": date(2020, 3, 1), **fields}
    return ItemRecord("test.md", 1, ItemSpec(**values), body, {})


def submit(env: Any, actor: str = "zhangsan", **fields: Any) -> int:
    with env.session() as session:
        [done] = workflow.submit_items(session, settings=env.settings, agency_code="tjj", actor=actor,
                                       records=[record(**fields)])
    return done.item_id


def review(env: Any, item_id: int, actor: str, decision: Decision = Decision.APPROVE,
           comment: str = "") -> workflow.Reviewed:
    with env.session() as session:
        return workflow.review_item(session, settings=env.settings, agency_code="tjj", item_id=item_id,
                                    actor=actor, decision=decision, comment=comment)


def approve_fully(env: Any, item_id: int) -> workflow.Reviewed:
    result = None
    for reviewer in LEVEL_REVIEWERS:
        result = review(env, item_id, reviewer)
    assert result is not None
    return result


def write_config(directory: Path, url: str, extra: str = "") -> Path:
    """The example configuration with this test's database, site directories and any extra TOML."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///gongkai.db"', f'url = "{url}"')
    text = text.replace('output_dir = "site/', f'output_dir = "{directory}/site/')
    path = directory / "gongkai.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    create_key_file(directory / "audit.key")  # what gongkai init does
    return path
