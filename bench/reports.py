"""Annual reports at platform scale: 1,000 agencies, 10 million ledger rows, 100,000 disclosure requests.

The rows are generated in bulk inside PostgreSQL (INSERT ... SELECT over generate_series, foreign-key
triggers off and secondary indexes rebuilt after the load, then VACUUM ANALYZE), never through the
pipeline: ten years (2016-2025) of 1,000 ledger rows per agency and year, an item on three channels
(portal, disclosure, wechat) for every three rows, about 1% reversals; the last two years come from the
pipeline (items and revisions, a share of them marked 废止), the earlier ones from `gongkai ledger
import` (import keys); 100 requests per agency over the ten years (3% still open), 5 appeals, and a
事项 figure per year.

Timed: every agency's 2025 report through the `--all-agencies` code path (make_documents: the grouped
queries for 2025 and, for the cross-year rules, 2024's tables; the ledger hash; the checks, the documents),
in-process and as the `gongkai report 2025 --all-agencies --format json --out DIR --draft` command; one agency's
report; against one indexed GROUP BY over the same rows. `--profile` adds a cProfile (CPU time) of both.

    python bench/reports.py                       # 1,000 agencies x 10,000 rows, 100,000 requests
    python bench/reports.py --rows-per-year 300   # 3 million rows
    python bench/reports.py --smoke               # CI: 50 agencies x 1,000 rows
    python bench/reports.py --agencies 100 --profile   # where the time goes, per agency as in the full run
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from common import database, make_platform, median, percentile, print_machine, print_table, write_config

from pipeline.core.catalogue import DEFAULT_CATEGORIES, KINDS
from pipeline.core.clock import beijing_today
from pipeline.core.db import session_scope
from pipeline.core.models import LedgerEntry
from pipeline.records.audit import CONTENT_COLUMNS, CONTENT_NAMES, content_hash
from pipeline.records.vocabulary import APPLICANT_TYPES, OUTCOMES
from pipeline.report.annual import make_documents, make_reports

YEAR = 2025
FIRST = 2016
PIPELINE_FROM = 2024  # rows of this year on have items and revisions
CHANNELS = ("portal", "disclosure", "wechat")


def agencies_toml(count: int) -> str:
    return "".join(f'\n[agencies.a{n:04d}]\nname = "第{n}号市级机关"\norg_code = "B{n:08d}"\n'
                   f'channels = ["portal", "disclosure"]\n' for n in range(1, count + 1))


def _array(values: list[str] | tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def generate(engine: sa.Engine, *, rows_per_year: int, requests_per_agency: int) -> dict[str, float]:
    """Fill the database in bulk; returns seconds per step."""
    kinds, categories = _array(list(KINDS)), _array(DEFAULT_CATEGORIES)
    per_year_items = (rows_per_year + 2) // 3
    item_id = f"((a.id - 1) * {YEAR - PIPELINE_FROM + 1} + (y - {PIPELINE_FROM})) * {per_year_items} + k"
    took: dict[str, float] = {}
    with engine.connect() as c:
        c.exec_driver_sql("SET session_replication_role = replica")  # no FK triggers during the bulk load
        c.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        started = time.monotonic()
        _run(c, f"""
            INSERT INTO item (id, agency_id, author, status, current_level, current_revision, approved_revision,
                              index_no, created_at, updated_at)
            SELECT {item_id}, a.id, 'zhangsan', 'approved', 2, 1, 1,
                   a.org_code || '/' || y || '-' || lpad(k::text, 5, '0'), now(), now()
            FROM agency a, generate_series({PIPELINE_FROM}, {YEAR}) y, generate_series(1, {per_year_items}) k""")
        _run(c, f"""
            INSERT INTO item_revision (id, item_id, number, title, category, kind, channels, publisher, created_on,
                                       summary, validity, body, images, source, content_hash, submitted_by,
                                       submitted_at)
            SELECT {item_id}, {item_id}, 1, '关于印发' || y || '年第' || k || '号统计工作要点的通知',
                   ({categories})[1 + (k * 3) % {len(DEFAULT_CATEGORIES)}], ({kinds})[1 + k % {len(KINDS)}],
                   '["portal", "disclosure", "wechat"]', a.name, make_date(y, 1, 1), '',
                   CASE WHEN k % 50 = 0 THEN '废止' END, '正文。', '{{}}', 'bench', md5(k::text), 'zhangsan', now()
            FROM agency a, generate_series({PIPELINE_FROM}, {YEAR}) y, generate_series(1, {per_year_items}) k""")
        for table in ("item", "item_revision"):
            c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        c.commit()
        took["items and revisions"] = time.monotonic() - started
        dropped = _drop_indexes(c, "ledger_entry")
        c.commit()
        started = time.monotonic()
        for y in range(FIRST, YEAR + 1):
            pipeline = y >= PIPELINE_FROM
            _run(c, f"""
                INSERT INTO ledger_entry ({", ".join(CONTENT_NAMES)}, content_hash)
                SELECT r.*, {_CONTENT_HASH_SQL}
                FROM (SELECT a.id AS agency_id, ({categories})[1 + (k * 3) % {len(DEFAULT_CATEGORIES)}] AS category,
                             ({_array(CHANNELS)})[1 + g % 3] AS channel, timestamptz '{LOADED_AT}' AS created_at,
                             NULL::integer AS delivery_id,
                             CASE WHEN g % 101 = 100 THEN 'reversal' ELSE 'publication' END AS entry_type,
                             {'NULL' if pipeline else "'import:' || md5(a.id || '/' || y || '/' || g)"} AS import_key,
                             a.org_code || '/' || y || '-' || lpad(k::text, 5, '0') AS index_no,
                             {item_id if pipeline else 'NULL::integer'} AS item_id,
                             ({kinds})[1 + k % {len(KINDS)}] AS kind,
                             make_date(y, 1, 1) + (k * 37) % 365 AS local_date,
                             ((make_date(y, 1, 1) + (k * 37) % 365)::timestamp + interval '2 hours')
                                 AT TIME ZONE 'UTC' AS published_at, {1 if pipeline else 'NULL::integer'} AS revision,
                             '{'pipeline' if pipeline else 'import'}' AS source,
                             '关于印发' || y || '年第' || k || '号统计工作要点的通知' AS title, y AS year
                      FROM agency a, (SELECT {y} AS y) yy, generate_series(0, {rows_per_year - 1}) g,
                           LATERAL (SELECT g / 3 + 1 AS k) kk) r""")
            c.commit()
        took["ledger rows"] = time.monotonic() - started
        _check_content_hashes(c)
        started = time.monotonic()
        for statement in dropped:
            c.exec_driver_sql(statement)
        c.commit()
        took["ledger indexes"] = time.monotonic() - started
        started = time.monotonic()
        _registers(c, requests_per_agency)
        c.commit()
        took["requests, appeals, figures"] = time.monotonic() - started
        c.exec_driver_sql("SET session_replication_role = DEFAULT")
    started = time.monotonic()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")
    took["vacuum analyze"] = time.monotonic() - started
    return took


LOADED_AT = "2026-01-05 08:30:00.123456+00"
_STRING = "to_json(r.{0})::text"
_NULLABLE = "coalesce(to_json(r.{0})::text, 'null')"
_TIME = ("'\"' || to_char(r.{0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
         "extract(microseconds FROM r.{0})::bigint % 1000000 <> 0 THEN to_char(r.{0} AT TIME ZONE 'UTC', '.US') "
         "ELSE '' END || '+00:00\"'")
_SQL_VALUE = {"agency_id": "r.{0}::text", "category": _STRING, "channel": _STRING, "created_at": _TIME,
              "delivery_id": _NULLABLE, "entry_type": _STRING, "import_key": _NULLABLE, "index_no": _NULLABLE,
              "item_id": _NULLABLE, "kind": _STRING, "local_date": "'\"' || to_char(r.{0}, 'YYYY-MM-DD') || '\"'",
              "published_at": _TIME, "revision": _NULLABLE, "source": _STRING, "title": _STRING, "year": "r.{0}::text"}
# audit.content_hash written in SQL for these generated rows (plain text, no character JSON must escape), so that
# ten million rows are loaded with their hashes in one pass; _check_content_hashes compares a sample with Python's
_CONTENT_HASH_SQL = ("encode(sha256(convert_to('{' || " + " || ',' || ".join(
    f"'\"{name}\":' || {_SQL_VALUE[name].format(name)}" for name in CONTENT_NAMES) + " || '}', 'UTF8')), 'hex')")


def _check_content_hashes(c: sa.Connection) -> None:
    """The SQL-made content hashes of 2,000 rows spread over the ledger must be what the pipeline computes."""
    ledger = LedgerEntry.__table__
    rows = c.execute(sa.select(ledger.c.content_hash, *CONTENT_COLUMNS)
                     .where(ledger.c.id % max(1, c.execute(sa.select(sa.func.count()).select_from(ledger))
                                                  .scalar_one() // 2000) == 0)).all()
    wrong = [row for row in rows if row.content_hash != content_hash(row[1:])]
    if not rows or wrong:
        raise RuntimeError(f"{len(wrong)} of {len(rows)} generated content hashes differ from audit.content_hash: "
                           f"{wrong[:1]}")
    print(f"  {len(rows):,} generated content hashes checked against audit.content_hash", flush=True)


def _run(c: sa.Connection, statement: str) -> None:
    """A statement with no parameters: its % signs are the modulo operator, not placeholders."""
    c.exec_driver_sql(statement.replace("%", "%%"))


def _drop_indexes(c: sa.Connection, table: str) -> list[str]:
    """Drop the secondary indexes and unique constraints of `table`; return the statements that rebuild them."""
    constraints = c.exec_driver_sql(f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                    f"WHERE conrelid = '{table}'::regclass AND contype = 'u'").all()
    names = {name for name, _ in constraints}
    indexes = c.exec_driver_sql(f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{table}' "
                                f"AND indexname <> '{table}_pkey'").all()
    rebuild = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints]
    rebuild += [definition for name, definition in indexes if name not in names]
    for name, _ in constraints:
        c.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        if name not in names:
            c.exec_driver_sql(f'DROP INDEX "{name}"')
    return rebuild


def _registers(c: sa.Connection, per_agency: int) -> None:
    days = (date(YEAR, 12, 31) - date(FIRST, 1, 1)).days
    types = _array(["natural_person"] * 5 + [t for t in APPLICANT_TYPES if t != "natural_person"])
    _run(c, f"""
        INSERT INTO disclosure_request (agency_id, received_on, channel, applicant_type, applicant, subject, closed_on,
                                        outcome, recorded_by, created_at, updated_at)
        SELECT a.id, r.received, 'online', ({types})[1 + n % 10], '', '',
               CASE WHEN n % 33 <> 0 THEN r.received + 10 + n % 25 END,
               CASE WHEN n % 33 <> 0 THEN ({_array(list(OUTCOMES))})[1 + n % {len(OUTCOMES)}] END, 'bench', now(),
               now()
        FROM agency a, generate_series(1, {per_agency}) n,
             LATERAL (SELECT make_date({FIRST}, 1, 1) + (n * 7919 + a.id * 13) % {days} AS received) r""")
    _run(c, f"""
        INSERT INTO appeal (agency_id, kind, filed_on, result, closed_on, note, recorded_by, created_at, updated_at)
        SELECT a.id, ({_array(['reconsideration', 'litigation', 'litigation_after'])})[1 + n % 3],
               make_date({FIRST}, 1, 1) + (n * 811 + a.id) % {days},
               CASE WHEN n % 4 <> 0 THEN ({_array(['upheld', 'corrected', 'other'])})[1 + n % 3] END,
               CASE WHEN n % 4 <> 0 THEN make_date({FIRST}, 1, 1) + (n * 811 + a.id) % {days} + 60 END,
               '', 'bench', now(), now()
        FROM agency a, generate_series(1, 5) n""")
    _run(c, f"""
        INSERT INTO annual_figure (agency_id, year, key, value, note, set_by, updated_at)
        SELECT a.id, y, 'license.items', (100 + a.id % 50 + y - {FIRST})::text, '', 'bench', now()
        FROM agency a, generate_series({FIRST}, {YEAR}) y""")


def timed(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def all_reports(p, codes: list[str]) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Seconds for the report data of every agency, and for the whole documents (data, checks, documents)."""
    with session_scope(p.engine) as session:
        data, (reports, _) = timed(make_reports, session, settings=p.settings, codes=codes, year=YEAR, version=None)
    with session_scope(p.engine) as session:
        whole, docs = timed(make_documents, session, settings=p.settings, codes=codes, year=YEAR, version=None,
                            today=beijing_today())
    assert len(reports) == len(docs) == len(codes)
    return data, whole, sum(1 for doc in docs for f in doc.findings if not f.ok and f.level == "hard")


def command(config: Path, out: Path, *args: str) -> float:
    """`gongkai report ...` as an operator runs it; seconds of wall time, start-up included."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")} | {"GONGKAI_CONFIG": str(config)}
    started = time.perf_counter()
    # --draft: the generated agencies have no texts for sections 一 (five parts), 五 and 六, which a final report
    # requires; a draft is built by the same code, and is not frozen (nor needs the disclosure_office login)
    done = subprocess.run([str(Path(sys.executable).parent / "gongkai"), "report", str(YEAR), "--format", "json",
                           "--out", str(out), "--draft", *args], env=env, capture_output=True, text=True,
                          timeout=1800)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"gongkai report exited {done.returncode}: {done.stderr[-2000:]}")
    return took


def one_agency_with_former_index(p, codes: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    """One agency's report again after swapping (agency_id, year) for the index the ledger had before."""
    with p.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_ledger_entry_agency_id ON ledger_entry (agency_id)")
        c.exec_driver_sql("DROP INDEX IF EXISTS ix_ledger_entry_agency_year")
        c.exec_driver_sql("ANALYZE ledger_entry")
    times = []
    for code in codes:
        with session_scope(p.engine) as session:
            times.append(timed(make_documents, session, settings=p.settings, codes=[code], year=YEAR, version=None,
                               today=beijing_today())[0])
    return times


def profile(p, codes: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Print the functions that take the most CPU time, for every agency's documents and for one agency's (the
    database's share is the gap between these seconds and the wall-clock ones)."""
    for label, which in ((f"all {len(codes)} agencies", codes), (f"one agency ({codes[0]})", codes[:1])):
        profiler = cProfile.Profile(time.process_time)
        with session_scope(p.engine) as session:
            profiler.runcall(make_documents, session, settings=p.settings, codes=which, year=YEAR, version=None,
                             today=beijing_today())
        print(f"  CPU profile, {label}, by cumulative time:")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


def baselines(engine: sa.Engine, agency_id: int) -> dict[str, float]:
    queries = {
        f"GROUP BY agency_id over {YEAR}'s rows (index on year)":
            f"SELECT agency_id, count(*) FROM ledger_entry WHERE year = {YEAR} GROUP BY agency_id",
        f"GROUP BY agency_id, kind over every row up to {YEAR}":
            f"SELECT agency_id, kind, count(*) FROM ledger_entry WHERE year <= {YEAR} GROUP BY agency_id, kind",
        f"one agency: GROUP BY channel over its {YEAR} rows (indexed)":
            f"SELECT channel, count(*) FROM ledger_entry WHERE agency_id = {agency_id} AND year = {YEAR} "
            "GROUP BY channel",
    }
    found = {}
    with engine.connect() as c:
        for label, sql in queries.items():
            found[label] = median([timed(lambda s=sql: c.exec_driver_sql(s).all())[0] for _ in range(3)])
        plan = c.exec_driver_sql(f"EXPLAIN {queries[next(iter(queries))]}").scalars().all()
    print("  plan of the first baseline: " + " / ".join(line.strip() for line in plan[:4]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agencies", type=int, default=1000)
    parser.add_argument("--rows-per-year", type=int, default=1000, help="ledger rows per agency and year (x10 years)")
    parser.add_argument("--requests", type=int, default=100, help="disclosure requests per agency")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="CI: 50 agencies x 1,000 rows, one repeat")
    parser.add_argument("--compare-index", action="store_true",
                        help="also time one agency's report with the ledger's former (agency_id) index instead of "
                             "(agency_id, year), on the same data")
    parser.add_argument("--profile", action="store_true",
                        help="also print a CPU-time cProfile of every agency's documents and of one agency's")
    args = parser.parse_args()
    if args.smoke:
        args.agencies, args.rows_per_year, args.requests, args.repeats = 50, 100, 20, 1
    print_machine()
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, database("reports") as db_url:
        directory = Path(tmp)
        config = write_config(directory, db_url=db_url, extra=agencies_toml(args.agencies - 1))  # and the example's tjj
        p = make_platform(config)
        try:
            took = generate(p.engine, rows_per_year=args.rows_per_year, requests_per_agency=args.requests)
            with p.engine.connect() as c:
                counts = {t: c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
                          for t in ("agency", "ledger_entry", "item", "disclosure_request", "appeal")}
            print(f"  generated {counts} in " + ", ".join(f"{k} {v:.0f}s" for k, v in took.items()), flush=True)
            total_rows = counts["agency"] * args.rows_per_year * (YEAR - FIRST + 1)
            assert counts["ledger_entry"] == total_rows, counts
            codes = list(p.settings.agencies)
            runs = []
            for _ in range(args.repeats):
                runs.append(all_reports(p, codes))
                print(f"  all {len(codes)} agencies: data {runs[-1][0]:.1f}s, documents {runs[-1][1]:.1f}s", flush=True)
            assert all(hard == 0 for *_, hard in runs), "a generated report broke a hard rule"
            cli = [command(config, directory / f"out{n}", "--all-agencies") for n in range(args.repeats)]
            print(f"  gongkai report {YEAR} --all-agencies: " + ", ".join(f"{t:.1f}s" for t in cli), flush=True)
            sample = random.Random(6).sample(codes, min(20, len(codes)))
            one = []
            for code in sample:
                with session_scope(p.engine) as session:
                    one.append(timed(make_documents, session, settings=p.settings, codes=[code], year=YEAR,
                                     version=None, today=beijing_today())[0])
            one_cli = [command(config, directory / f"{code}.json", "--agency", code) for code in sample[:3]]
            if args.profile:
                profile(p, codes)
            former = one_agency_with_former_index(p, sample) if args.compare_index else []
            with p.engine.connect() as c:
                agency_id = c.exec_driver_sql(f"SELECT id FROM agency WHERE code = '{sample[0]}'").scalar_one()
            floor = baselines(p.engine, agency_id)
        finally:
            p.engine.dispose()
    data, whole = median([r[0] for r in runs]), median([r[1] for r in runs])
    n = len(codes)
    print_table(f"Reports for {YEAR}: {n:,} agencies, {total_rows:,} ledger rows, {counts['disclosure_request']:,} "
                f"requests; median of {args.repeats} (targets: all <= 20 s, one agency <= 100 ms)",
                ["measured", "seconds", "per agency ms"],
                [[f"all agencies, report data (make_reports: {YEAR}, {YEAR - 1}'s tables)", data, 1000 * data / n],
                 ["all agencies, documents (make_documents: data + checks + documents)", whole, 1000 * whole / n],
                 [f"gongkai report {YEAR} --all-agencies --format json --out DIR --draft (process)", median(cli),
                  1000 * median(cli) / n],
                 [f"one agency, documents: median of {len(one)} agencies", median(one), 1000 * median(one)],
                 [f"one agency, documents: p95 / max of {len(one)}",
                  f"{percentile(one, .95):.3f} / {max(one):.3f}", f"{1000 * max(one):.0f}"],
                 ["gongkai report --agency X --format json (process, start-up included)", median(one_cli), ""],
                 *([[f"one agency, same data, former index (agency_id) only: median of {len(former)}", median(former),
                     1000 * median(former)]] if former else []),
                 *[[f"baseline: {label}", seconds, ""] for label, seconds in floor.items()]])


if __name__ == "__main__":
    main()
