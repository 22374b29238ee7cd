"""Meta-tests that keep the wiring honest: help for every command, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli.main import app
from pipeline.core.config import describe_settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(run, tmp_path, command):
    result = run([command, "--help"], cwd=tmp_path)
    assert result.code == 0
    assert f"Usage: gongkai {command}" in result.out
    assert f"`gongkai {command}" in README, f"README's command table lacks gongkai {command}"


@pytest.mark.parametrize(("key", "help_text"), list(describe_settings()))
def test_every_setting_has_help_and_is_documented_in_the_readme(key, help_text):
    assert help_text.strip(), f"{key} has no help text"
    kind = re.match(r"\((\w+)\) ", help_text)
    rows = [line for line in README.splitlines() if line.startswith(f"| `{key}` |")]
    assert rows, f"README.md does not document {key}"
    if kind:
        assert any(f"| {kind.group(1)} |" in row for row in rows), f"README.md lacks {key} for {kind.group(1)}"


def test_the_readme_starts_with_the_two_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert "gongkai demo" in blocks[0] and "pip install" in blocks[0]
    assert blocks[1].strip() == "bash .ci/run"
    assert ".venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_registered_channel_has_templates_a_config_and_documented_settings():
    from channels import REGISTRY
    from pipeline.core.render import TEMPLATES, template_names

    for kind, adapter in REGISTRY.items():
        assert adapter.kind == kind and adapter.__module__ == f"channels.{kind}", kind
        parts = template_names(kind, skip=adapter.index_templates)
        assert (TEMPLATES / kind).is_dir() and parts, f"templates/{kind}/ has no per-message template"
        assert set(adapter.required_parts) <= set(parts), f"{kind} needs {adapter.required_parts}"
        assert f"| {kind} |" in README or not set(adapter.Config.model_fields) - {"kind", "enabled", "rate_limit",
                                                                                "timeout"}, kind
