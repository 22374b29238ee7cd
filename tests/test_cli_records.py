"""Every subcommand of the ledger, register, figures and report commands has --help."""

from __future__ import annotations

import pytest

from pipeline.cli.main import app

GROUPS = {group.name: group.typer_instance for group in app.registered_groups}
SUBCOMMANDS = sorted((name, command.name or command.callback.__name__)
                     for name, group in GROUPS.items() if name in ("ledger", "request", "appeal", "figures")
                     for command in group.registered_commands)


def test_the_groups_are_registered():
    assert {"ledger", "request", "appeal", "figures"} <= set(GROUPS)
    assert "report" in {c.name or c.callback.__name__ for c in app.registered_commands}
    assert ("request", "add") in SUBCOMMANDS and ("ledger", "import") in SUBCOMMANDS


@pytest.mark.parametrize(("group", "command"), SUBCOMMANDS)
def test_every_subcommand_has_help(run, tmp_path, group, command):
    result = run([group, command, "--help"], cwd=tmp_path)
    assert result.code == 0
    assert f"Usage: gongkai {group} {command}" in result.out


@pytest.mark.parametrize("group", ["ledger", "request", "appeal", "figures", "report"])
def test_every_group_has_help(run, tmp_path, group):
    result = run([group, "--help"], cwd=tmp_path)
    assert result.code == 0 and f"Usage: gongkai {group}" in result.out
