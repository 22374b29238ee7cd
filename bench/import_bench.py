"""`gongkai ledger import` of a CSV file against a raw executemany of the same rows.

The file: N past publications of one agency over 2016-2025 (an 索引号 on three channels for every three
rows, Chinese kind names, dates without a time). The import runs as an operator runs it, `gongkai ledger
import FILE` in its own process, start-up included: read, validate every row, check 索引号 against the
pipeline's entries, derive import keys, skip keys imported before, insert. The baseline is the insert
alone: the same rows, already parsed into the values the import writes (content hash included, computed
before the clock starts), sent with psycopg's
cursor.executemany() in one transaction. The ledger is emptied (TRUNCATE) before each run; runs alternate.

    python bench/import_bench.py               # 1,000,000 rows, 2 of each
    python bench/import_bench.py --smoke       # CI: 20,000 rows, 1 of each
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from common import cli_token, database, make_platform, median, print_machine, print_table, write_config

from pipeline.core.catalogue import DEFAULT_CATEGORIES, KINDS
from pipeline.core.clock import SHANGHAI
from pipeline.core.models import utcnow
from pipeline.records.ledger import hashed

CHANNELS = ("portal", "disclosure", "wechat")
COLUMNS = ("agency_id", "entry_type", "channel", "category", "kind", "index_no", "title", "published_at",
           "local_date", "year", "source", "import_key", "created_at", "content_hash")


def write_csv(path: Path, rows: int, org_code: str) -> None:
    kinds = list(KINDS)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["索引号", "标题", "渠道", "主题分类", "类别", "公开日期"])
        for n in range(rows):
            k = n // 3
            year = 2016 + k % 10
            published = date(year, 1, 1) + timedelta(days=k * 37 % 365)
            out.writerow([f"{org_code}/{year}-{k:07d}", f"关于印发{year}年第{k}号统计工作要点的通知",
                          CHANNELS[n % 3], DEFAULT_CATEGORIES[k * 3 % len(DEFAULT_CATEGORIES)],
                          KINDS[kinds[k % len(kinds)]][0], published.isoformat()])


def parsed_rows(path: Path, agency_id: int) -> list[tuple]:
    """The values the import writes for each row (computed here, before the baseline's clock starts)."""
    names = {name: key for key, (name, _) in KINDS.items()}
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for number, (index_no, title, channel, category, kind, day) in enumerate(list(csv.reader(f))[1:]):
            published = datetime.combine(date.fromisoformat(day), datetime.min.time(), SHANGHAI)
            key = "import:" + hashlib.sha256(f"{number}".encode()).hexdigest()[:40]
            row = {"agency_id": agency_id, "item_id": None, "revision": None, "delivery_id": None,
                   "entry_type": "publication", "channel": channel, "category": category, "kind": names[kind],
                   "index_no": index_no, "title": title, "published_at": published, "local_date": published.date(),
                   "year": published.year, "source": "import", "import_key": key, "created_at": utcnow()}
            rows.append(tuple(hashed(row)[column] for column in COLUMNS))  # the hash is not timed
    return rows


def run_import(config: Path, path: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")} | {"GONGKAI_CONFIG": str(config),
                                                                                  "GONGKAI_TOKEN": cli_token(config)}
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "gongkai"), "ledger", "import", str(path)], env=env,
                          capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - started
    if done.returncode != 0 or "imported" not in done.stdout:
        raise RuntimeError(f"gongkai ledger import exited {done.returncode}: {done.stderr[-2000:]}")
    return took


def run_raw(db_url: str, rows: list[tuple]) -> float:
    url = sa.make_url(db_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO ledger_entry ({', '.join(COLUMNS)}) "
                               f"VALUES ({', '.join(['%s'] * len(COLUMNS))})", rows)
        connection.commit()
        return time.perf_counter() - started


def empty_ledger(engine: sa.Engine, expected: int) -> None:
    with engine.begin() as c:
        count = c.exec_driver_sql("SELECT count(*) FROM ledger_entry").scalar_one()
        assert count == expected, f"{count} ledger rows, expected {expected}"
        c.exec_driver_sql("TRUNCATE ledger_entry RESTART IDENTITY")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE ledger_entry")
        c.exec_driver_sql("CHECKPOINT")  # each run starts without the previous one's dirty pages to write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="CI: 20,000 rows, one of each")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeats = 20_000, 1
    print_machine()
    imports, raws = [], []
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, database("import") as db_url:
        directory = Path(tmp)
        config = write_config(directory, db_url=db_url)
        p = make_platform(config)
        try:
            path = directory / "history.csv"
            org_code = p.settings.agencies["tjj"].org_code
            write_csv(path, args.rows, org_code)
            with p.engine.connect() as c:
                agency_id = c.exec_driver_sql("SELECT id FROM agency WHERE code = 'tjj'").scalar_one()
            rows = parsed_rows(path, agency_id)
            print(f"  {args.rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB of CSV", flush=True)
            empty_ledger(p.engine, 0)  # the first run starts from a checkpoint too
            for repeat in range(args.repeats):
                for kind in (("import", "raw") if repeat % 2 == 0 else ("raw", "import")):
                    if kind == "import":
                        imports.append(run_import(config, path))
                    else:
                        raws.append(run_raw(db_url, rows))
                    print(f"  {kind}: {(imports if kind == 'import' else raws)[-1]:.1f}s", flush=True)
                    empty_ledger(p.engine, args.rows)
        finally:
            p.engine.dispose()
    i, r = median(imports), median(raws)
    print_table(f"Ledger import of {args.rows:,} rows; median of {args.repeats} (target: ratio >= 0.5)",
                ["measured", "runs s", "median s", "rows/s"],
                [["gongkai ledger import FILE (process, start-up included)", " / ".join(f"{t:.1f}" for t in imports),
                  i, args.rows / i],
                 ["baseline: psycopg executemany of the parsed rows", " / ".join(f"{t:.1f}" for t in raws), r,
                  args.rows / r],
                 ["ratio (import rows/s / baseline rows/s)", "", f"{r / i:.2f}", ""]])


if __name__ == "__main__":
    main()
