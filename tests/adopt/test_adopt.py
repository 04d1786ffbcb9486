"""`hotel adopt` against a real earlier-schema database full of its kind of dirty data."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, pool, text
from typer.testing import CliRunner

from hotel_models.checker import check
from hotel_models.errors import HotelError
from seeding.adopt.legacy_schema import TABLES
from seeding.adopt.loader import Adoption, adopt
from seeding.adopt.mapping import REASONS
from tests.adopt.earlier import ANALYSTS, PRIVILEGED, earlier_database
from tests.helpers import one_line_error, run_hotel


@dataclass(frozen=True)
class Adopted:
    source: str
    target: str
    result: Adoption


@pytest.fixture(scope="module")
def adopted(
    earlier_url: str, database_factory: Callable[..., str], migrated_template: str
) -> Adopted:
    target = database_factory(template=migrated_template)
    return Adopted(earlier_url, target, adopt(earlier_url, target))


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def quarantined(url: str, table: str, reason: str | None = None) -> dict[int, dict[str, Any]]:
    rows = query(
        url,
        "SELECT old_id, old_row FROM adoption_quarantine WHERE source_table = :t "
        "AND (CAST(:r AS text) IS NULL OR reason = :r)",
        t=table,
        r=reason,
    )
    return dict(rows)


def test_every_earlier_row_lands_or_is_quarantined_and_counts_reconcile(adopted: Adopted) -> None:
    assert set(adopted.result.tables) == set(TABLES)
    for table, count in adopted.result.tables.items():
        assert count.source == count.landed + count.quarantined, table
        assert count.source > 0, f"the fixture writes no {table}"
    # Independently of the loader's own count: old ids = landed ids + quarantined ids.
    for table, new_table in (("booking", "bookings"), ("users", "users"), ("room", "rooms"),
                             ("payment", "payments"), ("review", "reviews"),
                             ("bonus_transaction", "bonus_transactions")):  # fmt: skip
        key = TABLES[table][0]
        old = {r[0] for r in query(adopted.source, f"SELECT {key} FROM {table}")}
        landed = {r[0] for r in query(adopted.target, f"SELECT id FROM {new_table}")} & old
        held = set(quarantined(adopted.target, table))
        assert landed.isdisjoint(held), table
        assert landed | held == old, table


def test_quarantined_rows_keep_the_old_row_and_a_known_reason(adopted: Adopted) -> None:
    reasons = {
        r[0] for r in query(adopted.target, "SELECT DISTINCT reason FROM adoption_quarantine")
    }
    assert reasons <= set(REASONS)
    # The fixture's dirt, each caught by its rule.
    assert reasons >= {
        "missing_value", "missing_parent", "duplicate_value", "out_of_range", "unknown_value",
        "invalid_stay", "guests_over_capacity", "overlapping_stay", "second_opening",
        "payment_exceeds_price", "overdraft", "review_without_stay", "service_never_sold",
    }  # fmt: skip
    old = query(
        adopted.source, "SELECT to_jsonb(b) FROM booking b WHERE check_out_date <= check_in_date"
    )
    held = quarantined(adopted.target, "booking")  # the first broken rule is the reason
    assert old
    assert all(held[row[0]["booking_id"]] == row[0] for row in old)
    assert quarantined(adopted.target, "booking", "invalid_stay")
    assert 3 in quarantined(adopted.target, "hotel", "out_of_range")  # rating 0
    assert set(quarantined(adopted.target, "amenity", "duplicate_value")) == {9}  # 2nd "Pool"
    assert set(quarantined(adopted.target, "partnertype", "duplicate_value")) == {4}  # "agency"
    gifts = {r[0] for r in query(adopted.source, "SELECT transaction_id FROM bonus_transaction "
                                                 "WHERE transaction_type = 'gift'")}  # fmt: skip
    assert gifts <= set(quarantined(adopted.target, "bonus_transaction"))


def test_an_overlapping_stay_yields_to_the_earlier_booked_one(adopted: Adopted) -> None:
    held = quarantined(adopted.target, "booking", "overlapping_stay")
    assert held
    for old_id, row in list(held.items())[:20]:
        clash = query(
            adopted.target,
            "SELECT id FROM bookings WHERE room_id = :room AND status <> 'cancelled' "
            "AND daterange(check_in, check_out) && daterange(CAST(:a AS date), CAST(:b AS date)) "
            "AND id < :id",
            room=row["room_id"], a=row["check_in_date"], b=row["check_out_date"], id=old_id,
        )  # fmt: skip
        assert clash, f"booking {old_id} was quarantined without a landed earlier stay"


def test_the_adopted_database_passes_every_business_rule(adopted: Adopted) -> None:
    engine = create_engine(adopted.target, poolclass=pool.NullPool)
    with engine.connect() as conn:
        assert check(conn) == []
    engine.dispose()
    unequal = query(
        adopted.target,
        "SELECT a.id FROM bonus_accounts a LEFT JOIN bonus_transactions t ON t.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(t.amount), 0)",
    )
    assert unequal == []
    assert query(adopted.target, "SELECT count(*) FROM bonus_accounts WHERE balance > 0")[0][0] > 0
    # The rule triggers are on again after the load.
    assert query(
        adopted.target,
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'",
    ) == [(0,)]


def test_the_audit_log_records_the_adoption_as_one_event(adopted: Adopted) -> None:
    rows = query(adopted.target, "SELECT table_name, new_row FROM audit_log")
    assert len(rows) == 1
    table, event = rows[0]
    assert table == "(adoption)"
    assert event["tables"]["booking"]["source"] == adopted.result.tables["booking"].source


def test_earlier_values_now_derived_are_reported_where_they_disagreed(adopted: Adopted) -> None:
    notes = adopted.result.notes
    paid = notes["booking.paid disagrees with its completed payments (paid is derived from them)"]
    # Independently: landed bookings whose earlier paid flag contradicts the new paid state.
    old_paid = dict(query(adopted.source, "SELECT booking_id, paid::text FROM booking"))
    new_paid = query(adopted.target, "SELECT id, paid_state::text FROM bookings")
    assert paid == sum((old_paid[i] == "yes") != (state == "paid") for i, state in new_paid)
    assert notes[
        "booking.payment_id names a payment of another booking (payments name their booking)"
    ]
    assert query(adopted.target, "SELECT new_row -> 'notes' FROM audit_log") == [(notes,)]


def test_card_numbers_never_enter_the_new_database(adopted: Adopted) -> None:
    assert (
        query(
            adopted.source,
            "SELECT count(*) FROM userpaymentmethod WHERE details ~ '[0-9]{4} [0-9]{4} [0-9]{4}'",
        )[0][0]
        > 0
    )
    carried = query(
        adopted.target,
        "SELECT details::text FROM user_payment_methods "
        "UNION ALL SELECT old_row::text FROM adoption_quarantine",
    )
    pan = re.compile(r"(\d[ -]?){12,}")
    assert not [row for row in carried if pan.search(row[0])]
    assert ('{"legacy": "****9012"}',) in query(
        adopted.target, "SELECT details::text FROM user_payment_methods"
    )


def test_descriptive_columns_and_old_ids_are_kept(adopted: Adopted) -> None:
    assert query(adopted.target, "SELECT description FROM partner_types WHERE id = 1") == [
        ("runs its own hotels",)
    ]
    old = dict(query(adopted.source, "SELECT room_id, description FROM room"))
    new = dict(query(adopted.target, "SELECT id, description FROM rooms"))
    assert new
    assert all(old[i] == d for i, d in new.items())
    # An earlier service sold in several hotels: one service per hotel, all findable.
    mapped = query(adopted.target, "SELECT old_id, count(*) FROM adoption_id_map GROUP BY old_id")
    assert any(n > 1 for _, n in mapped)
    old_services = query(adopted.source, "SELECT service_id, service_name FROM additional_service")
    legacy = query(adopted.target, "SELECT service_id, service_name FROM legacy.additional_service")
    assert set(legacy) <= set(old_services)
    assert len(legacy) == len(mapped)


def test_analysts_are_carried_nologin_without_their_old_password(adopted: Adopted) -> None:
    rows = query(
        adopted.target,
        "SELECT rolname, rolcanlogin, rolpassword IS NULL, "
        "pg_has_role(rolname, 'analytic', 'MEMBER') FROM pg_authid WHERE rolname = ANY(:names) "
        "ORDER BY rolname",
        names=ANALYSTS,
    )
    assert rows == [(name, False, True, True) for name in sorted(ANALYSTS)]
    assert set(ANALYSTS) <= set(adopted.result.analysts)
    assert PRIVILEGED not in adopted.result.analysts
    assert query(
        adopted.target, "SELECT rolcanlogin FROM pg_roles WHERE rolname = :n", n=PRIVILEGED
    ) == [(True,)]
    # As one of them: the legacy views read, the tables behind them stay read-only.
    engine = create_engine(adopted.target, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'SET ROLE "{ANALYSTS[0]}"')
        conn.exec_driver_sql("SET search_path = legacy")
        assert conn.execute(text("SELECT count(*) FROM booking")).scalar_one() > 0
        with pytest.raises(Exception, match=r"permission denied|cannot"):
            conn.exec_driver_sql("UPDATE booking SET price = 0")
    engine.dispose()


# The analysts' saved SQL, written for the earlier schema (the load service's six queries).
LEGACY_QUERIES = {
    "top_rooms_per_hotel": """
SELECT h.hotel_id, h.hotel_name, r.room_id, r.price FROM (
  SELECT room_id, hotel_id, price,
         row_number() OVER (PARTITION BY hotel_id ORDER BY price DESC, room_id) AS rn
  FROM room) r JOIN hotel h ON h.hotel_id = r.hotel_id
WHERE r.rn <= 3 ORDER BY h.hotel_id, r.rn""",
    "bookings_by_status": """
SELECT status, count(*), sum(price) FROM booking GROUP BY status ORDER BY status""",
    "top_spenders": """
SELECT u.user_id, u.name, u.second_name, sum(b.price) AS total
FROM payment p JOIN booking b ON b.booking_id = p.booking_id
JOIN users u ON u.user_id = b.user_id
WHERE p.payment_status = 'completed'
GROUP BY u.user_id, u.name, u.second_name ORDER BY total DESC, u.user_id LIMIT 20""",
    "amenities_of_best_rated_hotels": """
SELECT h.hotel_id, h.rating, a.amenity_name
FROM (SELECT hotel_id, rating FROM hotel ORDER BY rating DESC NULLS LAST, hotel_id LIMIT 50) h
JOIN hotelamenity ha ON ha.hotel_id = h.hotel_id
JOIN amenity a ON a.amenity_id = ha.amenity_id
ORDER BY h.rating DESC, h.hotel_id, a.amenity_name""",
    "rooms_free_next_week": """
SELECT r.room_id, r.hotel_id, r.price, r.capacity FROM room r
WHERE r.price BETWEEN 50 AND 300 AND r.capacity >= 2
  AND NOT EXISTS (SELECT 1 FROM booking b WHERE b.room_id = r.room_id
                  AND b.status <> 'canceled'
                  AND b.check_in_date < DATE '2030-06-08' AND b.check_out_date > DATE '2030-06-01')
ORDER BY r.price, r.room_id""",
    "price_histogram_per_city": """
SELECT h.city, width_bucket(r.price, 0, 500, 10) AS bucket, count(*)
FROM room r JOIN hotel h ON h.hotel_id = r.hotel_id GROUP BY 1, 2 ORDER BY 1, 2""",
}


@pytest.fixture(scope="module")
def earlier_as_adopted(adopted: Adopted, database_factory: Callable[..., str]) -> str:
    """A copy of the earlier database with exactly the documented changes: the quarantined
    rows removed, and the two derivations (a price the new rules need, a payment linked
    only from its booking)."""
    url = database_factory(template=adopted.source)
    held = query(adopted.target, "SELECT source_table, old_id, old_row FROM adoption_quarantine")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        for table in reversed(TABLES):
            key, cols = TABLES[table]
            for source_table, old_id, row in held:
                if source_table != table:
                    continue
                if key is not None:
                    conn.execute(text(f"DELETE FROM {table} WHERE {key} = :id"), {"id": old_id})
                else:
                    a, b = (c for c, _ in cols)
                    conn.execute(text(f"DELETE FROM {table} WHERE {a} = :a AND {b} = :b"),
                                 {"a": row[a], "b": row[b]})  # fmt: skip
        conn.exec_driver_sql(
            "UPDATE payment p SET booking_id = (SELECT min(booking_id) FROM booking b "
            "WHERE b.payment_id = p.payment_id) WHERE booking_id IS NULL"
        )
        conn.exec_driver_sql(
            "UPDATE booking b SET price = r.price * (b.check_out_date - b.check_in_date) "
            "FROM room r WHERE r.room_id = b.room_id AND b.price IS NULL"
        )
    engine.dispose()
    return url


def _run(url: str, sql: str, search_path: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET search_path = {search_path}")
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return [tuple(str(v) if isinstance(v, Decimal) else v for v in _norm(r)) for r in rows]


def _norm(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.normalize() if isinstance(v, Decimal) else v for v in row)


@pytest.mark.parametrize("name", list(LEGACY_QUERIES))
def test_saved_sql_gives_the_same_result_through_the_legacy_views(
    name: str, adopted: Adopted, earlier_as_adopted: str
) -> None:
    before = _run(earlier_as_adopted, LEGACY_QUERIES[name], "public")
    after = _run(adopted.target, LEGACY_QUERIES[name], "legacy")
    assert before, f"{name}: the fixture gives this query nothing to compare"
    assert after == before


def test_a_second_adoption_is_refused_and_changes_nothing(adopted: Adopted) -> None:
    before = query(
        adopted.target,
        "SELECT count(*) FROM bookings UNION ALL SELECT count(*) FROM adoption_quarantine",
    )
    with pytest.raises(HotelError, match="already holds data"):
        adopt(adopted.source, adopted.target)
    after = query(
        adopted.target,
        "SELECT count(*) FROM bookings UNION ALL SELECT count(*) FROM adoption_quarantine",
    )
    assert after == before


def test_anything_but_the_earlier_v5_schema_is_refused_in_one_line(
    database_factory: Callable[..., str], target_url: str, migrated_template: str
) -> None:
    with pytest.raises(HotelError, match="no table flyway_schema_history"):
        adopt(database_factory(), target_url)
    with pytest.raises(HotelError, match="Flyway version 3, adopt reads version 5"):
        adopt(earlier_database(database_factory, version=3), target_url)
    with pytest.raises(HotelError, match="a database of this platform"):
        adopt(migrated_template, target_url)


def test_an_unmigrated_target_is_refused(
    earlier_url: str, database_factory: Callable[..., str]
) -> None:
    with pytest.raises(HotelError, match="hotel migrate"):
        adopt(earlier_url, database_factory())


def test_a_failed_adoption_leaves_the_target_as_it_was(earlier_url: str, target_url: str) -> None:
    def fail_after_bookings(message: str) -> None:
        if message == "adopted payment":
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        adopt(earlier_url, target_url, progress=fail_after_bookings)
    written = (
        "SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM adoption_quarantine) "
        "+ (SELECT count(*) FROM audit_log)"
    )
    assert query(target_url, written) == [(0,)]
    # And the same target adopts cleanly afterwards.
    assert adopt(earlier_url, target_url, analyze=False).tables["booking"].landed > 0


def test_the_command_prints_the_reconciliation_as_json(
    earlier_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.cli import app
    from hotel_models.settings import get_settings

    monkeypatch.setenv("HOTEL_DATABASE_URL", target_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["adopt", "--from", earlier_url, "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    booking = report["tables"]["booking"]
    assert booking["source"] == booking["landed"] + booking["quarantined"]


def test_bad_input_ends_in_one_line_and_exit_1(target_url: str, migrated_template: str) -> None:
    run = run_hotel("adopt", "--from", migrated_template, env={"HOTEL_DATABASE_URL": target_url})
    assert one_line_error(run) == (
        "error: the source is a database of this platform, not the earlier system: nothing to adopt"
    )


def test_the_command_prints_the_reconciliation_table(
    earlier_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.cli import app
    from hotel_models.settings import get_settings

    monkeypatch.setenv("HOTEL_DATABASE_URL", target_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["adopt", "--from", earlier_url])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "every count reconciles" in result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "bookingstatushistory" in rows
    assert "second_opening" in rows["bookingstatushistory"]
