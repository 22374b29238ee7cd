"""The configuration as plain data, before validation: where the file is, its TOML read with errors that name the
line, and what a read-only command needs of it (the database and the agency) read without pydantic.

`gongkai list` and `gongkai show` must start at once (issue 17: within 0.25 s of a bare interpreter), and
validating the whole configuration costs more than that (pydantic-settings, every channel adapter it checks
sections against). They read only `database.url`, `platform.default_agency` and the agency codes, from the file
and from the environment as load_settings() would (GONGKAI_SECTION__KEY, or a section as a JSON object); every
other command validates everything with pipeline.core.config.load_settings().
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError

ENV_PREFIX = "GONGKAI_"
CONFIG_ENV = "GONGKAI_CONFIG"
AUDIT_KEY_ENV = "GONGKAI_AUDIT_KEY"  # the audit key itself: from the environment only, never the file
TOKEN_ENV = "GONGKAI_TOKEN"  # a login token for scripts and tests (pipeline.cli.session); not a setting
NOT_SETTINGS = (CONFIG_ENV, TOKEN_ENV, AUDIT_KEY_ENV)
DEFAULT_DATABASE_URL = "sqlite:///gongkai.db"


def config_path() -> Path:
    """Where the configuration file is: $GONGKAI_CONFIG or ./gongkai.toml."""
    return Path(os.environ.get(CONFIG_ENV) or "gongkai.toml")


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict ({} when there is no file); ConfigError naming the line of a bad byte or key."""
    if not path.exists():
        return {}
    if not path.is_file():
        raise ConfigError(f"{path}: not a file (GONGKAI_CONFIG names the configuration file, not its folder)")
    raw = path.read_bytes()
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None


def sqlite_file(url: str) -> str | None:
    """The file a SQLite URL names, as written in it: sqlite:///gongkai.db names gongkai.db, sqlite:////srv/g.db
    /srv/g.db, sqlite:// "" (a database in memory, as sqlite:///:memory:); None for another database."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0] != "sqlite":
        return None
    return rest.removeprefix("/").partition("?")[0]


def anchored_database_url(url: str, base: Path) -> str:
    """A SQLite URL's relative file made relative to `base` (the configuration file's folder); other URLs as given."""
    database = sqlite_file(url)
    if database in (None, "", ":memory:") or Path(database).is_absolute():
        return url
    scheme = url.partition("://")[0]
    return f"{scheme}:///{base / database}" + url[len(f"{scheme}:///{database}"):]


def pick_agency(code: str | None, *, default: str, known: list[str]) -> str:
    """The agency named by --agency, else the configured default, else the only one configured."""
    code = code or default or (known[0] if len(known) == 1 else "")
    if not code:
        raise ConfigError("no agency given: pass --agency or set platform.default_agency")
    if code not in known:
        raise ConfigError(f"unknown agency '{code}'; configured: {', '.join(known) or 'none (run gongkai init)'}")
    return code


@dataclass(frozen=True)
class ReadTarget:
    """Where a read-only command reads: the database (a SQLite file anchored at the configuration's folder) and the
    agency's code."""

    database_url: str
    agency: str
    busy_timeout_ms: int = 5000  # SQLite: how long a read waits for a lock (database.busy_timeout_ms)


def read_target(agency: str | None) -> ReadTarget:
    """The database and agency of this invocation, from the file and the environment, validating nothing else."""
    path = config_path()
    data = read_config_file(path)
    # whole sections (JSON) first, then single keys: GONGKAI_DATABASE__URL wins over GONGKAI_DATABASE's url, as in
    # pydantic-settings, whatever the order of the environment
    for name, value in sorted(os.environ.items(), key=lambda pair: pair[0].count("__")):
        _apply_environment(data, name, value)
    database, platform = data.get("database") or {}, data.get("platform") or {}
    for section, keys in KNOWN_KEYS.items():  # a misspelt key would read another database: refused, as load_settings
        unknown = [key for key in (data.get(section) or {}) if key not in keys]
        if unknown:
            raise ConfigError(f"{path}: {section}.{unknown[0]}: Extra inputs are not permitted")
    url = database.get("url", DEFAULT_DATABASE_URL)
    default = platform.get("default_agency", "")
    if not isinstance(url, str) or not isinstance(default, str):
        raise ConfigError(f"{path}: database.url and platform.default_agency must be strings")
    try:
        timeout = int(database.get("busy_timeout_ms", 5000))
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: database.busy_timeout_ms: must be a whole number of milliseconds") from None
    code = pick_agency(agency, default=default, known=list(data.get("agencies") or {}))
    return ReadTarget(anchored_database_url(url, path.resolve().parent), code, max(timeout, 0))


READ_SECTIONS = ("database", "platform", "agencies")  # what read_target() reads
# the keys of the two sections it reads whole (tests/test_config.py: the same as DatabaseSettings', PlatformSettings')
KNOWN_KEYS = {"database": ("url", "busy_timeout_ms"), "platform": ("default_agency",)}


def _apply_environment(data: dict[str, Any], name: str, value: str) -> None:
    """GONGKAI_DATABASE__URL=... sets database.url; GONGKAI_DATABASE='{"url": ...}' merges a JSON object into the
    section; names match whatever their case, as pydantic-settings matches them (agency codes are lowercased)."""
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
        return
    keys = upper[len(ENV_PREFIX):].lower().split("__")
    if keys[0] not in READ_SECTIONS:
        return
    leaf = len(keys) >= (3 if keys[0] == "agencies" else 2)
    parsed: Any = value
    if not leaf:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ConfigError(f"environment: {name} must be a JSON object")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"environment: {name} sets a key inside {'.'.join(keys[:-1])}, which is no table")
    if isinstance(parsed, dict) and isinstance(node.get(keys[-1]), dict):
        _merge(node[keys[-1]], parsed)
    else:
        node[keys[-1]] = parsed


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
