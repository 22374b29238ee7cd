"""Configuration: read once from gongkai.toml and GONGKAI_ variables; bad keys fail at start, named."""

from __future__ import annotations

import re

import pytest
from helpers import write_config

from pipeline.core.config import load_settings
from pipeline.core.errors import ConfigError


@pytest.fixture
def config(tmp_path):
    def build(extra: str = "", replace: tuple[str, str] | None = None):
        path = write_config(tmp_path, f"sqlite:///{tmp_path}/g.db", extra)
        if replace:
            path.write_text(path.read_text(encoding="utf-8").replace(*replace), encoding="utf-8")
        return path

    return build


def test_the_example_configuration_is_valid(config):
    settings = load_settings(config())
    assert settings.agency(None)[1].name == "台州市统计局"
    assert settings.agencies["tjj"].users == {}  # people live in the database (gongkai user)


@pytest.mark.parametrize(
    ("extra", "replace", "named"),
    [
        ("", ("[database]", "[database]\nurll = 'x'"), "database.urll: Extra inputs are not permitted"),
        ("", ('max_title_chars = 200', 'max_title_chars = "many"'), "items.max_title_chars"),
        ("", ('max_title_chars = 200', 'max_title_chars = 0'), "items.max_title_chars"),
        ("", ('org_code = "002668389"', 'org_code = "12345"'), "agencies.tjj.org_code"),
        ("", ('default_agency = "tjj"', 'default_agency = "nobody"'), "platform.default_agency"),
        ("", ('channels = ["portal", "disclosure"]', 'channels = ["portal", "weixin"]'),
         "agencies.tjj.channels: no channel section [channels.weixin]"),
        ("[channels.feed]\nkind = 'rss'\n", None, "channels.feed.kind: unknown kind 'rss'"),
        ("[channels.partner]\nkind = 'webhook'\nurl = 'http://127.0.0.1:9/hook'\n", None,
         "channels.partner.secret: Field required (a secret: set GONGKAI_CHANNELS__PARTNER__SECRET"),
        ("[catalogue]\nkinds = ['statistics', 'gossip']\n", None, "catalogue.kinds: unknown kind(s) gossip"),
        ("", ('org_code = "002668389"', 'org_code = "002668389"\nreview_levels = [{ name = "处室审核", role = "x" }]'),
         "agencies.tjj.review_levels: review levels live in the database and are versioned; remove the key and use "
         "gongkai levels set"),
        ("", ("[items]", "[items\n"), "gongkai.toml: "),
    ],
)
def test_a_bad_configuration_fails_at_start_naming_the_key(config, extra, replace, named):
    with pytest.raises(ConfigError) as error:
        load_settings(config(extra, replace))
    assert named in str(error.value)


def test_an_environment_variable_overrides_the_file(config, monkeypatch):
    monkeypatch.setenv("GONGKAI_DATABASE__URL", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("GONGKAI_ITEMS__MAX_TITLE_CHARS", "64")
    settings = load_settings(config())
    assert settings.database.url == "sqlite:////tmp/elsewhere.db"
    assert settings.items.max_title_chars == 64


def test_a_secret_comes_from_the_environment(config, monkeypatch):
    path = config("[channels.partner]\nkind = 'webhook'\nurl = 'http://127.0.0.1:9/hook'\n")
    monkeypatch.setenv("GONGKAI_CHANNELS__PARTNER__SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")
    settings = load_settings(path)
    assert settings.channels["partner"].secret.get_secret_value().startswith("whsec_")
    assert "whsec_" not in repr(settings.channels["partner"])


def test_an_unknown_environment_setting_is_refused_by_name(config, monkeypatch):
    monkeypatch.setenv("GONGKAI_DATABSE__URL", "sqlite://")
    with pytest.raises(ConfigError, match="unknown setting GONGKAI_DATABSE__URL"):
        load_settings(config())
    monkeypatch.delenv("GONGKAI_DATABSE__URL")
    monkeypatch.setenv("GONGKAI_DATABASE__URLL", "sqlite://")
    with pytest.raises(ConfigError, match="database.urll"):
        load_settings(config())


def test_a_disabled_channel_needs_no_secret(config):
    settings = load_settings(config("[channels.partner]\nkind = 'webhook'\nenabled = false\n"))
    assert settings.channels["partner"].enabled is False


def test_the_cli_reports_a_configuration_error_and_exits_1(tmp_path, run):
    (tmp_path / "gongkai.toml").write_text("[database]\nurll = 'x'\n", encoding="utf-8")
    result = run("list", cwd=tmp_path)
    assert result.code == 1
    assert result.err.strip() == "error: gongkai.toml: database.urll: Extra inputs are not permitted"


def test_the_written_configuration_has_a_commented_section_for_every_channel_kind(config, monkeypatch):
    """gongkai init writes the example: uncommented, each section loads once its secrets are in the
    environment, under names the environment can carry."""
    from channels import REGISTRY

    path = config()
    text = path.read_text(encoding="utf-8")
    kinds = {line.split('"')[1] for line in text.splitlines() if line.lstrip("# ").startswith("kind = ")}
    assert kinds == set(REGISTRY)
    head, marker, tail = text.partition("# Every other kind of channel")
    tail = "\n".join(line[2:] if re.match(r"# (\[channels\.|\w+ = )", line) else line for line in tail.splitlines())
    uncommented = head + marker + tail
    path.write_text(uncommented, encoding="utf-8")
    for name, key, value in (("CMS", "APP_PASSWORD", "abcd EFGH 1234 ijkl MNOP 6789"),
                             ("WECHAT", "APP_SECRET", "s3cret"), ("WEIBO", "ACCESS_TOKEN", "t0ken"),
                             ("PARTNER", "SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")):
        monkeypatch.setenv(f"GONGKAI_CHANNELS__{name}__{key}", value)
    settings = load_settings(path)
    assert {c.kind for c in settings.channels.values()} == set(REGISTRY)
    assert settings.channels["cms"].app_password.get_secret_value().startswith("abcd")


@pytest.mark.parametrize("name", ["wechat-main", "WeChat", "wechat__main", "1wechat", "公众号"])
def test_a_channel_name_the_environment_cannot_carry_is_refused(config, name):
    with pytest.raises(ConfigError) as error:
        load_settings(config(f'[channels."{name}"]\nkind = "webhook"\nenabled = false\n'))
    assert "GONGKAI_CHANNELS__WECHAT_MAIN__APP_SECRET" in str(error.value)
