"""Every write to a business table leaves an audit row naming the acting role."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.models.world import World, as_app, insert_booking

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
    history = [r for r in rows if r[0] == "booking_status_history"]
    assert [r[1] for r in history] == ["INSERT"]
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
            "bonus_ledger_apply",
            "booking_status_rollup_delta",
            "booking_status_rollup_fold",
            "bookings_guest_spending",
            "bookings_status_history",
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
        savepoint = session.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            session.execute(text(statement))
        savepoint.rollback()
