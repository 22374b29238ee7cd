"""Every `--json` output goes through its declared view: one scenario runs each command with --json and finds the
keys of tests/json_views.snapshot.json (the views themselves are in pipeline/cli/json_views.py)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import LEVEL_REVIEWERS, approval

SNAPSHOT = json.loads((Path(__file__).parent / "json_views.snapshot.json").read_text(encoding="utf-8"))
NOTICE = Path(__file__).parent / "notices" / "2027-test.toml"
ITEM = ("---\ntitle: 关于开展统计执法检查的通知\ncategory: 统计数据\nkind: statistics\ncreated_on: 2020-03-01\n---\n"
        "正文。\n")
LEDGER = ("index_no,title,channel,category,kind,published_on\n"
          "002668389/2019-00001,2019年统计公报,portal,统计数据,statistics,2019-03-01\n")


def keys_of(view: str, data: object) -> None:
    """data is one object of the view, or a list of them (each checked); nested views are checked by name."""
    for one in data if isinstance(data, list) else [data]:
        assert isinstance(one, dict) and list(one) == [k for k in SNAPSHOT[view] if k in one], (view, one)
        assert set(one) == set(SNAPSHOT[view]) or view == "LedgerCount", (view, sorted(set(one) ^ set(SNAPSHOT[view])))


def test_every_json_output_has_the_keys_of_its_view(env, run):
    def js(*args: str, as_: str | None = None) -> object:
        result = run([*args, "--json"], cwd=env.directory, as_=as_)
        assert result.code == 0, (args, result.err)
        return json.loads(result.out)

    (env.directory / "a.md").write_text(ITEM, encoding="utf-8")
    (env.directory / "x.csv").write_text(LEDGER, encoding="utf-8")
    [submitted] = js("submit", "a.md", as_="zhangsan")
    keys_of("SubmittedView", submitted)
    item = str(submitted["item_id"])
    for reviewer in LEVEL_REVIEWERS:
        keys_of("ReviewedView", js(*approval(item, reviewer), as_=reviewer))
    keys_of("ItemRow", js("list"))
    shown = js("show", item)
    keys_of("ItemView", shown)
    assert shown["deliveries"] and shown["deliveries"][0]["tries"], "the item was published by the dispatcher"
    keys_of("ItemDeliveryView", shown["deliveries"])
    keys_of("AttemptView", shown["deliveries"][0]["tries"])
    keys_of("DecisionView", shown["decisions"])
    keys_of("RevisionView", shown["revisions"])
    keys_of("DeliveryRow", js("deliveries"))
    keys_of("VerificationView", js("verify", as_="qianqi"))
    checked = js("channels", "check", as_="qianqi")
    keys_of("ChannelCheckView", checked)
    keys_of("ChannelFindingView", checked[0]["findings"])
    keys_of("LedgerCount", js("ledger"))
    keys_of("LedgerCount", js("ledger", "--by", "month"))
    keys_of("TakeDownView", js("withdraw", item, "--reason", "发布有误", as_="zhaoliu"))
    keys_of("ImportedView", js("ledger", "import", "x.csv", as_="qianqi"))

    added = js("request", "add", "--received", "2021-03-01", "--applicant-type", "natural_person", as_="qianqi")
    keys_of("RequestView", added)
    fee = js("request", "fee", str(added["id"]), "--notified", "2021-03-03", "--amount", "200", as_="qianqi")
    keys_of("FeeView", fee["fee"])
    keys_of("EventView", fee["events"])
    keys_of("RequestView", js("request", "list"))
    keys_of("RequestView", js("request", "show", str(added["id"])))
    keys_of("OutcomeRow", js("request", "outcomes"))
    appeal = js("appeal", "add", "--kind", "reconsideration", "--filed", "2021-04-01", as_="qianqi")
    keys_of("AppealView", appeal)
    keys_of("AppealView", js("appeal", "close", str(appeal["id"]), "--result", "upheld", "--on", "2021-05-01",
                             as_="qianqi"))
    keys_of("AppealView", js("appeal", "list"))
    keys_of("FigureView", js("figures", "set", "2021", "press_conferences", "6", as_="qianqi"))
    keys_of("FigureView", js("figures", "list"))
    keys_of("FigureKey", js("figures", "keys"))
    change = js("calendar", "set", "2027", "--file", str(NOTICE), as_="root")
    keys_of("CalendarChangeView", change)
    calendar = js("calendar", "show", "2027")
    keys_of("CalendarView", calendar)
    keys_of("HolidayPeriod", calendar["periods"])
    keys_of("MonitorView", js("monitor"))
    keys_of("AuditVerdict", js("audit", "verify"))
    keys_of("AuditLogLine", js("audit", "log", "--item", item))
    keys_of("PersonView", js("whoami", as_="qianqi"))
    keys_of("PersonView", js("user", "list", as_="root"))
    keys_of("PersonView", js("user", "show", "lisi", as_="root"))
    levels = js("levels", "show", as_="root")
    keys_of("LevelSetView", levels)
    keys_of("LevelView", levels[0]["levels"])

    explained = run(["report", "2021", "--explain", "n.press_conferences", "--format", "json"], cwd=env.directory)
    keys_of("Explanation", json.loads(explained.out))
    checked = run(["report", "2021", "--check", "--format", "json"], cwd=env.directory)
    [findings] = json.loads(checked.out.split("\n}\n")[0] + "\n}").values()
    keys_of("FindingView", findings)
