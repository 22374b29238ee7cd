"""Who runs a command: the personal token of `gongkai login`, kept in a file only its owner can read (one per
database), or GONGKAI_TOKEN for scripts; and `--as LOGIN`, an admin acting for someone."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import GongkaiError, NotAuthenticated

if TYPE_CHECKING:
    from sqlmodel import Session

    from pipeline.records.people import Actor


def token_path(database_url: str) -> Path:
    """$XDG_CONFIG_HOME/gongkai/tokens/<digest of the database URL>: one login per database."""
    from pipeline.core.config import user_config_home  # settings (pydantic) only when a command runs

    base = user_config_home()
    digest = hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:16]
    return base / "gongkai" / "tokens" / digest


def store_token(path: Path, token: str) -> None:
    """Write the token readable by its owner only (0600, in a 0700 directory), replacing any earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)


def read_token(path: Path) -> str | None:
    """The token of GONGKAI_TOKEN, else of the file; a file others can read is refused, not used."""
    from pipeline.core.config import token_from_environment  # settings (pydantic) only when a command runs

    from_environment = token_from_environment()
    if from_environment is not None:
        return from_environment
    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise GongkaiError(f"{path} is readable by others (mode {mode:04o}): run gongkai logout and log in again")
    return path.read_text(encoding="utf-8").strip() or None


def signed_in(session: Session, database_url: str, act_for: str | None = None) -> Actor:
    """The authenticated person (an admin acting for `act_for` with --as), or NotAuthenticated saying why."""
    from pipeline.core.clock import utcnow
    from pipeline.records.authentication import actor_from_token, token_problem
    from pipeline.records.people import acting_for

    token = read_token(token_path(database_url))
    if token is None:
        raise NotAuthenticated("not logged in: run gongkai login (scripts: set GONGKAI_TOKEN)")
    actor = actor_from_token(session, token, now=utcnow())
    if actor is None:
        raise NotAuthenticated(f"{token_problem(session, token, now=utcnow())}: run gongkai login")
    return actor if act_for is None or act_for == actor.login else acting_for(session, actor, act_for)
