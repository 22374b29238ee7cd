"""The house's layers hold: import-linter's contracts in pyproject.toml pass, fail when a channel reaches for
the database, and no module of the project imports itself back through others (no import cycle)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT, "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree,
                          capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in ("pipeline", "channels"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_layers_contract_holds_on_the_tree_as_it_is(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_channel_that_imports_the_database_breaks_the_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    base = tree / "channels" / "base.py"
    base.write_text(base.read_text(encoding="utf-8") + "\nfrom pipeline.core import db  # noqa\n", encoding="utf-8")
    result = _lint(tree)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "channels.base -> pipeline.core.db" in result.stdout


def test_a_lower_room_that_imports_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    models = tree / "pipeline" / "core" / "models.py"
    models.write_text(models.read_text(encoding="utf-8") + "\nfrom pipeline.engine import claims  # noqa\n",
                      encoding="utf-8")
    result = _lint(tree)
    assert result.returncode == 1 and "pipeline.core.models -> pipeline.engine.claims" in result.stdout


def _cycles(graph: grimp.ImportGraph, roots: tuple[str, ...]) -> list[list[str]]:
    """The import cycles among the modules under `roots`: strongly connected components of more than one
    module (Tarjan's algorithm, iteratively)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in roots)
    inside = set(modules)

    def imported(module: str) -> list[str]:
        return sorted(m for m in graph.find_modules_directly_imported_by(module) if m in inside)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        work = [(root, iter(imported(root)))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(imported(child))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = stack[stack.index(node):]
                del stack[stack.index(node):]
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    graph = grimp.build_graph("pipeline", "channels", cache_dir=None)
    assert len(graph.modules) > 50
    assert _cycles(graph, ("pipeline", "channels")) == []


def test_the_cycle_finder_finds_a_cycle_through_three_modules(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("from loop import c\n")
    (package / "c.py").write_text("from loop import a\n")
    (package / "d.py").write_text("from loop import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("loop", cache_dir=None)
    assert _cycles(graph, ("loop",)) == [["loop.a", "loop.b", "loop.c"]]
