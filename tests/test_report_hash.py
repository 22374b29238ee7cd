"""Ledger content hashes: stored when a row is written, computed by a fast path, equal to what their definition
gives (the canonical JSON of every column but id, content_hash and the later formed_on) whatever the rows hold;
the report's ledger hash (台账校验值) is built from them; rows from before migration 0006 get theirs and still
verify."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlmodel import select

from pipeline.core.agencies import agency_row
from pipeline.core.audit_key import use_audit_key
from pipeline.core.config import DatabaseSettings
from pipeline.core.db import make_engine, migrate, session_scope
from pipeline.core.models import Agency, EntryType, LedgerEntry
from pipeline.records.audit import canonical, record_event, verify_trail
from pipeline.records.ledger import insert_ledger_entries, ledger_state_hashes

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


def defined_hash(entry: LedgerEntry, *, with_id: bool = False) -> str:
    """The content hash by its definition, from an ORM row (with_id: what events before migration 0006 recorded)."""
    # formed_on (0014) came after the hash's columns were frozen (audit.CONTENT_NAMES) and stays outside it
    skip = {"content_hash", "formed_on"} if with_id else {"id", "content_hash", "formed_on"}
    fields = {c.name: getattr(entry, c.name) for c in LedgerEntry.__table__.columns if c.name not in skip}
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def defined_state_hashes(session, *, agency_ids: list[int], year: int) -> dict[int, str]:
    """The report's ledger hash by its definition: ORM rows in id order, each as "id:content hash"."""
    digests = {agency_id: hashlib.sha256() for agency_id in agency_ids}
    query = select(LedgerEntry).where(LedgerEntry.agency_id.in_(agency_ids), LedgerEntry.year == year) \
        .order_by(LedgerEntry.id)
    for entry in session.exec(query):
        digests[entry.agency_id].update(f"{entry.id}:{defined_hash(entry)}\n".encode())
    return {agency_id: digest.hexdigest() for agency_id, digest in digests.items()}


def _rows(agency_id: int, year: int) -> list[dict]:
    return [{"agency_id": agency_id, "item_id": None, "revision": None, "delivery_id": None,
             "entry_type": (EntryType.REVERSAL if n % 4 == 3 else EntryType.PUBLICATION).value,
             "channel": "portal", "category": text[:20], "kind": "normative", "title": text,
             "index_no": None if n % 2 else f"002668389/{year}-{n:05d}",
             "import_key": None if n % 3 == 0 else f"import:{agency_id}/{year}/{n}", "source": "import",
             "published_at": TIMES[n % len(TIMES)], "created_at": TIMES[(n + 1) % len(TIMES)],
             "local_date": date(year, 1 + n, 1), "year": year}
            for n, text in enumerate(TEXTS)]


def test_stored_content_hashes_and_the_reports_ledger_hash_are_what_their_definitions_give(make_env):
    env = make_env(OTHER_AGENCY)
    with env.session() as session:
        ids = [agency_row(session, code).id for code in ("tjj", "fgw")]
        refs = insert_ledger_entries(session, [row for agency_id in ids for year in (2020, 2021)
                                               for row in _rows(agency_id, year)])
    with env.session() as session:
        entries = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
        assert refs == [[entry.id, entry.content_hash] for entry in entries]
        assert [entry.content_hash for entry in entries] == [defined_hash(entry) for entry in entries]
        # a third agency id without rows: the digest of nothing
        expected = defined_state_hashes(session, agency_ids=[*ids, ids[-1] + 1], year=2021)
        assert ledger_state_hashes(session, agency_ids=[*ids, ids[-1] + 1], year=2021) == expected
        assert ledger_state_hashes(session, agency_ids=ids[:1], year=2020) == defined_state_hashes(
            session, agency_ids=ids[:1], year=2020)
    assert len(set(expected.values())) == 3


def test_a_ledger_row_without_every_column_is_refused_before_it_is_written(env):
    row = _rows(1, 2021)[0]
    del row["source"]  # the INSERT's default would fill it in, outside the hash
    with env.session() as session:
        try:
            insert_ledger_entries(session, [row])
        except ValueError as e:
            assert "ledger row without source" in str(e)
        else:
            raise AssertionError("a row without source was written")


def test_migration_0006_hashes_existing_rows_and_their_old_events_still_verify(db_url):
    engine = use_audit_key(make_engine(DatabaseSettings(url=db_url)), b"k" * 32)
    try:
        migrate(engine, "0005")
        with session_scope(engine) as session:
            session.execute(sa.insert(Agency.__table__).values(code="tjj", name="台州市统计局", org_code="002668389",
                                                               created_at=TIMES[0]))
            agency_id = session.execute(sa.text("SELECT id FROM agency")).scalar_one()
            table = LedgerEntry.__table__
            columns = [c for c in table.columns if c.name != "content_hash"]
            old = sa.Table("ledger_entry", sa.MetaData(), *[sa.Column(c.name, c.type) for c in columns])
            session.execute(sa.insert(old), [{**row, "id": n} for n, row in enumerate(_rows(agency_id, 2021), 1)])
            # events written before 0006 recorded the hash of the whole row, id included
            entries = [LedgerEntry(id=n, **row) for n, row in enumerate(_rows(agency_id, 2021), 1)]
            record_event(session, actor="system", action="import", subject="agency:tjj", now=TIMES[0],
                         details={"ledger": [[e.id, defined_hash(e, with_id=True)] for e in entries]})
        migrate(engine)
        with session_scope(engine) as session:
            stored = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
            assert [e.content_hash for e in stored] == [defined_hash(e) for e in stored]
            verdict = verify_trail(session)
            assert verdict.ok and verdict.ledger_entries == len(TEXTS), verdict
            session.execute(sa.text("UPDATE ledger_entry SET title = '篡改', content_hash = :h WHERE id = 2"),
                            {"h": defined_hash(LedgerEntry(**{**_rows(agency_id, 2021)[1], "title": "篡改"}))})
        with session_scope(engine) as session:
            verdict = verify_trail(session)
        assert (verdict.row_id, verdict.problem) == (2, "its content differs from what audit event 1 recorded "
                                                        "(edited)")
    finally:
        engine.dispose()
