"""`gongkai demo` from a fresh install, offline: a new virtual environment, no network, no Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with gongkai installed the way the README says (with its dependencies)."""
    venv = tmp_path_factory.mktemp("fresh-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return venv


@pytest.mark.timeout(900)
def test_gongkai_demo_runs_offline_in_a_fresh_venv_without_redis(fresh_venv: Path, tmp_path: Path):
    workspace = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    # a new network namespace: not even loopback is up, so no Redis (and no PyPI) can be reached
    done = subprocess.run(["unshare", "--net", str(fresh_venv / "bin" / "gongkai"), "demo", "--workspace",
                           str(workspace)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    published, total = map(int, re.search(r"(\d+) of (\d+) deliveries published", done.stdout).groups())
    assert published == total > 0
    assert "ledger (one entry per confirmed publication)" in done.stdout
    ledger = done.stdout.split("ledger (one entry per confirmed publication)")[1]
    assert len(re.findall(r"^\s*\d+\s+\d{9}/\d{4}-\d{5}\s", ledger, re.M)) == published
    for site in ("portal", "disclosure"):
        assert (workspace / "site" / site / "index.html").is_file()
    assert list((workspace / "site" / "portal").glob("art/*/art_*.html"))
