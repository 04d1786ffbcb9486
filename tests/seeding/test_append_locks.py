"""`hotel seed --append` next to a live service: DISABLE TRIGGER USER takes SHARE ROW
EXCLUSIVE on every table it loads (every write of the service conflicts with it), so it waits
at most HOTEL_SEED_LOCK_TIMEOUT for each, then fails in one line having written nothing; and
what it does append is recorded in the audit history."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, pool, text

from seeding.bulk import load
from seeding.plan import SCALES
from tests.helpers import assert_one_line_error, table_hashes
from tests.helpers import run_hotel as hotel


@pytest.fixture(scope="module")
def seeded(head_database: Callable[[], str]) -> str:
    url = head_database()
    load(url, SCALES["tiny"], seed=5, locale="en_US", analyze=False)
    return url


@pytest.fixture
def service_writing_bookings(seeded: str) -> Iterator[None]:
    """A service transaction that has written to bookings and is not done (ROW EXCLUSIVE)."""
    dsn = seeded.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE bookings SET id = id WHERE false")
        yield
        conn.rollback()


def test_append_behind_a_held_lock_fails_fast_and_writes_nothing(
    seeded: str, service_writing_bookings: None
) -> None:
    before = table_hashes(seeded)
    env = {"HOTEL_DATABASE_URL": seeded, "HOTEL_SEED_LOCK_TIMEOUT": "1s"}
    # Without a lock_timeout this waits for the writer forever (the timeout below fails it).
    result = hotel("seed", "--scale", "tiny", "--append", "--locale", "en_US", env=env, timeout=90)
    assert_one_line_error(result, "bookings", "locked by another session", "nothing was written")
    assert table_hashes(seeded) == before


def test_append_leaves_one_audit_row_per_table_it_wrote(seeded: str) -> None:
    engine = create_engine(seeded, poolclass=pool.NullPool)
    with engine.connect() as conn:
        before = {
            t: conn.execute(text(f"SELECT max(id) FROM {t}")).scalar()
            for t in ("hotels", "bookings", "users")
        }
    env = {"HOTEL_DATABASE_URL": seeded}
    result = hotel("seed", "--scale", "tiny", "--append", "--locale", "en_US", env=env)
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, row_pk, new_row FROM audit_log "
                "WHERE new_row ->> 'by' = 'hotel seed' ORDER BY id"
            )
        ).all()
        audited = {table: (pk, row) for table, pk, row in rows}
        assert len(audited) == len(rows), "one row per table"
        for table, first in before.items():
            last = conn.execute(text(f"SELECT max(id) FROM {table}")).scalar()
            count = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE id > :first"),
                {"first": first},
            ).scalar()
            pk, row = audited[table]
            assert pk == {"id": [first + 1, last]}
            assert row["seeded_rows"] == count > 0
    engine.dispose()
