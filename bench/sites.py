"""The static 公开目录 at an agency's scale: what one more publication costs in a site of 1,000 and of 100,000 items.

The site is built through the channel's own writing code (tests/site_helpers.py: items spread over five years,
every 主题分类 and 第二十条 kind, a guide and an annual report a year), in batches. Then items are published one
at a time as the delivery engine does (StaticSite.publish, each file fsynced), dated the site's newest day, and
old ones are withdrawn: per operation the files it wrote, their bytes, and the time. A publication must rewrite
a bounded number of files whatever the size of the site; the script exits 1 when one writes more than BOUND.

    python bench/sites.py                 # 1,000 and 100,000 items, 30 publications and 10 withdrawals each
    python bench/sites.py --smoke         # CI: 200 and 2,000 items, 5 publications and 2 withdrawals
    python bench/sites.py --sizes 10000   # one size
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median, percentile, print_machine, print_table

sys.path.insert(0, str(ROOT / "tests"))
from site_helpers import ORG, build, item, message  # noqa: E402

from channels import Receipt  # noqa: E402

KIND = "disclosure"  # the heavier of the two sites: its home page carries the 专栏's sections
BOUND = 16           # files one publication or withdrawal may write (tests/test_static_site.py holds the same)


def run(size: int, publications: int, withdrawals: int, workdir: Path) -> dict:
    root = workdir / f"site-{size}"
    started = time.perf_counter()
    site = build(KIND, root, size)
    built = time.perf_counter() - started
    newest = item(size - 1, size, 2020, 5)
    times, files, sizes = [], [], []
    for n in range(publications):
        serial = size + 1 + n
        fields = {**newest, "id": serial, "title": f"{newest['title']}（补{n + 1}）",
                  "index_no": f"{ORG}/{newest['published_on'].year}-{serial:06d}"}
        one = message(KIND, fields)
        started = time.perf_counter()
        site.publish(one)
        times.append(time.perf_counter() - started)
        files.append(len(site.written))
        sizes.append(sum((root / p).stat().st_size for p in site.written))
    withdrawn_times, withdrawn_files = [], []
    for n in range(withdrawals):  # old items, from the middle of their listings
        old = message(KIND, item(size // 3 + n * 7, size, 2020, 5))
        started = time.perf_counter()
        site.withdraw(Receipt(site.path_of(old)))
        withdrawn_times.append(time.perf_counter() - started)
        withdrawn_files.append(len(site.written))
    republished = dataclasses.replace(message(KIND, item(size // 2, size, 2020, 5)), category="统计数据",
                                      idempotency_key="moved:disclosure")
    site.publish(republished)  # a new revision moving to another 主题分类
    return {"size": size, "built": built, "ms": [t * 1000 for t in times], "files": files, "bytes": sizes,
            "withdraw_ms": [t * 1000 for t in withdrawn_times], "withdraw_files": withdrawn_files,
            "moved_files": len(site.written), "written": site.written}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CI: 200 and 2,000 items")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--publications", type=int, default=30)
    parser.add_argument("--withdrawals", type=int, default=10)
    args = parser.parse_args()
    sizes, publications, withdrawals = ([200, 2_000], 5, 2) if args.smoke else \
        (args.sizes, args.publications, args.withdrawals)
    print_machine()
    rows, worst = [], 0
    with tempfile.TemporaryDirectory(prefix="gongkai-sites-") as workdir:
        for size in sizes:
            r = run(size, publications, withdrawals, Path(workdir))
            worst = max(worst, *r["files"], *r["withdraw_files"], r["moved_files"])
            rows.append([f"{r['size']:,}", f"{r['built']:.1f}", f"{median(r['ms']):.1f}",
                         f"{percentile(r['ms'], 0.9):.1f}", f"{max(r['files'])}", f"{median(r['bytes']) / 1024:.0f}",
                         f"{median(r['withdraw_ms']):.1f}", f"{max(r['withdraw_files'])}", r["moved_files"]])
            print(f"items {size:,}: the last operation wrote {', '.join(r['written'])}", flush=True)
    print_table(f"{KIND}: one publication into a site of N items ({publications} publications, {withdrawals} "
                f"withdrawals of old items, 1 revision moving category; each file fsynced)",
                ["items", "build s", "publish ms (median)", "publish ms (p90)", "files (max)", "KiB (median)",
                 "withdraw ms (median)", "files (max)", "files (move)"], rows)
    if worst > BOUND:
        print(f"FAIL: an operation wrote {worst} files (bound {BOUND})")
        return 1
    print(f"ok: every operation wrote at most {worst} files (bound {BOUND})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
