"""The console under an office's load: 1,000,000 items and 10,000 people in PostgreSQL, 50 sessions.

The rows are generated in bulk inside PostgreSQL (INSERT ... SELECT over generate_series): 10,000 people of
one agency (40% authors, the rest reviewers of the three default levels), 1,000,000 items with one revision
each (98% approved, 1% waiting at one of the three levels, 1% rejected), and for 2,000 sampled approved items
their three review decisions and two deliveries. Then `gongkai serve` runs as its own process (uvicorn,
--workers as given) and 50 logged-in reviewers each load their to-do list (我的待办) and then an item page
(审核: every channel's preview, the diff, the decisions, the deliveries) in turn, as fast as the server
answers (closed loop, no think time) and again at an office's pace: each person reads a page for a second on
average before the next (think times drawn from an exponential distribution, each session starting at a
random moment of its first second, so that 50 people's clicks do not arrive in lockstep). Printed:
p50/p95/p99 per page in ms, pages per second, and the machine.

    python bench/console.py                 # 1,000,000 items, 10,000 people, 50 sessions, 60 s per pace
    python bench/console.py --workers 2     # two server processes
    python bench/console.py --smoke         # CI: 20,000 items, 500 people, 10 sessions, 5 s per pace
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa
from common import (
    database,
    free_port,
    make_platform,
    percentile,
    print_machine,
    print_table,
    stop,
    wait_for,
    write_config,
)

from pipeline.core.clock import utcnow
from pipeline.core.db import session_scope

CHEAP_AUTH = "\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 8\nargon2_parallelism = 1\n"
PASSWORD = "a benchmark password"
LEVELS = ("section_head", "secrecy_officer", "office_director")


def generate(platform, *, items: int, people: int) -> dict[str, float]:
    from pipeline.records.levels import current_set
    from pipeline.records.passwords import hash_password

    took: dict[str, float] = {}
    with session_scope(platform.engine) as session:
        agency_id = session.execute(sa.text("SELECT id FROM agency WHERE code = 'tjj'")).scalar_one()
        level_set = current_set(session, agency_id=agency_id, kind=None).id
    password = hash_password(PASSWORD, auth=platform.settings.auth)
    authors = int(people * 0.4)
    started = time.monotonic()
    with platform.engine.connect() as c:
        c.exec_driver_sql("SET session_replication_role = replica")
        c.execute(sa.text("""
            INSERT INTO person (login, name, department, agency_id, password_hash, active, failed_logins, created_at)
            SELECT 'u' || lpad(n::text, 5, '0'), '员工' || n, '第' || (n % 20) || '处', :agency, :hash, true, 0, now()
            FROM generate_series(1, :people) n"""), {"agency": agency_id, "hash": password, "people": people})
        c.execute(sa.text(f"""
            INSERT INTO person_role (person_id, agency_id, role)
            SELECT p.id, :agency, CASE WHEN n.n <= :authors THEN 'author'
                                       ELSE (ARRAY{list(LEVELS)})[1 + n.n % 3] END
            FROM person p, LATERAL (SELECT CAST(substr(p.login, 2) AS integer) AS n) n
            WHERE p.login ~ '^u[0-9]{{5}}$'"""), {"agency": agency_id, "authors": authors})
        took["people"] = time.monotonic() - started
        started = time.monotonic()
        status = ("CASE WHEN n % 100 = 0 THEN 'submitted' WHEN n % 100 = 1 THEN 'rejected' ELSE 'approved' END")
        c.execute(sa.text(f"""
            INSERT INTO item (id, agency_id, author, status, current_level, current_revision, approved_revision,
                              index_no, created_at, updated_at, level_set_id)
            SELECT n, :agency, 'u' || lpad((1 + n % :authors)::text, 5, '0'), {status},
                   CASE WHEN n % 100 = 0 THEN (n / 100) % 3 ELSE 0 END, 1,
                   CASE WHEN n % 100 > 1 THEN 1 END,
                   CASE WHEN n % 100 > 1 THEN '002668389/2026-' || lpad(n::text, 7, '0') END,
                   now() - (:items - n) * interval '20 seconds', now(), :level_set
            FROM generate_series(1, :items) n"""),
                  {"agency": agency_id, "authors": authors, "items": items, "level_set": level_set})
        c.execute(sa.text("""
            INSERT INTO item_revision (item_id, number, title, category, kind, channels, publisher, created_on,
                                       summary, body, images, source, content_hash, submitted_by, submitted_at)
            SELECT n, 1, '关于2026年第' || n || '号统计工作事项的通知', '通知公告', 'notice',
                   '["portal", "disclosure"]', '市统计局', date '2026-01-01' + n % 330, '',
                   '## 一、总体情况\n\n全市规模以上工业增加值同比增长6.1%，高于全省平均水平。\n\n- 第' || n || '项\n',
                   '{}', 'bench', md5(n::text), 'u' || lpad((1 + n % :authors)::text, 5, '0'),
                   now() - (:items - n) * interval '20 seconds'
            FROM generate_series(1, :items) n"""), {"authors": authors, "items": items})
        for table in ("item", "item_revision"):
            c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        took["items and revisions"] = time.monotonic() - started
        started = time.monotonic()
        sample = [n for n in range(2, items, max(1, items // 2000)) if n % 100 > 1][:2000]
        c.execute(sa.text("""
            INSERT INTO review_decision (item_id, revision, level, level_name, reviewer, decision, comment, decided_at)
            SELECT s, 1, l, (ARRAY['处室审核', '保密审查', '办公室审发'])[l + 1],
                   'u' || lpad((:authors + 1 + l)::text, 5, '0'), 'approve', '同意。', now()
            FROM unnest(CAST(:sample AS integer[])) s, generate_series(0, 2) l"""),
                  {"sample": sample, "authors": authors})
        c.execute(sa.text("""
            INSERT INTO delivery (item_id, revision, channel, status, attempts, url, idempotency_key, created_at,
                                  updated_at)
            SELECT s, 1, ch, 'published', 1, 'http://localhost:8080/' || ch || '/art/2026/art_' || s || '.html',
                   s || ':1:' || ch, now(), now()
            FROM unnest(CAST(:sample AS integer[])) s, unnest(ARRAY['portal', 'disclosure']) ch"""),
                  {"sample": sample})
        c.commit()
    with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")
        took["decisions, deliveries, analyze"] = time.monotonic() - started
    platform.sample = sample
    return took


def sessions(platform, count: int) -> list[str]:
    """Tokens of `count` reviewers (logged in through the domain, as the login form does)."""
    from pipeline.records.authentication import log_in

    with session_scope(platform.engine) as session:
        logins = session.execute(sa.text(
            "SELECT p.login FROM person p JOIN person_role r ON r.person_id = p.id WHERE r.role <> 'author' "
            "AND p.login ~ '^u[0-9]{5}$' ORDER BY p.id LIMIT :n"), {"n": count}).scalars().all()
        tokens = []
        for login in logins:
            result = log_in(session, login=login, password=PASSWORD, now=utcnow(), label="console",
                            settings=platform.settings)
            assert result.token, result.refused
            tokens.append(result.token)
    return tokens


def load(base: str, tokens: list[str], sample: list[int], *, seconds: float, pause: float) -> dict[str, list]:
    """Each session: to-do list, then an item page, in turn, for `seconds`; `pause` between pages."""
    times: dict[str, list[float]] = {"我的待办": [], "审核页": []}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def session_loop(token: str, seed: int) -> None:
        rng = random.Random(seed)
        http = requests.Session()
        http.cookies.set("gongkai_session", token)
        page = 0
        if pause:  # people do not start together: each begins somewhere in the first pause
            time.sleep(rng.uniform(0, pause))
        while time.monotonic() < deadline:
            name, path = ("我的待办", "/") if page % 2 == 0 else ("审核页", f"/items/{rng.choice(sample)}")
            started = time.perf_counter()
            response = http.get(base + path, allow_redirects=False, timeout=30)
            took = time.perf_counter() - started
            with lock:
                if response.status_code == 200:
                    times[name].append(took)
                else:
                    errors.append(f"{path}: {response.status_code}")
            page += 1
            if pause:  # a person reads for a while, `pause` on average (exponential: clicks are independent)
                time.sleep(rng.expovariate(1 / pause))

    threads = [threading.Thread(target=session_loop, args=(token, n)) for n, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} pages failed, e.g. {errors[:3]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="per pace")
    parser.add_argument("--workers", type=int, default=1, help="server processes (gongkai serve --workers)")
    parser.add_argument("--smoke", action="store_true", help="CI: small sizes, end to end")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.people, args.sessions, args.seconds = 20_000, 500, 10, 5.0
    print_machine()
    with tempfile.TemporaryDirectory(prefix="gongkai-console-bench-") as folder, database("console") as url:
        directory = Path(folder)
        config = write_config(directory, db_url=url, extra=CHEAP_AUTH)
        platform = make_platform(config)
        took = generate(platform, items=args.items, people=args.people)
        print_table("generated", ["step", "seconds"], [[k, f"{v:.1f}"] for k, v in took.items()])
        tokens = sessions(platform, args.sessions)
        platform.engine.dispose()
        port = free_port()
        env = {**os.environ, "GONGKAI_CONFIG": str(config)}
        gongkai = str(Path(sys.executable).parent / "gongkai")
        server = subprocess.Popen([gongkai, "serve", "--port", str(port),
                                   "--workers", str(args.workers)], cwd=directory, env=env,
                                  stdout=subprocess.DEVNULL, stderr=(directory / "serve.log").open("wb"),
                                  start_new_session=True)  # its own process group: stop() ends its workers too
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_for(lambda: _up(base), timeout=60, what="the console")
            except TimeoutError:
                print((directory / "serve.log").read_text(encoding="utf-8", errors="replace")[-3000:])
                raise
            load(base, tokens[:2], platform.sample, seconds=2, pause=0)  # warm: templates, connections
            rows = []
            for pace, pause in (("closed loop", 0.0), ("office pace (1 s reads)", 1.0)):
                times = load(base, tokens, platform.sample, seconds=args.seconds, pause=pause)
                total = sum(len(v) for v in times.values())
                for name, values in times.items():
                    rows.append([pace, name, len(values), f"{percentile(values, 0.5) * 1000:.0f}",
                                 f"{percentile(values, 0.95) * 1000:.0f}", f"{percentile(values, 0.99) * 1000:.0f}",
                                 f"{total / args.seconds:.0f}"])
            print_table(f"console: {args.items:,} items, {args.people:,} people, {args.sessions} sessions, "
                        f"{args.workers} server process(es), {args.seconds:.0f} s per pace",
                        ["pace", "page", "pages", "p50 ms", "p95 ms", "p99 ms", "pages/s (all)"], rows)
        finally:
            stop(server)


def _up(base: str) -> bool:
    try:
        return requests.get(base + "/login", timeout=2).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
