"""Authority: whether an authenticated person holds a role in an agency, read from the database every time.

`require` is the first thing a domain function does before it changes anything: on refusal it rolls back the
caller's transaction, records the refusal in the audit trail in a transaction of its own (so the refusal is kept
while the action is not), and raises Forbidden naming the missing authority.
"""

from __future__ import annotations

from sqlmodel import Session, select

from pipeline.core.clock import utcnow
from pipeline.core.errors import Forbidden
from pipeline.core.models import Agency, Person, PersonRole, Role
from pipeline.records.actor import Actor
from pipeline.records.audit import record_event


def roles_in(session: Session, *, person_id: int, agency_code: str) -> set[str]:
    """The roles a person holds in an agency, as stored now (never as a token or a form said)."""
    query = (select(PersonRole.role).join(Agency, Agency.id == PersonRole.agency_id)
             .join(Person, Person.id == PersonRole.person_id)
             .where(PersonRole.person_id == person_id, Agency.code == agency_code, Person.active))
    return set(session.exec(query).all())


def require(session: Session, actor: Actor, role: str, *, agency_code: str, doing: str) -> None:
    """Raise Forbidden (audited) unless the person the actor acts as holds `role` in the agency; an admin acting
    for someone must be an admin there as well."""
    details = {"role": str(role), "agency": agency_code, "doing": doing}
    if actor.on_behalf_of is not None and Role.ADMIN not in roles_in(session, person_id=actor.person_id,
                                                                      agency_code=agency_code):
        refuse(session, actor, f"{actor.login} does not hold the role admin in {agency_code} (needed to act for "
                               f"{actor.on_behalf_of.login})", details=details)
    person = actor.acting_as
    if role not in roles_in(session, person_id=person.person_id, agency_code=agency_code):
        refuse(session, actor, f"{person.login} does not hold the role {role} in {agency_code} (needed to {doing})",
               details=details)


def require_at(session: Session, actor: Actor, role: str, *, agency_id: int, doing: str) -> None:
    """require(), for functions that know the agency by its row id."""
    require(session, actor, role, agency_code=session.get(Agency, agency_id).code, doing=doing)


def refuse(session: Session, actor: Actor, message: str, *, action: str = "refused",
           details: dict[str, object] | None = None) -> None:
    """Roll back the caller's work, keep an audit event saying what was refused, and raise Forbidden."""
    session.rollback()
    record_event(session, actor=actor.label, action=action, subject=f"person:{actor.acting_as.person_id}",
                 details={"message": message, **(details or {})}, now=utcnow())
    session.commit()
    raise Forbidden(message)
