"""The bulk loader on real databases: deterministic, valid, equal to the service's own
path, atomic; and the checker can fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, pool, text

from hotel_models.checker import check
from seeding.bulk import load, prepare
from seeding.plan import COLUMNS, SCALES, Counts, Planner
from seeding.replay import replay
from tests.helpers import run_hotel as hotel
from tests.helpers import table_hashes

TINY = SCALES["tiny"]
SMALL = Counts(hotels=3, rooms=12, users=40, bookings=150)


def engine_for(url: str) -> Engine:
    return create_engine(url, poolclass=pool.NullPool)


@pytest.fixture(scope="module")
def seeded_tiny(head_database: Callable[[], str]) -> str:
    url = head_database()
    load(url, TINY, seed=1)
    return url


def test_same_seed_same_rows_in_two_databases(
    head_database: Callable[[], str], seeded_tiny: str
) -> None:
    """The second one by `hotel seed` in its own process: nothing depends on the process
    (hash seeds, Faker's global state, the clock)."""
    again = head_database()
    result = hotel("seed", "--scale", "tiny", "--seed", "1", env={"HOTEL_DATABASE_URL": again})
    assert result.returncode == 0, result.stderr
    first, second = table_hashes(seeded_tiny), table_hashes(again)
    assert first == second
    other = head_database()
    load(other, TINY, seed=2)
    assert table_hashes(other)["bookings"] != first["bookings"], "the seed changes the rows"


def test_a_seeded_database_breaks_no_rule(seeded_tiny: str) -> None:
    engine = engine_for(seeded_tiny)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COLUMNS}
        assert check(conn) == []
        enabled = conn.execute(
            text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'")
        ).scalar_one()
        audited = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    engine.dispose()
    assert all(counts[t] > 0 for t in COLUMNS), counts
    assert counts["bookings"] >= 0.95 * TINY.bookings
    assert enabled == 0, "the loader left triggers disabled"
    assert audited == 0, "seeding is not business activity: no audit rows"


BREAKAGES = {
    "overlapping_bookings": "UPDATE bookings SET check_out = check_out + 400 WHERE id = ("
    "SELECT min(id) FROM bookings b WHERE status <> 'cancelled' AND EXISTS ("
    "SELECT FROM bookings n WHERE n.room_id = b.room_id AND n.check_in > b.check_in "
    "AND n.status <> 'cancelled'))",
    "guests_over_capacity": "UPDATE bookings SET guests = 9 "
    "WHERE id = (SELECT min(id) FROM bookings)",
    "balance_not_ledger_sum": "UPDATE bonus_accounts SET balance = balance + 1 "
    "WHERE id = (SELECT min(id) FROM bonus_accounts)",
    "spending_not_payments_sum": "UPDATE guest_spending SET completed = completed + 1 "
    "WHERE user_id = (SELECT min(user_id) FROM guest_spending)",
    "booking_status_rollup_not_bookings": "UPDATE booking_status_rollup "
    "SET bookings = bookings + 1 WHERE id = (SELECT min(id) FROM booking_status_rollup)",
    "revenue_rollup_not_payments": "UPDATE payments SET created_at = created_at - "
    "interval '1 day' WHERE id = (SELECT min(id) FROM payments WHERE status = 'completed')",
    "payments_over_total": "UPDATE payments SET amount = amount + 1000000 "
    "WHERE id = (SELECT min(id) FROM payments WHERE status = 'completed')",
    "missing_status_history": "DELETE FROM booking_status_history WHERE id = ("
    "SELECT max(id) FROM booking_status_history)",
    "review_of_uncompleted_stay": "UPDATE bookings SET status = 'cancelled' "
    "WHERE id = (SELECT min(booking_id) FROM reviews)",
    "hotel_rating_not_average": "UPDATE hotels SET rating = 1 WHERE id = ("
    "SELECT min(hotel_id) FROM reviews)",
    "room_city_not_hotel_city": "UPDATE rooms SET city = 'Elsewhere' "
    "WHERE id = (SELECT min(id) FROM rooms)",
}


@pytest.mark.parametrize("rule", BREAKAGES)
def test_the_checker_finds_a_broken_rule(seeded_tiny: str, rule: str) -> None:
    """Break one rule behind the triggers' back (rolled back afterwards)."""
    engine = engine_for(seeded_tiny)
    with engine.connect() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # no triggers, no FKs
        conn.execute(text("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap"))
        conn.execute(text(BREAKAGES[rule]))
        found = {v.rule for v in check(conn)}
        conn.rollback()
    engine.dispose()
    assert rule in found, found


def test_a_failed_load_leaves_the_database_as_it_was(head_database: Callable[[], str]) -> None:
    url = head_database()
    before = table_hashes(url)

    def boom(table: str, rows: int, rate: float) -> None:
        if table == "bookings":
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        load(url, TINY, seed=1, progress=boom)
    assert table_hashes(url) == before
    engine = engine_for(url)
    with engine.connect() as conn:
        disabled = conn.execute(
            text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'")
        ).scalar_one()
    engine.dispose()
    assert disabled == 0


@pytest.fixture
def two_paths(head_database: Callable[[], str]) -> Iterator[tuple[Engine, Engine]]:
    bulk_url, ops_url = head_database(), head_database()
    load(bulk_url, SMALL, seed=7, locale="en_US", analyze=False)
    ops_engine = engine_for(ops_url)
    with ops_engine.begin() as conn:
        _, refs, offsets, earn = prepare(conn, append=False)
        replay(conn, Planner(SMALL, 7, "en_US", refs, offsets, earn))
    bulk_engine = engine_for(bulk_url)
    yield bulk_engine, ops_engine
    bulk_engine.dispose()
    ops_engine.dispose()


# What the triggers derive, and what identifies it (timestamps and actors differ by design).
DERIVED = {
    "bookings": "id, user_id, room_id, check_in, check_out, guests, status, payment_option, "
    "paid_state, total_price, bonus_points_used",
    "booking_status_history": "booking_id, old_status, new_status",
    "booking_services": "booking_id, service_id, quantity, price",
    "payments": "booking_id, method_id, amount, status",
    "bonus_transactions": "account_id, booking_id, amount, kind",
    "bonus_accounts": "id, user_id, balance",
    "guest_spending": "user_id, completed",
    "reviews": "booking_id, user_id, hotel_id, rating, comment",
    "hotels": "id, name, city, stars, rating",
}


def test_bulk_load_equals_the_operations_path(two_paths: tuple[Engine, Engine]) -> None:
    """The same plan loaded through COPY with triggers off, and through
    hotel_models.operations with triggers on, gives the same database."""
    results = []
    for engine in two_paths:
        with engine.connect() as conn:
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COLUMNS
            }
            derived = {
                t: conn.execute(text(f"SELECT {cols} FROM {t} ORDER BY {cols}")).all()
                for t, cols in DERIVED.items()
            }
            assert check(conn) == []
        results.append((counts, derived))
    (bulk_counts, bulk_derived), (ops_counts, ops_derived) = results
    assert bulk_counts == ops_counts
    assert bulk_counts["bookings"] > 100
    assert bulk_counts["reviews"] > 0
    for table in DERIVED:
        assert bulk_derived[table] == ops_derived[table], table
