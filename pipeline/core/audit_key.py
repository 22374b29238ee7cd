"""The audit trail's HMAC key, held outside the database: GONGKAI_AUDIT_KEY, or audit.key_file readable by its
owner only. An engine carries the key (keyed_engine) so that every session on it can append to the chain and
verify it; a missing, unreadable or too-open key stops a command before it opens the database (docs/audit.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import sqlalchemy as sa

from pipeline.core.config import AUDIT_KEY_ENV, AuditSettings, Settings
from pipeline.core.db import make_engine
from pipeline.core.errors import ConfigError

MIN_CHARS = 32  # gongkai init writes 64 hex digits (256 bits)
_OPTION = "gongkai_audit_key"


class AuditKeyError(ConfigError):
    """No usable audit key: the message names the file or variable and what to do."""


def load_audit_key(settings: AuditSettings) -> bytes:
    """The key from the environment, else from the key file (which must exist and be closed to group and others)."""
    if settings.environment_key is not None:
        return _checked(settings.environment_key.get_secret_value().strip(), AUDIT_KEY_ENV)
    path = settings.key_file
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyError(f"audit key: {path} is open to group or others (mode {mode:04o}); it must be "
                                f"readable by the service user only: chmod 600 {path}")
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise AuditKeyError(f"audit key: {path} does not exist; `gongkai init` creates it (or set "
                            f"{AUDIT_KEY_ENV}); see docs/audit.md") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not UTF-8 text"
        raise AuditKeyError(f"audit key: cannot read {path} ({reason})") from None
    return _checked(text, str(path))


def _checked(text: str, where: str) -> bytes:
    if len(text) < MIN_CHARS:
        raise AuditKeyError(f"audit key: {where} holds {len(text)} characters; at least {MIN_CHARS} are needed "
                            "(gongkai init writes 64 random hex digits)")
    return text.encode("utf-8")


def create_key_file(path: Path) -> bool:
    """Write a new random key, mode 0600, unless the file exists; whether it wrote one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as e:
        raise AuditKeyError(f"audit key: cannot create {path} ({e.strerror}); set {AUDIT_KEY_ENV} instead, or "
                            "point audit.key_file to a writable place") from None
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(32) + "\n")
    return True


def use_audit_key(engine: sa.Engine, key: bytes) -> sa.Engine:
    """Let every session on `engine` append to and verify the chain with `key`."""
    engine.update_execution_options(**{_OPTION: key})
    return engine


def audit_key_of(bind: sa.Engine | sa.Connection) -> bytes | None:
    return bind.get_execution_options().get(_OPTION)


def keyed_engine(settings: Settings) -> sa.Engine:
    """The configured database's engine, carrying the audit key; the key is loaded first, so that a bad key
    stops the command before anything is written."""
    key = load_audit_key(settings.audit)
    return use_audit_key(make_engine(settings.database), key)
