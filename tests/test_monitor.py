"""Freshness rules (gongkai monitor, the daily beat check) on a clock the tests set: quiet channels, empty or stale
主题分类, 政策解读 out of step with their documents, and rules refused at configuration load."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from doubles.server import DoubleServer, Response
from doubles.webhook import WebhookReceiver
from helpers import submit
from report_helpers import beijing, publish, withdraw, write_history
from sqlmodel import select
from test_json_views import SNAPSHOT

from pipeline.core.config import load_settings
from pipeline.core.errors import ConfigError
from pipeline.core.models import AuditEvent
from pipeline.engine.alerts import check_freshness

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
# a WeChat account the agency runs (disabled: these tests only read its history); items go to the sites only
WECHAT = '[channels.wechat]\nkind = "wechat"\nenabled = false\n'
WITH_WECHAT = {"GONGKAI_AGENCIES__TJJ__CHANNELS": '["portal", "disclosure", "wechat"]',
               "GONGKAI_AGENCIES__TJJ__DEFAULT_CHANNELS": '["portal", "disclosure"]'}


@pytest.fixture
def wechat_env(make_env, monkeypatch):
    for name, value in WITH_WECHAT.items():
        monkeypatch.setenv(name, value)
    return make_env(WECHAT)


def monitor(run, env, when, *args: str):
    with time_machine.travel(when, tick=False):
        result = run(["monitor", "--json", *args], cwd=env.directory)
    assert result.code in (0, 3), result.err
    return result.code, json.loads(result.out)


def test_an_account_quiet_13_days_is_near_a_breach_and_15_a_breach(wechat_env, run):
    env = wechat_env
    path = write_history(env.directory / "wechat.csv", [["", "统计开放日", "wechat", "政务动态", "news", "2026-03-02"]])
    assert run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory).code == 0

    code, quiet_13 = monitor(run, env, beijing(2026, 3, 15, 10))
    assert code == 0 and quiet_13["breaches"] == 0
    [near] = quiet_13["findings"]
    assert (near["rule"], near["subject"], near["state"]) == ("channel", "wechat", "near")
    assert (near["window"], near["days_quiet"], near["days_left"], near["last_on"]) == (14, 13, 1, "2026-03-02")
    assert list(quiet_13) == SNAPSHOT["MonitorView"] and list(near) == SNAPSHOT["RuleFindingView"]

    code, quiet_15 = monitor(run, env, beijing(2026, 3, 17, 10))
    assert code == 3 and quiet_15["breaches"] == 1
    [breach] = quiet_15["findings"]
    assert (breach["state"], breach["days_quiet"], breach["days_left"]) == ("breach", 15, -1)

    # a week quiet: nothing to say, exit 0; the table says so too
    code, fresh = monitor(run, env, beijing(2026, 3, 9, 10))
    assert code == 0 and fresh["findings"] == []
    with time_machine.travel(beijing(2026, 3, 17, 10), tick=False):
        table = run(["monitor"], cwd=env.directory)
    assert table.code == 3 and "wechat" in table.out and "15 days without a publication" in table.out


def test_holidays_count_as_calendar_days(wechat_env, run):
    """春节 2026 (15-23 February) is no pause: the inspector's two weeks are calendar weeks."""
    env = wechat_env
    path = write_history(env.directory / "wechat.csv", [["", "春节前", "wechat", "政务动态", "news", "2026-02-13"]])
    assert run(["ledger", "import", str(path)], as_="qianqi", cwd=env.directory).code == 0
    code, after = monitor(run, env, beijing(2026, 2, 28, 10))
    assert code == 3 and after["findings"][0]["days_quiet"] == 15


CATEGORY_RULES = '[agencies.tjj.monitor]\ncategories = { "政务动态" = 14 }\nnonempty = ["通知公告"]\n'


def test_a_category_emptied_by_a_withdrawal_is_a_breach(make_env, run):
    env = make_env(CATEGORY_RULES)
    news = publish(env, beijing(2026, 3, 2, 10), kind="news", category="政务动态")
    notice = publish(env, beijing(2026, 3, 2, 11), kind="notice", category="通知公告", channels=["portal"])
    code, before = monitor(run, env, beijing(2026, 3, 5, 10))
    assert code == 0 and before["findings"] == []

    withdraw(env, news, beijing(2026, 3, 4, 10))
    withdraw(env, notice, beijing(2026, 3, 4, 11))
    code, after = monitor(run, env, beijing(2026, 3, 5, 10))
    assert code == 3
    assert {(f["rule"], f["subject"], f["state"]) for f in after["findings"]} == {
        ("category", "政务动态", "breach"), ("nonempty", "通知公告", "breach")}


def test_a_stale_category_nears_then_breaches_its_window(make_env, run):
    env = make_env(CATEGORY_RULES.replace('nonempty = ["通知公告"]\n', ""))
    publish(env, beijing(2026, 3, 2, 10), kind="news", category="政务动态")
    assert monitor(run, env, beijing(2026, 3, 14, 10))[1]["findings"][0]["days_left"] == 2
    code, late = monitor(run, env, beijing(2026, 3, 20, 10))
    assert code == 3 and late["findings"][0]["days_quiet"] == 18


@pytest.mark.parametrize(("rules", "named"), [
    ("[agencies.tjj.monitor.channels]\nweibo = 14\n", "agencies.tjj.monitor.channels.weibo"),
    ('[agencies.tjj.monitor]\ncategories = { "要闻" = 14 }\n', "agencies.tjj.monitor.categories"),
    ('[agencies.tjj.monitor]\nnonempty = ["要闻"]\n', "agencies.tjj.monitor.nonempty"),
    ("[agencies.tjj.monitor.channels]\nportal = 0\n", "agencies.tjj.monitor.channels.portal"),
    ('[agencies.tjj.monitor]\ncategories = { "政务动态" = -3 }\n', "agencies.tjj.monitor.categories.政务动态"),
    ("[agencies.tjj.monitor]\ninterpretation_days = 0\n", "agencies.tjj.monitor.interpretation_days"),
    ('[agencies.tjj.monitor]\nnotify = "portal"\n', "agencies.tjj.monitor.notify"),
    ('[channels.off]\nkind = "webhook"\nenabled = false\n[agencies.tjj.monitor]\nnotify = "off"\n',
     "agencies.tjj.monitor.notify"),
    ('[agencies.tjj.website]\noverview_categories = ["概况"]\n', "agencies.tjj.website.overview_categories"),
])
def test_bad_rules_are_refused_at_load_naming_the_key(make_env, run, rules, named):
    env = make_env()
    with env.config.open("a", encoding="utf-8") as f:
        f.write("\n" + rules)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_settings(env.config)
    result = run(["monitor"], cwd=env.directory)
    assert result.code == 1 and named in result.err and "Traceback" not in result.err


INTERPRETATION_RULES = "[agencies.tjj.monitor]\ninterpretation_days = 3\n"


def test_interpretations_in_step_with_their_documents(make_env, run):
    env = make_env(INTERPRETATION_RULES)
    alone = publish(env, beijing(2026, 3, 2, 10), kind="normative", category="政策文件", id="doc-alone",
                    title="关于规范统计调查的若干规定")
    late = publish(env, beijing(2026, 3, 2, 11), kind="normative", category="政策文件", id="doc-late",
                    title="统计执法检查办法")
    timely = publish(env, beijing(2026, 3, 2, 12), kind="normative", category="政策文件", id="doc-timely",
                     title="统计数据质量管理办法")
    publish(env, beijing(2026, 3, 4, 10), kind="interpretation", category="政策解读", interprets="doc-timely",
            title="《统计数据质量管理办法》解读")
    publish(env, beijing(2026, 3, 10, 10), kind="interpretation", category="政策解读", interprets="doc-late",
            title="《统计执法检查办法》解读")  # 6 working days after (Mon 2 March -> Tue 10 March)
    code, found = monitor(run, env, beijing(2026, 3, 11, 10))
    assert code == 3
    flagged = {f["subject"]: f for f in found["findings"] if f["rule"] == "interpretation"}
    assert set(flagged) == {f"item {alone} 关于规范统计调查的若干规定", f"item {late} 统计执法检查办法"}
    assert flagged[f"item {late} 统计执法检查办法"]["days_quiet"] == 6
    assert f"item {timely}" not in json.dumps(found, ensure_ascii=False)


def test_an_interpretation_submitted_but_unpublished_is_near_then_breached(make_env, run):
    env = make_env(INTERPRETATION_RULES)
    publish(env, beijing(2026, 3, 2, 10), kind="normative", category="政策文件", id="doc", title="统计执法检查办法")
    submit(env, kind="interpretation", category="政策解读", interprets="doc", title="解读")  # in review
    code, near = monitor(run, env, beijing(2026, 3, 4, 10))
    assert code == 0 and near["findings"][0]["state"] == "near" and near["findings"][0]["days_left"] == 1
    code, breached = monitor(run, env, beijing(2026, 3, 9, 10))
    assert code == 3 and "still unpublished" in breached["findings"][0]["detail"]


@pytest.fixture
def receiver():
    server = DoubleServer(lambda request: Response(500), hang_seconds=1.0).start()
    yield WebhookReceiver(secrets=[SECRET], server=server)
    server.stop()


def test_the_daily_check_records_breaches_and_sends_them_once_a_day(make_env, receiver):
    env = make_env(f'[channels.alerts]\nkind = "webhook"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
                   + CATEGORY_RULES.replace("nonempty", 'notify = "alerts"\nnonempty'))
    publish(env, beijing(2026, 3, 2, 10), kind="news", category="政务动态")
    publish(env, beijing(2026, 3, 2, 11), kind="notice", category="通知公告")
    quiet = check_freshness(env.settings, env.engine, now=beijing(2026, 3, 6, 8, 30))
    assert [(c.breaches, c.notified) for c in quiet] == [(0, "")] and receiver.accepted == []

    day = beijing(2026, 3, 20, 8, 30)
    [checked] = check_freshness(env.settings, env.engine, now=day)
    [again] = check_freshness(env.settings, env.engine, now=day + timedelta(hours=2))  # a beat restarted
    assert checked.breaches == again.breaches == 1 and checked.notified.startswith("sent")
    [event] = receiver.accepted  # the receiver dedupes the day's second sending by its webhook-id
    assert event["type"] == "monitor.breaches" and event["data"]["date"] == "2026-03-20"
    assert [(b["rule"], b["subject"]) for b in event["data"]["breaches"]] == [("category", "政务动态")]
    with env.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "monitor")).all()
    assert [e.details["breaches"][:1] for e in events][-1][0]["subject"] == "政务动态"
    assert len(events) == 3
