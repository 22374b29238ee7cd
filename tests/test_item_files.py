"""Item files: the accepted formats, and malformed files refused with one clear message and no write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TOMORROW, on_the_day, snapshot

GOOD_FRONT = """title: 2019年台州市国民经济和社会发展统计公报
category: 统计数据
kind: statistics
channels: [portal, disclosure]
doc_number: 台统〔2020〕1号
created_on: 2020-03-01
publish_at: 2020-03-05T09:00+08:00"""

GOOD = {
    "title": "2020年1月份全市规模以上工业生产情况",
    "category": "统计数据",
    "kind": "statistics",
    "channels": ["portal"],
    "created_on": "2020-02-20",
    "body": "一月份，全市规模以上工业增加值……",
}


def markdown(front: str = GOOD_FRONT, body: str = "正文。\n") -> bytes:
    return f"---\n{front}\n---\n{body}".encode()


def without(field: str) -> str:
    return "\n".join(line for line in GOOD_FRONT.splitlines() if not line.startswith(f"{field}:"))


def replaced(field: str, value: str) -> str:
    return "\n".join(f"{field}: {value}" if line.startswith(f"{field}:") else line for line in GOOD_FRONT.splitlines())


def jsonl(*records: dict) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()



# name -> (file name, content, expected line, text the message must contain)
MALFORMED = {
    "missing title": ("a.md", markdown(without("title")), 1, "title: is required"),
    "unknown channel": (
        "a.md",
        markdown(replaced("channels", "[portal, wexin]")),
        5,
        "channels: unknown channel 'wexin'",
    ),
    "unknown category": (
        "a.md",
        markdown(replaced("category", "统计资料")),
        3,
        "category: unknown 主题分类 '统计资料'",
    ),
    "unknown kind": ("a.md", markdown(replaced("kind", "statistic")), 4, "kind: unknown kind 'statistic'"),
    "bad front matter": ("a.md", markdown(GOOD_FRONT + "\ntags: [a, b"), 9, "front matter is not valid YAML"),
    "no front matter": ("a.md", b"title: x\n\nbody\n", 1, "front matter missing"),
    "front matter not closed": ("a.md", b"---\ntitle: x\n", 1, "front matter not closed"),
    "impossible date": ("a.md", markdown(replaced("created_on", "2020-02-30")), 7, "created_on"),
    "date in the future": (
        "a.md",
        markdown(replaced("created_on", TOMORROW).replace("publish_at: 2020-03-05T09:00+08:00", "")),
        7,
        "is in the future",
    ),
    "publish_at not a time": ("a.md", markdown(replaced("publish_at", "next tuesday")), 8, "publish_at"),
    "publish_at before created_on": (
        "a.md",
        markdown(replaced("publish_at", "2020-02-01T09:00:00+08:00")),
        8,
        "publish_at: is before created_on",
    ),
    "empty body": ("a.md", markdown(body="\n  \n"), 10, "body: is empty"),
    "5 MB body": ("a.md", markdown(body="统" * (5 * 1024 * 1024 // 3 + 1)), 10, "at most 1,000,000"),
    "invalid UTF-8": ("a.md", markdown(body="第一行\n第二行\n") + b"\xff\xfe bad\n", 12, "not valid UTF-8"),
    "duplicate ids in a batch": (
        "b.jsonl",
        jsonl({**GOOD, "id": "x1"}, {**GOOD, "id": "x2"}, {**GOOD, "id": "x1"}),
        3,
        "id: 'x1' appears twice (first at b.jsonl:1)",
    ),
    "unknown field": ("a.md", markdown(GOOD_FRONT + "\nauthor: 张三"), 9, "author: unknown field"),
    "title too long": ("a.md", markdown(replaced("title", "统" * 201)), 2, "title: has 201 characters"),
    "control character in title": (
        "c.jsonl",
        jsonl({**GOOD, "title": "统计\u0007公报"}),
        1,
        "title: contains a control character",
    ),
    "title is a number": ("a.md", markdown(replaced("title", "2019")), 2, "title: Input should be a valid string"),
    "channels not a list": (
        "c.jsonl",
        jsonl({**GOOD, "channels": "portal"}),
        1,
        "channels: Input should be a valid list",
    ),
    "truncated JSON": ("d.json", b'[\n  {"title": "x",\n', 3, "not valid JSON"),
    "JSON array of non-objects": ("d.json", b'[\n  "just text"\n]', 2, "each item must be a JSON object"),
    "broken JSON line": ("c.jsonl", jsonl(GOOD) + b"\n{broken\n", 2, "not valid JSON"),
    "empty JSON Lines": ("c.jsonl", b"\n\n", 1, "holds no items"),
    "key given twice": ("a.md", markdown(GOOD_FRONT + "\ntitle: 又一个标题"), 9, "key 'title' is given twice"),
    "unsupported file type": ("a.txt", b"hello", 0, "unsupported file type"),
    "interprets nothing": (
        "a.md",
        markdown(replaced("kind", "interpretation") + "\ninterprets: no-such-doc"),
        9,
        "interprets: no item with id or 索引号 'no-such-doc'",
    ),
    "path-like id": ("c.jsonl", jsonl({**GOOD, "id": "../../etc/passwd"}), 1, "id: must be 1-64 letters"),
    "body in front matter": ("a.md", markdown(GOOD_FRONT + "\nbody: 正文"), 9, "body: the body goes after"),
    "NUL in body": ("a.md", markdown(body="第一行\n第二\x00行\n"), 11, "control character U+0000"),
    "body of the wrong type": ("c.jsonl", jsonl({**GOOD, "body": 42}), 1, "body: must be text"),
}




@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_item_file_gives_one_clear_message_exit_1_and_writes_nothing(env, run, case):
    name, content, line, expected = MALFORMED[case]
    (env.directory / name).write_bytes(on_the_day(content))
    before = snapshot(env)
    result = run(["submit", name], as_="zhangsan", cwd=env.directory)
    assert result.code == 1, result.out + result.err
    messages = [m for m in result.err.splitlines() if m.strip()]
    assert len(messages) == 2 and messages[1] == "1 problem; nothing was written", result.err
    location = f"{name}:{line}: " if line else f"{name}: "
    assert messages[0].startswith(f"error: {location}"), messages[0]
    assert expected in messages[0]
    assert snapshot(env) == before


def test_the_corpus_keeps_at_least_twenty_cases():
    assert len(MALFORMED) >= 20


def test_a_batch_reports_every_problem_by_file_line_and_field_and_writes_nothing(env, run):
    (env.directory / "batch.jsonl").write_bytes(jsonl(GOOD, {**GOOD, "kind": "nope"}, GOOD, {**GOOD, "title": ""}))
    (env.directory / "other.md").write_bytes(markdown(replaced("category", "无此分类")))
    before = snapshot(env)
    result = run(["submit", "batch.jsonl", "other.md"], as_="zhangsan", cwd=env.directory)
    assert result.code == 1
    assert "batch.jsonl:2: kind: unknown kind 'nope'" in result.err
    assert "batch.jsonl:4: title: is empty" in result.err
    assert "other.md:3: category: unknown 主题分类 '无此分类'" in result.err
    assert "3 problems; nothing was written" in result.err
    assert snapshot(env) == before


def test_markdown_json_and_json_lines_are_accepted_with_their_sources(env, run):
    (env.directory / "a.md").write_bytes(markdown())
    (env.directory / "b.json").write_text(
        json.dumps([GOOD, {**GOOD, "title": "第二条"}], ensure_ascii=False, indent=2), encoding="utf-8"
    )
    (env.directory / "c.jsonl").write_bytes(jsonl({**GOOD, "title": "第三条"}, {**GOOD, "title": "第四条"}))
    result = run(["submit", "a.md", "b.json", "c.jsonl", "--json"], as_="zhangsan", cwd=env.directory)
    assert result.code == 0, result.err
    done = json.loads(result.out)
    assert [(d["item_id"], d["source"]) for d in done] == [
        (1, "a.md:1"),
        (2, "b.json:2"),
        (3, "b.json:12"),
        (4, "c.jsonl:1"),
        (5, "c.jsonl:2"),
    ]
    shown = json.loads(run(["show", "1", "--json"], cwd=env.directory).out)
    assert shown["publish_at"] == "2020-03-05T01:00:00+00:00"  # 09:00 Beijing time, stored in UTC
    assert shown["doc_number"] == "台统〔2020〕1号" and shown["publisher"] == "市统计局"


def test_a_time_without_offset_is_beijing_time(env, run):
    (env.directory / "a.md").write_bytes(markdown(replaced("publish_at", "2020-03-05 09:00:00")))
    assert run(["submit", "a.md"], as_="zhangsan", cwd=env.directory).code == 0
    assert json.loads(run(["show", "1", "--json"], cwd=env.directory).out)["publish_at"] == "2020-03-05T01:00:00+00:00"


def test_channels_default_to_the_agencys_and_a_disabled_channel_is_refused(make_env, run):
    env = make_env()
    (env.directory / "a.md").write_bytes(markdown(without("channels")))
    assert run(["submit", "a.md"], as_="zhangsan", cwd=env.directory).code == 0
    assert json.loads(run(["show", "1", "--json"], cwd=env.directory).out)["channels"] == ["portal", "disclosure"]
    config = env.config.read_text(encoding="utf-8").replace(
        'kind = "disclosure"', 'kind = "disclosure"\nenabled = false'
    )
    Path(env.config).write_text(config, encoding="utf-8")
    (env.directory / "b.md").write_bytes(markdown())
    result = run(["submit", "b.md"], as_="zhangsan", cwd=env.directory)
    assert result.code == 1 and "b.md:5: channels: channel 'disclosure' is disabled" in result.err
