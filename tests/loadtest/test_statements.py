"""pg_stat_statements through loadtest.statements, on the real test server: revision 0015
creates the extension, `top` counts what ran in this database since `reset`, and a load run
starts by resetting, so `top` afterwards is that run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from hotel_models.settings import libpq_url
from loadtest.runner import Options
from loadtest.statements import NOT_INSTALLED, StatementsUnavailable, reset, top
from tests.loadtest.runs import EVERYTHING, run_sync

# A catalog read: it touches buffers under any plan (the model tests leave hotels empty, and
# an empty table read by a sequential scan touches none). Normalised: ... nspname = $1
MARKER = "SELECT count(*) FROM pg_namespace WHERE nspname = %s"
NORMALISED = "SELECT count(*) FROM pg_namespace WHERE nspname = $1"


@pytest.fixture(scope="module", autouse=True)
def preloaded(server_url: str) -> None:
    with psycopg.connect(libpq_url(server_url)) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    external = os.environ.get("HOTEL_TEST_DATABASE_URL") or os.environ.get("HOTEL_TEST_BACKEND")
    if external and row is not None and "pg_stat_statements" not in row[0]:
        pytest.skip("the external test server does not preload pg_stat_statements")


@pytest.fixture
def conn(head_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_url(head_url), autocommit=True) as connection:
        yield connection


def test_head_has_the_extension_in_public(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension "
        "WHERE extname = 'pg_stat_statements'"
    ).fetchone()
    assert row == ("public",)


def test_top_counts_the_statements_run_since_reset(
    conn: psycopg.Connection, empty_url: str
) -> None:
    before = datetime.now(UTC)
    assert reset(conn) is True
    for name in ("Berlin", "Paris", "Rome", "Oslo", "Lima"):
        conn.execute(MARKER, [name])
    for _ in range(2):
        conn.execute("SELECT count(*) FROM rooms WHERE price > %s", [100])
    with psycopg.connect(libpq_url(empty_url), autocommit=True) as other:
        other.execute("SELECT count(*) FROM pg_class WHERE relname = %s", ["x"])

    result = top(conn, limit=100)
    assert result.since >= before.replace(microsecond=0)
    queries = {s.query: s for s in result.statements}
    marker = queries[NORMALISED]
    assert (marker.calls, marker.rows) == (5, 5)
    assert marker.total_ms > 0
    assert marker.mean_ms == pytest.approx(marker.total_ms / 5)
    assert marker.shared_blks_hit + marker.shared_blks_read > 0
    assert 0 < marker.share <= 1
    assert queries["SELECT count(*) FROM rooms WHERE price > $1"].calls == 2
    assert not any("pg_class" in q for q in queries), "another database's statement"
    totals = [s.total_ms for s in result.statements]
    assert totals == sorted(totals, reverse=True)
    assert sum(s.share for s in result.statements) == pytest.approx(1)
    assert all("\n" not in s.query for s in result.statements)
    assert len(top(conn, limit=1).statements) == 1

    assert reset(conn) is True
    after = top(conn, limit=100)
    assert after.since >= result.since
    assert not any("hotels" in s.query or "rooms" in s.query for s in after.statements)
    assert all(s.calls <= 1 for s in after.statements)  # only reset's own statements


def test_a_role_that_may_not_reset_gets_false(conn: psycopg.Connection) -> None:
    conn.execute('SET ROLE "hotel_app"')
    assert reset(conn) is False
    assert conn.execute("SELECT current_user").fetchone() == ("hotel_app",)


def test_without_the_extension_top_says_how_to_fix_it(empty_url: str) -> None:
    with psycopg.connect(libpq_url(empty_url), autocommit=True) as conn:
        assert reset(conn) is False
        with pytest.raises(StatementsUnavailable) as raised:
            top(conn)
    assert str(raised.value) == NOT_INSTALLED
    assert "\n" not in NOT_INSTALLED
    assert "hotel migrate head" in NOT_INSTALLED


def test_a_load_run_resets_so_top_lists_that_run(load_url: str) -> None:
    with psycopg.connect(libpq_url(load_url), autocommit=True) as conn:
        conn.execute(MARKER, ["before the run"])
        started = datetime.now(UTC)
        options = Options(url=load_url, rate=40, duration=1.5, connections=2, mix=EVERYTHING)
        result = run_sync(options)
        assert result.options["statements_reset"] is True
        listed = top(conn, limit=1000)
    assert listed.since >= started.replace(microsecond=0)
    calls = {s.query: s.calls for s in listed.statements}
    assert NORMALISED not in calls, "reset at the start"
    assert "SELECT id FROM users ORDER BY random() LIMIT $1" not in calls, "sampled before it"
    booked = calls["SELECT id, total_price FROM bookings WHERE idempotency_key = $1"]
    assert booked >= result.figures["operations"]["create_booking"]["ok"]
