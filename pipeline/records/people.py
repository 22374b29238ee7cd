"""People who log in, and the roles they hold per agency; `Actor` is an authenticated person as every domain
function receives it. Administration (add, roles, disable, password) needs the admin role, checked here."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from pipeline.core.agencies import agency_row
from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError, NotFound
from pipeline.core.models import Agency, Person, PersonRole, PersonToken, Role
from pipeline.core.text import hidden_problem
from pipeline.records.actor import Actor
from pipeline.records.audit import record_event
from pipeline.records.authority import require, roles_in
from pipeline.records.passwords import check_strength, hash_password

LOGIN = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def find_person(session: Session, login: str) -> Person:
    person = session.exec(select(Person).where(Person.login == login)).first()
    if person is None:
        raise NotFound(f"no user '{login}' (see gongkai user list)")
    return person


def actor_for(session: Session, person: Person, *, via: str = "cli", agency_code: str | None = None) -> Actor:
    """The Actor of a stored person, with the roles held in the person's own agency (`agency_code`: that
    agency's code, when the caller read it with the person)."""
    code = agency_code or session.get(Agency, person.agency_id).code
    roles = session.exec(select(PersonRole.role).where(PersonRole.person_id == person.id,
                                                       PersonRole.agency_id == person.agency_id)).all()
    return Actor(person.id, person.login, person.name, code, frozenset(roles), via=via)


def acting_for(session: Session, admin: Actor, login: str) -> Actor:
    """`--as LOGIN`: an admin of the other person's agency acting for them (checked here, audited when refused,
    and again by every require() where the result is used)."""
    require(session, admin, Role.ADMIN, agency_code=admin.agency_code, doing=f"act for {login}")
    other = find_person(session, login)
    if agency_row_code(session, other) != admin.agency_code:
        require(session, admin, Role.ADMIN, agency_code=agency_row_code(session, other), doing=f"act for {login}")
    if not other.active:
        raise GongkaiError(f"user {login} is disabled")
    return Actor(admin.person_id, admin.login, admin.name, admin.agency_code, admin.roles,
                 on_behalf_of=actor_for(session, other, via=admin.via), via=admin.via)


def parse_roles(names: list[str]) -> list[Role]:
    known = {r.value for r in Role}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise GongkaiError(f"unknown role {', '.join(unknown)}; roles: {', '.join(sorted(known))}")
    return [Role(n) for n in names]


def admin_exists(session: Session, agency_code: str | None = None) -> bool:
    """Whether an active person holds the admin role (in `agency_code`, or anywhere)."""
    query = (select(PersonRole.id).join(Person, Person.id == PersonRole.person_id)
             .where(PersonRole.role == Role.ADMIN, Person.active))
    if agency_code is not None:
        query = query.join(Agency, Agency.id == PersonRole.agency_id).where(Agency.code == agency_code)
    return session.exec(query).first() is not None


def _require_admin(session: Session, actor: Actor | None, agency_code: str, doing: str) -> str:
    """The label recorded. Without an actor: only while nobody is an admin (the first admin, from a shell). An
    agency added later, with no admin yet, is set up by an admin of another agency."""
    if actor is None:
        if admin_exists(session):
            raise GongkaiError(f"{doing} needs an admin: run gongkai login first")
        return "bootstrap"
    if not admin_exists(session, agency_code) and actor.on_behalf_of is None and Role.ADMIN in roles_in(
            session, person_id=actor.person_id, agency_code=actor.agency_code):
        return actor.label
    require(session, actor, Role.ADMIN, agency_code=agency_code, doing=doing)
    return actor.label


def add_person(session: Session, *, actor: Actor | None, login: str, name: str, agency_code: str,
               settings: Settings, now: datetime, department: str = "", roles: list[str] | None = None,
               password: str | None = None) -> Person:
    """A new person with roles in their agency. Without an actor: only the first admin, while none exists."""
    roles = [str(r) for r in parse_roles(roles or [])]
    by = _require_admin(session, actor, agency_code, f"add user {login}")
    if actor is None and Role.ADMIN not in roles:
        raise GongkaiError("no admin exists yet: the first user added must hold the role admin (--role admin)")
    if not LOGIN.match(login):
        raise GongkaiError(f"login '{login}': lowercase letters, digits, '.', '_' or '-', starting with a letter")
    if not name.strip():
        raise GongkaiError("a user needs a name (姓名): --name TEXT")
    for field, text in (("name", name), ("department", department)):
        if message := hidden_problem(text.strip()):
            raise GongkaiError(f"{field}: {message}")
    if session.exec(select(Person.id).where(Person.login == login)).first() is not None:
        raise GongkaiError(f"user {login} exists already (gongkai user show {login})")
    if password is not None:
        check_strength(password, login=login)
    agency = agency_row(session, agency_code)
    person = Person(login=login, name=name.strip(), department=department.strip(), agency_id=agency.id,
                    password_hash=hash_password(password, auth=settings.auth) if password is not None else None,
                    created_at=now)
    session.add(person)
    session.flush()
    session.add_all([PersonRole(person_id=person.id, agency_id=agency.id, role=r) for r in roles])
    record_event(session, actor=by, action="user_add", subject=f"person:{person.id}",
                 details={"login": login, "name": person.name, "department": person.department,
                          "agency": agency_code, "roles": roles, "password": password is not None}, now=now)
    return person


def change_roles(session: Session, *, actor: Actor, login: str, agency_code: str, add: list[str],
                 remove: list[str], now: datetime) -> set[str]:
    """Grant and take away roles in one agency; returns the roles held afterwards."""
    grant, take = parse_roles(add), parse_roles(remove)
    by = _require_admin(session, actor, agency_code, f"change the roles of {login}")
    person = find_person(session, login)
    agency = agency_row(session, agency_code)
    rows = {r.role: r for r in session.exec(select(PersonRole).where(PersonRole.person_id == person.id,
                                                                     PersonRole.agency_id == agency.id))}
    if person.id == actor.acting_as.person_id and Role.ADMIN in take:
        raise GongkaiError("an admin cannot take the admin role from themselves (ask another admin)")
    for role in grant:
        if role not in rows:
            rows[role] = PersonRole(person_id=person.id, agency_id=agency.id, role=role)
            session.add(rows[role])
    for role in take:
        if role in rows:
            session.delete(rows.pop(role))
    session.flush()
    record_event(session, actor=by, action="user_roles", subject=f"person:{person.id}",
                 details={"login": login, "agency": agency_code, "added": [str(r) for r in grant],
                          "removed": [str(r) for r in take], "roles": sorted(rows)}, now=now)
    return set(rows)


def disable_person(session: Session, *, actor: Actor, login: str, now: datetime) -> Person:
    """A disabled person cannot log in, and every token of theirs is revoked."""
    person = find_person(session, login)
    by = _require_admin(session, actor, agency_row_code(session, person), f"disable user {login}")
    if person.id == actor.acting_as.person_id:
        raise GongkaiError("an admin cannot disable themselves (ask another admin)")
    person.active = False
    session.add(person)
    for token in session.exec(select(PersonToken).where(PersonToken.person_id == person.id,
                                                        PersonToken.revoked_at.is_(None))):
        token.revoked_at = now
        session.add(token)
    record_event(session, actor=by, action="user_disable", subject=f"person:{person.id}", details={"login": login},
                 now=now)
    return person


def set_password(session: Session, *, actor: Actor | None, login: str, password: str, settings: Settings,
                 now: datetime) -> None:
    """A person changes their own password, or an admin sets anyone's; the lock and failure count are reset."""
    person = find_person(session, login)
    if actor is not None and actor.on_behalf_of is None and actor.person_id == person.id:
        by = actor.label
    else:
        by = _require_admin(session, actor, agency_row_code(session, person), f"set the password of {login}")
    check_strength(password, login=login)
    person.password_hash = hash_password(password, auth=settings.auth)
    person.failed_logins, person.locked_until = 0, None
    session.add(person)
    record_event(session, actor=by, action="user_passwd", subject=f"person:{person.id}", details={"login": login},
                 now=now)


def agency_row_code(session: Session, person: Person) -> str:
    return session.get(Agency, person.agency_id).code


def show_person(session: Session, *, login: str) -> dict[str, Any]:
    """One person as person_view shows them (gongkai whoami, gongkai user show)."""
    return person_view(session, find_person(session, login))


def person_view(session: Session, person: Person) -> dict[str, Any]:
    roles: dict[str, list[str]] = {}
    query = (select(Agency.code, PersonRole.role).join(Agency, Agency.id == PersonRole.agency_id)
             .where(PersonRole.person_id == person.id).order_by(Agency.code, PersonRole.role))
    for code, role in session.exec(query):
        roles.setdefault(code, []).append(role)
    return {"login": person.login, "name": person.name, "department": person.department,
            "agency": agency_row_code(session, person), "roles": roles, "active": person.active,
            "can_log_in": person.password_hash is not None,
            "locked_until": person.locked_until.isoformat() if person.locked_until else None,
            "created_at": person.created_at.isoformat()}


def list_people(session: Session, *, agency_code: str | None = None) -> list[dict[str, Any]]:
    query = select(Person).order_by(Person.login)
    if agency_code is not None:
        query = query.where(Person.agency_id == agency_row(session, agency_code).id)
    return [person_view(session, p) for p in session.exec(query)]


def import_users(session: Session, *, settings: Settings, now: datetime) -> list[str]:
    """`gongkai init`: the [agencies.X.users] of an older configuration, once, into a database that has nobody
    yet (afterwards the sections are ignored). They have no password until an admin sets one (user passwd)."""
    done: list[str] = []
    if session.exec(select(Person.id)).first() is not None:
        return done
    for code, agency in settings.agencies.items():
        agency_id = agency_row(session, code).id
        for login, user in agency.users.items():
            if login in done:
                continue  # the same login in two agencies: its first agency is its own
            roles = [str(r) for r in parse_roles(user.roles)]
            person = Person(login=login, name=user.name or login, agency_id=agency_id, created_at=now)
            session.add(person)
            session.flush()
            session.add_all([PersonRole(person_id=person.id, agency_id=agency_id, role=r) for r in roles])
            record_event(session, actor="system", action="user_import", subject=f"person:{person.id}",
                         details={"login": login, "agency": code, "roles": roles}, now=now)
            done.append(login)
    return done
