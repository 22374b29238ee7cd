"""Sampling profiles of a running process with py-spy, summarised as the functions that take the time.

    python bench/spy.py collapsed.txt [--top 30] [--match pipeline/]

Used by throughput.py --profile (which records the pipeline worker); also works on any file written by
`py-spy record --format raw`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


def record(pid: int, output: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid`; stop it with finish(). Only samples of the thread holding the GIL (--gil): where the
    worker's Python CPU goes, not where its 16 threads wait (a wait for PostgreSQL or the GIL is not a cost)."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                             "--output", str(output), "--nonblocking", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def finish(spy: subprocess.Popen[bytes]) -> None:
    if spy.poll() is None:
        os.killpg(spy.pid, signal.SIGINT)
    spy.wait(timeout=30)


def summarise(path: Path, *, top: int = 30, match: str = "") -> list[tuple[str, float, float]]:
    """(function, inclusive share, self share) of the samples, by inclusive share, largest first."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    rows = [(f, inclusive[f] / total, own[f] / total) for f, _ in inclusive.most_common() if match in f]
    return rows[:top]


def _short(frame: str) -> str:
    """'deliver_one (pipeline/engine/delivery.py:123)' -> 'deliver_one (pipeline/engine/delivery.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/main/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def print_summary(path: Path, *, top: int = 30, match: str = "") -> None:
    print(f"\nprofile {path.name}: inclusive / self share of samples")
    for function, incl, self_ in summarise(path, top=top, match=match):
        print(f"  {incl:6.1%} {self_:6.1%}  {function}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only functions whose name or file contains this")
    args = parser.parse_args()
    print_summary(args.path, top=args.top, match=args.match)


if __name__ == "__main__":
    main()
