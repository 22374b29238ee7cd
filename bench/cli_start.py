"""How long `gongkai --help`, `gongkai list` and `gongkai show ID` take, against a bare `python -c pass`.

A fresh workspace (the example configuration, SQLite, its people added with gongkai user add) holds the
sample items, one of them approved and published by the in-process dispatcher; each command then runs as an
operator runs it, a new process from the installed entry point, and so does the baseline, with the same
interpreter. The runs are interleaved (baseline,
help, list, show; 20 rounds) so that the machine's load falls on all alike. Wall time and the CPU time of the
process (user + system) are reported as medians; the target is a median wall time at most 0.25 s above the
baseline's.

    python bench/cli_start.py                          # 20 rounds
    python bench/cli_start.py --before /work/main      # and the same commands on another checkout's code
    python bench/cli_start.py --smoke                  # CI: 3 rounds

With --before DIR the commands also run with DIR first on PYTHONPATH (the same interpreter and packages, that
checkout's `pipeline`), interleaved with the others, so that before and after are measured in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GONGKAI = Path(sys.executable).with_name("gongkai")
TARGET = 0.25  # seconds above the baseline (issue 17, item 4)


def run(argv: list[str], cwd: Path, code: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one process (with `code` first on its path); it must exit 0."""
    env = {**os.environ, "PYTHONPATH": str(code)} if code else None
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}: {child.stderr.read().decode()}")
    child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


PEOPLE = {"root": "admin", "zhangsan": "author", "lisi": "section_head", "wangwu": "secrecy_officer",
          "zhaoliu": "office_director"}  # login -> role; the reviewers pass the default three levels in order
LEVELS = {"lisi": "处室审核", "wangwu": "保密审查", "zhaoliu": "办公室审发"}
PASSWORD = "a benchmark's passphrase"


def workspace(directory: Path) -> int:
    """Initialise, add the people (as an admin would), submit the samples, approve and publish the first; return
    its id. Each step is a gongkai process, logged in through GONGKAI_TOKEN as its person."""
    def gongkai(*argv: str, token: str | None = None, stdin: str | None = None) -> str:
        env = {**os.environ, "GONGKAI_TOKEN": token} if token else {k: v for k, v in os.environ.items()
                                                                     if k != "GONGKAI_TOKEN"}
        return subprocess.run([str(GONGKAI), *argv], cwd=directory, env=env, input=stdin, check=True,
                              capture_output=True, text=True).stdout

    gongkai("init")
    tokens: dict[str, str] = {}
    for login, role in PEOPLE.items():  # the first, an admin, is added before anyone logs in
        gongkai("user", "add", login, "--name", login, "--role", role, "--password-stdin", token=tokens.get("root"),
                stdin=PASSWORD + "\n")
        tokens[login] = gongkai("login", login, "--password-stdin", "--print-token", stdin=PASSWORD + "\n").strip()
    samples = sorted((ROOT / "pipeline" / "cli" / "samples").glob("0*"))
    item = int(gongkai("submit", *map(str, samples), token=tokens["zhangsan"]).split()[0])
    for reviewer, level in LEVELS.items():
        # the samples were formed in 2020: the final approval states why they go out after 第二十六条's deadline
        gongkai("review", str(item), "--approve", "--level", level, "--revision", "1", "--late-reason", "历史样例",
                token=tokens[reviewer])
    return item


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}, load (1/5/15 min) {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="3 rounds (CI)")
    parser.add_argument("--before", type=Path, help="a checkout whose code is measured too (the baseline code)")
    args = parser.parse_args()
    rounds = 3 if args.smoke else args.rounds
    with tempfile.TemporaryDirectory(prefix="gongkai-cli-start-") as tmp:
        directory = Path(tmp)
        item = workspace(directory)
        commands = {"gongkai --help": ["--help"], "gongkai list": ["list"], f"gongkai show {item}": ["show", str(item)]}
        cases: dict[str, tuple[list[str], Path | None]] = {"python -c pass": ([sys.executable, "-c", "pass"], None)}
        for name, argv in commands.items():
            if args.before:
                cases[f"{name} (before: {args.before})"] = ([str(GONGKAI), *argv], args.before.resolve())
            cases[name] = ([str(GONGKAI), *argv], None)
        print(f"machine: {machine()} (before)")
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (argv, code) in cases.items():
                times[name].append(run(argv, directory, code))
        print(f"machine: {machine()} (after)\n")
    base_wall = median([w for w, _ in times["python -c pass"]])
    base_cpu = median([c for _, c in times["python -c pass"]])
    print(f"| command ({rounds} runs each, interleaved) | wall, median | above `python -c pass` | CPU, median "
          "| CPU above | met (<= 0.25 s above)? |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        wall, cpu = median([w for w, _ in values]), median([c for _, c in values])
        above = wall - base_wall
        met = "" if name.startswith("python") else ("yes" if above <= TARGET else "**no**")
        print(f"| `{name}` | {wall:.3f} s | {above:+.3f} s | {cpu:.3f} s | {cpu - base_cpu:+.3f} s | {met} |")


if __name__ == "__main__":
    main()
