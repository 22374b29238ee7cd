"""Logging in: passwords, lockout, personal tokens, and the seam for an upstream identity provider.

A token is shown once, to the person who logged in; the database keeps only its sha256, so a copy of the
database logs nobody in. Every login, failure and lock is in the audit trail.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from pipeline.core.clock import SHANGHAI
from pipeline.core.config import Settings
from pipeline.core.errors import GongkaiError
from pipeline.core.models import Agency, Person, PersonToken, Role
from pipeline.records.audit import record_event
from pipeline.records.authority import require
from pipeline.records.passwords import hash_password, needs_rehash, verify_password
from pipeline.records.people import Actor, actor_for, find_person

MAX_FAILURES = 5
LOCK_MINUTES = 15
LABELS = ("cli", "console")


@dataclass(frozen=True)
class Login:
    actor: Actor | None
    token: str | None
    expires_at: datetime | None
    refused: str | None          # why not, in one clear sentence; None when logged in


# last_used_at is written at most this often: the idle clock is kept to the minute, and a page does not cost
# a write (and its fsync) every time
USE_GRANULARITY = timedelta(seconds=60)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def log_in(session: Session, *, login: str, password: str, now: datetime, label: str, settings: Settings) -> Login:
    """Check a password and issue a personal token; a refusal is returned (and audited), not raised, so that
    the caller commits the failure count and the audit event."""
    if label not in LABELS:
        raise GongkaiError(f"unknown token label '{label}' ({', '.join(LABELS)})")
    auth = settings.auth
    person = session.exec(select(Person).where(Person.login == login).with_for_update()).first()
    if person is not None and person.locked_until is not None and person.locked_until > now:
        return _refused(session, person, login, now, f"user {login} is locked until "
                        f"{person.locked_until.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time) after "
                        f"{MAX_FAILURES} wrong passwords; wait, or ask an admin to set a new password")
    if person is None or not verify_password(person.password_hash, password, auth=auth):
        return _wrong_password(session, person, login, now)
    if not person.active:
        return _refused(session, person, login, now, f"user {login} is disabled; ask an admin")
    if needs_rehash(person.password_hash, auth=auth):
        person.password_hash = hash_password(password, auth=auth)
    person.failed_logins, person.locked_until = 0, None
    session.add(person)
    token = f"gk_{secrets.token_urlsafe(32)}"
    expires = now + timedelta(days=auth.token_days)
    session.add(PersonToken(person_id=person.id, token_sha256=token_digest(token), label=label, created_at=now,
                            expires_at=expires))
    record_event(session, actor=login, action="login", subject=f"person:{person.id}", details={"via": label},
                 now=now)
    return Login(actor_for(session, person, via=label), token, expires, None)


def _wrong_password(session: Session, person: Person | None, login: str, now: datetime) -> Login:
    message = f"wrong login or password for {login}"
    if person is None:
        return _refused(session, None, login, now, message)
    person.failed_logins += 1
    if person.failed_logins >= MAX_FAILURES:
        person.failed_logins, person.locked_until = 0, now + timedelta(minutes=LOCK_MINUTES)
        message += (f"; {MAX_FAILURES} wrong passwords: locked until "
                    f"{person.locked_until.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time)")
    session.add(person)
    return _refused(session, person, login, now, message)


def _refused(session: Session, person: Person | None, login: str, now: datetime, message: str) -> Login:
    subject = f"person:{person.id}" if person is not None else "person:unknown"
    record_event(session, actor=login[:64], action="login_failed", subject=subject, details={"reason": message},
                 now=now)
    return Login(None, None, None, message)


def actor_from_token(session: Session, token: str, *, now: datetime, idle_minutes: int | None = None
                     ) -> Actor | None:
    """The person a token belongs to, or None when it is unknown, expired, revoked, idle longer than
    `idle_minutes`, or its person is disabled. Marks the token used."""
    found = session.exec(select(PersonToken, Person, Agency.code)  # one query: every page asks it
                         .join(Person, Person.id == PersonToken.person_id).join(Agency, Agency.id == Person.agency_id)
                         .where(PersonToken.token_sha256 == token_digest(token))).first()
    if found is None:
        return None
    row, person, agency_code = found
    if row.revoked_at is not None or row.expires_at <= now or not person.active:
        return None
    last = row.last_used_at or row.created_at
    if idle_minutes is not None and now - last > timedelta(minutes=idle_minutes):
        return None
    if row.last_used_at is None or now - row.last_used_at >= USE_GRANULARITY:  # not a write per page
        row.last_used_at = now
        session.add(row)
    return actor_for(session, person, via=row.label, agency_code=agency_code)


def token_problem(session: Session, token: str, *, now: datetime) -> str:
    """Why a token logs nobody in, for the message the user reads."""
    row = session.exec(select(PersonToken).where(PersonToken.token_sha256 == token_digest(token))).first()
    if row is None:
        return "the login token is not known here (logged out, or another database)"
    if row.revoked_at is not None:
        return f"the login token was revoked at {row.revoked_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time)"
    if row.expires_at <= now:
        return f"the login token expired at {row.expires_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time)"
    person = session.get(Person, row.person_id)
    if person is not None and not person.active:
        return f"user {person.login} is disabled"
    return "the login token has been idle too long"


def log_out(session: Session, token: str, *, now: datetime) -> bool:
    """Revoke one token; False when it was not valid anyway."""
    row = session.exec(select(PersonToken).where(PersonToken.token_sha256 == token_digest(token))).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.add(row)
    person = session.get(Person, row.person_id)
    record_event(session, actor=person.login, action="logout", subject=f"person:{person.id}",
                 details={"via": row.label}, now=now)
    return True


def revoke_tokens(session: Session, *, actor: Actor, login: str, now: datetime) -> int:
    """Revoke every valid token of `login`: the person themselves, or an admin of their agency."""
    person = find_person(session, login)
    if actor.on_behalf_of is not None or actor.person_id != person.id:
        require(session, actor, Role.ADMIN, agency_code=session.get(Agency, person.agency_id).code,
                doing=f"revoke the tokens of {login}")
    rows = list(session.exec(select(PersonToken).where(PersonToken.person_id == person.id,
                                                       PersonToken.revoked_at.is_(None),
                                                       PersonToken.expires_at > now)))
    for row in rows:
        row.revoked_at = now
        session.add(row)
    record_event(session, actor=actor.label, action="tokens_revoke", subject=f"person:{person.id}",
                 details={"login": login, "tokens": len(rows)}, now=now)
    return len(rows)


# --- The seam for an upstream identity provider -------------------------------------------------------------
# Many agencies log staff in with a 数字证书/UKey at a reverse proxy in front of the application. When
# auth.forwarded.enabled is set, the console may take the login that proxy authenticated from a header, but only
# from a request whose peer address is one of auth.forwarded.trusted. Off by default; the CLI never uses it.


def identify_forwarded(session: Session, *, headers: Mapping[str, str], client_host: str | None,
                       settings: Settings) -> Actor | None:
    """The person an authenticating reverse proxy names, or None (off, untrusted peer, unknown or disabled)."""
    forwarded = settings.auth.forwarded
    if not forwarded.enabled or not client_host or not _trusted(client_host, forwarded.trusted):
        return None
    wanted = forwarded.header.lower()
    login = next((value for key, value in headers.items() if key.lower() == wanted), "").strip()
    if not login:
        return None
    person = session.exec(select(Person).where(Person.login == login)).first()
    if person is None or not person.active:
        return None
    return actor_for(session, person, via="console")


def _trusted(host: str, trusted: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
