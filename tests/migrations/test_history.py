"""Data written at every revision survives to head; the models build the same schema as the
migrations; offline --sql mode renders every revision."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from alembic import command
from sqlalchemy import create_engine, pool, text

import hotel_models
from deploy.migrate.runner import alembic_config
from deploy.migrate.snapshot import diff_snapshots
from tests.migrations.roundtrip import revisions_in_order, snapshot_of

# Rows each revision's tables can hold at that revision (later revisions may add columns).
ROWS_AT: dict[str, dict[str, list[str]]] = {
    "0001": {
        "partner_types": [
            "INSERT INTO partner_types (id, code, name) VALUES (1, 'owner', 'Owner')"
        ],
        "partners": [
            "INSERT INTO partners (id, partner_type_id, name, login, email, password_hash) "
            "VALUES (1, 1, 'Volga Hotels', 'volga', 'ops@volga.example', 'argon2$x')"
        ],
        "hotels": [
            "INSERT INTO hotels (id, partner_id, name, address, city, stars) "
            "VALUES (1, 1, 'Volga Grand', '1 Embankment', 'Kazan', 4)"
        ],
    },
    "0002": {
        "users": [
            "INSERT INTO users (id, first_name, last_name, email, login, password_hash) "
            "VALUES (1, 'Anna', 'Petrova', 'anna@example.org', 'anna', 'argon2$y')"
        ],
        "payment_methods": [
            "INSERT INTO payment_methods (id, code, name) VALUES (1, 'card', 'Card')"
        ],
        "user_payment_methods": [
            "INSERT INTO user_payment_methods (id, user_id, method_id, details) "
            """VALUES (1, 1, 1, '{"last4": "4242"}')"""
        ],
        "amenities": ["INSERT INTO amenities (id, name) VALUES (1, 'Pool')"],
        "hotel_amenities": ["INSERT INTO hotel_amenities (hotel_id, amenity_id) VALUES (1, 1)"],
        "rooms": [
            "INSERT INTO rooms (id, hotel_id, number, room_type, capacity, price) "
            "VALUES (1, 1, '101', 'double', 2, 5400.00)"
        ],
        "room_rates": [
            "INSERT INTO room_rates (id, room_id, kind, name, starts_on, ends_on, price) "
            "VALUES (1, 1, 'seasonal', 'Summer', '2026-06-01', '2026-09-01', 6100.00)"
        ],
        "facilities": ["INSERT INTO facilities (id, name) VALUES (1, 'Balcony')"],
        "room_facilities": ["INSERT INTO room_facilities (room_id, facility_id) VALUES (1, 1)"],
    },
    "0003": {
        "services": [
            "INSERT INTO services (id, hotel_id, name, price) VALUES (1, 1, 'Breakfast', 900.00)"
        ],
        "bookings": [
            "INSERT INTO bookings (id, code, user_id, room_id, check_in, check_out, guests, "
            "total_price) VALUES (1, 'K7QX2M9P', 1, 1, '2026-07-01', '2026-07-03', 2, 13100.00)"
        ],
        "booking_services": [
            "INSERT INTO booking_services (booking_id, service_id, quantity, price) "
            "VALUES (1, 1, 1, 900.00)"
        ],
        "payments": [
            "INSERT INTO payments (id, booking_id, method_id, amount) VALUES (1, 1, 1, 13100.00)"
        ],
        "bonus_accounts": ["INSERT INTO bonus_accounts (id, user_id) VALUES (1, 1)"],
        "reviews": [
            "INSERT INTO reviews (id, booking_id, user_id, hotel_id, rating) VALUES (1, 1, 1, 1, 5)"
        ],
    },
}


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return [
                dict(row)
                for (row,) in conn.execute(text(f"SELECT to_jsonb(t) FROM {table} t ORDER BY 1"))
            ]
    finally:
        engine.dispose()


def test_rows_written_at_every_revision_are_unchanged_at_head(empty_url: str) -> None:
    config = alembic_config(url=empty_url)
    written: dict[str, list[dict[str, Any]]] = {}
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    for revision in revisions_in_order():
        command.upgrade(config, revision)
        with engine.begin() as conn:
            for statements in ROWS_AT.get(revision, {}).values():
                for statement in statements:
                    conn.execute(text(statement))
        for table in ROWS_AT.get(revision, {}):
            written[table] = _rows(empty_url, table)
    engine.dispose()
    assert set(written) >= {"partners", "rooms", "bookings", "payments", "reviews"}
    for table, before in written.items():
        after = _rows(empty_url, table)
        # Compare the columns that existed when the row was written.
        assert [
            {k: row[k] for k in old} for row, old in zip(after, before, strict=True)
        ] == before, f"rows of {table} changed between their revision and head"


# What the models cannot express: roles and privileges, the business-rule triggers with
# their functions (hand-written SQL in revisions 0009-0013), and pg_stat_statements (0015:
# an operational extension no table needs), and the `legacy` schema of views in the earlier
# system's names (0018, hand-written SQL over the tables). Everything else must match.
NOT_IN_MODELS = frozenset({"roles", "grants", "default_privileges"})
ONLY_IN_MIGRATIONS = (
    "function ",
    "trigger ",
    "event trigger ",
    "extension pg_stat_statements:",
    "schema legacy:",
    *(f"{kind} legacy." for kind in ("table", "view", "column", "type")),
)


def test_models_build_the_same_schema_as_the_migrations(
    database_factory: Callable[[], str],
) -> None:
    migrated, built = database_factory(), database_factory()
    command.upgrade(alembic_config(url=migrated), "head")
    engine = create_engine(built, poolclass=pool.NullPool)
    with engine.begin() as conn:
        hotel_models.metadata.create_all(conn)
    engine.dispose()
    command.stamp(alembic_config(url=built), "head")
    differences = diff_snapshots(snapshot_of(migrated), snapshot_of(built), ignore=NOT_IN_MODELS)
    unexpected = [
        line
        for line in differences.lines
        if not (line.startswith(ONLY_IN_MIGRATIONS) and ": missing (" in line)
    ]
    assert not unexpected, "\n".join(unexpected)
    missing_functions = {
        line.split(":")[0] for line in differences.lines if line.startswith("function ")
    }
    assert "function public.booking_code()" not in missing_functions, "the models create it"
    assert any(line.startswith("trigger public.bookings.") for line in differences.lines)
    assert any(line.startswith("extension pg_stat_statements:") for line in differences.lines)


def test_offline_sql_renders_every_revision() -> None:
    buffer = io.StringIO()
    config = alembic_config(url="postgresql+psycopg://")
    config.output_buffer = buffer
    command.upgrade(config, "base:head", sql=True)
    command.downgrade(config, "head:base", sql=True)
    sql = buffer.getvalue()
    for revision in revisions_in_order():
        assert f"version_num='{revision}'" in sql or f"VALUES ('{revision}')" in sql
    assert "CREATE TABLE bookings" in sql
    assert "DROP TABLE bookings" in sql
    assert "SCRAM-SHA-256" not in sql, "offline SQL must not carry credentials"
    assert "%%" not in sql, "a literal % must reach psql as itself"


SEED_AT = ("0001", "0002", "0003", "0009", "0011", "0013")


def test_seeded_rows_at_intermediate_revisions_survive_to_head(empty_url: str) -> None:
    """`hotel seed` fills what exists at a revision (like the earlier per-version seeding);
    the rows it wrote there are unchanged at head and still keep every rule."""
    from hotel_models.checker import check
    from seeding.bulk import load
    from seeding.plan import COLUMNS, Counts

    config = alembic_config(url=empty_url)
    counts = Counts(hotels=2, rooms=6, users=10, bookings=25)
    written: dict[str, list[dict[str, Any]]] = {}
    for revision in SEED_AT:
        command.upgrade(config, revision)
        result = load(empty_url, counts, seed=int(revision), append=True, analyze=False)
        assert result.revision == revision
        assert "partners" in result.tables
        if revision == "0001":
            assert "rooms" in result.skipped
            assert "users" not in result.tables
        if revision >= "0003":
            assert result.tables["bookings"].rows > 0
        for table in COLUMNS:
            if table in result.tables:
                written[table] = _rows(empty_url, table)
    command.upgrade(config, "head")
    assert {"hotels", "rooms", "bookings", "payments", "reviews"} <= set(written)
    for table, before in written.items():
        after = _rows(empty_url, table)
        assert [
            {k: row[k] for k in old} for row, old in zip(after, before, strict=True)
        ] == before, f"seeded rows of {table} changed between their revision and head"
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        assert check(conn) == []
    engine.dispose()
