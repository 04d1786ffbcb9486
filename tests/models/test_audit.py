"""Every write to a business table leaves an audit row naming the acting role."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.models.world import World, as_app, insert_booking, refused, unwatched_columns

# Derived data whose every change follows an audited write (a payment, a booking): an audit
# row of its own would repeat that one. The adoption's own tables are written once, by
# `hotel adopt`, which is one audit event.
NOT_AUDITED = (
    "guest_spending",
    "booking_status_rollup",
    "revenue_rollup",
    "adoption_quarantine",
    "adoption_id_map",
)


def test_every_business_table_is_audited(session: Session) -> None:
    audited = set(
        session.execute(
            text(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = 'audit'"
            )
        ).scalars()
    )
    tables = set(
        session.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('audit_log', 'alembic_version', 'hotel_schema_history')"
            )
        ).scalars()
    )
    assert audited == tables - set(NOT_AUDITED)


def test_insert_update_delete_are_audited_with_the_acting_role(
    session: Session, world: World
) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2032-01-01", "2032-01-02")
    session.execute(text("UPDATE bookings SET guests = 2 WHERE id = :id"), {"id": booking})
    session.execute(text("INSERT INTO amenities (name) VALUES ('Pool')"))
    session.execute(text("DELETE FROM amenities WHERE name = 'Pool'"))
    session.execute(text("RESET ROLE"))
    rows = session.execute(
        text(
            "SELECT table_name, operation::text, row_pk, old_row ->> 'guests', "
            "new_row ->> 'guests', db_role FROM audit_log "
            "WHERE txid = txid_current() AND db_role = 'hotel_app' ORDER BY id"
        )
    ).all()
    bookings = [r for r in rows if r[0] == "bookings"]
    assert [(r[1], r[2], r[3], r[4]) for r in bookings] == [
        ("INSERT", {"id": booking}, None, "1"),
        ("UPDATE", {"id": booking}, "1", "2"),
    ]
    # The status trigger's rows are the trail of status changes (0027), audited when deleted.
    assert not [r for r in rows if r[0] == "booking_status_history"]
    assert [r[1] for r in rows if r[0] == "amenities"] == ["INSERT", "DELETE"]
    assert {r[5] for r in rows} == {"hotel_app"}


def test_a_composite_key_is_recorded_whole(session: Session, world: World) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2032-02-01", "2032-02-02")
    session.execute(
        text("INSERT INTO booking_services (booking_id, service_id, price) VALUES (:b, :s, 15)"),
        {"b": booking, "s": world.breakfast.id},
    )
    session.execute(text("RESET ROLE"))
    row_pk = session.execute(
        text(
            "SELECT row_pk FROM audit_log WHERE table_name = 'booking_services' "
            "AND txid = txid_current()"
        )
    ).scalar_one()
    assert row_pk == {"booking_id": booking, "service_id": world.breakfast.id}


def test_an_analyst_reads_a_table_a_later_migration_created(session: Session) -> None:
    session.execute(text("SET LOCAL ROLE ann"))
    assert session.execute(text("SELECT earn_percent FROM loyalty_config")).scalar_one() == 5
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() >= 0


def test_history_and_audit_writers_run_as_the_owner_with_a_pinned_search_path(
    session: Session,
) -> None:
    rows = session.execute(
        text(
            "SELECT p.proname, pg_get_userbyid(p.proowner), p.proconfig FROM pg_proc p "
            "WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace ORDER BY 1"
        )
    ).all()
    assert sorted((r[0], r[1]) for r in rows) == [
        (name, "hotel_owner")
        for name in (
            "audit_row",
            "audit_row_redacted",
            "bonus_ledger_apply",
            "booking_status_rollup_delta",
            "booking_status_rollup_fold",
            "bookings_guest_spending",
            "bookings_status_changed",
            "hotels_city_to_rooms",
            "payments_completed",
            "payments_guest_spending",
            "revenue_rollup_delta",
            "revenue_rollup_fold",
            "revenue_rollup_lock",
            "revenue_rollup_move",
            "rollup_clear",
        )
    ]
    assert all("search_path=public, pg_temp" in r[2] for r in rows)


def test_an_analyst_cannot_tamper_with_audit_rows(session: Session, world: World) -> None:
    session.execute(text("SET LOCAL ROLE ann"))
    for statement in ("UPDATE audit_log SET db_role = 'x'", "DELETE FROM audit_log"):
        refused(session, statement)


def test_an_audit_reader_sees_every_change_of_a_booking_journey(
    session: Session, world: World
) -> None:
    """Every change is recorded once: statuses in booking_status_history (with the role),
    balances in the ledger's audit rows, paid states in the payments'; a client's own update
    of anything else is audited, and neither a status-only change nor a recomputation is."""
    as_app(session)
    session.execute(
        text("INSERT INTO bonus_transactions (account_id, amount, kind) VALUES (:a, 50, 'promo')"),
        {"a": world.account.id},
    )
    booking = insert_booking(session, world, "2033-03-01", "2033-03-03", bonus_points_used=20)
    session.execute(
        text(
            "INSERT INTO payments (booking_id, method_id, amount, status) "
            "VALUES (:b, :m, 100, 'completed')"
        ),
        {"b": booking, "m": world.method.id},
    )
    for status in ("confirmed", "checked_in", "completed"):
        session.execute(
            text("UPDATE bookings SET status = CAST(:s AS booking_status) WHERE id = :b"),
            {"s": status, "b": booking},
        )
    session.execute(text("UPDATE bookings SET guests = 2 WHERE id = :b"), {"b": booking})
    session.execute(text("RESET ROLE"))

    def audited(table: str) -> list[Any]:
        return session.execute(
            text(
                "SELECT operation::text, old_row, new_row, db_role FROM audit_log "
                "WHERE txid = txid_current() AND table_name = :t ORDER BY id"
            ),
            {"t": table},
        ).all()

    bookings = [r for r in audited("bookings") if (r[2] or r[1])["id"] == booking]
    history = session.execute(
        text(
            "SELECT old_status::text, new_status::text, changed_by FROM booking_status_history "
            "WHERE booking_id = :b ORDER BY id"
        ),
        {"b": booking},
    ).all()
    assert [tuple(h) for h in history] == [
        (None, "pending", "hotel_app"),
        ("pending", "confirmed", "hotel_app"),
        ("confirmed", "checked_in", "hotel_app"),
        ("checked_in", "completed", "hotel_app"),
    ]
    # The bookings' audit rows: the insert and the change of guests, nothing else.
    assert [(r[0], (r[1] or {}).get("guests"), r[2]["guests"]) for r in bookings] == [
        ("INSERT", None, 1),
        ("UPDATE", 1, 2),
    ]
    payments = audited("payments")
    assert [(p[2]["amount"], p[2]["status"]) for p in payments] == [(100, "completed")]
    # Balances: no bonus_accounts update rows, the ledger entries add up to the balance.
    assert not [r for r in audited("bonus_accounts") if r[0] == "UPDATE"]
    ledger = sum(r[2]["amount"] for r in audited("bonus_transactions"))
    balance = session.execute(
        text("SELECT balance FROM bonus_accounts WHERE id = :a"), {"a": world.account.id}
    ).scalar_one()
    assert ledger == balance == 50 - 20 + 5  # promo, spent, earned 5 % of 100


def test_a_deleted_bookings_status_history_stays_in_the_audit(
    session: Session, world: World
) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2033-04-01", "2033-04-03")
    session.execute(text("UPDATE bookings SET status = 'confirmed' WHERE id = :b"), {"b": booking})
    session.execute(text("DELETE FROM bookings WHERE id = :b"), {"b": booking})
    session.execute(text("RESET ROLE"))
    deleted = session.execute(
        text(
            "SELECT old_row ->> 'old_status', old_row ->> 'new_status', db_role FROM audit_log "
            "WHERE txid = txid_current() AND table_name = 'booking_status_history' "
            "AND operation = 'DELETE' AND (old_row ->> 'booking_id')::bigint = :b ORDER BY id"
        ),
        {"b": booking},
    ).all()
    assert [tuple(r) for r in deleted] == [
        (None, "pending", "hotel_app"),
        ("pending", "confirmed", "hotel_app"),
    ]


@pytest.mark.parametrize(
    ("table", "unrecorded"),
    [
        ("bookings", {"status", "holds_room", "paid_state", "updated_at"}),
        ("hotels", {"rating"}),
        ("bonus_accounts", {"balance"}),
    ],
)
def test_an_audit_update_trigger_watches_every_column_but_the_derived_ones(
    session: Session, table: str, unrecorded: set[str]
) -> None:
    """An UPDATE setting a column the audit trigger does not name is never audited: a column
    added to these tables must be named there (revisions 0027 and 0030's AUDITED) or listed
    here. The status is recorded by booking_status_history, the rest derived."""
    assert unwatched_columns(session, table, "audit_update") == unrecorded


def test_a_hotels_rating_recomputation_is_not_audited_its_other_changes_are(
    session: Session, world: World
) -> None:
    """The rating follows the reviews, whose own writes are audited (0028)."""
    as_app(session)
    for change in ("rating = 5", "stars = 2"):
        session.execute(text(f"UPDATE hotels SET {change} WHERE id = :h"), {"h": world.hotel.id})
    session.execute(text("RESET ROLE"))
    updated = session.execute(
        text(
            "SELECT new_row ->> 'stars' FROM audit_log WHERE txid = txid_current() "
            "AND table_name = 'hotels' AND row_pk = :pk AND operation = 'UPDATE'"
        ),
        {"pk": f'{{"id": {world.hotel.id}}}'},
    ).scalars()
    assert list(updated) == ["2"]
