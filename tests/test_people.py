"""People, passwords, tokens, roles and review levels in the database (issue 18, items 1 and 2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from helpers import PASSWORD, actor, add_people
from sqlmodel import select

from pipeline.core.clock import utcnow
from pipeline.core.errors import Forbidden, GongkaiError
from pipeline.core.models import AuditEvent, Person, PersonToken, ReviewLevelSet
from pipeline.records import authentication, levels, people
from pipeline.records.authority import require
from pipeline.records.passwords import WeakPassword


@pytest.fixture
def staffed(env):
    env.actors = {login: actor(env, login) for login in ("root", "zhangsan", "lisi")}
    return env


def _log_in(env, login="zhangsan", password=PASSWORD, now=None):
    with env.session() as session:
        return authentication.log_in(session, login=login, password=password, now=now or utcnow(), label="cli",
                                     settings=env.settings)


def _events(env, action):
    with env.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_first_admin_is_created_from_a_shell_then_only_an_admin_adds_people(make_env):
    env = make_env(people=False)
    with env.session() as session:
        with pytest.raises(GongkaiError, match="first user added must hold the role admin"):
            people.add_person(session, actor=None, login="zhangsan", name="张三", agency_code="tjj",
                              roles=["author"], settings=env.settings, now=utcnow())
    add_people(env)
    zhangsan = actor(env, "zhangsan")
    with env.session() as session, pytest.raises(GongkaiError, match="needs an admin: run gongkai login"):
        people.add_person(session, actor=None, login="mallory", name="M", agency_code="tjj", roles=["admin"],
                          settings=env.settings, now=utcnow())
    with env.session() as session, pytest.raises(Forbidden, match="zhangsan does not hold the role admin in tjj"):
        people.add_person(session, actor=zhangsan, login="mallory", name="M", agency_code="tjj",
                          roles=["section_head"], settings=env.settings, now=utcnow())
    with env.session() as session:
        assert session.exec(select(Person).where(Person.login == "mallory")).first() is None
    assert [e.details["login"] for e in _events(env, "user_add")][:2] == ["root", "zhangsan"]


def test_a_login_gives_a_token_whose_hash_alone_is_stored(staffed):
    login = _log_in(staffed)
    assert login.refused is None and login.actor.login == "zhangsan" and login.actor.roles == {"author"}
    with staffed.session() as session:
        [row] = session.exec(select(PersonToken)).all()
        assert row.token_sha256 == authentication.token_digest(login.token) != login.token
        found = authentication.actor_from_token(session, login.token, now=utcnow())
    assert found.login == "zhangsan" and found.name == "张三" and found.agency_code == "tjj"
    assert [e.actor for e in _events(staffed, "login")] == ["zhangsan"]
    with staffed.session() as session:
        password_hash = session.exec(select(Person.password_hash).where(Person.login == "zhangsan")).one()
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash


def test_a_wrong_password_is_refused_and_audited(staffed):
    login = _log_in(staffed, password="not the password at all")
    assert login.actor is None and login.token is None
    assert login.refused == "wrong login or password for zhangsan"
    assert _log_in(staffed, login="nobody").refused == "wrong login or password for nobody"
    assert [e.actor for e in _events(staffed, "login_failed")] == ["zhangsan", "nobody"]
    with staffed.session() as session:
        assert session.exec(select(PersonToken)).all() == []


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(staffed):
    now = utcnow()
    for _ in range(4):
        assert "locked" not in _log_in(staffed, password="wrong password!!", now=now).refused
    assert "locked until" in _log_in(staffed, password="wrong password!!", now=now).refused
    refused = _log_in(staffed, now=now + timedelta(minutes=14)).refused
    assert refused.startswith("user zhangsan is locked until") and "Beijing time" in refused
    assert _log_in(staffed, now=now + timedelta(minutes=16)).refused is None


def test_a_disabled_person_cannot_log_in_and_loses_every_token(staffed):
    token = _log_in(staffed).token
    with staffed.session() as session:
        people.disable_person(session, actor=staffed.actors["root"], login="zhangsan", now=utcnow())
    assert _log_in(staffed).refused == "user zhangsan is disabled; ask an admin"
    with staffed.session() as session:
        assert authentication.actor_from_token(session, token, now=utcnow()) is None
        assert "revoked" in authentication.token_problem(session, token, now=utcnow())


def test_tokens_expire_idle_out_and_are_revoked(staffed):
    now = utcnow()
    token = _log_in(staffed, now=now).token
    with staffed.session() as session:
        assert authentication.actor_from_token(session, token, now=now + timedelta(days=29)) is not None
        assert authentication.actor_from_token(session, token, now=now + timedelta(days=31)) is None
        assert "expired" in authentication.token_problem(session, token, now=now + timedelta(days=31))
        later = now + timedelta(days=29, minutes=31)
        assert authentication.actor_from_token(session, token, now=later, idle_minutes=30) is None
        assert authentication.actor_from_token(session, "gk_made_up", now=now) is None
    with staffed.session() as session:
        assert authentication.revoke_tokens(session, actor=staffed.actors["root"], login="zhangsan", now=now) == 1
    with staffed.session() as session:
        assert authentication.actor_from_token(session, token, now=now) is None
    other = _log_in(staffed, login="lisi").token
    with staffed.session() as session:
        assert authentication.log_out(session, other, now=now)
    with staffed.session() as session:
        assert authentication.actor_from_token(session, other, now=now) is None
        with pytest.raises(Forbidden, match="zhangsan does not hold the role admin in tjj"):
            authentication.revoke_tokens(session, actor=staffed.actors["zhangsan"], login="lisi", now=now)


def test_a_new_password_needs_a_minimum_strength(staffed):
    for weak, why in (("short", "at least 12"), ("aaaaaaaaaaaaaa", "4 different"), ("zhangsan123456", "login")):
        with staffed.session() as session, pytest.raises(WeakPassword, match=why):
            people.set_password(session, actor=staffed.actors["zhangsan"], login="zhangsan", password=weak,
                                settings=staffed.settings, now=utcnow())
    with staffed.session() as session:
        people.set_password(session, actor=staffed.actors["zhangsan"], login="zhangsan",
                            password="another good passphrase", settings=staffed.settings, now=utcnow())
    assert _log_in(staffed, password="another good passphrase").refused is None
    with staffed.session() as session, pytest.raises(Forbidden, match="needed to set the password of lisi"):
        people.set_password(session, actor=staffed.actors["zhangsan"], login="lisi",
                            password="another good passphrase", settings=staffed.settings, now=utcnow())


def test_a_refusal_names_the_missing_role_and_survives_the_rollback(staffed):
    with staffed.session() as session, pytest.raises(Forbidden) as refused:
        session.add(Person(login="ghost", name="G", agency_id=1))
        require(session, staffed.actors["lisi"], "office_director", agency_code="tjj", doing="办公室审发")
    assert str(refused.value) == "lisi does not hold the role office_director in tjj (needed to 办公室审发)"
    [event] = _events(staffed, "refused")
    assert event.actor == "lisi" and event.details["role"] == "office_director"
    with staffed.session() as session:
        assert session.exec(select(Person).where(Person.login == "ghost")).first() is None


def test_an_admin_acts_for_someone_and_is_recorded_as_such(staffed):
    with staffed.session() as session:
        for_lisi = people.acting_for(session, staffed.actors["root"], "lisi")
        assert for_lisi.label == "admin root for lisi" and for_lisi.acting_as.login == "lisi"
        require(session, for_lisi, "section_head", agency_code="tjj", doing="处室审核")
        with pytest.raises(Forbidden, match="lisi does not hold the role office_director"):
            require(session, for_lisi, "office_director", agency_code="tjj", doing="办公室审发")
    refused = r"zhangsan does not hold the role admin in tjj \(needed to act for lisi\)"
    with staffed.session() as session, pytest.raises(Forbidden, match=refused):
        people.acting_for(session, staffed.actors["zhangsan"], "lisi")
    claim = replace(staffed.actors["zhangsan"], on_behalf_of=staffed.actors["lisi"])  # made up, not via acting_for
    with staffed.session() as session, pytest.raises(Forbidden, match=refused):
        require(session, claim, "section_head", agency_code="tjj", doing="处室审核")
    assert [e.actor for e in _events(staffed, "refused")] == ["admin root for lisi", "zhangsan",
                                                              "admin zhangsan for lisi"]


def test_roles_change_only_by_an_admin(staffed):
    with staffed.session() as session:
        held = people.change_roles(session, actor=staffed.actors["root"], login="zhangsan", agency_code="tjj",
                                   add=["legality_reviewer"], remove=[], now=utcnow())
    assert held == {"author", "legality_reviewer"}
    with staffed.session() as session, pytest.raises(Forbidden, match="needed to change the roles of zhangsan"):
        people.change_roles(session, actor=staffed.actors["zhangsan"], login="zhangsan", agency_code="tjj",
                            add=["office_director"], remove=[], now=utcnow())
    with staffed.session() as session, pytest.raises(GongkaiError, match="unknown role boss"):
        people.change_roles(session, actor=staffed.actors["root"], login="zhangsan", agency_code="tjj",
                            add=["boss"], remove=[], now=utcnow())
    assert actor(staffed, "zhangsan").roles == {"author", "legality_reviewer"}


def test_levels_are_versioned_per_agency_and_kind(staffed):
    with staffed.session() as session:
        agency_id = session.exec(select(Person.agency_id)).first()
        default = levels.current_set(session, agency_id=agency_id, kind="normative")
    assert (default.version, default.kind, [lv["name"] for lv in default.levels]) == (
        1, None, ["处室审核", "保密审查", "办公室审发"])
    extra = levels.parse_levels(["处室审核=section_head", "合法性审核=legality_reviewer", "保密审查=secrecy_officer",
                                 "办公室审发=office_director"])
    with staffed.session() as session:
        row = levels.set_levels(session, actor=staffed.actors["root"], agency_code="tjj", kind="normative",
                                levels=extra, now=utcnow())
    assert (row.version, row.kind) == (1, "normative")
    with staffed.session() as session:
        assert levels.current_set(session, agency_id=agency_id, kind="normative").id == row.id
        assert levels.current_set(session, agency_id=agency_id, kind="notice").id == default.id
        shown = levels.show_levels(session, agency_code="tjj")
    assert [(r["kind"], r["version"]) for r in shown] == [(None, 1), ("normative", 1)]
    with staffed.session() as session, pytest.raises(Forbidden, match="needed to change review levels"):
        levels.set_levels(session, actor=staffed.actors["zhangsan"], agency_code="tjj", kind=None,
                          levels=extra[:1], now=utcnow())
    with staffed.session() as session, pytest.raises(GongkaiError, match="cannot pass a review level"):
        levels.set_levels(session, actor=staffed.actors["root"], agency_code="tjj", kind=None,
                          levels=[{"name": "自审", "role": "author"}], now=utcnow())
    with staffed.session() as session:
        assert len(session.exec(select(ReviewLevelSet)).all()) == 2


def test_the_forwarded_identity_seam_is_off_by_default_and_trusts_only_configured_proxies(make_env):
    env = make_env('[auth.forwarded]\nenabled = true\ntrusted = ["10.0.0.0/24"]\nheader = "X-SSL-Client-User"\n')
    headers = {"x-ssl-client-user": "lisi"}
    with env.session() as session:
        seen = authentication.identify_forwarded(session, headers=headers, client_host="10.0.0.7",
                                                 settings=env.settings)
        assert seen.login == "lisi" and seen.via == "console"
        assert authentication.identify_forwarded(session, headers=headers, client_host="10.0.1.7",
                                                 settings=env.settings) is None
        assert authentication.identify_forwarded(session, headers={"x-ssl-client-user": "nobody"},
                                                 client_host="10.0.0.7", settings=env.settings) is None
        env.settings.auth.forwarded.enabled = False
        assert authentication.identify_forwarded(session, headers=headers, client_host="10.0.0.7",
                                                 settings=env.settings) is None
