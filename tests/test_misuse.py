"""Misuse gets a clear refusal: a decision without its role, another person's name without the admin role,
secrets in a readable file, a report template reaching for Python internals. (A forged or stale delivery message
publishing nothing is shown in test_delivery.py: test_a_forged_delivery_for_an_unapproved_item_publishes_nothing
and test_a_withdrawn_item_is_never_published_by_a_stale_message.)"""

from __future__ import annotations

import os

import pytest
from helpers import approval, submit, write_config
from report_helpers import beijing, publish
from sqlmodel import select

from pipeline.core.config import load_settings
from pipeline.core.models import AuditEvent, ReviewDecision
from pipeline.records import audit

SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
PARTNER = f"[channels.partner]\nkind = 'webhook'\nurl = 'http://127.0.0.1:9/hook'\nsecret = '{SECRET}'\n"


def trail(env) -> list[tuple[str, str, str]]:
    """The audit trail but the test runner's logins."""
    with env.session() as session:
        return [(e.action, e.actor, e.os_user) for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))
                if e.action != "login"]


@pytest.mark.parametrize(("login", "extra", "message"), [
    ("wangwu", [], "wangwu does not hold the role section_head in tjj (needed to 处室审核)"),
    ("zhangsan", [], "zhangsan does not hold the role section_head in tjj (needed to 处室审核)"),
    ("zhangsan", ["--as", "lisi"], "zhangsan does not hold the role admin in tjj (needed to act for lisi)"),
])
def test_a_decision_without_the_role_or_as_another_person_is_refused_audited_and_changes_nothing(env, run, login,
                                                                                                extra, message):
    item_id = submit(env)
    before = trail(env)
    result = run([*approval(item_id, "lisi"), *extra], as_=login, cwd=env.directory)
    assert result.code == 1 and message in result.err, result.err
    with env.session() as session:
        assert session.exec(select(ReviewDecision)).all() == []
    assert trail(env) == [*before, ("refused", login, before[-1][2])]


def test_the_os_user_is_recorded_beside_the_authenticated_person(env, run, monkeypatch):
    item_id = submit(env)
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "mallory")
    result = run(approval(item_id, "lisi"), as_="lisi", cwd=env.directory)
    assert result.code == 0, result.err
    assert trail(env)[-1] == ("review", "lisi", "mallory")


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_a_secret_in_a_file_others_can_read_is_warned_about(tmp_path, capsys, mode, warned):
    path = write_config(tmp_path, f"sqlite:///{tmp_path}/g.db", PARTNER)
    os.chmod(path, mode)
    settings = load_settings(path)
    assert settings.channels["partner"].secret.get_secret_value() == SECRET  # a warning, not a failure
    err = capsys.readouterr().err
    if warned:
        assert f"holds the secret channels.partner.secret and is readable by group or others (mode {mode:04o})" in err
        assert "GONGKAI_CHANNELS__PARTNER__SECRET" in err and SECRET not in err
    else:
        assert err == ""


def test_a_secret_from_the_environment_needs_no_warning(tmp_path, capsys, monkeypatch):
    path = write_config(tmp_path, f"sqlite:///{tmp_path}/g.db", PARTNER.replace(f"secret = '{SECRET}'\n", ""))
    os.chmod(path, 0o644)
    monkeypatch.setenv("GONGKAI_CHANNELS__PARTNER__SECRET", SECRET)
    load_settings(path)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}",
    "{{ year.__class__.__base__.__subclasses__() }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
])
def test_an_agency_report_template_runs_in_the_sandbox(make_env, run, template):
    env = make_env('\n[agencies.tjj.report]\nnarrative_template = "texts/narrative.txt"\n')
    (env.directory / "texts").mkdir()
    path = env.directory / "texts" / "narrative.txt"
    path.write_text(f"{{{{ year }}}}年。{template}\n", encoding="utf-8")
    publish(env, beijing(2021, 3, 1, 9), kind="notice", category="通知公告")
    result = run(["report", "2021", "--format", "json"], cwd=env.directory)
    assert result.code == 1 and result.out == ""
    assert f"error: {path}: refused by the template sandbox" in result.err and "unsafe" in result.err, result.err
    path.write_text("{{ year }}年，公开{{ channels[0].count }}条。\n", encoding="utf-8")
    result = run(["report", "2021", "--format", "json"], cwd=env.directory)
    assert result.code == 0 and "2021年，公开1条。" in result.out
