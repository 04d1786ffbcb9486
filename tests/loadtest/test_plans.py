"""The catalogue's lookups use the indexes they are meant to, on `demo`-scale data (50,000
bookings, after ANALYZE): an index that stopped earning its keep, or a query rewritten
past it, fails here naming the statement and the plan node."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import psycopg
import pytest
from sqlalchemy import create_engine, pool, text

from hotel_models.operations import STAY_PRICE, availability_sql
from hotel_models.settings import libpq_url
from loadtest import queries as q
from loadtest.catalogue import CATALOGUE, Query
from loadtest.explain import Explained, explain, scans
from seeding.bulk import load
from seeding.plan import SCALES

pytestmark = pytest.mark.slow
SCANNED_NEVER = {"bookings", "payments", "rooms"}  # by a point or range lookup


@pytest.fixture(scope="module")
def demo_url(migrated: Callable[[], str]) -> str:
    url = migrated()
    load(url, SCALES["demo"], seed=3, locale="en_US")  # ends with ANALYZE
    return url


@pytest.fixture(scope="module")
def explained(demo_url: str) -> dict[str, Explained]:
    # Every table counts as big: any sequential scan in a lookup is a finding.
    return {e.name: e for e in explain(demo_url, samples=3, seq_scan_rows=-1)}


LOOKUPS = [s for s in CATALOGUE if s.lookup]


@pytest.mark.parametrize("statement", LOOKUPS, ids=lambda s: s.name)
def test_lookup_uses_its_indexes(explained: dict[str, Explained], statement: Query) -> None:
    result = explained[statement.name]
    assert result.runs > 0, f"{statement.name}: {result.flags}"
    nodes = list(scans(result.plan["Plan"]))
    for scan in nodes:
        assert not (scan.kind == "seq" and scan.table in SCANNED_NEVER), (
            f"{statement.name}: Seq Scan on {scan.table} in its plan: {[str(n) for n in nodes]}"
        )
    for wanted in statement.indexes:
        assert set(wanted.split("|")) & set(result.indexes), (
            f"{statement.name}: does not use {wanted}; its plan reads {[str(n) for n in nodes]}"
        )


def test_every_statement_is_explained(explained: dict[str, Explained]) -> None:
    """Reports too: each one runs, as its role, over drawn parameters."""
    for statement in CATALOGUE:
        result = explained[statement.name]
        assert result.runs == 3, f"{statement.name}: {result.refused} refused, {result.flags}"
        assert result.median_ms > 0, statement.name
        assert result.shape or statement.name.startswith("partner_add_"), statement.name


def test_a_sequential_scan_of_a_big_table_is_flagged(demo_url: str) -> None:
    sql = "SELECT sum(total_price) FROM bookings"
    scan = Query("scan", "scan", sql, lambda data, rng: {})
    [flagged] = explain(demo_url, [scan], samples=1)
    assert len(flagged.flags) == 1
    assert flagged.flags[0].startswith("seq scan on bookings ("), flagged.flags
    by_design = Query("scan", "scan", scan.sql, scan.params, whole=("bookings",))
    [waived] = explain(demo_url, [by_design], samples=1)
    assert waived.flags == []


# The availability search before it learnt to stop early: price every free room, sort.
NAIVE_SEARCH = f"""
SELECT r.id, p.total
FROM rooms r JOIN hotels h ON h.id = r.hotel_id CROSS JOIN LATERAL ({STAY_PRICE}) AS p
WHERE h.city = :city AND r.capacity >= :guests AND r.status = 'available'
  AND NOT EXISTS (
    SELECT FROM bookings b WHERE b.room_id = r.id AND b.status <> 'cancelled'
      AND daterange(b.check_in, b.check_out, '[)')
          && daterange(CAST(:check_in AS date), CAST(:check_out AS date), '[)'))
ORDER BY p.total, r.id
LIMIT :limit"""


def test_the_early_stopping_search_finds_exactly_the_cheapest_rooms(
    demo_url: str,
) -> None:
    """Rooms with a rate in the stay are priced apart and merged: the result is the one of
    pricing every free room and sorting, rates and ties included."""
    engine = create_engine(demo_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        # Stays starting where rates start (so rated rooms compete), and like bookings.
        stays = conn.execute(
            text(
                "(SELECT h.city, rr.starts_on AS check_in, rr.starts_on + 3 AS check_out, 2 "
                " FROM room_rates rr JOIN rooms r ON r.id = rr.room_id "
                " JOIN hotels h ON h.id = r.hotel_id ORDER BY rr.id LIMIT 15) "
                "UNION ALL (SELECT h.city, b.check_in, b.check_out, b.guests FROM bookings b "
                " JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id "
                " ORDER BY b.id LIMIT 15)"
            )
        ).all()
        rated_offers = 0
        for city, check_in, check_out, guests in stays:
            params = {
                "city": city,
                "check_in": check_in,
                "check_out": check_out,
                "guests": guests,
                "limit": 20,
            }
            expected = conn.execute(text(NAIVE_SEARCH), params).all()
            got = [(row[0], row[-1]) for row in conn.execute(text(availability_sql()), params)]
            assert got == [tuple(row) for row in expected], params
            rated_offers += conn.execute(
                text(
                    "SELECT count(DISTINCT room_id) FROM room_rates WHERE room_id = ANY(:ids) "
                    "AND starts_on < :check_out AND ends_on > :check_in"
                ),
                {**params, "ids": [room for room, _ in got]},
            ).scalar_one()
    engine.dispose()
    assert rated_offers > 0  # the rated branch took part


def test_an_estimate_off_by_more_than_ten_times_is_flagged(demo_url: str) -> None:
    # No statistics on md5(code): the planner guesses 0.5 % of the rows, 1/16 match.
    sql = "SELECT id FROM bookings WHERE md5(code) LIKE 'a%%'"
    probe = Query("probe", "probe", sql, lambda data, rng: {})
    [result] = explain(demo_url, [probe], samples=1)
    assert any(f.startswith("estimate off") and "Seq Scan on bookings" in f for f in result.flags)


@pytest.mark.parametrize(
    ("insert", "generic"),
    [
        pytest.param(q.INSERT_BOOKING, True, id="stay_nights"),
        pytest.param(q.INSERT_BOOKING_BEFORE_0025, False, id="generate_series-before-0025"),
    ],
)
def test_the_booking_insert_runs_its_generic_plan(
    demo_url: str, insert: str, generic: bool
) -> None:
    """A prepared insert planned again on every call cost 0.37 ms a booking: the nights'
    series, 1,000 rows to a generic plan, made it look 160 times dearer than a custom one.
    Over stay_nights() PostgreSQL settles on the generic plan after its five custom ones."""
    with psycopg.connect(libpq_url(demo_url)) as conn:
        room, user = conn.execute("SELECT min(r.id), min(u.id) FROM rooms r, users u").fetchone()
        for year in range(2101, 2111):  # one free stay of the room a year
            params = {
                "user": user,
                "room": room,
                "guests": 1,
                "option": "full",
                "services": [],
                "points": 0,
                "key": f"plan-test-{year}",
                "check_in": date(year, 3, 1),
                "check_out": date(year, 3, 4),
            }
            assert conn.execute(insert, params, prepare=True).fetchone() is not None
        generic_plans, custom_plans = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%INSERT INTO bookings%'"
        ).fetchone()
        conn.rollback()
    assert (generic_plans >= 4) is generic, (generic_plans, custom_plans)
