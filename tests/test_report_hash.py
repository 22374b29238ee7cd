"""The report's ledger hash (台账校验值) is computed from plain rows for speed; it must stay the digest that
its definition gives (ORM rows and audit.ledger_row_hash), whatever the rows hold."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

from sqlmodel import select

from pipeline.agencies import agency_row
from pipeline.audit import ledger_row_hash
from pipeline.audit import ledger_state_hashes as ledger_hashes
from pipeline.models import EntryType, LedgerEntry

OTHER_AGENCY = """
[agencies.fgw]
name = "台州市发展和改革委员会"
org_code = "002668001"
channels = ["portal"]
"""
# what JSON must escape, what it must not, and the plain
TEXTS = ['引号"与反斜杠\\', "换行\n制表\t回车\r退格\b换页\f", "控制\x01\x1f字符", "表情🚀 </script>&<>",
         "\u2028行分隔", "关于印发统计工作要点的通知"]
# whole seconds, trailing zeros in the microseconds, and a time given in another zone
TIMES = [datetime(2021, 3, 1, 1, 2, 3, tzinfo=UTC), datetime(2021, 3, 1, 1, 2, 3, 500000, tzinfo=UTC),
         datetime(2021, 12, 31, 23, 59, 59, 7, tzinfo=timezone(timedelta(hours=8)))]


def ledger_state_hashes(session, *, agency_ids: list[int], year: int) -> dict[int, str]:
    """The digest by its definition: ORM rows in id order, each row's canonical content hash."""
    digests = {agency_id: hashlib.sha256() for agency_id in agency_ids}
    query = select(LedgerEntry).where(LedgerEntry.agency_id.in_(agency_ids), LedgerEntry.year == year) \
        .order_by(LedgerEntry.id)
    for entry in session.exec(query):
        digests[entry.agency_id].update(f"{entry.id}:{ledger_row_hash(entry)}\n".encode())
    return {agency_id: digest.hexdigest() for agency_id, digest in digests.items()}


def _entries(agency_id: int, year: int) -> list[LedgerEntry]:
    return [LedgerEntry(agency_id=agency_id, entry_type=EntryType.REVERSAL if n % 4 == 3 else EntryType.PUBLICATION,
                        channel="portal", category=text[:20], kind="normative", title=text,
                        index_no=None if n % 2 else f"002668389/{year}-{n:05d}",
                        import_key=None if n % 3 == 0 else f"import:{agency_id}/{year}/{n}", source="import",
                        published_at=TIMES[n % len(TIMES)], created_at=TIMES[(n + 1) % len(TIMES)],
                        local_date=date(year, 1 + n, 1), year=year)
            for n, text in enumerate(TEXTS)]


def test_the_reports_ledger_hash_is_the_audit_trails_digest(make_env):
    env = make_env(OTHER_AGENCY)
    with env.session() as session:
        ids = [agency_row(session, code).id for code in ("tjj", "fgw")]
        session.add_all([entry for agency_id in ids for year in (2020, 2021) for entry in _entries(agency_id, year)])
    with env.session() as session:
        # a third agency id without rows: the digest of nothing
        expected = ledger_state_hashes(session, agency_ids=[*ids, ids[-1] + 1], year=2021)
        assert ledger_hashes(session, agency_ids=[*ids, ids[-1] + 1], year=2021) == expected
        assert ledger_hashes(session, agency_ids=ids[:1], year=2020) == ledger_state_hashes(
            session, agency_ids=ids[:1], year=2020)
    assert len(set(expected.values())) == 3
