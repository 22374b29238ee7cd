"""Errors a user can act on. The CLI prints them as one clear message each and exits 1."""

from __future__ import annotations

from dataclasses import dataclass


class GongkaiError(Exception):
    """A user error: bad input, a refused action, an unknown id. Exit status 1."""


class ConfigError(GongkaiError):
    """The configuration is invalid; the message names the key."""


class NotFound(GongkaiError):
    """No such item, delivery or agency."""


class WorkflowRefused(GongkaiError):
    """The review workflow refuses this action (self-review, missing role, wrong state …)."""


class Forbidden(GongkaiError):
    """The authenticated person lacks the authority for this action; the message names what is missing."""


class NotAuthenticated(GongkaiError):
    """No valid login: unknown, expired or revoked token, or a disabled person (run gongkai login)."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file, located by file, line and field."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputRejected(GongkaiError):
    """Input files with problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{lines}\n{len(problems)} {noun}; nothing was written")
