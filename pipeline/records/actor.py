"""The authenticated person every domain function receives (pipeline.records.authentication makes one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """An authenticated person. With on_behalf_of, an admin (this person) acts for another (on_behalf_of),
    whose roles count; the audit trail records both."""

    person_id: int
    login: str
    name: str
    agency_code: str
    roles: frozenset[str]
    on_behalf_of: Actor | None = None
    via: str = "cli"

    @property
    def label(self) -> str:
        """What the audit trail and the records show: "zhaoliu", or "admin root for lisi"."""
        return self.login if self.on_behalf_of is None else f"admin {self.login} for {self.on_behalf_of.login}"

    @property
    def acting_as(self) -> Actor:
        """The person whose authority is used and who is recorded as deciding."""
        return self.on_behalf_of or self
