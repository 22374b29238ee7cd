"""The command line starts at once: the entry point imports no heavy library before a command needs it.

Each check runs in a fresh interpreter (this test process has imported everything already) and reads its
sys.modules after the command ran; bench/cli_start.py measures the time itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import approve_fully, submit

HEAVY = ("alembic", "celery", "docx", "playwright")  # issue 17 item 4
ALSO_NOT_FOR_HELP = ("sqlalchemy", "sqlmodel", "pydantic_settings", "channels", "requests", "redis", "kombu",
                     "markdown_it")

PROBE = """
import json, sys
sys.argv = ["gongkai", *json.loads(sys.argv[1])]
from pipeline.cli.main import main
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if "." not in m)}), file=sys.stderr)
"""


def imported_by(args: list[str], cwd) -> tuple[int, set[str]]:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["user", "--help"], ["audit", "--help"]])
def test_help_imports_no_database_queue_document_or_browser_library(tmp_path, args):
    code, modules = imported_by(args, tmp_path)
    assert code == 0
    assert not modules & {*HEAVY, *ALSO_NOT_FOR_HELP}, sorted(modules & {*HEAVY, *ALSO_NOT_FOR_HELP})


# list and show read through a plain DB-API connection: no ORM, no settings validation, no channel adapter
NOT_FOR_READING = (*HEAVY, "sqlalchemy", "sqlmodel", "pydantic_settings", "channels", "requests", "redis", "kombu")


def test_list_and_show_read_the_database_without_sqlalchemy_or_the_settings_models(env):
    item = submit(env)
    approve_fully(env, item)
    for args in (["list"], ["show", str(item)], ["show", str(item), "--json"], ["list", "--status", "approved"]):
        code, modules = imported_by(args, env.directory)
        assert code == 0, args
        assert "sqlite3" in modules, "the probe did not reach the database"
        assert not modules & set(NOT_FOR_READING), (args, sorted(modules & set(NOT_FOR_READING)))
