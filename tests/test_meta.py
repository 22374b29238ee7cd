"""Meta-tests that keep the wiring honest: help for every command, every setting documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from pipeline.cli.main import app
from pipeline.core.config import describe_settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Every command and subcommand of the app as Typer builds it (a group has .commands): (path, whether it runs
    by itself)."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), not hasattr(sub, "commands") or bool(sub.invoke_without_command)
        yield from command_paths(sub, (*path, name))


COMMANDS = sorted(command_paths(typer.main.get_command(app)))
RUNNABLE = [path for path, runs in COMMANDS if runs]
# Commands the README's command table does not list yet: the lead adds their rows to README.md and empties this.
EXPECTED_MISSING_FROM_README: set[str] = set()


def documented(path: tuple[str, ...]) -> bool:
    """A row of the README's command table names `gongkai PATH`, also as `gongkai GROUP a/PATH/b` shorthand."""
    *group, last = path
    prefix = re.escape(" ".join(("gongkai", *group)))
    pattern = re.compile(rf"`{prefix} (?:[\w-]+/)*{re.escape(last)}(?:/[\w-]+)*(?=[\s`])")
    return any(pattern.search(line) for line in README.splitlines() if line.startswith("| `gongkai"))


def test_the_walk_finds_the_commands_and_subcommands():
    assert {("list",), ("request", "add"), ("ledger", "import"), ("audit", "verify"), ("calendar", "show"),
            ("whoami",), ("user", "add"), ("levels", "show")} <= set(RUNNABLE)
    assert ("ledger",) in RUNNABLE and ("request",) not in RUNNABLE  # `ledger` counts by itself; `request` is a group
    assert documented(("figures", "keys")) and documented(("request", "show"))  # `figures unset/list/keys`; 2nd cell
    assert documented(("audit", "log")) and documented(("user", "add"))
    assert not documented(("audit", "rewrite")) and not documented(("request", "ad"))


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_every_command_and_subcommand_has_help(run, tmp_path, path):
    result = run([*path, "--help"], cwd=tmp_path)
    assert result.code == 0, result.err
    assert f"Usage: gongkai {' '.join(path)}" in result.out


def test_every_command_has_a_row_in_the_readme_command_table():
    missing = {" ".join(path) for path in RUNNABLE if not documented(path)}
    assert missing == EXPECTED_MISSING_FROM_README, (
        f"README's command table lacks: {sorted(missing - EXPECTED_MISSING_FROM_README)}; "
        f"has rows now for: {sorted(EXPECTED_MISSING_FROM_README - missing)} (take them out of the expected set)")


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


def test_the_keys_of_every_json_view_match_the_snapshot():
    """`--json` output is a contract with scripts: adding, renaming or removing a key is a decision, made by
    changing tests/json_views.snapshot.json with the view (pipeline/cli/json_views.py)."""
    from pipeline.cli import json_views

    views = {name: list(model.model_fields) for name, model in vars(json_views).items()
             if isinstance(model, type) and issubclass(model, json_views.View) and model is not json_views.View}
    snapshot = json.loads((ROOT / "tests" / "json_views.snapshot.json").read_text(encoding="utf-8"))
    assert views == snapshot


FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens,
    a repeated one numbered -1, -2 …"""
    anchors: set[str] = set()
    for title in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def broken_links(path: Path) -> list[str]:
    """Relative links of a Markdown file (outside code) whose file, or heading anchor, does not exist."""
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(CODE_SPAN.sub("", FENCE.sub("", text))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto: …
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(target)
    return broken


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Unknown outcomes (`retry`)\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md) [ok](docs/a.md#unknown-outcomes-retry) [web](https://x.example/y.md)\n"
                    "[gone](docs/b.md) [no anchor](docs/a.md#doubt) `[code](c.md)`\n"
                    "```markdown\n![chart](chart.png)\n```\n", encoding="utf-8")
    assert broken_links(page) == ["docs/b.md", "docs/a.md#doubt"]


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_of_the_readme_and_docs_resolves(path):
    assert broken_links(path) == [], f"{path.relative_to(ROOT)} links to what does not exist"
