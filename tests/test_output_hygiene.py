"""What a user typed is printed as text: no markup, no escape codes, no invisible characters (issue 18, item 5).

The first tests reproduce the findings of the issue one by one; the property test then feeds arbitrary text as
titles, review comments and withdrawal reasons through submit, review, show, list and withdraw.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from helpers import LEVEL_OF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ITEM = "---\ntitle: {title}\ncategory: 统计数据\nkind: statistics\ncreated_on: 2020-03-01\n---\n正文。\n"
REPAINT = "\x1b[2K\r\x1b[1;32m已批准\x1b[0m"  # erase the line, then print a green "approved" over it


def submit_json(env, run, title: str, name: str = "item.json"):  # type: ignore[no-untyped-def]
    (env.directory / name).write_text(json.dumps({"title": title, "category": "统计数据", "kind": "statistics",
                                                  "created_on": "2020-03-01", "body": "正文。"}), encoding="utf-8")
    return run(["submit", name], cwd=env.directory, as_="zhangsan")


def hidden(text: str) -> set[str]:
    """Characters a terminal would obey or not show (line breaks aside)."""
    return {c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")}


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_title_with_markup_is_submitted_listed_and_shown_as_typed(env, run):
    title = "统计公报[/] [bold]加粗[/bold] [red]红[/] :warning:"
    (env.directory / "a.md").write_text(ITEM.format(title=json.dumps(title, ensure_ascii=False)), encoding="utf-8")
    submitted = run(["submit", "a.md"], cwd=env.directory, as_="zhangsan")
    assert submitted.code == 0, submitted.err
    assert title in submitted.out
    item = submitted.out.split()[0]
    listed = run(["list"], cwd=env.directory)
    assert listed.code == 0, listed.err
    assert title in listed.out
    detail = run(["show", item], cwd=env.directory)
    assert detail.code == 0, detail.err
    assert detail.out.startswith(title)


def test_a_rejection_comment_with_escape_codes_cannot_repaint_itself_as_approved(env, run):
    submitted = run(["submit", *write_item(env)], cwd=env.directory, as_="zhangsan")
    item = submitted.out.split()[0]
    assert run([*rejection(item), f"--comment={REPAINT}"], cwd=env.directory, as_="lisi").code == 0
    detail = run(["show", item], cwd=env.directory)
    assert detail.code == 0, detail.err
    assert "\x1b" not in detail.out and "\r" not in detail.out
    assert "reject" in detail.out
    assert "\\x1b[2K\\x0d\\x1b[1;32m已批准\\x1b[0m" in detail.out  # as typed, visibly not a decision
    as_json = json.loads(run(["show", item, "--json"], cwd=env.directory).out)
    assert as_json["decisions"][0]["comment"] == REPAINT  # stored as typed; only the display escapes it


def rejection(item: str) -> list[str]:
    """`gongkai review` by which lisi sends revision 1 back at the first level (a --comment follows)."""
    return ["review", item, "--reject", "--level", LEVEL_OF["lisi"], "--revision", "1"]


def write_item(env, title: str = "关于开展统计执法检查的通知") -> list[str]:  # type: ignore[no-untyped-def]
    (env.directory / "a.md").write_text(ITEM.format(title=title), encoding="utf-8")
    return ["a.md"]


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u2069", "\u200b", "\u00ad", "\ufeff", "\x1b", "\x85",
                                  "\u2028", "\t"])
def test_a_title_with_an_invisible_or_reordering_character_is_refused(env, run, char):
    before = run(["list", "--json"], cwd=env.directory).out
    result = submit_json(env, run, f"统计公报{char}2019")
    assert result.code == 1
    assert f"item.json:1: title: contains a control character U+{ord(char):04X}" in result.err
    assert "nothing was written" in result.err
    assert run(["list", "--json"], cwd=env.directory).out == before


@pytest.mark.parametrize("field", ["publisher", "doc_number", "category", "summary"])
def test_other_single_line_fields_refuse_a_bidi_override_naming_the_line(env, run, field):
    front = f"title: 统计公报\ncategory: 统计数据\nkind: statistics\ncreated_on: 2020-03-01\n{field}: 台统\u202e1号"
    if field == "category":
        front = front.replace("category: 统计数据\n", "")
    (env.directory / "a.md").write_text(f"---\n{front}\n---\n正文。\n", encoding="utf-8")
    result = run(["submit", "a.md"], cwd=env.directory, as_="zhangsan")
    assert result.code == 1
    assert f"a.md:{front.splitlines().index(next(x for x in front.splitlines() if x.startswith(field))) + 2}: " \
           f"{field}: contains a control character U+202E (RIGHT-TO-LEFT OVERRIDE)" in result.err


def test_json_output_escapes_control_and_format_characters_and_stays_valid(env, run):
    item = run(["submit", *write_item(env)], cwd=env.directory, as_="zhangsan").out.split()[0]
    comment = "请核实\u202e\x1b[31m\x9b数据"
    run([*rejection(item), f"--comment={comment}"], cwd=env.directory, as_="lisi")
    out = run(["show", item, "--json"], cwd=env.directory).out
    assert not hidden(out)
    assert "\\u202e" in out and "\\u001b" in out and "\\u009b" in out
    assert json.loads(out)["decisions"][0]["comment"] == comment


MARKUP = ["[/]", "[bold]", "[red]已批准[/red]", "[/red]", "[link=http://x]", ":warning:", "\x1b[32m", "\x1b]0;t\x07",
          "\u202e", "\u2066", "\u200b", "\r", "\n", "\t", "\x08", "\x9b", "\\", "[", "]", "已批准"]
TYPED = st.lists(st.one_of(st.sampled_from(MARKUP), st.text(st.characters(exclude_categories=("Cs",),
                                                                         exclude_characters="\x00"), max_size=8)),
                 max_size=5).map("".join)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TYPED, comment=TYPED, reason=TYPED)
def test_arbitrary_text_goes_through_every_command_as_text(env, run, title, comment, reason):
    from pipeline.cli.output import shown

    result = submit_json(env, run, title)
    assert result.code in (0, 1) and "Traceback" not in result.err, result.err
    assert not hidden(result.out + result.err.replace("\t", "")), result
    if result.code == 1:
        assert "item.json:1: title:" in result.err and "nothing was written" in result.err
        return
    item = result.out.split()[0]
    assert flat(shown(title.strip())) in flat(run(["list"], cwd=env.directory).out)
    steps = [([*rejection(item), f"--comment={comment}"], "lisi"), (["show", item], None), (["list"], None),
             (["withdraw", item, f"--reason={reason}"], "zhaoliu"), (["show", item], None)]
    for args, login in steps:
        done = run(args, cwd=env.directory, as_=login)
        assert done.code in (0, 1) and "Traceback" not in done.err, (args, done.err)
        assert not hidden(done.out + done.err), (args, done)
    decision = json.loads(run(["show", item, "--json"], cwd=env.directory).out)["decisions"]
    if decision:  # an empty comment is refused for a rejection; whatever was stored is shown escaped
        assert flat(shown(decision[0]["comment"])) in flat(run(["show", item], cwd=env.directory).out)


def test_a_request_refuses_an_applicant_name_with_a_bidi_override(env, run):
    add = ["request", "add", "--received", "2021-03-01", "--applicant-type", "natural_person"]
    result = run([*add, "--applicant=张\u202e三"], cwd=env.directory, as_="qianqi")
    assert result.code == 1
    assert "applicant: contains a control character U+202E (RIGHT-TO-LEFT OVERRIDE)" in result.err
    assert json.loads(run(["request", "list", "--json"], cwd=env.directory).out) == []


def test_a_ledger_import_refuses_a_title_with_a_zero_width_space(env, run):
    (env.directory / "x.csv").write_text("index_no,title,channel,category,kind,published_on\n"
                                         "002668389/2019-00001,2019年\u200b统计公报,portal,统计数据,statistics,2019-03-01\n",
                                         encoding="utf-8")
    result = run(["ledger", "import", "x.csv"], cwd=env.directory, as_="qianqi")
    assert result.code == 1
    assert "x.csv:2: title: contains a control character U+200B (ZERO WIDTH SPACE)" in result.err


def test_a_bad_date_is_named_with_its_escape_codes_shown(env, run):
    result = run(["request", "list", "--due", "--on", "\x1b[2J2021-13-01"], cwd=env.directory)
    assert result.code == 2
    assert "\x1b" not in result.err and "'\\x1b[2J2021-13-01' is not a date" in result.err


@pytest.mark.parametrize("option", ["--name", "--department"])
def test_a_person_refuses_a_name_or_department_with_a_bidi_override(env, run, option):
    args = ["user", "add", "mallory", "--name", "马丽", "--role", "author", "--no-password"]
    args = [*args, "--department", "综合处"] if option == "--name" else args
    result = run([*args, option, "张\u202e三"], cwd=env.directory, as_="root")
    assert result.code == 1
    assert f"{option[2:]}: contains a control character U+202E (RIGHT-TO-LEFT OVERRIDE)" in result.err
    assert "mallory" not in run(["user", "list"], cwd=env.directory, as_="root").out


def test_a_review_level_name_with_a_zero_width_space_is_refused(env, run):
    result = run(["levels", "set", "处室\u200b审核=section_head", "保密审查=secrecy_officer"], cwd=env.directory,
                 as_="root")
    assert result.code == 1
    assert "level name: contains a control character U+200B (ZERO WIDTH SPACE)" in result.err
