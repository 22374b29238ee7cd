"""Configuration: gongkai.toml plus GONGKAI_SECTION__KEY overrides, read and validated once."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels import REGISTRY, ChannelConfig
from pipeline.core.catalogue import DEFAULT_CATEGORIES, KINDS
from pipeline.core.config_file import (  # noqa: F401  (AUDIT_KEY_ENV, config_path: importable from here too)
    AUDIT_KEY_ENV,
    DEFAULT_DATABASE_URL,
    ENV_PREFIX,
    NOT_SETTINGS,
    TOKEN_ENV,
    anchored_database_url,
    config_path,
    pick_agency,
    read_config_file,
)
from pipeline.core.errors import ConfigError

ORG_CODE = re.compile(r"^(?:[0-9A-Z]{9}|[0-9A-Z]{18})$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlatformSettings(Section):
    default_agency: str = Field("", description="Agency code that commands act on when --agency is not given.")


class DatabaseSettings(Section):
    url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///FILE (embedded) or postgresql+psycopg://USER@HOST/DB.",
    )
    busy_timeout_ms: int = Field(5000, ge=0, description="SQLite only: how long a writer waits for a lock.")


class QueueSettings(Section):
    broker_url: str = Field(
        "", description="redis://HOST:PORT/DB for Celery workers; empty runs the in-process dispatcher."
    )
    redis_url: str = Field(
        "", description="Redis for shared rate limits and WeChat tokens (default: broker_url's Redis)."
    )
    lease_seconds: int = Field(
        900, ge=60, description="How long a claimed delivery is held before another worker may take it over; "
        "longer than the slowest channel call (WeChat: uploads, draft, submit and polls)."
    )
    max_attempts: int = Field(8, ge=1, description="Tries before a transient failure becomes a dead letter.")
    retry_base: float = Field(2.0, gt=0, description="First retry delay in seconds; doubles each try, with jitter.")
    retry_cap: float = Field(300.0, gt=0, description="Longest retry delay a worker holds; longer go to the sweep.")
    sweep_interval: float = Field(10.0, gt=0, description="Seconds between sweeps for due or lost deliveries.")
    visibility_timeout: int = Field(
        3600, ge=60, description="Seconds Redis waits before handing an unacknowledged message to another worker."
    )
    sweep_grace: float = Field(60.0, ge=0, description="A due delivery enqueued this recently is not enqueued again.")
    doubt_horizon: float = Field(
        86400.0, ge=0, description="Seconds an outcome may stay unknown (the channel may have the publication), "
        "looked up again by the sweep, before a person is asked to check by hand."
    )
    lookup_base: float = Field(
        30.0, gt=0, description="First wait in seconds before an unknown outcome is looked up again; doubles each "
        "time, with jitter (a channel's daily lookup quota is waited out)."
    )
    lookup_cap: float = Field(3600.0, gt=0, description="Longest wait (seconds) between lookups of an unknown outcome.")
    threads: int = Field(8, ge=1, le=256, description="Deliveries sent at once by one worker or the dispatcher.")
    channel_recheck: float = Field(
        300.0, gt=0, description="Seconds between the engine's checks of a channel paused after a failed check; "
        "its deliveries wait meanwhile."
    )
    batch_size: int = Field(
        8, ge=1, le=100, description="Most deliveries in one message (an approval sends its channels together); "
        "claimed in one transaction and recorded in a later one (each shared with what the worker's other threads "
        "ask meanwhile), sent one after another."
    )

    @model_validator(mode="after")
    def _below_visibility_timeout(self) -> QueueSettings:
        # a message held longer than the visibility timeout (running, or waiting out a countdown) runs twice
        if self.retry_cap * 4 > self.visibility_timeout or self.lease_seconds * 2 > self.visibility_timeout:
            raise ValueError("queue.retry_cap and queue.lease_seconds must stay far below queue.visibility_timeout")
        return self

    @property
    def shared_redis_url(self) -> str:
        return self.redis_url or (self.broker_url if self.broker_url.startswith("redis") else "")


class WebSettings(Section):
    host: str = Field("127.0.0.1", description="Address `gongkai serve` listens on (behind nginx in production).")
    port: int = Field(8000, ge=1, le=65535, description="Port `gongkai serve` listens on.")
    idle_minutes: int = Field(30, ge=1, le=24 * 60, description="A console session ends after this long idle.")
    secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure (set it when the console is served over TLS).")


class ItemSettings(Section):
    max_title_chars: int = Field(200, ge=1, description="Longest title an item file may have.")
    max_body_bytes: int = Field(1_000_000, ge=1, description="Largest body (UTF-8 bytes) an item may have.")
    attachments_dir: Path = Field(
        Path("attachments"), description="Where the images of submitted items are kept (content-addressed)."
    )


class AuditSettings(Section):
    key_file: Path = Field(
        Path("audit.key"), description="File holding the audit trail's HMAC key, readable by the service user only "
        "(mode 0600); gongkai init creates it. GONGKAI_AUDIT_KEY in the environment takes its place (docs/audit.md)."
    )
    anchors_file: Path = Field(
        Path("audit-anchors.txt"), description="Where gongkai audit anchor appends the chain's count and head; "
        "keep copies off this machine (docs/audit.md)."
    )
    _key: SecretStr | None = PrivateAttr(None)  # GONGKAI_AUDIT_KEY, read by load_settings

    @property
    def environment_key(self) -> SecretStr | None:
        return self._key


class CatalogueSettings(Section):
    categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES),
        description="主题分类 an item may be filed under (agencies may narrow it).",
    )
    kinds: list[str] = Field(
        default_factory=lambda: list(KINDS),
        description="第二十条 kinds items may declare; a subset of the built-in kinds.",
    )

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return kinds


class UserSettings(Section):
    name: str = Field("", description="Legacy, imported once by gongkai init: the person's name (姓名).")
    roles: list[str] = Field(default_factory=list, description="Legacy, imported once by gongkai init: the "
                             "person's roles; afterwards gongkai user role.")


class ForwardedIdentity(Section):
    enabled: bool = Field(
        False, description="Trust a login name that an authenticating reverse proxy (数字证书/UKey) puts in a header."
    )
    header: str = Field("X-Remote-User", description="The header holding the login the proxy authenticated.")
    trusted: list[str] = Field(
        default_factory=list, description="Addresses of the proxies whose header is trusted (exact IPs or CIDRs)."
    )


class AuthSettings(Section):
    argon2_time_cost: int = Field(3, ge=1, description="Argon2id passes when a password is hashed.")
    argon2_memory_kib: int = Field(65536, ge=8, description="Argon2id memory in KiB when a password is hashed.")
    argon2_parallelism: int = Field(4, ge=1, description="Argon2id lanes when a password is hashed.")
    token_days: int = Field(30, ge=1, le=366, description="Days a login token (gongkai login) stays valid.")
    forwarded: ForwardedIdentity = Field(
        default_factory=ForwardedIdentity, description="An upstream identity provider in front of the console."
    )


class ReportTexts(Section):
    narrative_template: Path | None = Field(
        None, description="Jinja2 template of section 一 of the annual report (default: the built-in one)."
    )
    overview_file: Path | None = Field(
        None, description="The agency's text of section 一 ({year} is replaced by the report's year); from the "
        "2021 format its five parts, each under a line naming it, e.g. （三）政府信息管理 (docs/report.md)."
    )
    problems_file: Path | None = Field(
        None, description="Text of section 五, 存在的主要问题及改进情况 ({year} is replaced by the report's year)."
    )
    other_file: Path | None = Field(
        None, description="Text of section 六, 其他需要报告的事项 ({year} is replaced by the report's year)."
    )


Window = Annotated[int, Field(gt=0)]
QUIET_KINDS = ("wechat", "weibo")  # 政务新媒体: a rule of DEFAULT_QUIET_DAYS unless one is configured
DEFAULT_QUIET_DAYS = 14  # 国办秘函〔2019〕19号: no update in the two weeks before the check fails it


class MonitorSettings(Section):
    channels: dict[str, Window] = Field(
        default_factory=dict, description="Calendar days a channel may go without a publication, by channel "
        "name; every wechat and weibo channel of the agency has 14 unless given here.")
    categories: dict[str, Window] = Field(
        default_factory=dict, description="Calendar days a 主题分类 may go without a publication (e.g. 政务动态 "
        "= 14); each is also required to be non-empty.")
    nonempty: list[str] = Field(
        default_factory=list, description="主题分类 that must hold at least one live publication (an empty "
        "column fails the check).")
    warn_days: int = Field(3, ge=0, description="A rule with this many days left or fewer is a near-breach.")
    interpretation_days: Window = Field(
        3, description="Working days after its document by which a 政策解读 must be published (同步发布).")
    notify: str = Field("", description="Channel section (kind webhook) the daily check sends breaches to; "
                        "empty: breaches are only recorded.")

    def quiet_days(self, channels: dict[str, ChannelConfig], names: list[str]) -> dict[str, int]:
        """The channel windows in force: the configured ones, and the default for 政务新媒体 channels."""
        defaults = {name: DEFAULT_QUIET_DAYS for name in names
                    if name in channels and channels[name].kind in QUIET_KINDS}
        return {**defaults, **self.channels}


class WebsiteSettings(Section):
    name: str = Field("", description="政府网站工作年度报表: 网站名称 (default: the agency's portal channel title).")
    url: str = Field("", description="政府网站工作年度报表: 首页网址 (default: agencies.<code>.portal_url).")
    type: str = Field("部门网站", description="政府网站工作年度报表: 网站类型 (政府门户网站 or 部门网站).")
    code: str = Field("", description="政府网站工作年度报表: 政府网站标识码.")
    icp: str = Field("", description="政府网站工作年度报表: ICP备案号.")
    psb: str = Field("", description="政府网站工作年度报表: 公安机关备案号.")
    overview_categories: list[str] = Field(
        default_factory=lambda: ["机构信息"], description="主题分类 counted as 概况类信息 in the 政府网站工作年度报表.")
    mobile_other: str = Field("", description="政府网站工作年度报表: 移动新媒体/其他 (e.g. the app's name).")
    innovation_other: str = Field("", description="政府网站工作年度报表: 创新发展/其他.")
    head: str = Field("", description="政府网站工作年度报表: 单位负责人.")
    reviewer: str = Field("", description="政府网站工作年度报表: 审核人.")
    filler: str = Field("", description="政府网站工作年度报表: 填报人.")
    phone: str = Field("", description="政府网站工作年度报表: 联系电话.")


class AgencySettings(Section):
    name: str = Field(description="Full official name, e.g. 台州市统计局.")
    publisher: str = Field("", description="发布机构 printed on records (default: the agency name).")
    org_code: str = Field(description="组织机构代码 (9 characters) or 统一社会信用代码 (18), the 索引号 prefix.")
    channels: list[str] = Field(default_factory=list, description="Channel sections this agency publishes to.")
    portal_url: str = Field(
        "", description="Canonical URL root of items (default: public_url of the agency's portal channel)."
    )
    default_channels: list[str] | None = Field(
        None, description="Channels an item goes to when its file names none (default: all of channels)."
    )
    categories: list[str] | None = Field(None, description="主题分类 this agency uses (default: catalogue's).")
    users: dict[str, UserSettings] = Field(
        default_factory=dict, description="Legacy: imported once into the database by gongkai init, then ignored "
        "(people and roles are managed with gongkai user).")
    report: ReportTexts = Field(default_factory=ReportTexts, description="The agency's texts of the annual report.")
    monitor: MonitorSettings = Field(default_factory=MonitorSettings, description="Freshness rules (gongkai "
                                     "monitor).")
    website: WebsiteSettings = Field(default_factory=WebsiteSettings, description="The agency's website, as the "
                                     "政府网站工作年度报表 names it (gongkai website).")

    @field_validator("org_code")
    @classmethod
    def _org_code(cls, value: str) -> str:
        value = value.replace("-", "").upper()
        if not ORG_CODE.match(value):
            raise ValueError("must be a 9-character 组织机构代码 or an 18-character 统一社会信用代码")
        return value

    @property
    def display_publisher(self) -> str:
        return self.publisher or self.name

    @property
    def item_channels(self) -> list[str]:
        return self.channels if self.default_channels is None else self.default_channels


class Settings(BaseSettings):
    """The whole configuration. Build it with load_settings(), never directly."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    items: ItemSettings = Field(default_factory=ItemSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    agencies: dict[str, AgencySettings] = Field(default_factory=dict, description="Agencies by code.")
    channels: dict[str, ChannelConfig] = Field(default_factory=dict, description="Channels by name.")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # type: ignore[no-untyped-def]
        # the environment overrides the file, which arrives as init arguments
        return (env_settings, init_settings)

    @field_validator("channels", mode="before")
    @classmethod
    def _typed_channels(cls, raw: dict[str, Any]) -> dict[str, ChannelConfig]:
        return {name: _channel_config(name, section) for name, section in (raw or {}).items()}

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        if self.platform.default_agency and self.platform.default_agency not in self.agencies:
            raise ValueError(f"platform.default_agency: no agency '{self.platform.default_agency}' is configured")
        for code, agency in self.agencies.items():
            for key, names in (("channels", agency.channels), ("default_channels", agency.default_channels or [])):
                for name in names:
                    if name not in self.channels:
                        raise ValueError(f"agencies.{code}.{key}: no channel section [channels.{name}]")
            for category in agency.categories or []:
                if category not in self.catalogue.categories:
                    raise ValueError(f"agencies.{code}.categories: '{category}' is not in catalogue.categories")
            self._check_monitor(code, agency)
        return self

    def _check_monitor(self, code: str, agency: AgencySettings) -> None:
        rules, key = agency.monitor, f"agencies.{code}.monitor"
        for name in rules.channels:
            if name not in agency.channels:
                raise ValueError(f"{key}.channels.{name}: '{name}' is not one of agencies.{code}.channels "
                                 f"({', '.join(agency.channels) or 'none'})")
        categories = agency.categories or self.catalogue.categories
        for where, names in (("monitor.categories", list(rules.categories)), ("monitor.nonempty", rules.nonempty),
                             ("website.overview_categories", agency.website.overview_categories)):
            for name in names:
                if name not in categories:
                    raise ValueError(f"agencies.{code}.{where}: unknown 主题分类 '{name}'; known: "
                                     f"{', '.join(categories)}")
        if rules.notify:
            channel = self.channels.get(rules.notify)
            if channel is None or channel.kind != "webhook" or not channel.enabled:
                raise ValueError(f"{key}.notify: '{rules.notify}' is no enabled [channels.{rules.notify}] section of "
                                 "kind webhook")

    def agency(self, code: str | None) -> tuple[str, AgencySettings]:
        """The agency named by --agency, or the default one."""
        code = pick_agency(code, default=self.platform.default_agency, known=list(self.agencies))
        return code, self.agencies[code]


CHANNEL_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")  # what GONGKAI_CHANNELS__NAME__KEY can name


def _channel_config(name: str, section: Any) -> ChannelConfig:
    if not CHANNEL_NAME.fullmatch(name) or len(name) > 64:
        raise ValueError(f"channels.{name}: a channel name is lowercase letters and digits, words joined by single "
                         f"underscores, at most 64 characters (e.g. wechat_main), so that the environment can set "
                         f"its keys as {ENV_PREFIX}CHANNELS__NAME__KEY "
                         f"(e.g. {ENV_PREFIX}CHANNELS__WECHAT_MAIN__APP_SECRET)")
    if not isinstance(section, dict):
        raise ValueError(f"channels.{name}: must be a table")
    kind = section.setdefault("kind", name)
    adapter = REGISTRY.get(kind)
    if adapter is None:
        raise ValueError(f"channels.{name}.kind: unknown kind '{kind}'; known: {', '.join(sorted(REGISTRY))}")
    if section.get("enabled") is False:
        return ChannelConfig(kind=kind, enabled=False)
    try:
        return adapter.Config.model_validate(section)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        hint = ""
        field = adapter.Config.model_fields.get(str(first["loc"][0])) if first["loc"] else None
        if first["type"] == "missing" and field is not None and field.annotation is SecretStr:
            hint = f" (a secret: set {ENV_PREFIX}CHANNELS__{name.upper()}__{key.upper()} in the environment)"
        raise ValueError(f"channels.{name}.{key}: {first['msg']}{hint}") from None


def token_from_environment() -> str | None:
    """The login token a script passes in GONGKAI_TOKEN (pipeline.cli.session), if any."""
    return (os.environ.get(TOKEN_ENV) or "").strip() or None


def user_config_home() -> Path:
    """Where a person's own files live: $XDG_CONFIG_HOME, else ~/.config (gongkai login keeps tokens there)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def load_settings(path: Path | None = None) -> Settings:
    """Read the file and the environment once; raise ConfigError naming the first bad key."""
    path = path or config_path()
    data = read_config_file(path)
    _check_environment()
    _refuse_levels_in_file(path, data)
    try:
        settings = Settings(**data)
    except ValidationError as e:
        raise ConfigError(f"{path}: {_describe(e)}") from None
    _anchor_paths(settings, path.resolve().parent)
    if os.environ.get(AUDIT_KEY_ENV):
        settings.audit._key = SecretStr(os.environ[AUDIT_KEY_ENV])
    if data:
        _warn_readable_secrets(path, data, settings)
    return settings


def _warn_readable_secrets(path: Path, data: dict[str, Any], settings: Settings) -> None:
    """Secrets belong in the environment or in a file only its owner can read: warn, naming key and mode."""
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return
    for name, config in settings.channels.items():
        section = data.get("channels", {}).get(name, {})
        for key, field in type(config).model_fields.items():
            if SecretStr in (field.annotation, *get_args(field.annotation)) and section.get(key):
                print(f"warning: {path} holds the secret channels.{name}.{key} and is readable by group or "
                      f"others (mode {mode:04o}): chmod 600 {path}, or set "
                      f"{ENV_PREFIX}CHANNELS__{name.upper()}__{key.upper()} in the environment", file=sys.stderr)


def _anchor_paths(settings: Settings, base: Path) -> None:
    """Relative paths in the configuration mean: relative to the configuration file."""
    settings.database.url = anchored_database_url(settings.database.url, base)
    if not settings.items.attachments_dir.is_absolute():
        settings.items.attachments_dir = base / settings.items.attachments_dir
    for key in ("key_file", "anchors_file"):
        if not getattr(settings.audit, key).is_absolute():
            setattr(settings.audit, key, base / getattr(settings.audit, key))
    for section in [*settings.channels.values(), *(agency.report for agency in settings.agencies.values())]:
        for key, value in section:
            if isinstance(value, Path) and not value.is_absolute():
                setattr(section, key, base / value)


USER_COMMAND = "gongkai user add/role (an admin, after gongkai login)"
LEVELS_COMMAND = "gongkai levels set (an admin, after gongkai login)"


def _refuse_levels_in_file(path: Path, data: dict[str, Any]) -> None:
    for code, agency in (data.get("agencies") or {}).items():
        if isinstance(agency, dict) and "review_levels" in agency:
            raise ConfigError(f"{path}: agencies.{code}.review_levels: review levels live in the database and are "
                              f"versioned; remove the key and use {LEVELS_COMMAND}")


def _refuse_identity_keys(name: str, value: str) -> None:
    """The environment can neither grant a role nor change a review level, in any spelling."""
    upper = name.upper()
    if not upper.startswith(f"{ENV_PREFIX}AGENCIES"):
        return
    keys = set(upper.lower().split("__")[2:3])
    if len(upper.split("__")) <= 2:  # GONGKAI_AGENCIES or GONGKAI_AGENCIES__CODE as JSON
        keys |= {key.lower() for key in _json_keys(value)}
    if "users" in keys:
        raise ConfigError(f"environment: {name} would grant roles; roles live in the database: use {USER_COMMAND}")
    if "review_levels" in keys:
        raise ConfigError(f"environment: {name} would change review levels; they live in the database: use "
                          f"{LEVELS_COMMAND}")


def _json_keys(value: str) -> Iterator[str]:
    try:
        stack = [json.loads(value)]
    except ValueError:
        return
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield from (str(key) for key in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _check_environment() -> None:
    sections = set(Settings.model_fields)
    for name, value in os.environ.items():
        if not name.upper().startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        _refuse_identity_keys(name, value)
        section = name[len(ENV_PREFIX):].lower().split("__")[0]
        if section not in sections:
            raise ConfigError(f"environment: unknown setting {name} (sections: {', '.join(sorted(sections))})")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if message.startswith(("channels.", "agencies.", "platform.")):
        return message
    return f"{key}: {message}" if key else message


def describe_settings() -> Iterator[tuple[str, str]]:
    """Every setting as (dotted key, help), for the README and its meta-test."""
    yield from _describe_model(Settings, "")
    yield from _describe_model(ChannelConfig, "channels.<name>.")
    for kind, adapter in sorted(REGISTRY.items()):
        for key, help_text in _describe_model(adapter.Config, "channels.<name>."):
            if key.removeprefix("channels.<name>.") not in ChannelConfig.model_fields:
                yield key, f"({kind}) {help_text}"


def _describe_model(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str]]:
    placeholders = {"agencies": "<code>", "users": "<login>", "channels": "<name>"}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = _model_inside(annotation)
        if inner is ChannelConfig:
            continue
        if inner is not None:
            sub = f"{prefix}{name}." + (f"{placeholders[name]}." if name in placeholders else "")
            yield from _describe_model(inner, sub)
        else:
            yield f"{prefix}{name}", info.description or ""


def _model_inside(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_inside(arg)
        if found is not None and getattr(annotation, "__origin__", None) is not list:
            return found
    return None
